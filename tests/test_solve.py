"""`xrdplug solve`, `xrdplug demo` and `xrdplug bench solve` in fresh processes, and the host API."""

from __future__ import annotations

import re

import pytest

import xrdplug  # noqa: F401
from cctbx_bridge import structures
from xrdplug import bench_solve, model_choice, solve_report, solving
from xrdplug import thpp as thpp_example
from xrdplug.errors import XrdplugError


def test_solve_thpp_writes_res_and_cif(cli, thpp, tmp_path):
    out = tmp_path / "sol.res"
    r = cli(
        "solve", thpp["hkl"], "--reference", thpp["cif"], "--formula", "C10H10F2N4", "-o", out, "--seed", "1"
    )
    assert r.returncode == 0, r.stderr
    assert "matched 16/16 atoms (100%)" in r.stdout and ": solved" in r.stdout
    assert "thpp.hkl: solved: phase transition" in r.stdout and "seeds tried 1" in r.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sol.cif", "sol.res"]  # no temporary files
    for p in (out, out.with_suffix(".cif")):
        xs = structures.read_structure(p)
        assert xs.scatterers().size() == 16 and xs.space_group_info().type().number() == 14
    assert solving.match(structures.read_structure(out), thpp["cif"]).solved


def test_solve_thpp_cut_to_2_reports_not_solved(cli, thpp, tmp_path):
    r = cli(
        "solve", thpp["hkl"], "--cut", "2.0", "--reference", thpp["cif"], "-o", tmp_path / "low.res", "--seed", "1",
        "--attempts", "3",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = " ".join(r.stdout.split())
    assert "no phase transition" in out and "not solved" in out
    assert "no solution" in out and "a guess" in out  # the phaser's own verdict, against a refined guess
    assert "measured data stop at 2.01 A, and charge flipping needs about 1.2 A" in out  # 2.01: the cut's edge
    # the default phases the data as given (extension never helped: README's benchmark)
    assert "extending" not in out and "thpp.hkl +" not in out
    assert "seeds tried 1, 2, 3" in out and "rms None" not in out


def test_solve_refuses_to_overwrite_input(cli, thpp, tmp_path):
    known = tmp_path / "known.res"
    known.write_text(structures.res_text(structures.read_structure(thpp["cif"])))
    before = known.read_text()
    r = cli("solve", thpp["hkl"], "--reference", known, "-o", known)
    assert r.returncode != 0 and "refusing to write over the input" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert known.read_text() == before


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--phaser", "shelxt"], "--phaser charge-flipping"),
        (["--phaser", "nosuch"], "no phaser plugin named 'nosuch'"),
        (["--formula", "Qq2"], "unknown element"),
        (["--model", "nosuch"], "no model plugin named 'nosuch'"),
        (["--truncate", "0.5"], "beyond the data's own limit"),
        (["--cut", "0.5"], "--cut 0.5 A is beyond the data's own limit"),
        (["--cut", "1.5", "--truncate", "2.0"], "--truncate is the old name of --cut"),
    ],
)
def test_solve_bad_input_one_line(cli, thpp, tmp_path, monkeypatch, args, needle):
    r = cli(
        "solve",
        thpp["hkl"],
        "-o",
        tmp_path / "x.res",
        *args,
        env={"XRDPLUG_SHELXT": "", "PATH": "/usr/bin:/bin"},
    )
    assert r.returncode != 0
    assert needle in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_solve_missing_files(cli, tmp_path):
    r = cli("solve", tmp_path / "nope.hkl")
    assert r.returncode != 0 and "no such file" in r.stderr


