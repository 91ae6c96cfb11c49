"""The direct-space phaser: exact structure factors, molecules, Z' choices, real solves, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import xrdplug  # noqa: F401  (before torch, RDKit and cctbx)

THPP_SMILES = "N#Cc1c(F)c(F)nc2c1N(C)CCN2C"


@pytest.fixture(scope="module")
def thpp_2a_mtz(thpp: dict[str, Path], tmp_path_factory) -> Path:
    """thpp's measured amplitudes cut to 2.0 A, as an MTZ (quick to read in a fresh process)."""
    from cctbx_bridge.reflections import write_mtz
    from xrdplug.sources import read_reflections

    path = tmp_path_factory.mktemp("thpp") / "thpp_2A.mtz"
    write_mtz(read_reflections(thpp["hkl"]).f_obs.resolution_filter(d_min=2.0), path)
    return path


@pytest.fixture(scope="module")
def torch_one_thread():
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _engine(space_group: str, cell: tuple, smiles: str, d_min: float = 1.5, dtype=None):
    import torch
    from cctbx import crystal
    from xrdplug_plugins.phasers.direct_space.engine import Engine

    from cctbx_bridge import direct_space as ds
    from rdkit_bridge.molecules import molecule_from_smiles

    cs = crystal.symmetry(cell, space_group)
    ms = cs.build_miller_set(anomalous_flag=False, d_min=d_min)
    f = ms.array(data=ms.d_spacings().data() * 0 + 1.0)
    f.set_observation_type_xray_amplitude()
    data = ds.search_data(f)
    mol = molecule_from_smiles(smiles, seed=3)
    els = sorted(set(mol.elements))
    eng = Engine(data, mol, ds.form_factors(els, data.s2), np.array([els.index(e) for e in mol.elements]),
                 dtype=dtype or torch.float64)
    return cs, data, mol, eng


@pytest.mark.parametrize(
    "space_group, cell",
    [
        ("P 1 21/c 1", (11.0, 9.5, 13.0, 90, 103, 90)),
        ("P 1 21/n 1", (11.0, 9.5, 13.0, 90, 96, 90)),
        ("P 1 21 1", (8.0, 9.5, 11.0, 90, 110, 90)),
        ("C 1 2 1", (14.0, 9.5, 11.0, 90, 105, 90)),
        ("C 1 2/c 1", (20.0, 9.5, 15.0, 90, 115, 90)),
        ("C 1 c 1", (14.0, 9.5, 11.0, 90, 105, 90)),
        ("P 21 21 21", (8.0, 9.5, 11.0, 90, 90, 90)),
        ("P -1", (8.0, 9.5, 11.0, 80, 100, 95)),
    ],
)
def test_structure_factors_equal_cctbx(space_group: str, cell: tuple) -> None:
    """The batched sum (reduced operators, torsions applied) against cctbx's direct summation."""
    import torch

    from cctbx_bridge import direct_space as ds

    cs, data, mol, eng = _engine(space_group, cell, "CC(=O)Oc1ccccc1C(=O)O")
    gen = torch.Generator().manual_seed(7)
    p = eng.random_params(3, gen)
    for t in range(3):
        xf = eng.fractional(p[t : t + 1])[0].numpy()
        xs = ds.structure_from_sites(cs, mol.elements, xf, np.where(mol.heavy, 0.04, 0.052))
        ref = np.abs(ds.f_calc_cctbx(xs, data.hkl)) ** 2
        ours = eng.intensities(p[t : t + 1])[0].numpy() * data.multiplier**2
        assert np.max(np.abs(ours - ref)) / ref.max() < 1e-6


def test_torsions_keep_bond_lengths_and_move_only_one_side() -> None:
    import torch

    _, _, mol, eng = _engine("P 1 21/c 1", (11.0, 9.5, 13.0, 90, 103, 90), "CCCCc1ccc(OC)cc1")
    assert len(mol.torsions) >= 3
    p = torch.zeros(1, eng.layout.size, dtype=torch.float64)
    p[0, 0] = 1.0
    p[0, eng.layout.tors] = torch.linspace(0.5, 2.5, eng.layout.n_tors, dtype=torch.float64)
    x0 = eng.cartesian_local(torch.cat([p[:, :4], torch.zeros_like(p[:, 4:])], 1))[0].numpy()
    x1 = eng.cartesian_local(p)[0].numpy()
    for a, b in mol.bonds:
        assert abs(np.linalg.norm(x1[a] - x1[b]) - np.linalg.norm(x0[a] - x0[b])) < 1e-9
    np.testing.assert_allclose(mol.torsion_angles(x0), mol.torsion_angles(mol.centred()), atol=1e-9)
    changed = np.abs(((mol.torsion_angles(x1) - mol.torsion_angles(x0)) + np.pi) % (2 * np.pi) - np.pi)
    np.testing.assert_allclose(changed, p[0, eng.layout.tors].numpy(), atol=1e-9)


