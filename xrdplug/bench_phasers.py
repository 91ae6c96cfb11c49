"""`xrdplug bench solve --set`: our charge flipping against smtbx's own solving_iterator on a fixed set of
structures, per space group and resolution (CPU seconds, and how often our 'solved' verdict is wrong)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import XrdplugError
from .solve_counts import SolveCounts
from .solving import SOLVED_FRACTION, phase, read_reference

if TYPE_CHECKING:  # pragma: no cover
    from cctbx import miller, xray
    from rich.table import Table


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
class PhaserRow(SolveCounts):
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


OURS = "charge-flipping"
YARDSTICK = "smtbx solving_iterator"


def bench_phasers(
    cases: list[SetCase],
    resolutions: tuple[float, ...] = (0.8, 1.0, 1.2),
    yardstick: bool = True,
    seed: int = 0,
    progress: Callable[[], None] | None = None,
    on_record: Callable[[list[dict[str, Any]]], None] | None = None,
    **options: Any,
) -> tuple[list[PhaserRow], list[dict[str, Any]]]:
    """Solve rate per space group and resolution: our charge flipping (given the formula, as a user
    would) and, with `yardstick`, smtbx's own solving_iterator on the same data. Structure k is phased
    with seed `seed + 1000 k`. Solved: >= 80% of the non-H atoms within 0.5 A (emma, true space group).
    Seconds are CPU seconds of this process. `on_record` gets the records so far after each run (to
    save them as they come: a long benchmark stopped half-way keeps what it measured)."""
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
                if on_record is not None:
                    on_record(records)
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
