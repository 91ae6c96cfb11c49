"""Built-in model plugin `unet`: the reference 3D UNet on the hkl grid (filters 64/128/256, ~5.6M)."""

from __future__ import annotations

from pathlib import Path

from xrdplug import hookimpl
from xrdplug.plugin_api import ModelSpec

WEIGHTS = Path(__file__).parent / "weights"


def build(filters=(64, 128, 256), in_channels=7):
    from xrdplug.models.unet import UNet3D

    return UNet3D(in_channels=in_channels, filters=filters)


MODEL = ModelSpec(
    name="unet",
    description="3D UNet on the 41x21x21 hkl grid (reference baseline; sees the cell through s2)",
    default_hparams={"filters": [64, 128, 256], "in_channels": 7},
    builder=build,
    weights=WEIGHTS / "unet.pt",
)


@hookimpl
def xrdplug_register_models():
    return [MODEL]