def test_thpp_solves_from_its_smiles_at_2_angstrom(thpp: dict[str, Path], torch_one_thread) -> None:
    """Real measured data (thpp, P2_1/n) cut to 2.0 A: 125 reflections, solved from the SMILES alone."""
    from xrdplug.solving import match, phase
    from xrdplug.sources import read_reflections

    f = read_reflections(thpp["hkl"]).f_obs.resolution_filter(d_min=2.0)
    result = phase(f, phaser="direct-space", smiles=THPP_SMILES, seed=2, budget=60)
    m = match(result.structure, thpp["cif"])
    assert m.fraction >= 0.8, (m, result.log)
    assert result.figures["r1"] < 0.3
    assert result.figures["seed"] == 2 and result.figures["z_prime"] == 1.0
    assert result.structure.scatterers().size() == 26  # H atoms included


def test_half_molecule_on_an_inversion_centre(torch_one_thread) -> None:
    """Naphthalene with Z = 2 in P2_1/a: the cell has room for half a molecule, which is found on -1."""
    import torch
    from cctbx import crystal
    from xrdplug_plugins.phasers.direct_space.engine import Engine

    from cctbx_bridge import direct_space as ds
    from cctbx_bridge.structures import amplitudes, non_hydrogen
    from rdkit_bridge.molecules import molecule_from_smiles
    from xrdplug.molecule import half_molecule
    from xrdplug.solving import match, phase

    mol = molecule_from_smiles("c1ccc2ccccc2c1", seed=11)
    half = half_molecule(mol, mol.inversion_partner)
    assert half.half.n_heavy == 5
    cs = crystal.symmetry((8.1, 5.9, 8.6, 90, 124.0, 90), "P 1 21/a 1")
    ms = cs.build_miller_set(anomalous_flag=False, d_min=1.5)
    dummy = ms.array(data=ms.d_spacings().data() * 0 + 1.0)
    dummy.set_observation_type_xray_amplitude()
    data = ds.search_data(dummy)
    els = sorted(set(half.half.elements))
    eng = Engine(data, half.half, ds.form_factors(els, data.s2), np.array([els.index(e) for e in half.half.elements]),
                 anchor=np.zeros(3))
    p = eng.random_params(2000, torch.Generator().manual_seed(0))
    best = int(torch.argmin(eng.packing_cost(p)))  # a clash-free orientation as the "true" crystal
    assert float(eng.packing_cost(p[best : best + 1])) == 0.0
    xf = eng.fractional(p[best : best + 1])[0].numpy()
    truth = ds.structure_from_sites(cs, half.half.elements, xf, np.where(half.half.heavy, 0.035, 0.045))
    result = phase(amplitudes(truth, 1.5), phaser="direct-space", smiles="c1ccc2ccccc2c1", seed=1, budget=30)
    assert result.figures["z_prime"] == 0.5
    assert match(result.structure, non_hydrogen(truth)).fraction == 1.0
    assert result.structure.scatterers().size() == 9  # 5 C + 4 H: the asymmetric unit


def test_inversion_centres_one_per_origin_class() -> None:
    from cctbx_bridge.direct_space import inversion_centres

    assert inversion_centres("P 1 21/c 1") == [(0.0, 0.0, 0.0)]
    assert len(inversion_centres("C 1 2/c 1")) == 2  # 4a/4b and 4c/4d differ
    assert inversion_centres("P 1 21 1") == []


def test_molecule_from_a_crystal_structure_file_without_h(thpp: dict[str, Path]) -> None:
    """thpp.cif has no H atoms: connectivity and bond orders come from the geometry, H are implied."""
    from rdkit import Chem
    from xrdplug_plugins.phasers.direct_space.run import _molecule_from_crystal

    mol = _molecule_from_crystal(thpp["cif"], keep_geometry=False, seed=0)
    assert Chem.CanonSmiles(mol.smiles) == Chem.CanonSmiles(THPP_SMILES)
    assert mol.formula == "C10H10F2N4"


