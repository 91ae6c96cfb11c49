"""Built-in model plugin `fft-unet`: 3D UNet with a residual Fourier block after each encoder double conv:
x + conv(x) + irfftn(conv(|rfftn(x)|)) (filters 64/128/256, ~7.9M)."""

from __future__ import annotations

from pathlib import Path

from xrdplug import hookimpl
from xrdplug.plugin_api import ModelSpec

WEIGHTS = Path(__file__).parent / "weights"


def build(filters=(64, 128, 256), in_channels=7, fourier_kernel=1, fourier_decoder=False):
    from xrdplug.models.unet import UNet3D

    return UNet3D(
        in_channels=in_channels,
        filters=filters,
        fourier=True,
        fourier_kernel=fourier_kernel,
        fourier_decoder=fourier_decoder,
    )


MODEL = ModelSpec(
    name="fft-unet",
    description="3D UNet with residual spatial + Fourier-domain blocks (reference FFT_UNet)",
    default_hparams={"filters": [64, 128, 256], "in_channels": 7, "fourier_kernel": 1, "fourier_decoder": False},
    builder=build,
    weights=WEIGHTS / "fft_unet.pt",
)


@hookimpl
def xrdplug_register_models():
    return [MODEL]
