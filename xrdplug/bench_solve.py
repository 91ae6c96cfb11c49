"""`xrdplug bench solve`: solve rate and time of data cut to d_low, as given, extended by each model beside
the Wilson-baseline extension, and the true high-resolution data, on random, simulated or case structures."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import XrdplugError
from .model_choice import extend_data
from .solve_counts import SolveCounts
from .solving import DEFAULT_PHASER, run_one

if TYPE_CHECKING:  # pragma: no cover
    from cctbx import miller, xray
    from rich.table import Table

WILSON = "wilson"  # in bench_solve's model list: the Wilson-baseline extension


def bench_models(names: list[str]) -> list[str]:
    """The extensions `bench solve -m NAME...` compares: ['all'] is the Wilson baseline and every model with
    trained weights, ['none'] no extension; named models are checked and get the baseline beside them, so
    every model figure stands beside the Wilson one on the same data."""
    if names == ["all"]:
        from .model_choice import models_with_weights

        return [WILSON, *models_with_weights()]
    if [m.lower() for m in names] == ["none"]:
        return []
    from .plugin_manager import canonical, registry

    for m in names:
        if m.lower() != WILSON:
            registry().get("model", m)
    chosen = [WILSON if m.lower() == WILSON else canonical(m) for m in names]
    if WILSON not in chosen:
        chosen.insert(0, WILSON)
    return chosen


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
class BenchRow(SolveCounts):
    condition: str
    n: int = 0
    solved: int = 0
    seconds: list[float] = field(default_factory=list)
    fractions: list[float] = field(default_factory=list)
    errors: int = 0
    transitions: int = 0  # runs where the phaser reported success (charge flipping: a phase transition)
    solved_with_transition: int = 0


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