def test_demo_runs_offline(cli, tmp_path):
    r = cli("demo", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "1.5 A as given" in r.stdout and "full 0.70 A" in r.stdout
    assert "16/16" in r.stdout  # the full data solve completely
    conclusion = [line for line in r.stdout.splitlines() if line.startswith("conclusion:")]
    assert len(conclusion) == 1 and "atoms found from the 1.5 A data as given" in conclusion[0]
    assert list(tmp_path.iterdir()) == []  # the demo writes nothing


def test_bench_solve_random_with_plot(cli, tmp_path):
    png = tmp_path / "rate.png"
    r = cli("bench", "solve", "--n", "1", "--plot", png, "--atoms", "12", "--seed", "3", "--attempts", "1")
    assert r.returncode == 0, r.stderr
    assert "true 0.8 A" in r.stdout and "1.5 A as given" in r.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _bench_set(root):
    """Two small structures written as a benchmark set would be: case folders with a CIF and an MTZ."""
    from xrdplug.sources import write_reflections

    for name, group, n in (("case-a", "P 1 21/c 1", 8), ("case-b", "C 1 2/c 1", 6)):
        xs = structures.random_structure(space_group=group, n_atoms=n, seed=len(name) + n)
        folder = root / name
        folder.mkdir(parents=True)
        structures.write_cif(xs, folder / "structure.cif")
        write_reflections(structures.amplitudes(xs, 0.8), folder / "data.mtz")
    return root


def test_bench_solve_set_against_smtbx(cli, tmp_path):
    import json

    root = _bench_set(tmp_path / "set")
    out = tmp_path / "runs.json"
    r = cli("bench", "solve", "--set", root, "--resolutions", "1.0", "--json", out, "--seed", "2")
    assert r.returncode == 0, r.stderr
    assert "P21/c" in r.stdout and "C2/c" in r.stdout and "all" in r.stdout and "smtbx" in r.stdout
    records = json.loads(out.read_text())
    assert len(records) == 2 * 2  # structures x (ours, smtbx)
    ours = [x for x in records if x["method"] == "charge-flipping"]
    assert all(x["solved"] and x["claimed"] for x in ours)
    assert all(2 <= x["seed"] < 10 for x in ours if x["case"] == "case-a")  # --seed 2, structure 0
    assert all(1002 <= x["seed"] < 1010 for x in ours if x["case"] == "case-b")


def test_bench_solve_set_bad_input(cli, tmp_path):
    r = cli("bench", "solve", "--set", tmp_path / "nope")
    assert r.returncode != 0 and "no such benchmark folder" in r.stderr and "Traceback" not in r.stderr
    (tmp_path / "empty").mkdir()
    r = cli("bench", "solve", "--set", tmp_path / "empty")
    assert r.returncode != 0 and "no structure folders" in r.stderr
    r = cli("bench", "solve", "--set", tmp_path / "empty", "--resolutions", "x")
    assert r.returncode != 0 and "--resolutions" in r.stderr


def test_bench_rows_host_api():
    cases = list(bench_solve.random_cases(1, seed=7))
    rows, records = bench_solve.bench_solve(cases, models=[], max_attempts=1)
    by = {r.condition: r for r in rows}
    assert by["true 0.8 A"].solved == 1 and by["true 0.8 A"].transitions == 1
    assert by["1.5 A as given"].n == 1  # exact random-atom data at 1.5 A may solve: measured, not asserted
    assert len(records) == 2


def test_bench_model_list_keeps_the_wilson_baseline_beside_every_model():
    assert bench_solve.bench_models(["none"]) == [] and bench_solve.bench_models(["NONE"]) == []
    assert bench_solve.bench_models(["all"]) == [bench_solve.WILSON, *model_choice.models_with_weights()]
    assert bench_solve.bench_models(["UNet"]) == [bench_solve.WILSON, "unet"]
    assert bench_solve.bench_models(["FFT_UNet", "Wilson"]) == ["fft-unet", bench_solve.WILSON]
    with pytest.raises(XrdplugError, match="no-such-net"):
        bench_solve.bench_models(["no-such-net"])


def test_solve_model_policy_says_why(thpp_15):
    from types import SimpleNamespace

    def data(n_predicted: int) -> SimpleNamespace:  # what solve_model reads of a ReflectionData
        return SimpleNamespace(n_predicted=n_predicted, measured_only=lambda: thpp_15)

    flipping = SimpleNamespace(name="charge-flipping")  # needs atomic resolution, the default
    direct = SimpleNamespace(name="direct-space", needs_atomic_resolution=False)
    assert model_choice.solve_model(" UNet ", data(0), flipping) == ("unet", [])
    assert model_choice.solve_model("none", data(0), flipping) == ("none", [])
    assert model_choice.solve_model("auto", data(0), direct) == (
        "none", ["direct-space works at the data's own resolution: phased as measured"])
    assert model_choice.solve_model("Auto", data(12), flipping) == (
        "none", ["the data were extended before (12 predicted): phased as given"])
    chosen, why = model_choice.auto_model(float(thpp_15.d_min()))
    assert model_choice.solve_model("auto", data(0), flipping) == (chosen, [f"--model auto: {why}"])


def test_phase_rejects_non_miller():
    with pytest.raises(XrdplugError):
        solving.phase([1, 2, 3])


def test_solve_api_from_package(thpp):
    from xrdplug import solve
    from xrdplug.sources import read_reflections

    f = read_reflections(thpp["hkl"]).f_obs
    result = solve(f, phaser="charge-flipping", formula=thpp_example.THPP_FORMULA, seed=3)
    assert result.figures["phase_transition"] and solving.match(result.structure, thpp["cif"]).solved


@pytest.mark.slow
def test_thpp_extended_by_trained_models(thpp):
    """thpp cut to 1.5 A, extended by each model with weights, phased and compared (skips without weights)."""
    models = model_choice.models_with_weights()
    if not models:
        pytest.skip("no model has trained weights")
    f, ref = thpp_example.thpp_data()
    low = f.resolution_filter(d_min=1.5)
    for m in models:
        ext = model_choice.extend_data(low, m, d_min=0.8)
        assert ext.f_extended.d_min() < 0.85
        run = solving.run_one(m, ext, ref, formula=thpp_example.THPP_FORMULA, seed=1)
        assert run.result is not None and run.match is not None  # measured, not asserted to solve


@pytest.mark.slow
def test_solve_rate_random_structures():
    """Exact 0.8 A |F| of random 20-atom P21/c structures solve; cut to 2.0 A they do not."""
    rows, _ = bench_solve.bench_solve(list(bench_solve.random_cases(10, seed=1)), models=[], d_low=2.0)
    by = {r.condition: r for r in rows}
    assert by["true 0.8 A"].solved_with_transition >= 8
    assert by["2 A as given"].solved == 0



# ---------------------------------------------------------------- --model auto, seeds, hints (issue 11, 3 and 12)


@pytest.fixture
def recorded_model(tmp_path, tiny_checkpoint):
    """A model plugin whose weights carry a JSON record, registered at run time like a script would."""
    import json
    import shutil

    from xrdplug import hookimpl
    from xrdplug.plugin_api import ModelSpec
    from xrdplug.plugin_manager import register, unregister

    weights = tmp_path / "recorded_net.pt"
    shutil.copy(tiny_checkpoint, weights)
    record = weights.with_suffix(".json")

    class Plugin:
        @staticmethod
        @hookimpl
        def xrdplug_register_models():
            return [ModelSpec("recorded-net", "test", {}, lambda: None, weights=weights)]

    register(Plugin, name="recorded-net-plugin")
    yield lambda solve: record.write_text(json.dumps({"model": "recorded-net", "solve": solve}))
    unregister("recorded-net-plugin")


def test_auto_extends_only_with_a_recorded_gain(recorded_model):
    recorded_model({"n": 30, "solved_extended": 6, "solved_unextended": 2, "split": "val"})
    choice, why = model_choice.auto_model(1.5)
    assert choice == "recorded-net" and "6/30 solved extended against 2/30 as given" in why
    recorded_model({"n": 30, "solved_extended": 6, "solved_unextended": 2, "split": "test"})
    choice, why = model_choice.auto_model(1.5)  # held-out structures are never used for choices
    assert choice == "none" and re.search(r"recorded-net[\w\s,-]*: no solve-rate measurement recorded", why), why
    recorded_model({"n": 30, "solved_extended": 0, "solved_unextended": 0, "split": "val"})
    choice, why = model_choice.auto_model(1.5)
    assert choice == "none" and "recorded-net: 0/30 solved extended against 0/30 as given" in why
    assert model_choice.auto_model(1.0)[0] == "none"  # measured data good enough as they are


def test_auto_with_the_shipped_weights_says_why_it_does_not_extend(thpp, tmp_path, capsys):
    from conftest import run_main

    code, out, err = run_main(["solve", thpp["hkl"], "--cut", "1.5", "--model", "auto", "--seed", "1",
                               "-o", tmp_path / "a.res"], capsys)
    assert code == 0, err
    out = " ".join(out.split())
    assert "--model auto: data stop at 1.50 A: phased as given, since no model's weights record a solve-rate " \
        "gain over unextended data" in out
    for name in model_choice.models_with_weights():
        assert name in out


def test_seeds_the_phaser_reports_are_printed():
    assert solve_report.seeds_line({"seeds": [3, 4, 5], "seed": 4}) == (
        "seeds tried 3, 4, 5; kept seed 4 (best by the phaser's own figures of merit)")
    assert solve_report.seeds_line({"seed": 9}) == "seed 9 (--seed 9 repeats this run)"
    assert solve_report.seeds_line({}, asked=7) == "seed 7"
    assert "give --seed N" in solve_report.seeds_line({})


def _run(d_min, measured_d_min, n_predicted=0, matched=0):
    from cctbx_bridge.compare import Match

    match = Match(16, 16, matched, 0.3 if matched else None, False, (0.0, 0.0, 0.0), 0.5)
    return solving.SolveRun("x", d_min, 100, None, match, n_predicted=n_predicted, measured_d_min=measured_d_min)


def test_the_resolution_hint_is_for_data_that_stop_short():
    assert "needs about 1.2 A" in solve_report.no_transition_hint(_run(1.5, 1.5))
    assert "needs about 1.2 A" in solve_report.no_transition_hint(_run(0.8, 1.5, n_predicted=1708))
    for d in (0.76, 0.85, 0.9):
        hint = solve_report.no_transition_hint(_run(d, d))
        assert "1.2 A" not in hint and "try other seeds" in hint


def test_no_match_prints_no_rms():
    assert solve_report.match_line(_run(1.5, 1.5)) == "matched 0/16 atoms (0%) within 0.5 A: not solved"
    assert "rms 0.300 A" in solve_report.match_line(_run(1.5, 1.5, matched=4))


def test_demo_conclusion_claims_help_only_for_a_solution():
    from cctbx_bridge.compare import Match
    from xrdplug.commands.demo import conclusion
    from xrdplug.solving import SolveRun

    def run(label: str, found: int) -> SolveRun:
        return SolveRun(label, 1.5, 300, None, Match(16, 16, found, 0.1, False, (0.0, 0.0, 0.0), 0.5))

    more_atoms = conclusion([run("1.5 A as given", 1), run("1.5 A + unet", 3)], 1.5)
    assert "did not help" in more_atoms and "1/16" in more_atoms and "none solved" in more_atoms
    solved = conclusion([run("1.5 A as given", 1), run("1.5 A + unet", 15)], 1.5)
    assert "extension helped" in solved and "none solved" not in solved
