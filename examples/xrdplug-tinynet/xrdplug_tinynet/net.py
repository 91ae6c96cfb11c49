"""The network: input and output follow the batch contract of `xrdplug.plugin_api` (IN_CHANNELS channels on
the cell's own hkl grid in, one normalised amplitude per grid point out)."""

from __future__ import annotations

import torch
from torch import nn

from xrdplug.plugin_api import IN_CHANNELS


class TinyNet(nn.Module):
    input_layout = "cell-grid"  # the default layout; said here to show where a model declares it

    def __init__(self, width: int, kernel: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv3d(IN_CHANNELS, width, kernel, padding=kernel // 2),
            nn.ReLU(),
            nn.Conv3d(width, 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, 7, D, H, W); channel 0 holds the measured F_norm, channel 1 the measured mask.
        # Predict a correction to 1 (the mean of F_norm), so that an untrained net already says "average".
        return 1.0 + self.body(x)[:, 0]


def build(width: int = 16, kernel: int = 3) -> TinyNet:
    return TinyNet(width, kernel)
