"""Structures I/O, charge flipping, emma matching, the phaser plugins (no external program needed)."""

from __future__ import annotations

import os
import stat
import sys
import textwrap
from pathlib import Path

import pytest

import xrdplug  # noqa: F401  (cctbx/torch load order)
from cctbx_bridge import compare, phasing, structures
from xrdplug.errors import XrdplugError


@pytest.fixture(scope="module")
def thpp_f(thpp: dict[str, Path]):
    from xrdplug.sources import read_reflections

    return read_reflections(thpp["hkl"]).f_obs


@pytest.fixture(scope="module")
def thpp_ref(thpp: dict[str, Path]):
    return structures.read_structure(thpp["cif"])


# ------------------------------------------------------------------ structures


def test_read_structures(thpp, smtbx_data):
    cif = structures.read_structure(thpp["cif"])
    ins = structures.read_structure(thpp["ins"])
    assert str(cif.space_group_info()) == "P 1 21/n 1" == str(ins.space_group_info())
    assert cif.scatterers().size() == ins.scatterers().size() == 18
    su = structures.read_structure(smtbx_data / "sucrose_p1.res")
    assert su.scatterers().size() == 90 and su.space_group().order_z() == 1
    assert structures.formula(structures.non_hydrogen(cif)).startswith("C")


@pytest.mark.parametrize("bad", ["missing.cif", "empty.res", "junk.cif", "junk.xyz"])
def test_read_structure_bad_input(tmp_path, bad):
    (tmp_path / "empty.res").write_text("")
    (tmp_path / "junk.cif").write_text("this is not a cif\n")
    (tmp_path / "junk.xyz").write_text("1 2 3\n")
    with pytest.raises(XrdplugError) as err:
        structures.read_structure(tmp_path / bad)
    assert "\n" not in str(err.value)


def test_write_res_and_cif_round_trip(tmp_path, thpp_ref):
    f0 = structures.amplitudes(thpp_ref, 0.8)
    assert f0.is_xray_amplitude_array() and f0.d_min() >= 0.8
    for name in ("x.res", "x.cif"):
        out = structures.write_structure(thpp_ref, tmp_path / name)
        back = structures.read_structure(out)
        assert back.scatterers().size() == thpp_ref.scatterers().size()
        assert back.space_group_info().type().number() == 14
        assert f0.r1_factor(structures.amplitudes(back, 0.8)) < 1e-3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.cif", "x.res"]  # no temporary files left


def test_write_refuses_input(tmp_path, thpp_ref):
    target = tmp_path / "known.res"
    target.write_text("keep me")
    with pytest.raises(XrdplugError):
        structures.write_res(thpp_ref, target, inputs=(target,))
    assert target.read_text() == "keep me"


# ------------------------------------------------------------------ charge flipping


def test_parse_formula():
    assert phasing.parse_formula("C10H12N2O") == {"C": 10, "H": 12, "N": 2, "O": 1}
    assert phasing.parse_formula("C10 H10 F2 N4")["F"] == 2
    for bad in ("c10", "Xx2", "", "C-1"):
        with pytest.raises(XrdplugError):
            phasing.parse_formula(bad)


def test_random_structures_solve_at_08_not_15():
    """Exact |F| of random 20-atom P21/c structures: 0.8 A solves (phase transition, >= 80% matched)."""
    solved_08, transition_15 = 0, 0
    for i in range(3):
        xs = structures.random_structure(seed=11 + i)
        f = structures.amplitudes(xs, 0.8)
        out = phasing.charge_flip(f, seed=i, formula=structures.formula(xs).replace(" ", ""))
        m = compare.match_structures(xs, out.structure)
        solved_08 += m.solved and out.figures["phase_transition"]
        assert str(out.structure.space_group_info()) == str(xs.space_group_info())
    xs = structures.random_structure(seed=11)
    out = phasing.charge_flip(structures.amplitudes(xs, 1.5), seed=0, max_attempts=2)
    transition_15 += out.figures["phase_transition"]
    assert solved_08 >= 2
    assert transition_15 == 0


def test_thpp_full_data_solves_fast(thpp_f, thpp_ref):
    out = phasing.charge_flip(thpp_f, formula="C10H10F2N4", seed=1)
    m = compare.match_structures(thpp_ref, out.structure)
    assert out.figures["phase_transition"] and m.solved
    assert m.n_matched >= 15 and m.rms < 0.1
    assert out.figures["seconds"] < 5
    # heavier peaks -> heavier elements: both F atoms land on the highest peaks
    types = list(out.structure.scattering_types())
    assert types.count("F") == 2 and types.count("N") == 4 and types.count("C") == 10


