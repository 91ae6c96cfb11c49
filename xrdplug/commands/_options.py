"""Options shared by the commands, so that one name means one thing everywhere.

The vocabulary (README, "Options: one name, one meaning"):
    --cut D          cut the input data to D A before anything else (extend, solve, demo)
    --d-min D        the resolution to extend to (extend, solve, demo)
    --model/-m NAME  a model plugin; repeat it for several (evaluate, bench extend, bench solve, train-shipped)
    --device D       auto (CUDA when torch sees one, else CPU), cpu or cuda; default auto everywhere
    --threads N      torch CPU threads (train, evaluate, bench train)
    --workers N      processes that build data in parallel (simulate)
    --overwrite      replace an existing output file; without it an existing output is refused
    -o/--output      the output file
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import XrdplugError

if TYPE_CHECKING:  # pragma: no cover
    from ..protocols import ReflectionData

Format = Annotated[str | None, typer.Option("--format", help="Source plugin to read with (default: by content, then suffix)")]
Ins = Annotated[Path | None, typer.Option("--ins", help="SHELX .ins/.res giving the cell and symmetry")]
Cell = Annotated[str | None, typer.Option("--cell", help="Unit cell 'a b c alpha beta gamma'")]
SpaceGroup = Annotated[str | None, typer.Option("--space-group", help="Space group symbol, e.g. P21/c")]
Labels = Annotated[str | None, typer.Option("--labels", help="MTZ column group to use, e.g. FP,SIGFP")]
IgnoreAbsences = Annotated[
    bool,
    typer.Option("--ignore-absences", help="Read the data even where reflections the space group makes absent are strong"),
]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace existing output files (default: refuse)")]
Cut = Annotated[float | None, typer.Option("--cut", help="First cut the input to this resolution (A), e.g. 1.5")]
Device = Annotated[str, typer.Option("--device", help="auto (CUDA if available), cpu or cuda")]
Threads = Annotated[int | None, typer.Option("--threads", help="torch CPU threads (default: torch's own)")]


def hidden_alias(name: str, help_text: str = "") -> Any:
    """An old option name kept working but not shown in --help (the new name is the one documented)."""
    return typer.Option(name, hidden=True, help=help_text)


def either(new: Any, old: Any, new_name: str, old_name: str) -> Any:
    """The value of an option given under its new or its old (hidden) name; both, differing, is an error."""
    if old is None:
        return new
    if new is not None and new != old:
        raise XrdplugError(f"{old_name} is the old name of {new_name}; give only {new_name}")
    return old


def read_options(ins: Path | None, cell: str | None, space_group: str | None, labels: str | None,
                 ignore_absences: bool = False) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    if ins is not None:
        opts["ins"] = ins
    if cell is not None:
        opts["cell"] = cell
    if space_group is not None:
        opts["space_group"] = space_group
    if labels is not None:
        opts["labels"] = labels
    if ignore_absences:
        opts["ignore_absences"] = True
    return opts


def cut_data(data: ReflectionData, cut: float | None, name: str = "--cut") -> tuple[ReflectionData, list[str]]:
    """The data (amplitudes, flags and intensities alike) cut to `cut` A; refused beyond the data's limit."""
    if cut is None:
        return data, []
    import dataclasses

    f = data.f_obs
    if cut <= f.d_min():
        raise XrdplugError(f"{name} {cut:g} A is beyond the data's own limit ({f.d_min():.2f} A)")
    keep = f.resolution_filter(d_min=cut)
    predicted = data.predicted.resolution_filter(d_min=cut) if data.predicted is not None else None
    i_obs = data.i_obs.resolution_filter(d_min=cut) if data.i_obs is not None else None
    cut_to = dataclasses.replace(data, f_obs=keep, predicted=predicted, i_obs=i_obs)
    return cut_to, [f"data cut to {cut:g} A ({keep.size()} of {f.size()} reflections)"]


def warn(console: Any, text: str) -> None:
    """A warning on stderr, where it is not lost in piped output."""
    import sys

    from rich.console import Console

    Console(stderr=True, soft_wrap=True).print(f"[bold yellow]warning:[/bold yellow] {text}")
    sys.stderr.flush()


def print_notes(console: Any, notes: list[str]) -> None:
    for note in notes:
        if note.startswith("warning: "):
            warn(console, note[len("warning: "):])
        else:
            console.print(f"note: {note}")