def test_stereoisomers_open_centres_and_mirror_pairs() -> None:
    from rdkit_bridge.molecules import stereoisomers

    assert len(stereoisomers("CC(O)C(O)C")) == 2  # meso and one of the (R,R)/(S,S) pair
    assert stereoisomers("c1ccccc1O") == ["c1ccccc1O"]
    with pytest.raises(xrdplug.XrdplugError, match="diastereomers"):
        stereoisomers("OCC1OC(O)C(O)C(O)C1O", limit=4)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--smiles", "C1CC(("], "cannot parse the SMILES"),
        (["--smiles", THPP_SMILES, "--formula", "C12H10N4"], "does not match the molecule"),
        (["--smiles", "Cc1ccc(-c2ccc(-c3ccc(-c4ccc(-c5ccc(-c6ccccc6)cc5)cc4)cc3)cc2)cc1"], "too large for the cell"),
        (["--smiles", "CCO"], "room for about"),
        ([], "needs the molecule"),
    ],
)
def test_bad_molecule_input_gives_one_line_and_no_file(cli, thpp_2a_mtz, tmp_path, args, message) -> None:
    out = tmp_path / "x.res"
    res = cli("solve", thpp_2a_mtz, "--phaser", "direct-space", "-o", out, *args, cwd=tmp_path)
    assert res.returncode != 0
    err = res.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("xrdplug: error:") and message in err[0], res.stderr[-800:]
    assert not list(tmp_path.iterdir())


def test_ctrl_c_returns_the_best_solution_so_far(thpp_2a_mtz: Path, tmp_path: Path) -> None:
    """SIGINT during the search: the best model so far is refined and returned, marked as interrupted."""
    import os
    import signal
    import subprocess
    import sys

    script = tmp_path / "run.py"
    script.write_text(
        "import sys, xrdplug\n"
        "from xrdplug.sources import read_reflections\n"
        f"f = read_reflections({str(thpp_2a_mtz)!r}).f_obs\n"
        "def progress(fraction, message):\n"
        "    print('SEARCHING', flush=True)\n"
        "r = xrdplug.solve(f, phaser='direct-space', smiles='CCCCCCCCCC(=O)O', budget=300, seed=1,\n"
        "                  progress=progress)\n"
        "print('RESULT', r.figures['interrupted'], r.structure.scatterers().size(), r.figures['verdict'])\n"
    )
    # a molecule that does not fit thpp's data, so the search runs on until its budget
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "SEARCHING"  # the first round is done
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr[-1500:]
    result = [line for line in stdout.splitlines() if line.startswith("RESULT")]
    assert result and result[0].startswith("RESULT True 32 interrupted"), stdout[-500:]


MIRROR_CASE = Path(__file__).parent / "data" / "cod_2203315" / "structure.cif"
MIRROR_SMILES = "CC(=O)n1ncn(C(C)=O)c1=O"


def test_twofold_sites_are_the_groups_2_fold_axes_and_mirrors() -> None:
    from cctbx_bridge.direct_space import twofold_sites

    assert twofold_sites("P 1 21/c 1") == []  # screw axes and glides have no fixed points
    assert [lbl for lbl, _, _ in twofold_sites("P n m a")] == ["4c (m)"]
    assert [lbl for lbl, _, _ in twofold_sites("C 1 2/c 1")] == ["4e (2)"]
    _, r, t = twofold_sites("P 1 21/m 1")[0]
    x = r @ np.array([0.13, 0.77, 0.41]) + t  # projected onto the mirror y = 1/4
    assert abs(x[1] - 0.25) < 1e-9 and abs(x[0] - 0.13) < 1e-9


