"""`xrdplug info FILE`: what a reflection file holds, as xrdplug reads it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._options import Cell, Format, IgnoreAbsences, Ins, Labels, SpaceGroup, print_notes, read_options


def info(
    file: Annotated[Path, typer.Argument(help="MTZ, SHELX .hkl, CIF or XDS_ASCII reflection file")],
    fmt: Format = None,
    ins: Ins = None,
    cell: Cell = None,
    space_group: SpaceGroup = None,
    labels: Labels = None,
    ignore_absences: IgnoreAbsences = False,
) -> None:
    """Print space group, cell, reflections, resolution, completeness and the columns used; for extended
    data, how many reflections are predicted, what predicted them, and the figures of the measured ones."""
    from rich.console import Console

    from ..sources import read_reflections

    data = read_reflections(file, fmt, **read_options(ins, cell, space_group, labels, ignore_absences))
    from cctbx_bridge.statistics import summarise

    s = summarise(data.f_obs)
    con = Console()
    con.print(f"[bold]{file}[/bold]  (read by the {data.source} source)")
    con.print(f"  space group    {s.space_group}")
    con.print("  cell           " + "  ".join(f"{x:g}" for x in s.cell))
    n_pred = data.n_predicted
    if n_pred:
        m = summarise(data.measured_only())
        con.print(f"  reflections    {s.n_reflections} unique: {m.n_reflections} measured + "
                  f"[bold yellow]{n_pred} PREDICTED[/bold yellow] (column PREDICTED = 1)")
        con.print(f"  resolution     measured {m.d_max:.3f} - {m.d_min:.3f} A; with predictions to {s.d_min:.3f} A")
        con.print(f"  completeness   measured {100 * m.completeness:.1f} % (to {m.d_min:.3f} A); "
                  f"{100 * s.completeness:.1f} % with predictions")
        prov = data.provenance
        if prov:
            con.print("  predicted by   " + ", ".join(f"{k} {v}" for k, v in prov.items() if k != "predicted"))
        else:
            con.print("  predicted by   (no provenance recorded in the file)")
    else:
        con.print(f"  reflections    {s.n_reflections} unique")
        con.print(f"  resolution     {s.d_max:.3f} - {s.d_min:.3f} A")
        con.print(f"  completeness   {100 * s.completeness:.1f} %")
    con.print(f"  columns        {', '.join(data.columns)} ({data.measured})")
    print_notes(con, [n for n in data.notes if n.startswith("warning: ")])
    for note in data.notes:
        if not note.startswith("warning: "):
            con.print(f"  note           {note}")


def register(app: typer.Typer, bench: typer.Typer) -> None:
    app.command("info")(info)
