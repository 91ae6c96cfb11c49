"""`xrdplug convert IN OUT`: any readable reflection format to MTZ, HKLF 4 or CIF."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._options import (
    Cell,
    Format,
    IgnoreAbsences,
    Ins,
    Labels,
    Overwrite,
    SpaceGroup,
    print_notes,
    read_options,
    warn,
)


def convert(
    source: Annotated[Path, typer.Argument(help="Input reflection file")],
    target: Annotated[Path, typer.Argument(help="Output: .mtz, .hkl (HKLF 4) or .cif")],
    fmt: Format = None,
    out_format: Annotated[str | None, typer.Option("--to", help="Output source plugin (default: by suffix)")] = None,
    ins: Ins = None,
    cell: Cell = None,
    space_group: SpaceGroup = None,
    labels: Labels = None,
    ignore_absences: IgnoreAbsences = False,
    measured_only: Annotated[
        bool, typer.Option("--measured-only", help="Write the measured reflections alone (drop predicted ones)")
    ] = False,
    allow_predicted: Annotated[
        bool,
        typer.Option("--allow-predicted",
                     help="Write predicted reflections even to a format that cannot flag them (HKLF 4), with a warning"),
    ] = False,
    overwrite: Overwrite = False,
) -> None:
    """Convert merged data between formats. Intensities stay intensities where the output holds them
    (MTZ I/SIGI, CIF F_squared_meas, HKLF 4); predicted reflections keep their PREDICTED flag (MTZ, CIF) or
    are refused where the format cannot flag them (HKLF 4) unless --measured-only or --allow-predicted."""
    from rich.console import Console

    from ..files import check_output
    from ..sources import read_reflections, write_reflections

    check_output(target, [source], overwrite=overwrite)
    data = read_reflections(source, fmt, **read_options(ins, cell, space_group, labels, ignore_absences))
    written = write_reflections(data, target, out_format, inputs=(source,), allow_predicted=allow_predicted,
                                measured_only=measured_only, overwrite=overwrite)
    con = Console()
    print_notes(con, data.notes + written.notes)
    for text in written.warnings:
        warn(con, text)
    what = f"{written.n_reflections} reflections"
    if written.n_predicted:
        what += f", {written.n_predicted} of them PREDICTED (flagged)" if not written.warnings else \
            f", {written.n_predicted} of them PREDICTED and NOT flagged"
    con.print(f"wrote {target}: {what}")


def register(app: typer.Typer, bench: typer.Typer) -> None:
    app.command("convert")(convert)
