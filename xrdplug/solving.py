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
MODEL_PREFERENCE = ("fft-unet", "transformer", "unet")
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


def phase(f_obs: miller.array, phaser: str = DEFAULT_PHASER, **options: Any) -> PhasingResult:
    """Phase amplitudes `f_obs` (a miller.array with its crystal symmetry) with the named phaser plugin.

    Options go to the phaser (charge-flipping: formula, n_atoms, seed, max_attempts, ...; shelxt: formula,
    timeout). Returns the PhasingResult: the structure in the true space group, figures, log.
    """
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
    """Model plugins that ship (or were given) trained weights, best first."""
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
    return sorted(out, key=lambda n: (MODEL_PREFERENCE.index(n) if n in MODEL_PREFERENCE else 99, n))


def extend_data(f_obs: miller.array, model: str, d_min: float = 0.8, **options: Any) -> miller.array:
    """Extend `f_obs` to `d_min` with the model plugin `model` (through xrdplug.pipeline)."""
    from .pipeline import extend

    return extend(f_obs, model=model, d_min=d_min, **options).f_extended


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

    @property
    def solved(self) -> bool | None:
        if self.match is None:
            return None
        return self.match.fraction >= SOLVED_FRACTION


def run_one(
    label: str,
    f_obs: miller.array,
    reference: xray.structure | None,
    phaser: str = DEFAULT_PHASER,
    **options: Any,
) -> SolveRun:
    """Phase `f_obs`; match with `reference` when given. Phasing errors are kept in the run, not raised."""
    f = f_obs
    try:
        result = phase(f, phaser=phaser, **options)
    except PluginError:
        raise
    except XrdplugError as exc:
        return SolveRun(label, float(f.d_min()), int(f.size()), None, None, str(exc))
    m = None
    if reference is not None and result.structure.scatterers().size():
        try:
            m = match(result.structure, reference)
        except XrdplugError as exc:
            return SolveRun(label, float(f.d_min()), int(f.size()), result, None, f"matching failed: {exc}")
    elif reference is not None:
        from cctbx_bridge.compare import Match

        m = Match(_n_ref(reference), 0, 0, None, False, (0.0, 0.0, 0.0), TOLERANCE)
    return SolveRun(label, float(f.d_min()), int(f.size()), result, m)


def _n_ref(reference: xray.structure) -> int:
    from cctbx_bridge.compare import _distinct_non_h_sites

    return len(_distinct_non_h_sites(reference))


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

    Columns: d_min, reflections, PT (phase transition seen), CC (origin-search correlation), skew (map
    skewness), atoms placed, time; with a reference: matched atoms, their rms (A), solved (>= 80%).
    """
    from rich import box
    from rich.table import Table

    with_ref = any(r.match is not None for r in runs)
    phasers = sorted({r.result.phaser for r in runs if r.result})
    if phasers:
        title = f"{title} ({', '.join(phasers)})"
    t = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    cols = ["data", "d_min", "refl", "PT", "CC", "skew", "atoms", "s"]
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


def print_report(console: Console, runs: list[SolveRun], title: str = "xrdplug solve") -> None:
    console.print(report_table(runs, title))
    console.print(
        "[dim]PT: phase transition seen; CC: origin-search correlation; skew: map skewness; s: seconds[/dim]"
    )
    for r in runs:
        if r.error:
            console.print(f"[red]{r.label}[/red]: {r.error}")
        for note in r.notes:
            console.print(f"[dim]{r.label}: {note}[/dim]")
        if r.result is not None:
            fig = r.result.figures
            if fig.get("phase_transition") is False and r.result.phaser == "charge-flipping":
                console.print(
                    f"[yellow]{r.label}[/yellow]: no phase transition: the atoms are a guess "
                    "from the last map (data to about 1.2 A or better are needed)"
                )
            for note in fig.get("notes", []) or []:
                console.print(f"[dim]{r.label}: {note}[/dim]")
        if r.match is not None and r.match.n_matched:
            m = r.match
            how = ", inverted" if m.inverted else ""
            sh = ", ".join(f"{x:.3f}" for x in m.shift)
            console.print(
                f"{r.label}: {m.n_matched} of {m.n_reference} atoms ({100 * m.fraction:.0f}%) within "
                f"{m.tolerance:g} A, rms {_fmt(m.rms, '.3f')} A (origin shift {sh}{how})"
            )


# ---------------------------------------------------------------- the thpp example


def thpp_paths() -> dict[str, Path]:
    """thpp.hkl / thpp.ins / thpp.cif shipped with cctbx-base (smtbx/regression/test_data)."""
    from cctbx_bridge.structures import test_data_path

    return {ext: test_data_path(f"thpp.{ext}") for ext in ("hkl", "ins", "cif")}


THPP_FORMULA = "C10H10F2N4"  # thpp.ins: UNIT 40 40 8 16, Z = 4


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

    from cctbx_bridge.simulate import sample_to_miller, structure_for_sample

    from .data import shards, splits

    root = Path(root)
    index = shards.load_index(root)
    rows = np.flatnonzero(index["split"] == splits.split_code(split))
    for row in rows[:n]:
        raw = shards.load_sample(root, int(row))
        xs = structure_for_sample(root, int(row))
        f = sample_to_miller(raw)
        f = f.resolution_filter(d_min=d_high) if f.d_min() < d_high else f
        yield BenchCase(f"{split}-{int(row)}", xs, f)


def benchmark_cases(root: str | Path, n: int = 100, d_high: float = 0.8) -> Iterator[BenchCase]:
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
) -> tuple[list[BenchRow], list[dict[str, Any]]]:
    """Solve rate and time per condition: data cut to d_low as given, extended by each model, true d_high.

    Each structure is phased with its formula (as a user would give --formula) when `give_formula`.
    Returns the summary rows and one record per (structure, condition).
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
        opts: dict[str, Any] = {"seed": seed + k}
        if give_formula and phaser == "charge-flipping":
            opts["formula"] = formula_of(ref).replace(" ", "")
        elif give_formula:
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
