"""`ModelSpec`: the ready-made model plugin object (a `xrdplug.protocols.ModelPlugin`).

Everything the host knows about a model it reads from here, for a built-in and a third party alike: how to
build it, where its weights live, the record of how they measure (NAME.json beside NAME.pt, which `solve
--model auto` reads), and the recipe `train-shipped` trains.
`builder` is a callable or a "module:function" string imported on first build, so listing plugins never
imports torch.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import XrdplugError

RECIPE_KEYS = ("hparams", "batch_size", "lr", "minutes", "epoch_samples", "val_samples", "epochs")


@dataclass
class ModelSpec:
    """A model plugin.

    `default_hparams`: every keyword `builder` takes (the full, reference size); a checkpoint stores its own.
    `weights`: the shipped checkpoint (None: the user trains one and passes --checkpoint).
    `recipe`: how `xrdplug train-shipped` trains the shipped size (keys RECIPE_KEYS; `hparams` overrides
    `default_hparams`); None: the model has no shipped size and `train` builds `default_hparams`.
    """

    name: str
    description: str
    default_hparams: dict[str, Any]
    builder: Callable[..., Any] | str
    weights: Path | None = None
    recipe: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.recipe is not None:
            missing = [k for k in RECIPE_KEYS if k not in self.recipe]
            if missing:
                raise XrdplugError(f"model '{self.name}': recipe lacks {', '.join(missing)}")

    def build(self, **hparams: Any) -> Any:
        fn = self.builder
        if isinstance(fn, str):
            module, _, attr = fn.partition(":")
            fn = getattr(importlib.import_module(module), attr)
        unknown = set(hparams) - set(self.default_hparams)
        if unknown:
            raise XrdplugError(
                f"model '{self.name}' has no hyper-parameter {', '.join(sorted(unknown))} "
                f"(it takes: {', '.join(sorted(self.default_hparams))})"
            )
        return fn(**{**self.default_hparams, **hparams})

    def weights_path(self) -> Path | None:
        return self.weights

    def shipped_hparams(self) -> dict[str, Any]:
        """The shipped size: the recipe's hyper-parameters ({} without a recipe: the defaults)."""
        return dict((self.recipe or {}).get("hparams", {}))

    def record_path(self) -> Path | None:
        """NAME.json beside the shipped weights: how they were trained and how they measure."""
        return None if self.weights is None else Path(self.weights).with_suffix(".json")

    def record(self) -> dict[str, Any]:
        """The record beside the weights ({} when there is none or it does not parse)."""
        path = self.record_path()
        try:
            rec = json.loads(path.read_text()) if path is not None else {}
        except (OSError, ValueError):
            return {}
        return rec if isinstance(rec, dict) else {}
