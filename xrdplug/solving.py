"""Host side of phasing: pick a phaser plugin, phase, match against a known structure, report, benchmark.

    from xrdplug.solving import phase, match
    result = phase(f_obs, phaser="charge-flipping", formula="C10H10F2N4")   # a PhasingResult
    m = match(result.structure, "known.cif")                                # fraction matched, rms

Nothing here imports cctbx at module level; cctbx_bridge functions are imported where they are used.
A structure counts as solved when at least 80% of its non-H atoms are matched within 0.5 A (emma, in the
true space group, origin shifts and inversion allowed).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import PluginError, XrdplugError
from .protocols import PhasingResult

if TYPE_CHECKING:  # pragma: no cover
    from cctbx import miller, xray
    from rich.console import Console
    from rich.table import Table

    from cctbx_bridge.compare import Match

DEFAULT_PHASER = "charge-flipping"
SOLVED_FRACTION = 0.8
TOLERANCE = 0.5
WILSON = "wilson"  # in bench_solve's model list: the Wilson-baseline extension


# ---------------------------------------------------------------- phasing


def get_phaser(name: str = DEFAULT_PHASER) -> Any:
    """The phaser plugin `name`, usable now (else a one-line XrdplugError naming the alternative)."""
    from .plugin_manager import registry

    phaser = registry().get("phaser", name)
    try:
        ok, why = phaser.available()
    except Exception as exc:
        raise PluginError(f"phaser '{name}': available() raised {exc!r}") from None
    if not ok:
        others = [n for n in registry().names("phaser") if n != phaser.name]
        hint = "" if ("--phaser" in why or not others) else f" (or use --phaser {others[0]})"
        raise PluginError(f"phaser '{phaser.name}' is not usable: {why}{hint}")
    return phaser


def unwrap(data: Any) -> tuple[miller.array, int, dict[str, str]]:
    """(amplitudes, how many are predicted, provenance) of a miller.array, an ExtendResult or ReflectionData."""
    if hasattr(data, "f_extended") and hasattr(data, "predicted"):  # xrdplug.pipeline.ExtendResult
        return data.f_extended, int(data.n_predicted), dict(data.provenance)
    if hasattr(data, "f_obs") and hasattr(data, "n_predicted"):  # xrdplug.protocols.ReflectionData
        return data.f_obs, int(data.n_predicted), dict(data.provenance)
    return data, 0, {}


def phase(f_obs: Any, phaser: str = DEFAULT_PHASER, **options: Any) -> PhasingResult:
    """Phase amplitudes with the named phaser plugin: a miller.array with its crystal symmetry, or what
    `xrdplug.extend` (an ExtendResult) or a reader (ReflectionData) returned.

    Options go to the phaser (charge-flipping: formula, n_atoms, seed, max_attempts, ...; shelxt: formula,
    timeout). Returns the PhasingResult: the structure in the true space group, figures, log; the figures
    also say how many of the reflections phased were predicted (`n_predicted`).
    """
    f_obs, n_predicted, _ = unwrap(f_obs)
    if not hasattr(f_obs, "indices") or not hasattr(f_obs, "crystal_symmetry"):
        raise XrdplugError(f"phase() takes a cctbx miller.array of amplitudes, not {type(f_obs).__name__}")
    if f_obs.size() == 0:
        raise XrdplugError("no reflections to phase")
    p = get_phaser(phaser)
    t0 = time.perf_counter()
    result = p.solve(f_obs, **{k: v for k, v in options.items() if v is not None})
    if not isinstance(result, PhasingResult):
        raise PluginError(f"phaser '{p.name}' returned {type(result).__name__}, not a PhasingResult")
    if not result.seconds:
        result.seconds = time.perf_counter() - t0
    result.figures.setdefault("n_reflections", int(f_obs.size()))
    result.figures.setdefault("n_predicted", n_predicted)
    return result


def read_reference(path: str | Path) -> xray.structure:
    """A known structure (CIF or SHELX .res/.ins) to compare solutions with."""
    from cctbx_bridge.structures import read_structure

    return read_structure(path)


def match(
    solution: xray.structure, reference: xray.structure | str | Path, tolerance: float = TOLERANCE
) -> Match:
    """Match a solution to a known structure (emma in the true space group; origin shifts, inversion)."""
    from cctbx_bridge.compare import match_structures

    ref = read_reference(reference) if isinstance(reference, (str, Path)) else reference
    return match_structures(ref, solution, tolerance=tolerance)


# ---------------------------------------------------------------- extension


def models_with_weights() -> list[str]:
    """Model plugins that ship (or were given) trained weights, by name (not a ranking: `solve --model auto`
    ranks by the measurement recorded with the weights, see auto_model; the host favours no plugin)."""
    from .plugin_manager import registry

    reg = registry()
    out = []
    for name in reg.names("model"):
        obj = reg.entries["model"][name].obj
        try:
            w = obj.weights_path()
        except Exception:
            continue
        if w is not None and Path(w).exists():
            out.append(name)
    return out


AUTO_D_MIN = 1.2  # measured data to this resolution phase as given: no extension is needed


def solve_record(name: str) -> dict[str, Any] | None:
    """The solve-rate measurement recorded with a model's weights: the "solve" entry of the JSON record
    beside them (NAME.json next to NAME.pt), or None. Expected keys: n (structures), solved_extended,
    solved_unextended (the same structures phased as given), split (never "test": held-out structures
    are not used for choices), d_low, phaser, command."""
    import json

    from .plugin_manager import registry

    try:
        w = registry().get("model", name).weights_path()
    except Exception:
        return None
    if w is None:
        return None
    record = Path(w).with_suffix(".json")
    try:
        rec = json.loads(record.read_text())
    except (OSError, ValueError):
        return None
    solve = rec.get("solve") if isinstance(rec, dict) else None
    return solve if isinstance(solve, dict) else None


def auto_model(measured_d_min: float) -> tuple[str, str]:
    """What `solve --model auto` does, and why: a model only where its weights record a measured gain.

    Data measured to AUTO_D_MIN or better are phased as given. Otherwise the model whose record shows the
    largest gain in solve rate over the same data unextended (on a split other than the test split) is
    used; with no such record, none (the data are phased as given) and the reason says so.
    """
    if measured_d_min <= AUTO_D_MIN:
        return "none", f"data measured to {measured_d_min:.2f} A: phased as given (no extension needed)"
    gains: list[tuple[float, str, str]] = []
    without: list[str] = []
    for name in models_with_weights():
        rec = solve_record(name)
        try:
            n = int(rec["n"]) if rec else 0
            ext, base = int(rec["solved_extended"]), int(rec["solved_unextended"])  # type: ignore[index]
        except (KeyError, TypeError, ValueError):
            n = 0
        if not rec or n <= 0 or str(rec.get("split", "")).lower() == "test":
            without.append(name)
            continue
        gains.append(((ext - base) / n, name, f"{ext}/{n} solved extended against {base}/{n} as given"))
    best = max(gains, default=None)
    if best is not None and best[0] > 0:
        return best[1], (f"data stop at {measured_d_min:.2f} A: extended by '{best[1]}', whose weights record "
                         f"a solve-rate gain ({best[2]})")
    parts = []
    if gains:
        parts.append("; ".join(f"{name}: {what}" for _, name, what in gains))
    if without:
        parts.append(f"{', '.join(without)}: no solve-rate measurement recorded with the weights")
    if not gains and not without:
        parts.append("no model has trained weights")
    return "none", (f"data stop at {measured_d_min:.2f} A: phased as given, since no model's weights record a "
                    f"solve-rate gain over unextended data ({'; '.join(parts)})")


def extend_data(f_obs: Any, model: str, d_min: float = 0.8, **options: Any) -> Any:
    """Extend `f_obs` to `d_min` with the model plugin `model` (through xrdplug.pipeline): an ExtendResult,
    which run_one, phase and the writers take as it is (the flags travel with it)."""
    from .pipeline import extend

    return extend(f_obs, model=model, d_min=d_min, **options)


# ---------------------------------------------------------------- one run, reported


@dataclass
class SolveRun:
    """One phasing run: which data, the result, and (with a reference) how it matched."""

    label: str
    d_min: float
    n_reflections: int
    result: PhasingResult | None
    match: Match | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    n_predicted: int = 0
    measured_d_min: float | None = None  # of the measured reflections alone (d_min counts predicted ones)

    @property
    def solved(self) -> bool | None:
        if self.match is None:
            return None
        return self.match.fraction >= SOLVED_FRACTION


def run_one(
    label: str,
    f_obs: Any,
    reference: xray.structure | None,
    phaser: str = DEFAULT_PHASER,
    **options: Any,
) -> SolveRun:
    """Phase `f_obs` (a miller.array or an ExtendResult); match with `reference` when given. Phasing errors
    are kept in the run, not raised."""
    f, n_predicted, _ = unwrap(f_obs)
    measured = f.select(_measured_selection(f_obs)) if n_predicted else f
    run = SolveRun(label, float(f.d_min()), int(f.size()), None, n_predicted=n_predicted,
                   measured_d_min=float(measured.d_min()) if measured.size() else None)
    try:
        run.result = phase(f_obs, phaser=phaser, **options)
    except PluginError:
        raise
    except XrdplugError as exc:
        run.error = str(exc)
        return run
    if reference is not None and run.result.structure.scatterers().size():
        try:
            run.match = match(run.result.structure, reference)
        except XrdplugError as exc:
            run.error = f"matching failed: {exc}"
    elif reference is not None:
        from cctbx_bridge.compare import Match

        run.match = Match(_n_ref(reference), 0, 0, None, False, (0.0, 0.0, 0.0), TOLERANCE)
    return run


def _measured_selection(data: Any) -> Any:
    flags = data.predicted if hasattr(data, "predicted") else None
    return flags.data() == 0


def _n_ref(reference: xray.structure) -> int:
    from cctbx_bridge.compare import distinct_non_h_sites

    return len(distinct_non_h_sites(reference))


def _fmt(x: Any, spec: str = ".2f") -> str:
    if x is None:
        return "-"
    if isinstance(x, bool):
        return "yes" if x else "no"
    try:
        return format(x, spec)
    except (TypeError, ValueError):
        return str(x)


def report_table(runs: list[SolveRun], title: str = "xrdplug solve") -> Table:
    """A rich table: one row per run with the phaser's figures and, with a reference, the match.

    Columns: d_min, reflections, PT (phase transition seen), CC (origin-search correlation), R1 (the
    model against the data), skew (map skewness), atoms placed, time; with a reference: matched atoms, their rms (A), solved (>= 80%).
    """
    from rich import box
    from rich.table import Table

    with_ref = any(r.match is not None for r in runs)
    phasers = sorted({r.result.phaser for r in runs if r.result})
    if phasers:
        title = f"{title} ({', '.join(phasers)})"
    t = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    cols = ["data", "d_min", "refl", "PT", "CC", "R1", "skew", "atoms", "s"]
    if with_ref:
        cols += ["found", "rms", "solved"]
    for c in cols:
        t.add_column(
            c,
            justify="left" if c == "data" else "right",
            no_wrap=c != "data",
            min_width=12 if c == "data" else None,
        )
    for r in runs:
        fig = r.result.figures if r.result else {}
        row = [
            r.label,
            f"{r.d_min:.2f}",
            str(r.n_reflections),
            _fmt(fig.get("phase_transition")),
            _fmt(fig.get("correlation")),
            _fmt(fig.get("r1")),
            _fmt(fig.get("skewness"), ".1f"),
            str(r.result.structure.scatterers().size()) if r.result else "-",
            _fmt(r.result.seconds if r.result else None),
        ]
        if with_ref:
            if r.match is not None:
                m = r.match
                row += [
                    f"{m.n_matched}/{m.n_reference}",
                    _fmt(m.rms, ".2f"),
                    "[green]yes[/green]" if r.solved else "[red]no[/red]",
                ]
            else:
                row += ["-", "-", "-"]
        t.add_row(*row)
    return t


def seeds_line(figures: dict[str, Any], asked: int | None = None) -> str:
    """What the phaser says about its random seeds: those it tried (`seeds`) and the one it kept (`seed`)."""
    seeds, used = figures.get("seeds"), figures.get("seed")
    if seeds:
        text = f"seeds tried {', '.join(str(x) for x in seeds)}"
        if used is not None:
            text += f"; kept seed {used} (best by the phaser's own figures of merit)"
        return text
    if used is not None:
        return f"seed {used} (--seed {used} repeats this run)"
    if asked is not None:
        return f"seed {asked}"
    return "seed not reported by the phaser (give --seed N to make a run repeatable)"


def print_report(console: Console, runs: list[SolveRun], title: str = "xrdplug solve",
                 seed: int | None = None) -> None:
    console.print(report_table(runs, title))
    console.print(
        "[dim]PT: phase transition seen; CC: origin-search correlation; R1: the model against the data; "
        "skew: map skewness; s: seconds[/dim]"
    )
    for r in runs:
        if r.error:
            console.print(f"[red]{r.label}[/red]: {r.error}")
        for note in r.notes:
            console.print(f"[dim]{r.label}: {note}[/dim]")
        if r.n_predicted:
            console.print(
                f"[yellow]{r.label}[/yellow]: {r.n_predicted} of the {r.n_reflections} reflections phased are "
                f"PREDICTED by a model, not measured (measured data reach {_fmt(r.measured_d_min)} A)"
            )
        if r.result is not None:
            fig = r.result.figures
            if fig.get("verdict"):
                colour = "green" if fig["verdict"] == "solved" else "yellow"
                console.print(f"[{colour}]{r.label}: {fig['verdict']}[/{colour}]: {fig.get('reason', '')}")
                if fig["verdict"] != "solved" and fig.get("phase_transition") is False:
                    console.print(f"[yellow]{r.label}[/yellow]: {no_transition_hint(r)}")
                elif fig["verdict"] != "solved" and "phase_transition" in fig:  # a map-based phaser
                    console.print(f"[yellow]{r.label}[/yellow]: the atoms are a guess from the best map")
            elif fig.get("phase_transition") is False:
                console.print(f"[yellow]{r.label}[/yellow]: {no_transition_hint(r)}")
            if fig.get("stopped"):
                console.print(f"[dim]{r.label}: {fig.get('attempts')} attempt(s); stopped: {fig['stopped']}[/dim]")
            for note in fig.get("notes", []) or []:
                console.print(f"[dim]{r.label}: {note}[/dim]")
            if "seed" in fig or "seeds" in fig:
                console.print(f"[dim]{r.label}: {seeds_line(fig, seed)}[/dim]")
        if r.match is not None and r.match.n_matched:
            m = r.match
            how = ", inverted" if m.inverted else ""
            sh = ", ".join(f"{x:.3f}" for x in m.shift)
            console.print(
                f"{r.label}: {m.n_matched} of {m.n_reference} atoms ({100 * m.fraction:.0f}%) within "
                f"{m.tolerance:g} A, rms {_fmt(m.rms, '.3f')} A (origin shift {sh}{how})"
            )


def match_line(run: SolveRun) -> str:
    """The one-line verdict against a reference; an rms only where atoms matched (never 'rms None')."""
    m = run.match
    if m is None:
        return "no reference given"
    rms = f", rms {m.rms:.3f} A" if m.rms is not None and m.n_matched else ""
    return (f"matched {m.n_matched}/{m.n_reference} atoms ({100 * m.fraction:.0f}%) within {m.tolerance:g} A{rms}: "
            + ("solved" if run.solved else "not solved"))


def no_transition_hint(r: SolveRun) -> str:
    """Why a dual-space phaser (charge flipping) saw no phase transition, judged by what was measured
    (predictions don't count)."""
    measured = r.measured_d_min if r.measured_d_min is not None else r.d_min
    if measured > AUTO_D_MIN:
        extra = " (the predicted reflections did not make up for it)" if r.n_predicted else ""
        return (f"no phase transition: the atoms are a guess from the last map; the measured data stop at "
                f"{measured:.2f} A, and charge flipping needs about {AUTO_D_MIN} A or better{extra}")
    return (f"no phase transition: the atoms are a guess from the last map, although the data reach "
            f"{measured:.2f} A; try other seeds, check the space group and the formula")


# ---------------------------------------------------------------- the thpp example


def thpp_paths() -> dict[str, Path]:
    """thpp.hkl / thpp.ins / thpp.cif shipped with cctbx-base (smtbx/regression/test_data)."""
    from cctbx_bridge.structures import test_data_path

    return {ext: test_data_path(f"thpp.{ext}") for ext in ("hkl", "ins", "cif")}


THPP_FORMULA = "C10H10F2N4"  # thpp.ins: UNIT 40 40 8 16, Z = 4
THPP_SMILES = "N#Cc1c(F)c(F)nc2c1N(C)CCN2C"  # read off thpp.cif's bonds (see tests/test_direct_space.py)


def thpp_data() -> tuple[miller.array, xray.structure]:
    """thpp's measured amplitudes (0.70 A, French-Wilson) and its published structure (thpp.cif)."""
    from .sources import read_reflections

    p = thpp_paths()
    data = read_reflections(p["hkl"])
    return data.f_obs, read_reference(p["cif"])


# ---------------------------------------------------------------- benchmark


@dataclass
class BenchCase:
    label: str
    structure: xray.structure
    f_true: miller.array  # exact |F| to the high resolution limit


def random_cases(
    n: int, d_high: float = 0.8, seed: int = 0, n_atoms: int = 20, space_group: str = "P 1 21/c 1"
) -> Iterator[BenchCase]:
    """Random C/N/O structures (cctbx.development.random_structure) with their exact |F|."""
    from cctbx_bridge.structures import amplitudes, random_structure

    for i in range(n):
        xs = random_structure(space_group=space_group, n_atoms=n_atoms, seed=seed * 100003 + i + 1)
        yield BenchCase(f"random-{seed}-{i}", xs, amplitudes(xs, d_high))


def dataset_cases(
    root: str | Path, split: str = "test", n: int = 100, d_high: float = 0.8
) -> Iterator[BenchCase]:
    """The first `n` structures of a simulated data set's split (see `xrdplug simulate`) with their stored
    |F| (cut to d_high); the structure is rebuilt from its seed (or re-read from its CIF)."""
    import numpy as np

    from cctbx_bridge.simulate import sample_to_miller

    from .data import shards, splits
    from .data.references import structure_for_sample

    root = Path(root)
    index = shards.load_index(root)
    rows = np.flatnonzero(index["split"] == splits.split_code(split))
    for row in rows[:n]:
        raw = shards.load_sample(root, int(row))
        xs = structure_for_sample(root, int(row))
        f = sample_to_miller(raw)
        f = f.resolution_filter(d_min=d_high) if f.d_min() < d_high else f
        yield BenchCase(f"{split}-{int(row)}", xs, f)


def benchmark_cases(root: str | Path, n: int | None = None, d_high: float = 0.8) -> Iterator[BenchCase]:
    """The case folders of a benchmark set of `xrdplug cases` (structure.cif with H + data.mtz): the
    observed data (noise, lost reflections) to d_high stand for the 'true' high-resolution data."""
    from cctbx_bridge.reflections import read_mtz
    from cctbx_bridge.structures import read_structure

    dirs = sorted(p.parent for p in Path(root).glob("*/structure.cif") if (p.parent / "data.mtz").is_file())
    if not dirs:
        raise XrdplugError(f"{root}: no case folders (structure.cif + data.mtz) found")
    for d in dirs[:n]:
        f = read_mtz(d / "data.mtz").f_obs
        f = f.resolution_filter(d_min=d_high) if f.d_min() < d_high else f
        yield BenchCase(d.name, read_structure(d / "structure.cif"), f)


@dataclass
class BenchRow:
    condition: str
    n: int = 0
    solved: int = 0
    seconds: list[float] = field(default_factory=list)
    fractions: list[float] = field(default_factory=list)
    errors: int = 0
    transitions: int = 0  # runs where the phaser reported success (charge flipping: a phase transition)
    solved_with_transition: int = 0

    @property
    def rate(self) -> float:
        return self.solved / self.n if self.n else 0.0

    @property
    def mean_seconds(self) -> float:
        return sum(self.seconds) / len(self.seconds) if self.seconds else 0.0


UNCERTAINTY_MODES = ("confident", "weighted")


def uncertainty_variants(f_ext: miller.array, predicted: miller.array) -> dict[str, miller.array]:
    """Ways to hand predictions with their SIGF to a phaser: 'confident' keeps the predicted reflections whose
    SIGF/F is at most the median of the predictions (and every measured one); 'weighted' multiplies each
    predicted F by 1 / (1 + (SIGF/F)^2), shrinking the doubtful ones as a figure-of-merit map would."""
    import numpy as np
    from cctbx.array_family import flex

    f = f_ext.data().as_numpy_array()
    s = f_ext.sigmas().as_numpy_array() if f_ext.sigmas() is not None else np.zeros_like(f)
    pred = predicted.data().as_numpy_array() == 1
    rel = np.where(f > 0, s / np.maximum(f, 1e-12), np.inf)
    cut = float(np.median(rel[pred])) if pred.any() else np.inf
    keep = ~pred | (rel <= cut)
    w = np.where(pred, 1.0 / (1.0 + np.minimum(rel, 1e6) ** 2), 1.0)
    return {
        "confident": f_ext.select(flex.bool(keep.tolist())),
        "weighted": f_ext.customized_copy(data=flex.double(f * w)),
    }


def bench_solve(
    cases: list[BenchCase],
    models: list[str],
    d_low: float = 1.5,
    d_high: float = 0.8,
    phaser: str = DEFAULT_PHASER,
    seed: int = 0,
    give_formula: bool = True,
    progress: Callable[[], None] | None = None,
    uncertainty: bool = False,
    **options: Any,
) -> tuple[list[BenchRow], list[dict[str, Any]]]:
    """Solve rate and time per condition: data cut to d_low as given, extended by each model, true d_high.

    Each structure is phased with its formula (as a user would give --formula) when `give_formula`;
    `options` go to the phaser (e.g. max_attempts). Returns the summary rows and one record per
    (structure, condition).
    """
    from cctbx_bridge.structures import formula as formula_of
    from cctbx_bridge.structures import non_hydrogen

    conditions = [f"{d_low:g} A as given"] + [f"{d_low:g} A + {m}" for m in models] + [f"true {d_high:g} A"]
    if uncertainty:
        conditions[-1:-1] = [f"{d_low:g} A + {m} ({mode})" for m in models if m != WILSON for mode in UNCERTAINTY_MODES]
    rows = {c: BenchRow(c) for c in conditions}
    records: list[dict[str, Any]] = []
    for k, case in enumerate(cases):
        ref = non_hydrogen(case.structure)
        opts: dict[str, Any] = {"seed": seed + k, **options}
        if give_formula:
            opts["formula"] = formula_of(ref).replace(" ", "")
        low = case.f_true.resolution_filter(d_min=d_low)
        inputs: list[tuple[str, Any]] = [(conditions[0], low)]
        for m in models:
            try:
                if m == WILSON:  # the baseline: every missing |F| at its Wilson expectation from the content
                    from cctbx_bridge.wilson import extend_with_wilson, unit_cell_content

                    inputs.append((f"{d_low:g} A + {m}", extend_with_wilson(
                        low, unit_cell_content(case.structure), d_high)))
                    continue
                if uncertainty:
                    from .pipeline import extend as extend_full

                    res = extend_full(low, model=m, d_min=d_high)
                    inputs.append((f"{d_low:g} A + {m}", res.f_extended))
                    for mode, arr in uncertainty_variants(res.f_extended, res.predicted).items():
                        inputs.append((f"{d_low:g} A + {m} ({mode})", arr))
                    continue
                inputs.append((f"{d_low:g} A + {m}", extend_data(low, m, d_min=d_high)))
            except XrdplugError as exc:
                rows[f"{d_low:g} A + {m}"].errors += 1
                records.append({"case": case.label, "condition": f"{d_low:g} A + {m}", "error": str(exc)})
        inputs.append((conditions[-1], case.f_true))
        for cond, f in inputs:
            run = run_one(case.label, f, ref, phaser=phaser, **opts)
            row = rows[cond]
            row.n += 1
            if run.result is None:
                row.errors += 1
            else:
                row.seconds.append(run.result.seconds)
            frac = run.match.fraction if run.match else 0.0
            row.fractions.append(frac)
            row.solved += bool(run.solved)
            pt = bool(run.result is not None and run.result.figures.get("phase_transition", True))
            row.transitions += pt
            row.solved_with_transition += bool(run.solved) and pt
            records.append(
                {
                    "case": case.label,
                    "condition": cond,
                    "solved": bool(run.solved),
                    "fraction": frac,
                    "rms": run.match.rms if run.match else None,
                    "seconds": run.result.seconds if run.result else None,
                    "error": run.error,
                    "phase_transition": pt,
                }
            )
        if progress is not None:
            progress()
    return list(rows.values()), records


def bench_table(rows: list[BenchRow], title: str) -> Table:
    """solved: >= 80% of non-H atoms within 0.5 A; PT: the phaser saw a phase transition; solved+PT: both;
    found: mean fraction of atoms matched; s: mean seconds per structure."""
    from rich import box
    from rich.table import Table

    t = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for c in ("data", "n", "solved", "rate", "PT", "solved+PT", "found", "s", "errors"):
        t.add_column(
            c,
            justify="left" if c == "data" else "right",
            no_wrap=c != "data",
            min_width=12 if c == "data" else None,
        )
    for r in rows:
        mean_frac = sum(r.fractions) / len(r.fractions) if r.fractions else 0.0
        t.add_row(
            r.condition,
            str(r.n),
            str(r.solved),
            f"{100 * r.rate:.0f}%",
            str(r.transitions),
            str(r.solved_with_transition),
            f"{100 * mean_frac:.0f}%",
            f"{r.mean_seconds:.2f}",
            str(r.errors),
        )
    return t


def bench_plot(rows: list[BenchRow], path: str | Path, title: str) -> Path:
    """Bar chart of the solve rate per condition (matplotlib, Agg backend), written atomically."""
    import textwrap

    from .plotting import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(5.0, 1.8 + 1.3 * len(rows)), 4.2))
    names = [r.condition for r in rows]
    rates = [100 * r.rate for r in rows]
    bars = ax.bar(range(len(rows)), rates, color=["#999999"] + ["#4477aa"] * (len(rows) - 2) + ["#228833"])
    for b, r in zip(bars, rows, strict=True):
        ax.text(
            b.get_x() + b.get_width() / 2, b.get_height() + 1, f"{r.solved}/{r.n}", ha="center", fontsize=9
        )
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels(names, rotation=20, ha="right", fontsize=9)
    ax.set_ylabel("solved (%)")
    ax.set_ylim(0, 110)
    ax.set_title("\n".join(textwrap.wrap(title, 60)), fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


# ---------------------------------------------------------------- benchmark on fixed structure sets


@dataclass
class SetCase:
    """One structure of a fixed benchmark set: the reference (H included) and its measured amplitudes."""

    label: str
    structure: xray.structure
    f_obs: miller.array
    group: str  # short space-group symbol, e.g. P21/c


def short_symbol(structure: Any) -> str:
    """'P 1 21/c 1' -> 'P21/c', 'C 1 2/c 1' -> 'C2/c' (b-unique monoclinic); other groups unchanged."""
    sym = structure.space_group_info().type().lookup_symbol()
    parts = sym.split()
    if len(parts) == 4 and parts[1] == "1" and parts[3] == "1":
        return parts[0] + parts[2]
    return sym.replace(" ", "")


def structure_set_cases(root: str | Path, n: int | None = None) -> list[SetCase]:
    """The structures of a benchmark set: every folder under `root` with a CIF and an MTZ (F, SIGF), in
    name order; a folder without an MTZ gets the CIF's exact |F| to 0.8 A (H included)."""
    from cctbx_bridge.structures import amplitudes

    from .sources import read_reflections

    root = Path(root)
    if not root.is_dir():
        raise XrdplugError(f"{root}: no such benchmark folder")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and any(p.glob("*.cif")))
    if not folders:
        raise XrdplugError(f"{root}: no structure folders (each needs a CIF and an MTZ)")
    out = []
    for folder in folders[: n or len(folders)]:
        cif = sorted(folder.glob("*.cif"))[0]
        xs = read_reference(cif)
        mtz = sorted(folder.glob("*.mtz"))
        f = read_reflections(mtz[0]).f_obs if mtz else amplitudes(xs, 0.8)
        out.append(SetCase(folder.name, xs, f, short_symbol(xs)))
    return out