def test_thpp_cut_to_15_does_not_solve(thpp_f, thpp_ref):
    low = thpp_f.resolution_filter(d_min=1.5)
    out = phasing.charge_flip(low, formula="C10H10F2N4", seed=1, max_attempts=2)
    assert not out.figures["phase_transition"]
    assert out.structure.scatterers().size() == 16  # a guess, flagged as one
    assert not compare.match_structures(thpp_ref, out.structure).solved


def test_restarts_when_no_transition():
    """Three attempts run (smtbx's own solving_iterator would hit its islice float bug on the third)."""
    xs = structures.random_structure(seed=5, n_atoms=10)
    out = phasing.charge_flip(structures.amplitudes(xs, 2.0), seed=0, max_attempts=3, max_iterations=30)
    assert out.figures["phase_transition"] is False and out.figures["attempts"] == 3
    assert "attempt 3 (seed 2):" in out.log


def test_too_few_reflections(thpp_f):
    with pytest.raises(XrdplugError):
        phasing.charge_flip(thpp_f.resolution_filter(d_min=5.0))


# ------------------------------------------------------------------ matching


def test_match_allows_origin_shift_and_inversion(thpp_ref):
    xs = structures.non_hydrogen(thpp_ref)
    moved = xs.deep_copy_scatterers()
    moved.set_sites_frac(xs.sites_frac() * -1.0 + (0.5, 0.0, 0.5))  # inversion, then an allowed origin shift
    m = compare.match_structures(thpp_ref, moved)
    assert m.solved and m.fraction == 1.0 and m.rms < 1e-3
    assert m.n_reference == 16  # N3/C3 share a site; C7B (12%) left out
    part = moved.select(moved.scattering_types() != "C")
    assert compare.match_structures(thpp_ref, part).fraction == pytest.approx(6 / 16)


def test_match_rejects_other_space_group(thpp_ref):
    other = structures.random_structure(seed=1)
    with pytest.raises(XrdplugError):
        compare.match_structures(thpp_ref, other)


# ------------------------------------------------------------------ plugins


def test_phasers_registered():
    from xrdplug.plugin_manager import registry

    reg = registry()
    assert {"charge-flipping", "shelxt"} <= set(reg.names("phaser"))
    assert reg.entries["phaser"]["charge-flipping"].origin == "built-in"
    assert reg.get("phaser", "charge_flipping").available()[0]


def test_phase_through_host(thpp_f, thpp_ref):
    from xrdplug.solving import match, phase

    result = phase(thpp_f, phaser="charge-flipping", formula="C10H10F2N4", seed=2)
    assert result.phaser == "charge-flipping" and result.seconds > 0
    assert match(result.structure, thpp_ref).solved


