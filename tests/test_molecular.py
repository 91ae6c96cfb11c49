"""Molecular crystal simulator: symmetry, packing, Z' = 1/2, seeds, noise, shards, cases, SMILES splits."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import xrdplug  # noqa: F401  (makes cctbx and RDKit safe to load)
from cctbx_bridge import molecular as cm
from cctbx_bridge import simulate as sim
from xrdplug import molcrystal, packing
from xrdplug.data import cases, generate, molecular, noise, shards
from xrdplug.data import smiles as smiles_sets
from xrdplug.data.references import structure_for_sample
from xrdplug.errors import XrdplugError

FAST = molcrystal.MolParams(relax_steps=120, max_pack_ratio=1.6)
NAPHTHALENE = "c1ccc2ccccc2c1"
ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
ANTHRACENE = "c1ccc2cc3ccccc3cc2c1"
REPO = Path(__file__).resolve().parents[1]


def _min_contact_ratio(model: molcrystal.CrystalModel, cs) -> float:
    """Independent check (cctbx's operators and cell): smallest d / threshold between molecule 0 (the
    asymmetric unit, completed through the inversion centre for Z' = 1/2) and every other molecule within
    two cells."""
    xs = cm.structure(model)
    frac = xs.sites_frac().as_numpy_array()
    atoms = np.arange(cs.n_atoms)
    if model.z_prime == 0.5:
        asu = atoms[atoms < cs.inversion]
        idx = np.concatenate([asu, cs.inversion[asu]])
        frac = np.concatenate([frac, -frac])  # the site is (0, 0, 0) in every group used here
    else:
        idx = atoms
    thr = packing.contact_thresholds([cs.molecule.elements[i] for i in idx], cs.donor_h[idx], cs.donor[idx],
                                     packing.ContactRule(vdw_fraction=FAST.vdw_fraction))
    o = np.array(xs.unit_cell().orthogonalization_matrix()).reshape(3, 3)
    mol0 = frac @ o.T
    worst = np.inf
    for op in xs.space_group().all_ops():
        r, t = np.array(op.r().as_double()).reshape(3, 3), np.array(op.t().as_double())
        for n in np.array(np.meshgrid(*[np.arange(-2, 3)] * 3)).reshape(3, -1).T:
            img = (frac @ r.T + t + n) @ o.T
            d = np.linalg.norm(mol0[:, None, :] - img[None, :, :], axis=2)
            if np.all(d.min(axis=1) < 1e-6):
                continue  # molecule 0 itself
            worst = min(worst, float((d / thr).min()))
    return worst


def test_operator_table_matches_cctbx() -> None:
    for sg in molcrystal.SPACE_GROUP_WEIGHTS:
        r1, t1 = molcrystal.symmetry_operators(sg)
        r2, t2 = cm.group_operators(sg)
        a = {(tuple(r.ravel()), tuple(np.round(t % 1.0, 6))) for r, t in zip(r1, t1)}
        b = {(tuple(r.ravel()), tuple(np.round(t % 1.0, 6))) for r, t in zip(r2, t2)}
        assert a == b, sg
    assert abs(sum(molcrystal.SPACE_GROUP_WEIGHTS.values()) - 1.0) < 1e-9


@pytest.mark.parametrize("sg", ["P 1 21/c 1", "C 1 2/c 1", "P 1 21 1"])
def test_packing_has_no_clash_and_real_density(sg: str) -> None:
    cs = molecular.conformers(ANTHRACENE)
    model = molcrystal.build_crystal(cs, 11, molcrystal.MolParams(), space_group=sg, z_prime=1.0)
    assert model.space_group == sg and model.z_prime == 1.0
    assert _min_contact_ratio(model, cs) >= 1.0 - 1e-6  # every intermolecular pair at or beyond its limit
    # real organics: V / sum of Hofmann volumes ~0.9-1.05; a rigid molecule packs near that even with little effort
    assert 0.85 < model.density_ratio < 1.3
    assert 90.0 <= model.cell[4] <= 125.0 and max(model.cell[:3]) <= FAST.max_edge
    u = model.u_iso
    heavy = np.array([e != "H" for e in model.elements])
    assert 0.005 < u[heavy].min() and u[heavy].max() < 0.15 and u[~heavy].mean() > u[heavy].mean()


def test_flexible_molecule_packs_without_clash() -> None:
    cs = molecular.conformers(ASPIRIN)
    model = molcrystal.build_crystal(cs, 11, FAST, space_group="P 1 21 1", z_prime=1.0)
    assert _min_contact_ratio(model, cs) >= 1.0 - 1e-6 and model.density_ratio < 2.0


def test_z_half_molecule_sits_on_an_inversion_centre() -> None:
    cs = molecular.conformers(NAPHTHALENE)
    assert cs.centrosymmetric
    model = molcrystal.build_crystal(cs, 3, FAST, space_group="P 1 21/c 1", z_prime=0.5)
    assert model.z_prime == 0.5 and len(model.elements) == cs.n_atoms // 2  # C5H4 in the asymmetric unit
    assert model.formula == "C5 H4"
    xs = cm.structure(model)
    assert xs.site_symmetry_table().special_position_indices().size() == 0
    frac = xs.sites_frac().as_numpy_array()
    whole = np.concatenate([frac, -frac])  # the molecule = asymmetric unit + its image through (0, 0, 0)
    o = np.array(xs.unit_cell().orthogonalization_matrix()).reshape(3, 3)
    cart = whole @ o.T
    assert np.allclose(cart.mean(axis=0), 0.0, atol=1e-9)
    # and it is one molecule: every carbon bonded (< 1.6 A) to two or three carbons of the whole
    c = np.array([e == "C" for e in model.elements] * 2)
    d = np.linalg.norm(cart[c][:, None] - cart[c][None], axis=2)
    bonded = ((d > 0.5) & (d < 1.6)).sum(axis=1)
    assert set(bonded) <= {2, 3} and (bonded == 3).sum() == 2
    assert _min_contact_ratio(model, cs) >= 1.0 - 1e-6


def test_sample_rebuilds_from_its_seed(tmp_path: Path) -> None:
    params = replace(FAST, max_edge=30.0)
    root = tmp_path / "ds"
    pool = tmp_path / "mols.smi"
    pool.write_text(f"{ASPIRIN} aspirin\n{NAPHTHALENE} naphthalene\n")
    generate.simulate_molecular(root, 3, params, seed=5, shard_size=2, per_molecule=2, smiles_file=pool,
                                progress=False)
    index = shards.load_index(root)
    assert set(index) >= {"smiles", "z_prime", "n_heavy", "n_rotatable", "kind", "formula"}
    assert set(index["kind"]) == {"molecular"}
    raw = shards.load_sample(root, 2)
    molecular._CACHE.clear()  # rebuild the conformers too, as a fresh process would
    molcrystal._NONBONDED.clear()
    again = molecular.sample(raw["smiles"], raw["seed"], params)
    assert np.array_equal(again["hkl"], raw["hkl"])
    assert np.allclose(again["f"].astype(np.float16), raw["f"])
    assert np.allclose(again["noise"], raw["noise"])
    xs = structure_for_sample(root, 2)  # the reference structure, rebuilt through the data set's meta
    f = sim.sample_amplitudes(xs, params.d_high, 0).data().as_numpy_array()
    stored = sim.sample_to_miller(raw).data().as_numpy_array()
    assert abs(np.sort(f).sum() - np.sort(stored).sum()) / f.sum() < 1e-3
    assert any(t == "H" for t in xs.scattering_types())  # H atoms scatter


def test_noise_model_counting_statistics() -> None:
    cs = molecular.conformers(ASPIRIN)
    model = molcrystal.build_crystal(cs, 2, FAST)
    arr = cm.sample_arrays(model, 0.8, 0)
    from xrdplug import hklgrid

    inv_d2 = hklgrid.inverse_d_squared(arr["hkl"], arr["cell"])
    params = noise.draw_params(arr["f"], inv_d2, 0.8, np.random.default_rng(0))
    obs = noise.observe(arr["hkl"], arr["f"], arr["cell"], model.space_group, params)
    obs2 = noise.observe(arr["hkl"], arr["f"], arr["cell"], model.space_group, params)
    assert np.array_equal(obs.f_obs, obs2.f_obs)  # deterministic from the noise numbers
    outer = inv_d2 >= 1 / (noise.OUTER_SHELL * 0.8) ** 2
    assert noise.I_SIGMA_OUTER[0] - 0.3 < np.median(obs.i_obs[outer] / obs.sig_i[outer]) < noise.I_SIGMA_OUTER[1] + 0.3
    assert 0.9 < obs.observed.mean() < 1.0
    strong = obs.i_obs > 10 * obs.sig_i
    assert np.allclose(obs.f_obs[strong], np.sqrt(obs.i_obs[strong]))
    assert np.all(obs.f_obs >= 0) and np.all(obs.sig_f > 0)
    # the low-angle data carry the counting noise the high-angle ones do, relatively less of it
    rel = np.abs(obs.f_obs - arr["f"]) / arr["f"]
    assert np.median(rel[~outer]) < np.median(rel[outer])


def test_bad_smiles_file_is_one_line_error(tmp_path: Path, cli) -> None:
    bad = tmp_path / "bad.smi"
    bad.write_text("CCO ethanol\nC1CC(\n")
    out = tmp_path / "ds"
    res = cli("simulate", "--kind", "molecular", "--smiles", bad, "--out", out, "--n", "2", "--no-progress")
    assert res.returncode != 0
    assert res.stderr.strip().startswith("xrdplug: error:") and "bad.smi:2" in res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not out.exists()
    res = cli("cases", "--smiles", bad, "--out", tmp_path / "c", "--n", "1", "--no-progress")
    assert res.returncode != 0 and "bad.smi:2" in res.stderr and not (tmp_path / "c").exists()


def test_cases_round_trip_through_cctbx(tmp_path: Path) -> None:
    from cctbx import xray

    from cctbx_bridge.reflections import read_mtz

    out = tmp_path / "set"
    rows = cases.make_cases(out, 2, seed=4, pool="dev", params=FAST, progress=False)
    meta = json.loads((out / "cases.json").read_text())
    assert [r["id"] for r in meta["cases"]] == [r["id"] for r in rows]
    for row in rows:
        folder = out / row["id"]
        smi = (folder / "molecule.smi").read_text().split()[0]
        assert smi == row["smiles"] and smiles_sets.split_of(smi) == 2  # a test molecule
        xs = xray.structure.from_cif(file_path=str(folder / "structure.cif"))[row["id"]]
        assert str(xs.space_group_info()) == row["space_group"]
        assert "H" in list(xs.scattering_types())
        data = read_mtz(folder / "data.mtz")
        f_obs = data.f_obs
        # the file holds I, SIGI and F, SIGF: the reader takes the intensities (French-Wilson once)
        assert data.measured == "intensities" and f_obs.is_xray_amplitude_array() and f_obs.sigmas() is not None
        assert f_obs.d_min() >= 0.8 - 1e-3 and f_obs.size() == row["n_observed"]
        f_calc = f_obs.structure_factors_from_scatterers(xs, algorithm="direct").f_calc().amplitudes()
        fo, fc = f_obs.common_sets(f_calc)
        assert fo.size() == f_obs.size()
        z = (fo.data() - fc.data()).as_numpy_array() / fo.sigmas().as_numpy_array()
        assert np.median(np.abs(z)) < 1.5  # |F_obs - F_calc| within the noise (scale 1: same electrons)
        assert fo.r1_factor(fc) < 0.2


def test_smiles_splits_are_disjoint_and_benchmarks_use_test_molecules() -> None:
    by_split: dict[int, set[str]] = {0: set(), 1: set(), 2: set()}
    for e in smiles_sets.moses() + smiles_sets.centrosymmetric():
        by_split[e.split].add(e.smiles)
    assert not (by_split[0] & by_split[1]) and not (by_split[0] & by_split[2]) and not (by_split[1] & by_split[2])
    assert len(by_split[2]) > 1000 and len(by_split[0]) > 20000
    seen: dict[str, set[str]] = {}
    for name in ("dev", "heldout"):
        meta = REPO / "benchmarks" / "molecular" / name / "cases.json"
        if not meta.exists():
            pytest.skip("benchmark sets not made yet")
        rows = json.loads(meta.read_text())["cases"]
        seen[name] = {r["smiles"] for r in rows}
        for r in rows:
            frac = smiles_sets.CENTRO_FRACTIONS if r["source"] == "centrosymmetric" else smiles_sets.MOSES_FRACTIONS
            assert smiles_sets.split_of(r["smiles"], frac) == 2, r["smiles"]
            assert cases.pool_of(r["smiles"]) == name
    assert not (seen["dev"] & seen["heldout"])


def test_molecular_dataset_gives_noisy_inputs_and_exact_targets(tmp_path: Path) -> None:
    from xrdplug.data.dataset import ShardDataset, make_item

    params = replace(FAST, max_edge=16.0, max_pack_ratio=9.0)
    pool = tmp_path / "mols.smi"
    pool.write_text(f"{NAPHTHALENE}\n")
    root = tmp_path / "ds"
    generate.simulate_molecular(root, 2, params, seed=1, shard_size=2, smiles_file=pool, fractions=(1, 0, 0),
                                progress=False)
    ds = ShardDataset(root, split="train")
    raw = ds.raw(0)
    assert raw["noise"].shape == (6,)
    item = make_item(raw, 1.5, 0.8)
    plain = make_item({k: v for k, v in raw.items() if k != "noise"}, 1.5, 0.8)
    assert item["known"].sum() < plain["known"].sum()  # some measured reflections were lost
    assert np.array_equal(item["y"], plain["y"]) or not np.allclose(item["wilson"], plain["wilson"])
    assert not np.allclose(item["x"][0][item["known"]], plain["x"][0][item["known"]])  # noisy input


def test_space_group_mix_follows_the_weights() -> None:
    cs = molecular.conformers(NAPHTHALENE)
    rng = np.random.default_rng(0)
    groups = sorted(FAST.space_groups)
    w = np.array([FAST.space_groups[g] for g in groups])
    draws = [groups[int(np.random.default_rng(s).choice(len(groups), p=w / w.sum()))] for s in range(2000)]
    share = {g: draws.count(g) / len(draws) for g in groups}
    assert share["P 1 21/c 1"] > 0.25 and share["P 1 21/n 1"] > 0.25 and share["C 1 2/c 1"] > 0.1
    assert all(share[g] > 0 for g in groups)
    del cs, rng


def test_unknown_group_and_impossible_z_half_are_refused() -> None:
    cs = molecular.conformers(ASPIRIN)
    with pytest.raises(XrdplugError, match="not one the molecular simulator"):
        molcrystal.symmetry_operators("P 1")
    with pytest.raises(XrdplugError, match="Z' = 1/2"):
        molcrystal.build_crystal(cs, 1, FAST, space_group="P 1 21/c 1", z_prime=0.5)