@dataclass
class PhaserRow:
    """Solve rate of one method on the structures of one group at one resolution."""

    group: str
    d_min: float
    method: str
    n: int = 0
    solved: int = 0
    claimed: int = 0  # runs the phaser itself called solved
    false_claims: int = 0  # ... that were not
    errors: int = 0
    seconds: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.solved / self.n if self.n else 0.0

    @property
    def mean_seconds(self) -> float:
        return sum(self.seconds) / len(self.seconds) if self.seconds else 0.0


OURS = "charge-flipping"
YARDSTICK = "smtbx solving_iterator"


def bench_phasers(
    cases: list[SetCase],
    resolutions: tuple[float, ...] = (0.8, 1.0, 1.2),
    yardstick: bool = True,
    seed: int = 0,
    progress: Callable[[], None] | None = None,
    **options: Any,
) -> tuple[list[PhaserRow], list[dict[str, Any]]]:
    """Solve rate per space group and resolution: our charge flipping (given the formula, as a user
    would) and, with `yardstick`, smtbx's own solving_iterator on the same data. Structure k is phased
    with seed `seed + 1000 k`. Solved: >= 80% of the non-H atoms within 0.5 A (emma, true space group).
    Seconds are CPU seconds of this process."""
    from cctbx_bridge.compare import match_structures
    from cctbx_bridge.structures import formula as formula_of
    from cctbx_bridge.structures import non_hydrogen
    from cctbx_bridge.yardstick import smtbx_solve

    rows: dict[tuple[str, float, str], PhaserRow] = {}
    records: list[dict[str, Any]] = []
    methods = [OURS] + ([YARDSTICK] if yardstick else [])

    def row(group: str, d: float, method: str) -> PhaserRow:
        return rows.setdefault((group, d, method), PhaserRow(group, d, method))

    for k, case in enumerate(cases):
        ref = non_hydrogen(case.structure)
        formula = formula_of(ref).replace(" ", "")
        for d in resolutions:
            f = case.f_obs.resolution_filter(d_min=d) if d > case.f_obs.d_min() + 1e-3 else case.f_obs
            for method in methods:
                rec: dict[str, Any] = {"case": case.label, "group": case.group, "d_min": d, "method": method}
                t0 = time.process_time()
                claimed = None
                try:
                    if method == OURS:
                        result = phase(f, phaser=OURS, formula=formula, seed=seed + 1000 * k, **options)
                        xs, fig = result.structure, result.figures
                        claimed = fig.get("verdict") == "solved"
                    else:
                        xs, fig = smtbx_solve(f, formula=formula, seed=seed + 1000 * k)
                    error = fig.get("error")
                except XrdplugError as exc:
                    xs, fig, error = None, {}, str(exc)
                seconds = time.process_time() - t0
                fraction, rms = 0.0, None
                if xs is not None and xs.scatterers().size():
                    m = match_structures(case.structure, xs)
                    fraction, rms = m.fraction, m.rms
                solved = fraction >= SOLVED_FRACTION
                r = row(case.group, d, method)
                r.n += 1
                r.solved += solved
                r.errors += error is not None
                r.seconds.append(seconds)
                if claimed is not None:
                    r.claimed += claimed
                    r.false_claims += claimed and not solved
                rec.update(
                    solved=solved,
                    fraction=round(fraction, 3),
                    rms=rms,
                    seconds=round(seconds, 2),
                    claimed=claimed,
                    r1=fig.get("r1"),
                    r1_guess=fig.get("r1_guess"),
                    agreement=fig.get("agreement"),
                    correlation=fig.get("correlation"),
                    attempts=fig.get("attempts"),
                    seed=fig.get("seed"),
                    error=error,
                )
                records.append(rec)
        if progress is not None:
            progress()
    return sorted(rows.values(), key=lambda r: (r.d_min, r.group, r.method)), records


