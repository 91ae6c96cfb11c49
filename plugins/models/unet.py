"""Built-in model plugin `unet`: the reference 3D UNet on the hkl grid (filters 64/128/256, ~5.6M)."""

from __future__ import annotations

from pathlib import Path

from xrdplug.plugin_api import ModelSpec, hookimpl

WEIGHTS = Path(__file__).parent / "weights"


def build(filters=(64, 128, 256), in_channels=7):
    from xrdplug.models.unet import UNet3D

    return UNet3D(in_channels=in_channels, filters=filters)


# Shipped size: chosen by learning per CPU-second on molecular data (6 CPU-minute probe, one thread,
# 48 validation structures): val R_shell 0.5728 after ~3.5 CPU-min, the fall-off alone 0.5842. Minutes: CPU-minutes.
RECIPE = {
    "hparams": {"filters": [16, 32, 64]},
    "batch_size": 8, "lr": 1e-3, "minutes": 20.0, "epoch_samples": 500, "val_samples": 96, "epochs": 200,
}

MODEL = ModelSpec(
    name="unet",
    description="3D UNet on the 41x21x21 hkl grid (reference baseline; sees the cell through s2)",
    default_hparams={"filters": [64, 128, 256], "in_channels": 7},
    builder=build,
    weights=WEIGHTS / "unet.pt",
    recipe=RECIPE,
)


@hookimpl
def xrdplug_register_models():
    return [MODEL]
