"""`xrdplug simulate`: random structures, determinism, shards, resume, splits, CIF input, CLI."""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import xrdplug  # noqa: F401  (makes cctbx safe to load)
from cctbx_bridge import simulate as sim
from xrdplug import hklgrid
from xrdplug.data import generate, shards, splits
from xrdplug.data.references import structure_for_sample
from xrdplug.errors import XrdplugError


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sim") / "ds"
    generate.simulate(root, 40, sim.SimParams(), seed=7, workers=1, shard_size=15, progress=False)
    return root


def test_seed_determinism_and_random_state() -> None:
    params = sim.SimParams()
    random.seed(123)
    before = random.random()
    random.seed(123)
    a = sim.simulate_seed(42, params)
    assert random.random() == before  # the caller's global random state is left alone
    b = sim.simulate_seed(42, params)
    c = sim.simulate_seed(43, params)
    assert np.array_equal(a["hkl"], b["hkl"]) and np.array_equal(a["f"], b["f"])
    assert a["cell"] == b["cell"] and a["space_group"] == b["space_group"]
    assert a["cell"] != c["cell"]
    assert generate.sample_seed(1, 5) == generate.sample_seed(1, 5) != generate.sample_seed(2, 5)


def test_random_structures_vary_cell_shape_and_fit_the_grid() -> None:
    params = sim.SimParams()
    cells, groups, atoms = [], set(), []
    for s in range(40):
        xs = sim.structure_from_seed(s, params)
        cell = xs.unit_cell().parameters()
        assert hklgrid.cell_fits(cell, params.d_high)
        assert min(cell[:3]) >= sim.MIN_EDGE
        cells.append(cell)
        groups.add(str(xs.space_group_info()))
        atoms.append(xs.scatterers().size())
        occ = xs.scatterers().extract_occupancies().as_numpy_array()
        assert np.all(occ == 1.0)
        u = xs.scatterers().extract_u_iso().as_numpy_array()
        assert np.all((u >= 0.01) & (u <= 0.05))
        # minimum distance between atoms (symmetry mates included)
        pairs = xs.pair_asu_table(distance_cutoff=1.19).extract_pair_sym_table()
        assert sum(len(row) for row in pairs) == 0
    cells_a = np.array(cells)
    assert groups == {"P 1 21/c 1", "P 1 21 1", "C 1 2 1"}
    assert 10 <= min(atoms) and max(atoms) <= 30
    ratio = cells_a[:, :3].max(1) / cells_a[:, :3].min(1)
    assert ratio.std() > 0.1 and cells_a[:, 4].max() - cells_a[:, 4].min() > 15  # shapes vary


def test_volume_per_atom_range() -> None:
    params = sim.SimParams()
    for s in range(10):
        xs = sim.structure_from_seed(s, params)
        n_cell = xs.scatterers().size() * xs.space_group().order_z()
        assert 14.0 - 1e-6 <= xs.unit_cell().volume() / n_cell <= 22.0 + 1e-6


def test_table_structure_factors_match_exact_direct_sum() -> None:
    xs = sim.structure_from_seed(3, sim.SimParams())
    exact = sim.sample_amplitudes(xs, 0.8, 0).data().as_numpy_array()
    table = sim.sample_amplitudes(xs, 0.8, sim.SF_TABLE).data().as_numpy_array()
    assert np.abs(table - exact).max() / exact.mean() < 1e-3
    assert np.median(np.abs(table - exact) / exact) < 1e-4


def test_rebuilt_sample_equals_stored(dataset: Path) -> None:
    index = shards.load_index(dataset)
    assert len(index["shard"]) == 40
    for i in (0, 17, 39):
        raw = shards.load_sample(dataset, i)
        xs = structure_for_sample(dataset, i)
        again = sim.sample_arrays(xs, 0.8)
        assert np.array_equal(again["hkl"], raw["hkl"])
        assert np.array_equal(again["f"].astype(np.float16).astype(np.float32), raw["f"])
        assert raw["cell"] == pytest.approx(again["cell"])
        assert raw["space_group"] == again["space_group"]
        # the miller array helper gives back the exact |F| within float16 precision
        f = sim.sample_to_miller(raw)
        exact = sim.sample_amplitudes(xs, 0.8, 0)
        a, b = exact.common_sets(f)
        assert a.size() == exact.size() == f.size()
        da, db = a.data().as_numpy_array(), b.data().as_numpy_array()
        assert np.all(np.abs(da - db) <= 1e-3 * da + 2e-3 * da.mean())


