"""A ready-made `ModelPlugin` (see `xrdplug.protocols`) for networks that follow `xrdplug.models.batch`.

A third-party model only needs::

    from xrdplug import hookimpl
    from xrdplug.models.plugin import ModelSpec

    @hookimpl
    def xrdplug_register_models():
        return [ModelSpec("my-net", "what it does", {"width": 32}, "my_pkg.net:build")]

`builder` is a callable or a "module:function" string imported on first build, so listing plugins never
imports torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class ModelSpec:
    name: str
    description: str
    default_hparams: dict[str, Any]
    builder: Callable[..., Any] | str
    weights: Path | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    def build(self, **hparams: Any) -> Any:
        fn = self.builder
        if isinstance(fn, str):
            module, _, attr = fn.partition(":")
            fn = getattr(importlib.import_module(module), attr)
        unknown = set(hparams) - set(self.default_hparams)
        if unknown:
            from ..errors import XrdplugError

            raise XrdplugError(
                f"model '{self.name}' has no hyper-parameter {', '.join(sorted(unknown))} "
                f"(it takes: {', '.join(sorted(self.default_hparams))})"
            )
        return fn(**{**self.default_hparams, **hparams})

    def weights_path(self) -> Path | None:
        return self.weights