def test_whole_molecule_at_half_occupancy_merges_into_the_asymmetric_unit() -> None:
    """A molecule on a mirror, assembled whole and put at half occupancy, scatters exactly as the
    asymmetric unit does; merging its symmetry copies gives back that asymmetric unit, atom for atom."""
    from cctbx_bridge import direct_space as ds
    from cctbx_bridge.structures import read_structure

    truth = read_structure(MIRROR_CASE)
    elements, cart, _ = ds.molecules_in_structure(truth)[0]
    assert len(elements) == 22  # C6H10N3O3: the whole molecule (the methyl H atoms off the mirror twice)
    frac = np.array([truth.unit_cell().fractionalize(tuple(x)) for x in cart])
    whole = ds.structure_from_sites(truth, elements, frac, np.full(len(elements), 0.04),
                                    occupancy=np.full(len(elements), 0.5))
    merged = ds.merge_symmetry_copies(whole)
    heavy = [t for t in truth.scattering_types() if t != "H"]
    assert sorted(t for t in merged.scattering_types() if t != "H") == sorted(heavy)
    assert all(abs(o - 1.0) < 1e-9 for s, o in zip(merged.scattering_types(),
                                                    merged.scatterers().extract_occupancies()) if s != "H")
    ms = truth.build_miller_set(anomalous_flag=False, d_min=1.0)
    f_whole = abs(ms.structure_factors_from_scatterers(whole, algorithm="direct").f_calc()).data()
    f_merged = abs(ms.structure_factors_from_scatterers(merged, algorithm="direct").f_calc()).data()
    assert float(np.max(np.abs(np.array(f_whole) - np.array(f_merged)))) < 1e-3 * float(np.max(f_whole))


def test_molecule_on_a_mirror_plane_is_solved(torch_one_thread) -> None:
    """A real Z' = 1/2 structure on a mirror (P2_1/m): found from its SMILES at 1.5 A, written as the
    asymmetric unit."""
    from cctbx_bridge.structures import amplitudes, non_hydrogen, read_structure
    from xrdplug.solving import match, phase

    truth = read_structure(MIRROR_CASE)
    result = phase(amplitudes(truth, 1.5), phaser="direct-space", smiles=MIRROR_SMILES, seed=1, budget=40)
    assert result.figures["z_prime"] == 0.5 and "2e (m)" in result.figures["setup"]
    assert match(result.structure, non_hydrogen(truth)).fraction >= 0.8
    n_heavy = sum(t != "H" for t in result.structure.scattering_types())
    assert n_heavy == 12  # the asymmetric unit's 12 heavy sites, not the whole molecule's 12 + 12 copies


@pytest.mark.parametrize("space_group, cell", [("C 1 2 1", (14.0, 7.0, 9.0, 90, 105, 90)),
                                               ("P 21 21 2", (9.0, 11.0, 6.5, 90, 90, 90))])
def test_symmetry_copies_off_the_element_merge_in_pairs(space_group: str, cell: tuple) -> None:
    """Atoms off a 2-fold axis and their images (the whole molecule at half occupancy) merge back into the
    asymmetric unit: one atom of each pair, at full occupancy, the same structure factors."""
    from cctbx import crystal

    from cctbx_bridge import direct_space as ds

    cs = crystal.symmetry(cell, space_group)
    _, r, t = ds.twofold_sites(space_group)[0]
    rng = np.random.default_rng(5)
    axis = r @ rng.random(3) + t
    orth = np.array(cs.unit_cell().orthogonalization_matrix()).reshape(3, 3)
    half = axis + rng.normal(scale=1.6, size=(6, 3)) @ np.linalg.inv(orth).T  # 6 atoms near the axis
    def fixes_axis(o) -> bool:  # the 2-fold whose axis this is: R = 2 P - 1 for the projector P
        d = np.array(o * tuple(axis)) - axis
        return np.allclose(np.array(o.r().as_double()).reshape(3, 3), 2 * r - np.eye(3)) and np.allclose(d, np.round(d))

    op = next(o for o in cs.space_group().all_ops() if fixes_axis(o))
    images = np.array([op * tuple(x) for x in half])
    elements = ["C", "N", "O", "C", "C", "S"]
    whole = ds.structure_from_sites(cs, elements * 2, np.vstack([half, images]), [0.04] * 12, occupancy=[0.5] * 12)
    merged = ds.merge_symmetry_copies(whole)
    asu = ds.structure_from_sites(cs, elements, half, [0.04] * 6)
    assert merged.scatterers().size() == 6
    assert list(merged.scatterers().extract_occupancies()) == [1.0] * 6
    ms = cs.build_miller_set(anomalous_flag=False, d_min=1.0)
    f = [abs(ms.structure_factors_from_scatterers(x, algorithm="direct").f_calc()).data().as_numpy_array()
         for x in (whole, merged, asu)]
    assert np.max(np.abs(f[0] - f[1])) < 1e-6 * f[0].max() and np.max(np.abs(f[1] - f[2])) < 1e-6 * f[0].max()
    # copies 0.1-0.2 A off the exact image merge at the pair's mean site
    shifted = images + rng.normal(scale=0.1, size=images.shape) @ np.linalg.inv(orth).T
    merged = ds.merge_symmetry_copies(ds.structure_from_sites(cs, elements * 2, np.vstack([half, shifted]),
                                                              [0.04] * 12, occupancy=[0.5] * 12))
    r_op = np.array(op.r().as_double()).reshape(3, 3)
    t_op = np.array(op.t().as_double())
    back = (shifted - t_op) @ np.linalg.inv(r_op).T  # each copy mapped back beside its partner
    back -= np.round(back - half)
    assert np.allclose(merged.sites_frac().as_numpy_array(), (half + back) / 2, atol=1e-9)


