"""3D UNet on the hkl grid (the reference's baseline), and its Fourier variant (FFT_UNet).

Input and output follow `xrdplug.batch`: x (B, 4, 41, 21, 21) -> y (B, 41, 21, 21) F_norm.
The grid is padded inside the model to a size divisible by 2**levels and cropped back, so any grid works.
Reference filters 64/128/256 give about 5.6M parameters (UNet) and 7.9M (FFT_UNet).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv3d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm3d(cout),
        nn.ReLU(inplace=True),
        nn.Conv3d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm3d(cout),
        nn.ReLU(inplace=True),
    )


class FourierBlock(nn.Module):
    """Residual spatial + Fourier block:  x + conv(x) + irfftn(conv(|rfftn(x)|)).

    The Fourier path applies a learned (pointwise by default) convolution to the amplitude of the 3D real
    FFT of each feature map and transforms back, which mixes information across the whole grid in one step.
    FFTs run in float32 even under autocast (cuFFT half precision needs power-of-two sizes).
    """

    def __init__(self, channels: int, fourier_kernel: int = 1):
        super().__init__()
        self.spatial = nn.Conv3d(channels, channels, 3, padding=1)
        self.fourier = nn.Conv3d(channels, channels, fourier_kernel, padding=fourier_kernel // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-3:]
        with torch.autocast(device_type=x.device.type, enabled=False):
            xf = x.float()
            amp = torch.fft.rfftn(xf, dim=(-3, -2, -1), norm="ortho").abs()
            four = torch.fft.irfftn(self.fourier(amp), s=size, dim=(-3, -2, -1), norm="ortho")
        return x + self.spatial(x) + four.to(x.dtype)


class UNet3D(nn.Module):
    def __init__(
        self,
        in_channels: int = 4,
        filters: tuple[int, ...] | list[int] = (64, 128, 256),
        fourier: bool = False,
        fourier_kernel: int = 1,
        fourier_decoder: bool = False,
    ):
        super().__init__()
        # 4 input channels: the legacy fixed 41x21x21 grid; 7: the grid sized per cell (xrdplug.batch)
        self.input_layout = "grid41" if in_channels == 4 else "cell-grid"
        filters = [int(f) for f in filters]
        self.levels = len(filters) - 1
        self.enc = nn.ModuleList()
        self.enc_fb = nn.ModuleList()
        cin = in_channels
        for f in filters:
            self.enc.append(double_conv(cin, f))
            self.enc_fb.append(FourierBlock(f, fourier_kernel) if fourier else nn.Identity())
            cin = f
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        self.dec_fb = nn.ModuleList()
        for f_hi, f_lo in zip(filters[::-1][:-1], filters[::-1][1:]):
            self.up.append(nn.ConvTranspose3d(f_hi, f_lo, 2, stride=2))
            self.dec.append(double_conv(2 * f_lo, f_lo))
            self.dec_fb.append(FourierBlock(f_lo, fourier_kernel) if fourier and fourier_decoder else nn.Identity())
        self.head = nn.Conv3d(filters[0], 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-3:]
        m = 2**self.levels
        pad = [(-s) % m for s in size]
        # F.pad takes the last dimension first: (W_left, W_right, H_left, H_right, D_left, D_right)
        x = F.pad(x, (0, pad[2], 0, pad[1], 0, pad[0]))
        skips = []
        for i, (enc, fb) in enumerate(zip(self.enc, self.enc_fb)):
            if i > 0:
                x = F.max_pool3d(x, 2)
            x = fb(enc(x))
            skips.append(x)
        x = skips.pop()
        for up, dec, fb in zip(self.up, self.dec, self.dec_fb):
            x = up(x)
            x = fb(dec(torch.cat([x, skips.pop()], dim=1)))
        y = self.head(x)[:, 0]
        return y[:, : size[0], : size[1], : size[2]]
