"""xrdplug: extend X-ray diffraction data past its measured resolution, then phase it ab initio.

From a cctbx script (import xrdplug before torch, RDKit or matplotlib)::

    import xrdplug
    result = xrdplug.extend(f_obs, model="transformer", d_min=0.8)   # an ExtendResult
    result.f_extended, result.predicted, result.provenance           # miller.array, int flags (1 predicted), dict
    solution = xrdplug.solve(result, phaser="charge-flipping")         # a PhasingResult

Importing xrdplug loads neither cctbx nor torch; it only makes loading both safe in either order
(see `xrdplug.runtime`). Plugin authors: `xrdplug.plugin_api` has the whole contract (docs/plugins.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import PluginError, XrdplugError
from .hookspecs import hookimpl
from .model_spec import ModelSpec
from .protocols import ModelPlugin, Phaser, PhasingResult, ReflectionData, Source
from .runtime import preload_cctbx_runtime

preload_cctbx_runtime()

__version__ = "0.1.0"
__all__ = [
    "extend", "solve", "hookimpl", "XrdplugError", "PluginError", "__version__",
    "ModelSpec", "ModelPlugin", "Phaser", "Source", "ReflectionData", "PhasingResult",
]

if TYPE_CHECKING:  # pragma: no cover
    from cctbx import miller

    from .pipeline import ExtendResult


def extend(f_obs: miller.array, model: str | None = None, d_min: float = 0.8, **options: Any) -> ExtendResult:
    """Predict the missing amplitudes of `f_obs` out to `d_min`; every measured one is kept as measured.

    `model`: a model plugin's name (default: the transformer), or None with `checkpoint=` to take the model
    the checkpoint records. Returns an ExtendResult: `.f_extended` (miller.array, also `.as_miller_array()`),
    `.predicted` (int flags on the same indices, 1 = predicted), `.measured()`, `.provenance` (model,
    weights, sha256), `.notes`.
    """
    from .pipeline import extend as _extend

    return _extend(f_obs, model=model, d_min=d_min, **options)


def solve(data: miller.array | ExtendResult, phaser: str = "charge-flipping", **options: Any) -> PhasingResult:
    """Phase amplitudes ab initio with the named phaser plugin: a miller.array, or an ExtendResult (its
    figures then say how many reflections were predicted: `figures["n_predicted"]`)."""
    from .solving import phase

    return phase(data, phaser=phaser, **options)
