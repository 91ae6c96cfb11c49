"""`xrdplug extend data.mtz --model transformer`: predict the missing amplitudes out to 0.8 A."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._options import (
    Cell,
    Cut,
    Device,
    Format,
    IgnoreAbsences,
    Ins,
    Labels,
    Overwrite,
    SpaceGroup,
    cut_data,
    print_notes,
    read_options,
)


def extend(
    file: Annotated[Path, typer.Argument(help="Reflection file measured to 1.5 A (MTZ, .hkl, CIF, XDS_ASCII)")],
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
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Output .mtz or .cif (default: NAME_extended.mtz)")] = None,
    cut: Cut = None,
    device: Device = "auto",
    fmt: Format = None,
    ins: Ins = None,
    cell: Cell = None,
    space_group: SpaceGroup = None,
    labels: Labels = None,
    ignore_absences: IgnoreAbsences = False,
    overwrite: Overwrite = False,
) -> None:
    """Write an MTZ (or CIF) with every measured reflection as measured (F, SIGF; I, SIGI when measured), those
    beyond --d-min included, plus the predicted ones, a PREDICTED flag (1 = predicted, 0 = measured) and the
    provenance of the predictions (model, weights and their SHA-256) in the file's history."""
    from rich.console import Console

    from ..files import check_output
    from ..runtime import load_torch_first
    from ..sources import read_reflections, write_reflections

    load_torch_first()  # before the reader loads cctbx, so torch keeps its thread pool

    out = output or file.with_name(f"{file.stem}_extended.mtz")
    check_output(out, [file], overwrite=overwrite)
    data = read_reflections(file, fmt, **read_options(ins, cell, space_group, labels, ignore_absences))
    data, cut_notes = cut_data(data, cut)
    from ..pipeline import extend as run_extend

    res = run_extend(data, model=model, d_min=d_min, checkpoint=str(checkpoint) if checkpoint else None,
                     device=device)
    result = res.as_reflection_data()
    result.i_obs = data.i_obs
    written = write_reflections(result, out, inputs=(file,), overwrite=overwrite)
    con = Console()
    print_notes(con, data.notes + cut_notes + res.notes + written.notes)
    sha = f", sha256 {res.weights_sha256[:12]}" if res.weights_sha256 else ""
    con.print(
        f"{res.model} ({Path(res.checkpoint).name}{sha}): {res.n_measured} measured (kept as measured) + "
        f"{res.n_predicted} PREDICTED reflections to {d_min} A in {res.seconds:.2f} s -> {out} "
        "(column PREDICTED = 1 marks them)"
    )


def bench_extend(
    models: Annotated[list[str] | None, typer.Option("--model", "-m", help="Models to time (default: every model plugin)")] = None,
    repeat: Annotated[int, typer.Option("--repeat", help="Timed runs per model and cell (the fastest is shown)")] = 2,
    untrained: Annotated[
        bool, typer.Option("--untrained", help="Time each model at its shipped size with random weights")
    ] = False,
) -> None:
    """Time and peak memory of `extend` per model on a small (8 A), medium (16 A) and large (28 A) cell, one
    core, each in a fresh process; shell R beside the Wilson baseline on the same structure."""
    from ..bench_extend import bench_extend as run
    from ..plugin_manager import canonical, registry

    names = [canonical(m) for m in models] if models else registry().names("model")
    run(names, untrained=untrained, repeat=repeat)


def register(app: typer.Typer, bench: typer.Typer) -> None:
    app.command("extend")(extend)
    bench.command("extend")(bench_extend)
