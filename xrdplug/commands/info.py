"""`xrdplug info FILE`: what a reflection file holds, as xrdplug reads it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._options import Cell, Format, Ins, Labels, SpaceGroup, read_options


def info(
    file: Annotated[Path, typer.Argument(help="MTZ, SHELX .hkl or CIF reflection file")],
    fmt: Format = None,
    ins: Ins = None,
    cell: Cell = None,
    space_group: SpaceGroup = None,
    labels: Labels = None,
) -> None:
    """Print space group, cell, reflections, resolution, completeness and the columns used."""
    from rich.console import Console

    from ..sources import read_reflections

    data = read_reflections(file, fmt, **read_options(ins, cell, space_group, labels))
    from cctbx_bridge.statistics import summarise

    s = summarise(data.f_obs)
    con = Console()
    con.print(f"[bold]{file}[/bold]  (read by the {data.source} source)")
    con.print(f"  space group    {s.space_group}")
    con.print("  cell           " + "  ".join(f"{x:g}" for x in s.cell))
    con.print(f"  reflections    {s.n_reflections} unique")
    con.print(f"  resolution     {s.d_max:.3f} - {s.d_min:.3f} A")
    con.print(f"  completeness   {100 * s.completeness:.1f} %")
    con.print(f"  columns        {', '.join(data.columns)} ({data.measured})")
    for note in data.notes:
        con.print(f"  note           {note}")


def register(app: typer.Typer, bench: typer.Typer) -> None:
    app.command("info")(info)
