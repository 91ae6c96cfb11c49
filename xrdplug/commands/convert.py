"""`xrdplug convert IN OUT`: any readable reflection format to MTZ, HKLF 4 or CIF."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._options import Cell, Format, Ins, Labels, SpaceGroup, read_options


def convert(
    source: Annotated[Path, typer.Argument(help="Input reflection file")],
    target: Annotated[Path, typer.Argument(help="Output: .mtz, .hkl (HKLF 4) or .cif")],
    fmt: Format = None,
    out_format: Annotated[str | None, typer.Option("--to", help="Output source plugin (default: by suffix)")] = None,
    ins: Ins = None,
    cell: Cell = None,
    space_group: SpaceGroup = None,
    labels: Labels = None,
) -> None:
    """Convert merged amplitudes between formats (intensities via French-Wilson, as `info` says)."""
    from rich.console import Console

    from ..files import check_output
    from ..sources import read_reflections, write_reflections

    check_output(target, [source])
    data = read_reflections(source, fmt, **read_options(ins, cell, space_group, labels))
    write_reflections(data.f_obs, target, out_format, inputs=(source,))
    con = Console()
    for note in data.notes:
        con.print(f"note: {note}")
    con.print(f"wrote {target}: {data.f_obs.size()} reflections")


def register(app: typer.Typer, bench: typer.Typer) -> None:
    app.command("convert")(convert)
