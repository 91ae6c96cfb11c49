"""Everything a plugin author needs, from one module (see docs/plugins.md)::

    from xrdplug.plugin_api import hookimpl, ModelSpec

    @hookimpl
    def xrdplug_register_models():
        return [ModelSpec("my-net", "what it does", {"width": 16}, "my_pkg.net:build",
                          weights=Path(__file__).parent / "my_net.pt")]

What a plugin object must offer: `Source`, `ModelPlugin` (`ModelSpec` is the ready-made one), `Phaser`, with
the data they pass (`ReflectionData`, `PhasingResult`). The model batch contract (`IN_CHANNELS`, `LAYOUT`,
`make_input`, `prediction_to_amplitudes`, ...) is described in `xrdplug.batch`; it is loaded on first
use, so that a plugin importing this module does not load numpy when the CLI only lists plugins.
Checkpoints: `CHECKPOINT_FORMAT`, `save_checkpoint`, `read_checkpoint` (these import torch when first used).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import PluginError, XrdplugError
from .hookspecs import hookimpl
from .model_spec import RECIPE_KEYS, ModelSpec
from .protocols import ModelPlugin, Phaser, PhasingResult, ReflectionData, Source

if TYPE_CHECKING:  # pragma: no cover
    from .batch import (
        IN_CHANNELS,
        LAYOUT,
        LEGACY_LAYOUT,
        ModelInput,
        accepts,
        input_shape,
        layout_of,
        make_input,
        pad_stack,
        prediction_to_amplitudes,
        target_grid,
    )
    from .models.checkpoint import FORMAT as CHECKPOINT_FORMAT
    from .models.checkpoint import read_checkpoint, save_checkpoint

_LAZY = {
    **{n: ("xrdplug.batch", n) for n in (
        "IN_CHANNELS", "LAYOUT", "LEGACY_LAYOUT", "ModelInput", "accepts", "input_shape", "layout_of",
        "make_input", "pad_stack", "prediction_to_amplitudes", "target_grid")},
    "CHECKPOINT_FORMAT": ("xrdplug.models.checkpoint", "FORMAT"),
    "read_checkpoint": ("xrdplug.models.checkpoint", "read_checkpoint"),
    "save_checkpoint": ("xrdplug.models.checkpoint", "save_checkpoint"),
}

__all__ = [
    "hookimpl", "ModelSpec", "RECIPE_KEYS", "ModelPlugin", "Source", "Phaser", "ReflectionData", "PhasingResult",
    "XrdplugError", "PluginError",
    # loaded on first use (numpy; torch for the checkpoint helpers)
    "IN_CHANNELS", "LAYOUT", "LEGACY_LAYOUT", "ModelInput", "accepts", "input_shape", "layout_of", "make_input",
    "pad_stack", "prediction_to_amplitudes", "target_grid", "CHECKPOINT_FORMAT", "read_checkpoint",
    "save_checkpoint",
]
assert set(__all__) >= set(_LAZY)


def __getattr__(name: str) -> Any:
    """The batch contract and checkpoint helpers, imported on first use (PEP 562)."""
    if name not in _LAZY:
        raise AttributeError(f"module 'xrdplug.plugin_api' has no attribute {name!r}")
    module, attr = _LAZY[name]
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value
