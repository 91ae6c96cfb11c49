"""PyTorch Dataset over the shards of `xrdplug simulate` (numpy + torch only: never loads cctbx).

Each item is a dict of tensors on the sample's own grid (D, H, W) = `batch.input_shape(cell, d_high, layout)`
(`xrdplug.models.training.collate` pads a batch to its largest member)::

    x       float32 (C, D, H, W)  the model input of `xrdplug.batch.make_input` (C = 7; 4 for "grid41")
    y       float32 (D, H, W)     normalised target |F| on the grid (`batch.target_grid`), 0 off-target
    known   bool    (D, H, W)     reflections with d >= d_low (the "measured" 1.5 A data)
    target  bool    (D, H, W)     every reflection to d_high (inside the sphere, not systematically absent)
    wilson  float32 (2,)          (a, b) of `xrdplug.normalise`: ln scale fitted on the known reflections, the
                                  fixed fall-off B (no Wilson line is fitted any more; the key kept its name)
    index   int64   ()            the sample's row in index.npz (for `raw`, `shards.load_sample`)

Normalisation (`xrdplug.normalise`): a scale exp(a) fitted on the KNOWN reflections only under a fixed
light-atom fall-off; F = y * normalise.scale_at(1/d^2, a, b) at each reflection is the one inverse
(`normalise.denormalise(y_at_hkl, 1/d^2, a, b)` or `batch.prediction_to_amplitudes`), so predictions go back
to the input's own scale.

Caching: a shard's arrays are loaded once per process (decompressed once) and kept, up to `cache_shards`
shards (default: all of them: about 5 bytes per reflection, i.e. ~10 kB per sample, 200 MB for 20k samples).
With a DataLoader each worker process holds its own cache.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from .. import batch, hklgrid
from ..errors import XrdplugError
from . import shards, splits


def known_mask(hkl: np.ndarray, cell: tuple[float, ...], d_low: float) -> np.ndarray:
    """Which reflections count as measured: d >= d_low."""
    inv_d2 = hklgrid.inverse_d_squared(hkl, cell)  # type: ignore[arg-type]
    return inv_d2 <= (1.0 / d_low**2) * (1.0 + 1e-9)


def observed_input(raw: dict[str, Any], d_low: float) -> tuple[np.ndarray, np.ndarray | None]:
    """(known, values): which reflections a model is given and, where they differ from the exact |F|, the
    measured amplitudes (samples with noise numbers: `xrdplug.data.noise.observe`; else None)."""
    hkl, f, cell = raw["hkl"], raw["f"], raw["cell"]
    known = known_mask(hkl, cell, d_low)
    if "noise" not in raw:
        return known, None
    from .noise import observe

    obs = observe(hkl, f, cell, str(raw["space_group"]), raw["noise"])
    return known & obs.observed, obs.f_obs.astype(np.float32)


def make_item(raw: dict[str, Any], d_low: float, d_high: float, layout: str = batch.LAYOUT) -> dict[str, np.ndarray]:
    """Numpy version of one Dataset item from a raw sample: the measured input (with the data's noise and
    lost reflections where the sample has them) and the exact |F| as the target."""
    hkl, f, cell = raw["hkl"], raw["f"], raw["cell"]
    known, values = observed_input(raw, d_low)
    given = f if values is None else values
    mi = batch.make_input(hkl, known, given[known], cell, d_high, layout)
    y = batch.target_grid(hkl, f, mi)
    return {
        "x": mi.x,
        "y": y.astype(np.float32),
        "known": mi.known,
        "target": mi.target,
        "wilson": np.asarray(mi.wilson, dtype=np.float32),
    }


class ShardDataset(Dataset):
    """Samples of one split of a data set folder made by `xrdplug simulate`."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str | None = "train",
        d_low: float | None = None,
        cache_shards: int | None = None,
        layout: str = batch.LAYOUT,
    ) -> None:
        self.root = Path(root)
        self.layout = layout
        self.meta = shards.read_meta(self.root)
        self.index = shards.load_index(self.root)
        self.d_high = float(self.meta["d_high"])
        self.d_low = float(d_low if d_low is not None else self.meta.get("d_low", 1.5))
        if not self.d_low > self.d_high:
            raise XrdplugError(
                f"d_low ({self.d_low}) must be larger than the data set's d_high ({self.d_high})"
            )
        if split is None or split == "all":
            self.rows = np.arange(len(self.index["shard"]))
        else:
            self.rows = np.flatnonzero(self.index["split"] == splits.split_code(split))
        self.split = split
        self.cache_shards = cache_shards
        self._cache: OrderedDict[int, dict[str, np.ndarray]] = OrderedDict()

    def __len__(self) -> int:
        return int(self.rows.size)

    def _shard(self, k: int) -> dict[str, np.ndarray]:
        a = self._cache.get(k)
        if a is None:
            a = shards.read_shard(shards.shard_path(self.root, k))
            self._cache[k] = a
            if self.cache_shards is not None:
                while len(self._cache) > max(1, self.cache_shards):
                    self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(k)
        return a

    def grid_volumes(self) -> np.ndarray:
        """Grid voxels of every sample of this split (for batching by size), from the index alone."""
        cells = np.asarray(self.index["cell"])[self.rows]
        return np.array([int(np.prod(batch.input_shape(tuple(c), self.d_high, self.layout))) for c in cells])

    def row(self, i: int) -> int:
        if not -len(self) <= i < len(self):
            raise IndexError(f"sample {i} out of range ({len(self)} in split {self.split})")
        return int(self.rows[i])

    def raw(self, i: int) -> dict[str, Any]:
        """hkl (N,3) int64, f (N,) float32, cell, space_group, n_atoms, seed, structure_id, ... of item i.

        `cctbx_bridge.simulate.sample_to_miller(raw)` turns it into a cctbx miller.array.
        """
        r = self.row(i)
        return shards.sample_from_shard(self._shard(int(self.index["shard"][r])), int(self.index["pos"][r]))

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = make_item(self.raw(i), self.d_low, self.d_high, self.layout)
        out = {k: torch.from_numpy(v) for k, v in item.items()}
        out["index"] = torch.tensor(self.row(i), dtype=torch.int64)
        return out
