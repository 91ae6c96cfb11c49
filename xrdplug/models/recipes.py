"""The shipped sizes and training recipes of the built-in models (plain data: no torch).

`xrdplug train --model NAME` builds the shipped size by default (`--size reference` for the reference
work's hyper-parameters, each plugin's default_hparams); `xrdplug train-shipped` trains these recipes.
"""

from __future__ import annotations

from typing import Any

# Chosen by learning per CPU-second on molecular data (6 CPU-minute probes of each, one thread, 300 samples
# per epoch, 48 validation structures: val R_shell after ~3.5 CPU-min unet 0.5728, fft-unet 0.5728 (4.2),
# transformer 0.5776; the fall-off alone 0.5842); minutes are CPU-minutes on a CPU.
RECIPES: dict[str, dict[str, Any]] = {
    "unet": {
        "hparams": {"filters": [16, 32, 64]},
        "batch_size": 8, "lr": 1e-3, "minutes": 20.0, "epoch_samples": 500, "val_samples": 96, "epochs": 200,
    },
    "fft-unet": {
        "hparams": {"filters": [12, 24, 48]},
        "batch_size": 8, "lr": 1e-3, "minutes": 20.0, "epoch_samples": 500, "val_samples": 96, "epochs": 200,
    },
    "transformer": {
        "hparams": {"embed_dim": 64, "depth": 4, "heads": 4, "mlp_ratio": 2.0, "dropout": 0.0, "window": 64,
                    "latents": 16},
        "batch_size": 8, "lr": 1e-3, "minutes": 20.0, "epoch_samples": 500, "val_samples": 96, "epochs": 200,
    },
}
# Full-size recipe for a GPU: the reference hyper-parameters (each plugin's default_hparams), whole epochs.
REFERENCE_RECIPE: dict[str, Any] = {
    "hparams": {}, "batch_size": 32, "lr": 1e-3, "minutes": None, "epoch_samples": None, "val_samples": 1000,
    "epochs": 30,
}



def shipped_hparams(name: str) -> dict[str, Any]:
    """The shipped size of a built-in model ({} for a model without a recipe: its plugin's defaults)."""
    return dict(RECIPES.get(name, {}).get("hparams", {}))
