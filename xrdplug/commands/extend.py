"""`xrdplug extend data.mtz --model transformer`: predict the missing amplitudes out to 0.8 A."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._options import Cell, Format, Ins, Labels, SpaceGroup, read_options


def extend(
    file: Annotated[Path, typer.Argument(help="Reflection file measured to 1.5 A (MTZ, .hkl, CIF)")],
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="Model plugin (unet, fft-unet, transformer; default transformer, or the "
                     "model a --checkpoint holds)"),
    ] = None,
    checkpoint: Annotated[
        Path | None, typer.Option("--checkpoint", help="Use this checkpoint instead of the shipped weights "
                                  "(its model is read from it)"),
    ] = None,
    d_min: Annotated[float, typer.Option("--d-min", help="Resolution to extend to (A)")] = 0.8,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Output MTZ (default: NAME_extended.mtz)")] = None,
    cut: Annotated[float | None, typer.Option("--cut", help="First cut the input to this resolution (A), e.g. 1.5")] = None,
    device: Annotated[str, typer.Option("--device", help="cpu or cuda")] = "cpu",
    fmt: Format = None,
    ins: Ins = None,
    cell: Cell = None,
    space_group: SpaceGroup = None,
    labels: Labels = None,
) -> None:
    """Write an MTZ with every measured reflection as measured (F, SIGF) plus the predicted ones, and a
    PREDICTED column (1 = predicted, 0 = measured)."""
    from rich.console import Console

    from ..files import atomic_output, check_output
    from ..pipeline import load_torch_first
    from ..sources import read_reflections

    load_torch_first()  # before the reader loads cctbx, so torch keeps its thread pool

    out = output or file.with_name(f"{file.stem}_extended.mtz")
    check_output(out, [file])
    data = read_reflections(file, fmt, **read_options(ins, cell, space_group, labels))
    f_obs = data.f_obs
    if cut is not None:
        f_obs = f_obs.resolution_filter(d_min=cut)
    from ..pipeline import extend as run_extend

    res = run_extend(f_obs, model=model, d_min=d_min, checkpoint=str(checkpoint) if checkpoint else None,
                     device=device)
    from cctbx_bridge.reflections import write_mtz

    with atomic_output(out, [file]) as tmp:
        write_mtz(res.f_extended, tmp, extra={"PREDICTED": res.predicted})
    con = Console()
    for note in data.notes + res.notes:
        con.print(f"note: {note}")
    con.print(
        f"{res.model} ({Path(res.checkpoint).name}): {res.n_measured} measured + {res.n_predicted} predicted "
        f"reflections to {d_min} A in {res.seconds:.2f} s -> {out}"
    )



def bench_extend(
    models: Annotated[list[str] | None, typer.Option("--model", "-m", help="Models to time (default: all three)")] = None,
    repeat: Annotated[int, typer.Option("--repeat", help="Timed runs per model and cell (the fastest is shown)")] = 2,
    untrained: Annotated[
        bool, typer.Option("--untrained", help="Time each model at its shipped size with random weights")
    ] = False,
) -> None:
    """Time and peak memory of `extend` per model on a small (8 A), medium (16 A) and large (28 A) cell, one
    core, each in a fresh process; shell R beside the Wilson baseline on the same structure."""
    from ..models.bench_extend import bench_extend as run
    from ..plugin_manager import canonical

    names = [canonical(m) for m in models] if models else ["unet", "fft-unet", "transformer"]
    run(names, untrained=untrained, repeat=repeat)


def register(app: typer.Typer, bench: typer.Typer) -> None:
    app.command("extend")(extend)
    bench.command("extend")(bench_extend)
