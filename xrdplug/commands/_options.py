"""Options shared by every command that reads a reflection file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

Format = Annotated[str | None, typer.Option("--format", help="Source plugin to read with (default: by suffix)")]
Ins = Annotated[Path | None, typer.Option("--ins", help="SHELX .ins/.res giving the cell and symmetry")]
Cell = Annotated[str | None, typer.Option("--cell", help="Unit cell 'a b c alpha beta gamma'")]
SpaceGroup = Annotated[str | None, typer.Option("--space-group", help="Space group symbol, e.g. P21/c")]
Labels = Annotated[str | None, typer.Option("--labels", help="MTZ column group to use, e.g. FP,SIGFP")]


def read_options(ins: Path | None, cell: str | None, space_group: str | None, labels: str | None) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    if ins is not None:
        opts["ins"] = ins
    if cell is not None:
        opts["cell"] = cell
    if space_group is not None:
        opts["space_group"] = space_group
    if labels is not None:
        opts["labels"] = labels
    return opts
