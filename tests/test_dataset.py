"""The torch Dataset over simulate's shards: shapes, collate, invertible normalisation, no cctbx."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import xrdplug  # noqa: F401
from xrdplug import hklgrid, normalise
from xrdplug.data import generate, shards
from xrdplug.errors import XrdplugError


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from cctbx_bridge.simulate import SimParams

    root = tmp_path_factory.mktemp("dsim") / "ds"
    generate.simulate(root, 30, SimParams(), seed=11, workers=1, shard_size=12, progress=False)
    return root


def test_items_shapes_dtypes_and_collate(dataset: Path) -> None:
    import torch

    from xrdplug.data.dataset import ShardDataset

    parts = {s: ShardDataset(dataset, split=s) for s in ("train", "val", "test")}
    assert sum(len(d) for d in parts.values()) == 30 == len(ShardDataset(dataset, split="all"))
    ds = ShardDataset(dataset, split="all")
    item = ds[0]
    raw = ds.raw(0)
    shape = hklgrid.grid_shape(tuple(raw["cell"]), 0.8)  # the cell's own grid
    assert item["x"].shape == (7, *shape) and item["x"].dtype == torch.float32
    assert item["y"].shape == shape and item["y"].dtype == torch.float32
    assert item["known"].shape == shape and item["known"].dtype == torch.bool
    assert item["target"].shape == shape and item["target"].dtype == torch.bool
    assert item["wilson"].shape == (2,) and item["wilson"].dtype == torch.float32
    assert bool((item["known"] <= item["target"]).all())
    frac = item["known"].sum().item() / item["target"].sum().item()
    assert 0.1 < frac < 0.3  # (0.8/1.5)^3 = 0.15 of the sphere is "measured"
    assert torch.equal(item["x"][1].bool(), item["known"])
    assert torch.equal(item["x"][2].bool(), item["target"])
    assert float(item["y"][~item["target"]].abs().max()) == 0.0
    # channels 4-6: the Cartesian reciprocal position (the cell's metric); channel 3 is its squared length
    s = item["x"][4:7].numpy()
    np.testing.assert_allclose((s**2).sum(0), item["x"][3].numpy(), rtol=1e-5, atol=1e-6)
    t = item["target"].numpy()
    assert float(item["x"][3].numpy()[t].max()) <= 1.0 + 1e-5
    from xrdplug.models.training import BucketBatchSampler, collate, grid_volumes

    sizes = grid_volumes(ds)
    assert len(sizes) == len(ds) and sizes[0] == np.prod(shape)
    loader = torch.utils.data.DataLoader(ds, batch_sampler=BucketBatchSampler(sizes, 4), collate_fn=collate)
    batches = list(loader)
    assert sum(len(b["x"]) for b in batches) == len(ds)
    batch = batches[0]
    assert batch["x"].shape[:2] == (len(batch["x"]), 7) and batch["wilson"].shape == (len(batch["x"]), 2)
    # the padding is no target, and the legacy layout still gives the fixed grid
    legacy = ShardDataset(dataset, split="all", layout="grid41")
    assert legacy[0]["x"].shape == (4, 41, 21, 21)
    with pytest.raises(IndexError):
        ds[len(ds)]
    with pytest.raises(XrdplugError):
        ShardDataset(dataset, split="training")


def test_denormalised_target_gives_back_the_stored_amplitudes(dataset: Path) -> None:
    from xrdplug.data.dataset import ShardDataset

    ds = ShardDataset(dataset, split="all", cache_shards=1)
    for i in (0, 13, 29):
        raw, item = ds.raw(i), ds[i]
        a, b = item["wilson"].tolist()
        inv_d2 = hklgrid.inverse_d_squared(raw["hkl"], raw["cell"])
        f = normalise.denormalise(hklgrid.from_grid(item["y"].numpy(), raw["hkl"]), inv_d2, a, b)
        np.testing.assert_allclose(f, raw["f"], rtol=1e-5, atol=1e-6)
        known = inv_d2 <= 1 / 1.5**2 + 1e-12
        x0 = hklgrid.from_grid(item["x"][0].numpy(), raw["hkl"][known])
        np.testing.assert_allclose(normalise.denormalise(x0, inv_d2[known], a, b), raw["f"][known], rtol=1e-5)
        again = shards.load_sample(dataset, int(item["index"]))
        assert np.array_equal(raw["f"], again["f"]) and raw["structure_id"] == again["structure_id"]
    assert len(ds._cache) == 1


def test_corrupt_shard_gives_a_clear_error(dataset: Path, tmp_path: Path) -> None:
    import shutil

    from xrdplug.data.dataset import ShardDataset

    root = tmp_path / "copy"
    shutil.copytree(dataset, root)
    p = shards.shard_path(root, 1)
    p.write_bytes(p.read_bytes()[:500])
    ds = ShardDataset(root, split="all")
    ds[0]  # shard 0 is fine
    with pytest.raises(XrdplugError, match="corrupt or partial shard"):
        ds[15]
    with pytest.raises(XrdplugError, match="not an xrdplug data set"):
        ShardDataset(tmp_path)


def test_dataset_never_loads_cctbx(dataset: Path) -> None:
    code = (
        "import sys\n"
        "from xrdplug.data.dataset import ShardDataset\n"
        f"ds = ShardDataset({str(dataset)!r}, split='all')\n"
        "[ds[i] for i in range(3)]; ds.raw(0)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('cctbx', 'iotbx', 'smtbx', 'boost_adaptbx')]\n"
        "assert not bad, bad\n"
        "print('ok')\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "ok" in res.stdout, res.stderr
