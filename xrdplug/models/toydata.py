"""Tiny stand-in samples for tests and `xrdplug bench train`, built in numpy without cctbx.

Each sample is a random P2_1 point-atom structure (equal atoms, isotropic B) in a random monoclinic cell
(edges in `cell_range`); |F| is computed directly, then `make_input` builds the model input exactly as
for real data. The dicts have the same keys as the simulator's ShardDataset items.
"""

from __future__ import annotations

import numpy as np

from .. import hklgrid
from ..batch import LAYOUT, make_input, target_grid


def asu_indices(cell: tuple[float, ...], d_high: float) -> np.ndarray:
    """Unique 2/m indices (k >= 0, l >= 0, h >= 0 when l == 0) with d >= d_high, without 000."""
    hmax, kmax, lmax = hklgrid.max_indices(cell, d_high)  # type: ignore[arg-type]
    h, k, l = np.meshgrid(np.arange(-hmax, hmax + 1), np.arange(kmax + 1), np.arange(lmax + 1), indexing="ij")
    hkl = np.stack([h.ravel(), k.ravel(), l.ravel()], axis=1)
    keep = (hkl[:, 2] > 0) | (hkl[:, 0] >= 0)
    keep &= np.any(hkl != 0, axis=1)
    hkl = hkl[keep]
    s2 = hklgrid.inverse_d_squared(hkl, cell)  # type: ignore[arg-type]
    return hkl[s2 <= 1.0 / d_high**2 + 1e-9]


def toy_sample(rng: np.random.Generator, d_low: float = 1.5, d_high: float = 0.8, n_atoms: int | None = None,
               cell_range: tuple[float, float] = (7.0, 15.5), layout: str = LAYOUT,
               cell: tuple[float, ...] | None = None) -> dict:
    if cell is None:
        a, b, c = rng.uniform(*cell_range, 3)
        beta = rng.uniform(92.0, 115.0)
        cell = (float(a), float(b), float(c), 90.0, float(beta), 90.0)
    hkl = asu_indices(cell, d_high)
    n = int(n_atoms or max(5, min(400, int(cell[0] * cell[1] * cell[2] / 72.0))))
    xyz = rng.uniform(0, 1, (n, 3))
    mates = np.concatenate([xyz, xyz * [-1, 1, -1] + [0, 0.5, 0]])  # P2_1
    phase = 2 * np.pi * hkl.astype(np.float64) @ mates.T
    s2 = hklgrid.inverse_d_squared(hkl, cell)
    f = np.abs(np.exp(1j * phase).sum(axis=1)) * np.exp(-rng.uniform(1.0, 4.0) * s2 / 4) * rng.uniform(5, 50)
    known = s2 <= 1.0 / d_low**2
    mi = make_input(hkl, known, f[known], cell, d_high, layout)
    y = target_grid(hkl, f, mi)
    return {
        "x": mi.x, "y": y.astype(np.float32), "known": mi.known, "target": mi.target,
        "wilson": np.asarray(mi.wilson, dtype=np.float32), "hkl": hkl, "f": f, "cell": cell,
    }


def toy_dataset(n: int, seed: int = 0, **kw) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [toy_sample(rng, **kw) for _ in range(n)]