def phaser_summary(rows: list[PhaserRow]) -> list[PhaserRow]:
    """The rows summed over the groups: one 'all' row per resolution and method."""
    out: dict[tuple[float, str], PhaserRow] = {}
    for r in rows:
        t = out.setdefault((r.d_min, r.method), PhaserRow("all", r.d_min, r.method))
        t.n += r.n
        t.solved += r.solved
        t.claimed += r.claimed
        t.false_claims += r.false_claims
        t.errors += r.errors
        t.seconds += r.seconds
    return sorted(out.values(), key=lambda r: (r.d_min, r.method))


def phaser_table(rows: list[PhaserRow], title: str) -> Table:
    """One line per group and resolution: ours against the yardstick, solved/n, rate, mean CPU s;
    'claimed (wrong)' counts our own 'solved' verdicts and those that were not."""
    from rich import box
    from rich.table import Table

    t = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for c in ("d_min", "group", "n", "ours", "rate", "s", "claimed (wrong)", "smtbx", "rate ", "s "):
        t.add_column(c, justify="left" if c == "group" else "right", no_wrap=True)
    by = {(r.d_min, r.group, r.method): r for r in rows + phaser_summary(rows)}
    keys = sorted({(r.d_min, r.group) for r in rows}) + sorted({(r.d_min, "all") for r in rows})
    for d, g in sorted(keys, key=lambda k: (k[0], k[1] == "all", k[1])):
        ours, yard = by.get((d, g, OURS)), by.get((d, g, YARDSTICK))
        if ours is None:
            continue
        cells = [
            f"{d:.2f}",
            f"[bold]{g}[/bold]" if g == "all" else g,
            str(ours.n),
            f"{ours.solved}/{ours.n}",
            f"{100 * ours.rate:.0f}%",
            f"{ours.mean_seconds:.1f}",
            f"{ours.claimed} ({ours.false_claims})",
        ]
        if yard is not None:
            cells += [f"{yard.solved}/{yard.n}", f"{100 * yard.rate:.0f}%", f"{yard.mean_seconds:.1f}"]
        else:
            cells += ["-", "-", "-"]
        t.add_row(*cells)
    return t
