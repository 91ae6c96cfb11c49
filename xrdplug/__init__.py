"""xrdplug: extend X-ray diffraction data past its measured resolution, then phase it ab initio.

From a cctbx script::

    from xrdplug import extend, solve
    extended = extend(f_obs, model="transformer", d_min=0.8)   # a cctbx miller.array
    result = solve(extended, phaser="charge-flipping")           # a PhasingResult

Importing xrdplug loads neither cctbx nor torch; it only makes loading both safe in either order
(see `xrdplug.runtime`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import XrdplugError
from .hookspecs import hookimpl
from .runtime import preload_cctbx_runtime

preload_cctbx_runtime()

__version__ = "0.1.0"
__all__ = ["extend", "solve", "hookimpl", "XrdplugError", "__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from cctbx import miller

    from .protocols import PhasingResult


def extend(f_obs: miller.array, model: str | None = None, d_min: float = 0.8, **options: Any) -> miller.array:
    """Predict the missing amplitudes of `f_obs` out to `d_min`; measured ones are kept as measured."""
    from .pipeline import extend as _extend

    return _extend(f_obs, model=model, d_min=d_min, **options).f_extended


def solve(f_obs: miller.array, phaser: str = "charge-flipping", **options: Any) -> PhasingResult:
    """Phase `f_obs` ab initio with the named phaser plugin."""
    from .solving import phase

    return phase(f_obs, phaser=phaser, **options)
