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
    models: Annotated[list[str] | None, typer.Option("--model", "-m", help="Models to time (default: all with weights)")] = None,
    repeat: Annotated[int, typer.Option("--repeat", help="Timed runs per model")] = 5,
) -> None:
    """Time `extend` of the thpp data (cctbx-base's example, cut to 1.5 A) per model, after start-up."""
    import statistics
    import subprocess
    import sys
    import time

    from rich.console import Console
    from rich.table import Table

    from ..pipeline import load_torch_first

    load_torch_first()
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import xrdplug, torch, cctbx_bridge.reflections"], check=True)
    startup = time.perf_counter() - t
    from ..pipeline import extend as run_extend
    from ..solving import models_with_weights, thpp_data

    f15 = thpp_data()[0].resolution_filter(d_min=1.5)
    names = models or models_with_weights()
    if not names:
        raise typer.BadParameter("no model has weights; give --model NAME with trained weights")
    table = Table(title=f"extend thpp (P2_1/n, {f15.size()} reflections to 1.5 A) -> 0.8 A, CPU")
    for col in ("model", "first call (s)", f"median of {repeat} (s)", "predicted"):
        table.add_column(col)
    for name in names:
        t = time.perf_counter()
        res = run_extend(f15, model=name)
        first = time.perf_counter() - t
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            run_extend(f15, model=name)
            times.append(time.perf_counter() - t)
        table.add_row(name, f"{first:.3f}", f"{statistics.median(times):.3f}", str(res.n_predicted))
    con = Console()
    import torch

    con.print(table)
    con.print(f"process start-up (python + xrdplug + torch + cctbx imports): {startup:.2f} s; "
              f"torch threads: {torch.get_num_threads()}")


def register(app: typer.Typer, bench: typer.Typer) -> None:
    app.command("extend")(extend)
    bench.command("extend")(bench_extend)