def test_z_prime_half_needs_a_site_the_molecule_can_sit_on() -> None:
    """Room for half a molecule: an acentric molecule needs a 2-fold axis or mirror; without one, refused."""
    from xrdplug_plugins.phasers.direct_space.problem import choose_z_prime

    from xrdplug.errors import XrdplugError
    from xrdplug.molecule import Molecule

    mol = Molecule(["C", "O", "N", "H"], np.eye(4, 3), np.array([[0, 1], [0, 2], [0, 3]]))  # no inversion form
    assert choose_z_prime(0.5, mol, has_inversion_centres=True, has_twofold_sites=True) == 0.5
    with pytest.raises(XrdplugError, match="no 2-fold axis or mirror plane"):
        choose_z_prime(0.5, mol, has_inversion_centres=True, has_twofold_sites=False)
    assert choose_z_prime(1.0, mol, has_inversion_centres=False, has_twofold_sites=True) == 1.0


@pytest.mark.parametrize("smiles", ["CC(C)(C)c1ccc(C(C)(C)C)cc1", "CCCCCCCC", "c1ccc2ccccc2c1",
                                    "S=c1c2ccccc2[nH]c2cc3c(=S)c4ccccc4[nH]c3cc12"])  # MMFF re-types its rings
def test_centrosymmetric_molecules_rich_in_h_can_sit_on_an_inversion_centre(smiles: str) -> None:
    """The inversion is found among the heavy atoms' automorphisms, however many ways the H atoms of
    the methyl groups can be swapped (1,4-di-tert-butylbenzene has 6^6 of those)."""
    from rdkit_bridge.molecules import molecule_from_smiles

    mol = molecule_from_smiles(smiles, seed=1)
    p = mol.inversion_partner
    assert p is not None and np.all(p[p] == np.arange(mol.n_atoms)) and np.all(p != np.arange(mol.n_atoms))
    bonds = {frozenset(map(int, b)) for b in mol.bonds}
    assert {frozenset((int(p[a]), int(p[b]))) for a, b in mol.bonds} == bonds  # a graph automorphism
    assert [mol.elements[i] for i in p] == mol.elements


def test_torsion_limit_applies_to_what_is_searched() -> None:
    """Octadecane has 15 free torsions: refused whole (Z' = 1), searched as the half on an inversion centre."""
    from xrdplug_plugins.phasers.direct_space.problem import MAX_TORSIONS, setups

    from rdkit_bridge.molecules import molecule_from_smiles
    from xrdplug.errors import XrdplugError

    mol = molecule_from_smiles("CCCCCCCCCCCCCCCCCC", seed=1)
    assert len(mol.torsions) > MAX_TORSIONS
    with pytest.raises(XrdplugError, match=f"at most {MAX_TORSIONS} are searched"):
        setups(mol, 1.0, [])
    (half,) = setups(mol, 0.5, [(0.0, 0.0, 0.0)])
    assert half.anchor is not None and len(half.molecule.torsions) <= MAX_TORSIONS


