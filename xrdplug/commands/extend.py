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
    model: Annotated[str, typer.Option("--model", "-m", help="Model plugin (unet, fft-unet, transformer)")] = "transformer",
    checkpoint: Annotated[Path | None, typer.Option("--checkpoint", help="Use this checkpoint instead of the shipped weights")] = None,
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
    from ..pipeline import load_torch_first
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
        res = run_extend(f15, model=name, device="cpu")
        first = time.perf_counter() - t
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            run_extend(f15, model=name, device="cpu")
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
