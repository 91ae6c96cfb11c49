"""Where training recipes are found: on each model plugin's ModelSpec (`recipe`), so that a third party's
model gets the same `train --size shipped` and `train-shipped` as the built-ins (no torch here).

`xrdplug train --model NAME` builds the shipped size by default (`--size reference` for the reference
work's hyper-parameters, each plugin's default_hparams); `xrdplug train-shipped` trains the recipes.
"""

from __future__ import annotations

from typing import Any

# Full-size recipe for a GPU: the reference hyper-parameters (each plugin's default_hparams), whole epochs.
REFERENCE_RECIPE: dict[str, Any] = {
    "hparams": {}, "batch_size": 32, "lr": 1e-3, "minutes": None, "epoch_samples": None, "val_samples": 1000,
    "epochs": 30,
}


def shipped_models() -> dict[str, Any]:
    """Model plugins that `train-shipped` can retrain: a `recipe` and a `weights` path on the spec."""
    from ..plugin_manager import registry

    reg = registry()
    out = {}
    for name in reg.names("model"):
        obj = reg.get("model", name)
        if isinstance(getattr(obj, "recipe", None), dict) and obj.weights_path() is not None:
            out[name] = obj
    return out


def shipped_hparams(name: str) -> dict[str, Any]:
    """The shipped size of a model ({} for a model without a recipe: its plugin's defaults)."""
    from ..plugin_manager import canonical, registry

    obj = registry().entries["model"].get(canonical(name))
    recipe = getattr(obj.obj, "recipe", None) if obj is not None else None
    return dict(recipe.get("hparams", {})) if isinstance(recipe, dict) else {}