def _two_copies(space_group: str, cell: tuple, smiles: str, seed: int):
    """A crystal of two copies of a molecule at clash-free random places (engines and the truth)."""
    import torch
    from cctbx import crystal
    from xrdplug_plugins.phasers.direct_space.engine import Engine
    from xrdplug_plugins.phasers.direct_space.pair import background

    from cctbx_bridge import direct_space as ds
    from rdkit_bridge.molecules import molecule_from_smiles

    cs = crystal.symmetry(cell, space_group)
    ms = cs.build_miller_set(anomalous_flag=False, d_min=1.5)
    dummy = ms.array(data=ms.d_spacings().data() * 0 + 1.0)
    dummy.set_observation_type_xray_amplitude()
    data = ds.search_data(dummy)
    mol = molecule_from_smiles(smiles, seed=3)
    els = sorted(set(mol.elements))
    table, cols = ds.form_factors(els, data.s2), np.array([els.index(e) for e in mol.elements])
    first = Engine(data, mol, table, cols, dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed)
    trials = first.random_params(3000, gen)
    p1 = trials[int(torch.argmin(first.packing_cost(trials)))].numpy()  # clear of its own images
    second = Engine(data, mol, table, cols, dtype=torch.float64, origin_fixed=True,
                    background=background(first, p1))
    trials = second.random_params(3000, gen)
    p2 = trials[int(torch.argmin(second.packing_cost(trials)))].numpy()
    with torch.no_grad():
        x1 = first.fractional(torch.tensor(p1[None]))[0].numpy()
        x2 = second.fractional(torch.tensor(p2[None]))[0].numpy()
    u = np.where(mol.heavy, 0.04, 0.052)
    truth = ds.structure_from_sites(cs, mol.elements * 2, np.vstack([x1, x2]), np.concatenate([u, u]))
    return cs, data, mol, table, cols, first, second, p1, p2, truth


def test_a_fixed_copy_adds_its_structure_factors_exactly() -> None:
    """The second copy's engine, with the first as background, gives the intensities of both together."""
    import torch

    from cctbx_bridge import direct_space as ds

    cs, data, mol, *_, second, p1, p2, truth = _two_copies("P 1 21 1", (9.0, 7.5, 11.0, 90, 101, 90),
                                                           "Cc1ccc(O)cc1", seed=4)
    with torch.no_grad():
        ic = second.intensities(torch.tensor(p2[None]))[0].numpy()
    fc = np.abs(ds.f_calc_cctbx(truth, data.hkl)) ** 2
    assert np.corrcoef(ic, fc)[0, 1] > 1 - 1e-6


def test_the_likelihood_of_a_partial_model_prefers_the_right_copy() -> None:
    """Scored as half of the crystal, a right copy beats random placements by the log-likelihood gain."""
    import torch
    from xrdplug_plugins.phasers.direct_space.engine import Engine

    from cctbx_bridge import direct_space as ds

    cs, data, mol, table, cols, first, second, p1, p2, truth = _two_copies(
        "P 1 21 1", (9.0, 7.5, 11.0, 90, 101, 90), "Cc1ccc(O)cc1", seed=4)
    f = truth.structure_factors(d_min=1.5, algorithm="direct").f_calc().amplitudes()
    observed = ds.search_data(f)
    partial = Engine(observed, mol, ds.form_factors(sorted(set(mol.elements)), observed.s2), cols,
                     dtype=torch.float64, partial_sigma_a=0.65)
    with torch.no_grad():
        right = float(partial.fit_cost(torch.tensor(p1[None]))[0])
        others = partial.fit_cost(partial.random_params(200, torch.Generator().manual_seed(1))).numpy()
    assert right < others.min()


def test_z_prime_two_from_the_room_and_beyond_refused() -> None:
    from xrdplug_plugins.phasers.direct_space.problem import choose_z_prime

    from xrdplug.errors import XrdplugError
    from xrdplug.molecule import Molecule

    mol = Molecule(["C", "O", "N", "H"], np.eye(4, 3), np.array([[0, 1], [0, 2], [0, 3]]))
    assert choose_z_prime(2.0, mol, has_inversion_centres=True) == 2.0
    assert choose_z_prime(1.0, mol, has_inversion_centres=True, requested="2") == 2.0
    with pytest.raises(XrdplugError, match="Z' >= 3"):
        choose_z_prime(3.1, mol, has_inversion_centres=True)


@pytest.mark.slow
def test_two_molecules_in_the_asymmetric_unit_are_solved(torch_one_thread) -> None:
    """Z' = 2 from the SMILES: two copies of a small rigid molecule in P2_1 at 1.5 A."""
    from cctbx_bridge.structures import amplitudes, non_hydrogen
    from xrdplug.solving import match, phase

    *_, truth = _two_copies("P 1 21 1", (9.0, 7.5, 11.0, 90, 101, 90), "Cc1ccc(O)cc1", seed=4)
    result = phase(amplitudes(truth, 1.5), phaser="direct-space", smiles="Cc1ccc(O)cc1", seed=1, budget=60)
    assert result.figures["z_prime"] == 2.0
    assert match(result.structure, non_hydrogen(truth)).fraction >= 0.8
