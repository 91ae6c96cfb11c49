"""The printed report of phasing runs (`xrdplug solve`, `xrdplug demo`): a table, then one line per fact
a user must not miss (predicted reflections, verdicts, no phase transition and why, seeds, the match)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .model_choice import AUTO_D_MIN

if TYPE_CHECKING:  # pragma: no cover
    from rich.console import Console
    from rich.table import Table

    from .solving import SolveRun


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
