"""xrdplug-tinynet: the example model plugin of docs/plugins.md.

Registers one model, `tinynet`. Importing this module must stay cheap (the CLI imports every plugin to
list them), so torch is imported only inside `build` (in net.py).
"""

from __future__ import annotations

from pathlib import Path

from xrdplug.plugin_api import ModelSpec, hookimpl

WEIGHTS = Path(__file__).parent / "weights" / "tinynet.pt"

MODEL = ModelSpec(
    name="tinynet",
    description="two 3D convolutions on the cell's hkl grid (an example plugin)",
    default_hparams={"width": 16, "kernel": 3},  # every keyword build() takes: the checkpoint stores its own
    builder="xrdplug_tinynet.net:build",  # imported on first build, so listing plugins never loads torch
    weights=WEIGHTS,  # shipped weights: made by `xrdplug train-shipped --model tinynet --ship`
    recipe={  # what `train-shipped` trains (minutes are CPU-minutes)
        "hparams": {"width": 8}, "batch_size": 4, "lr": 1e-3, "minutes": 2.0, "epoch_samples": 64,
        "val_samples": 16, "epochs": 20,
    },
)


@hookimpl
def xrdplug_register_models():
    return [MODEL]