def test_shelxt_missing_says_so(monkeypatch, thpp_f):
    from xrdplug.solving import phase

    monkeypatch.delenv("XRDPLUG_SHELXT", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    from xrdplug_plugins.phasers.shelxt import NOT_FOUND, ShelxtPhaser

    assert ShelxtPhaser().available() == (False, NOT_FOUND)
    with pytest.raises(XrdplugError) as err:
        phase(thpp_f, phaser="shelxt")
    assert "--phaser charge-flipping" in str(err.value) and "\n" not in str(err.value)


# ------------------------------------------------------------------ SHELXT files


def test_shelxt_input_parses_back(tmp_path, thpp_f):
    from cctbx_bridge import shelx_files

    written = shelx_files.write_shelxt_input(thpp_f, tmp_path, name="t", formula="C10H10F2N4")
    ins = written.ins.read_text()
    assert "SFAC C H F N" in ins and "UNIT 40 40 8 16" in ins and "HKLF 4" in ins and "LATT 1" in ins
    i_back = shelx_files.read_hklf4(written.hkl, written.ins)
    assert i_back.unit_cell().is_similar_to(thpp_f.unit_cell())
    assert i_back.space_group_info().type().number() == thpp_f.space_group_info().type().number()
    assert i_back.space_group().order_z() == thpp_f.space_group().order_z() == 4
    f_back = i_back.f_sq_as_f()
    assert f_back.size() == thpp_f.eliminate_sys_absent().size()
    a, b = thpp_f.common_sets(f_back)
    assert a.size() == f_back.size()
    ratio = b.data() / a.data()
    assert ratio.all_gt(0) and (max(ratio) - min(ratio)) / max(ratio) < 0.02  # one scale, F8.2 rounding


def test_shelxt_input_guesses_composition(tmp_path, thpp_f):
    from cctbx_bridge import shelx_files

    written = shelx_files.write_shelxt_input(thpp_f, tmp_path, name="g")
    assert written.guessed_composition and "guess" in written.notes[0]
    assert "SFAC C H N O" in written.ins.read_text()


def test_read_sucrose_res_and_figures(smtbx_data, tmp_path):
    from cctbx_bridge import shelx_files

    xs, figs = shelx_files.read_shelxt_solution(smtbx_data / "sucrose_p1.res")
    assert xs.scatterers().size() == 90 and figs == {}
    text = (smtbx_data / "sucrose_p1.res").read_text()
    text = text.replace(
        "TITL sucrose in P21",
        "TITL x_a.res in P1\nREM SHELXT solution in P1: R1 0.118, Rweak "
        "0.012, Alpha 0.034\nREM Flack x = 0.05\nREM Formula found by SHELXT: C12 O11",
        1,
    )
    fake = tmp_path / "x_a.res"
    fake.write_text(text)
    xs, figs = shelx_files.read_shelxt_solution(fake)
    assert figs == {
        "space_group": "P1",
        "r1": 0.118,
        "rweak": 0.012,
        "alpha": 0.034,
        "flack": 0.05,
        "formula": "C12 O11",
    }


def _script(path: Path, body: str) -> Path:
    path.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def user_dir(tmp_path, thpp_f):
    """A user's folder with files that must stay untouched."""
    d = tmp_path / "user"
    d.mkdir()
    (d / "data.hkl").write_text("user data\n")
    return d


def _snapshot(d: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in d.iterdir()}


def test_fake_shelxt_writes_solution(monkeypatch, tmp_path, user_dir, thpp_f, thpp_ref):
    from xrdplug.solving import match, phase

    sol = structures.res_text(structures.non_hydrogen(thpp_ref))
    sol = sol.replace(
        "TITL xrdplug",
        "TITL xrdplug_a.res in P2(1)/n\nREM SHELXT solution in P2(1)/n: R1 0.087, Rweak 0.003, Alpha 0.021",
    )
    (tmp_path / "solution.txt").write_text(sol)
    fake = _script(
        tmp_path / "shelxt",
        f"""
        import pathlib, shutil, sys
        name = sys.argv[1]
        assert pathlib.Path(name + ".ins").exists() and pathlib.Path(name + ".hkl").exists()
        shutil.copy({str(tmp_path / "solution.txt")!r}, name + "_a.res")
        print("fake shelxt done")
    """,
    )
    monkeypatch.setenv("XRDPLUG_SHELXT", str(fake))
    monkeypatch.chdir(user_dir)
    before = _snapshot(user_dir)
    result = phase(thpp_f, phaser="shelxt", formula="C10H10F2N4")
    assert (
        result.phaser == "shelxt"
        and result.figures["r1"] == 0.087
        and result.figures["space_group"] == "P2(1)/n"
    )
    assert "fake shelxt done" in result.log
    assert match(result.structure, thpp_ref).fraction == 1.0
    assert _snapshot(user_dir) == before


@pytest.mark.parametrize("kind", ["crash", "hang", "nothing"])
def test_fake_shelxt_failures(monkeypatch, tmp_path, user_dir, thpp_f, kind):
    from xrdplug.solving import phase

    body = {
        "crash": "import sys\nprint('** FATAL ERROR: something broke')\nsys.exit(3)\n",
        "hang": "import time\ntime.sleep(60)\n",
        "nothing": "print('no solution found')\n",
    }[kind]
    fake = _script(tmp_path / f"shelxt_{kind}", body)
    monkeypatch.setenv("XRDPLUG_SHELXT", str(fake))
    monkeypatch.chdir(user_dir)
    before = _snapshot(user_dir)
    with pytest.raises(XrdplugError) as err:
        phase(thpp_f, phaser="shelxt", timeout=1.5)
    msg = str(err.value)
    assert "\n" not in msg
    assert {"crash": "exit code 3", "hang": "did not finish within 1.5 s", "nothing": "no solution"}[
        kind
    ] in msg
    assert _snapshot(user_dir) == before


def test_shelxt_env_not_executable(monkeypatch, tmp_path):
    from xrdplug_plugins.phasers.shelxt import ShelxtPhaser

    monkeypatch.setenv("XRDPLUG_SHELXT", str(tmp_path / "nope"))
    ok, why = ShelxtPhaser().available()
    assert not ok and "XRDPLUG_SHELXT" in why and "charge-flipping" in why
    assert os.environ["XRDPLUG_SHELXT"].endswith("nope")