def test_split_is_by_structure_and_disjoint(dataset: Path) -> None:
    index = shards.load_index(dataset)
    ids = index["structure_id"]
    parts = [set(ids[index["split"] == k]) for k in range(3)]
    assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
    for sid, k in zip(ids, index["split"], strict=True):
        assert splits.assign(str(sid)) == k  # the structure id alone decides
    codes = [splits.assign(f"sim:{i}") for i in range(20000)]
    frac = np.bincount(codes, minlength=3) / len(codes)
    assert frac == pytest.approx([0.9, 0.05, 0.05], abs=0.01)
    assert splits.parse_fractions("80/10/10") == pytest.approx((0.8, 0.1, 0.1))
    with pytest.raises(XrdplugError):
        splits.parse_fractions("80/20")


def test_corrupt_and_truncated_shards_are_reported(dataset: Path, tmp_path: Path) -> None:
    good = shards.shard_path(dataset, 0)
    truncated = tmp_path / "trunc.npz"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file at all" * 10)
    flipped = tmp_path / "flipped.npz"
    data = bytearray(good.read_bytes())
    data[len(data) // 3: len(data) // 3 + 64] = bytes(64)
    flipped.write_bytes(bytes(data))
    for bad in (truncated, garbage, flipped):
        with pytest.raises(XrdplugError, match="corrupt or partial shard"):
            shards.read_shard(bad)
        assert not shards.shard_ok(bad)
    with pytest.raises(XrdplugError, match="missing shard"):
        shards.read_shard(tmp_path / "none.npz")


def test_resume_rebuilds_only_missing_or_damaged_shards(dataset: Path, tmp_path: Path) -> None:
    root = tmp_path / "copy"
    shutil.copytree(dataset, root)
    before = {k: shards.read_shard(shards.shard_path(root, k)) for k in range(3)}
    shards.shard_path(root, 1).unlink()
    p2 = shards.shard_path(root, 2)
    p2.write_bytes(p2.read_bytes()[:100])
    stats, index = generate.simulate(root, 40, sim.SimParams(), seed=7, workers=1, shard_size=15,
                                     progress=False)
    assert stats.shards_skipped == 1 and stats.shards_done == 2 and stats.shards_damaged == 1
    for k in range(3):
        after = shards.read_shard(shards.shard_path(root, k))
        for key in ("hkl", "f", "offsets", "seed", "split"):
            assert np.array_equal(after[key], before[k][key])
    assert len(index["shard"]) == 40
    with pytest.raises(XrdplugError, match="other settings"):
        generate.simulate(root, 40, sim.SimParams(), seed=8, workers=1, shard_size=15, progress=False)


def test_workers_give_the_same_data(dataset: Path, tmp_path: Path) -> None:
    root = tmp_path / "par"
    generate.simulate(root, 40, sim.SimParams(), seed=7, workers=2, shard_size=15, progress=False)
    for k in range(3):
        a = shards.read_shard(shards.shard_path(root, k))
        b = shards.read_shard(shards.shard_path(dataset, k))
        assert np.array_equal(a["f"], b["f"]) and np.array_equal(a["hkl"], b["hkl"])


def test_parse_options() -> None:
    assert sim.parse_space_groups("P21/c, P21,C2") == ["P 1 21/c 1", "P 1 21 1", "C 1 2 1"]
    for bad in ("P-1", "P 1 1 21", "Pxyz"):
        with pytest.raises(XrdplugError):
            sim.parse_space_groups(bad)
    w = sim.parse_elements("C,N,O,Cl")
    assert w == pytest.approx(sim.DEFAULT_ELEMENTS)
    assert sim.parse_elements("C:3,O:1") == pytest.approx({"C": 0.75, "O": 0.25})
    with pytest.raises(XrdplugError):
        sim.parse_elements("C,Xx")


def _cif(xs, name: str) -> str:
    import io

    out = io.StringIO()
    xs.as_cif_simple(out=out, data_name=name)
    return out.getvalue()


def test_from_cif_uses_good_structures_and_counts_skips(tmp_path: Path) -> None:
    from cctbx import sgtbx, xray
    from cctbx.development import random_structure as rs

    from cctbx_bridge.structures import test_data_path

    src = tmp_path / "cifs"
    src.mkdir()
    good = [sim.structure_from_seed(s, sim.SimParams()) for s in (1, 2)]
    (src / "two.cif").write_text(_cif(good[0], "first") + "\n" + _cif(good[1], "second"))
    random.seed(0)
    triclinic = rs.xray_structure(space_group_info=sgtbx.space_group_info("P -1"), elements=["C"] * 8,
                                  volume_per_atom=18.0, min_distance=1.2)
    (src / "tric.cif").write_text(_cif(xray.structure(special_position_settings=triclinic,
                                                      scatterers=triclinic.scatterers()), "tric"))
    big = xray.structure(crystal_symmetry=good[0].crystal_symmetry().customized_copy(
        unit_cell=(18.0, 10.0, 9.0, 90, 100, 90)), scatterers=good[0].scatterers())
    (src / "big.cif").write_text(_cif(big, "big"))
    shutil.copy(test_data_path("thpp.cif"), src / "thpp.cif")  # real data: has disordered atoms
    (src / "junk.cif").write_text("this is not a CIF\n")
    out = tmp_path / "ds"
    stats, index = generate.simulate_from_cif(src, out, workers=1, shard_size=2, progress=False)
    assert len(index["shard"]) == 2
    assert set(index["structure_id"]) == {"cif:two.cif#first", "cif:two.cif#second"}
    assert stats.skipped == {
        "non-monoclinic space group": 1,
        "cell too large for the model grid": 1,
        "partial occupancy (disorder)": 1,
        "unreadable CIF": 1,
    }
    assert stats.skipped_examples["partial occupancy (disorder)"] == "thpp.cif#global"
    i = list(index["structure_id"]).index("cif:two.cif#second")
    raw = shards.load_sample(out, i)
    want = sim.sample_arrays(good[1], 0.8)
    assert np.array_equal(raw["hkl"], want["hkl"])
    assert np.allclose(raw["f"], want["f"], rtol=1e-3, atol=1e-3)
    xs = structure_for_sample(out, i)
    assert xs.scatterers().size() == good[1].scatterers().size()


def test_from_cif_reindexes_c_unique_and_drops_hydrogens() -> None:
    from cctbx import sgtbx, xray
    from cctbx.development import random_structure as rs

    random.seed(1)
    c_unique = rs.xray_structure(space_group_info=sgtbx.space_group_info("P 1 1 21"),
                                 elements=["C"] * 6 + ["H"] * 4, volume_per_atom=18.0, min_distance=1.2,
                                 general_positions_only=True)
    xs, why = sim.prepare_cif_structure(c_unique, 0.8)
    assert why == "" and xs is not None
    assert sim.is_b_unique_monoclinic(xs.space_group_info())
    assert xs.scatterers().size() == 6
    kept, _ = sim.prepare_cif_structure(c_unique, 0.8, keep_hydrogens=True)
    assert kept.scatterers().size() == 10
    assert isinstance(xs, xray.structure)


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "xrdplug.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


def test_cli_simulate_and_errors(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from xrdplug.cli import app

    out = tmp_path / "ds"
    res = CliRunner().invoke(app, ["simulate", "--kind", "random", "--n", "6", "--out", str(out),
                                   "--shard-size", "4", "--seed", "2", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "6 samples in 2 shards" in res.output
    assert len(shards.load_index(out)["shard"]) == 6
    bad = _cli("simulate", "--kind", "random", "--n", "3", "--out", str(tmp_path / "x"), "--space-groups", "P-1",
               cwd=tmp_path)
    assert bad.returncode != 0
    assert "not monoclinic" in bad.stderr and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    again = _cli("simulate", "--kind", "random", "--n", "6", "--out", str(out), "--shard-size", "4", "--seed", "3",
                 cwd=tmp_path)
    assert again.returncode != 0 and "other settings" in again.stderr


def test_bench_simulate_times_each_step_and_refuses_bad_options(capsys) -> None:
    from conftest import run_main

    from xrdplug.bench_simulate import random_bench

    b = random_bench(4, 1, 0)
    assert len(b.rows) == 7 and all(w > 0 and c > 0 for _, (w, c) in b.rows)
    assert b.rows[-1][1] == b.pipeline and 1000 < b.bytes_per_sample < 16 * 1024
    code, _, err = run_main(["bench", "simulate", "--kind", "molecular", "--n", "1", "--per-molecule", "2"], capsys)
    assert code != 0 and err.strip() == "xrdplug: error: --n must be at least --per-molecule"
    code, _, err = run_main(["bench", "simulate", "--kind", "crystal"], capsys)
    assert code != 0 and "unknown --kind 'crystal'" in err
