"""`xrdplug solve`: extend (optionally) then phase one data set; `xrdplug bench solve`: solve rates."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._options import Cell, Format, Ins, Labels, SpaceGroup, read_options


def solve(
    data: Annotated[Path, typer.Argument(help="Reflection file (MTZ, SHELX .hkl, CIF)")],
    model: Annotated[
        str,
        typer.Option(
            "--model",
            "-m",
            help="Model to extend the data with first, 'none' to phase the data "
            "as given, 'auto' for the best trained model when the data stop "
            "short of 1.2 A",
        ),
    ] = "auto",
    phaser: Annotated[str, typer.Option("--phaser", "-p", help="Phaser plugin")] = "charge-flipping",
    formula: Annotated[
        str | None, typer.Option("--formula", help="Content of the asymmetric unit, e.g. C10H12N2O")
    ] = None,
    reference: Annotated[
        Path | None, typer.Option("--reference", "-r", help="Known structure (CIF/.res) to compare with")
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Solution .res (a .cif is written beside it); default DATA-stem_solution.res here",
        ),
    ] = None,
    d_min: Annotated[float, typer.Option("--d-min", help="Resolution to extend to (A)")] = 0.8,
    truncate: Annotated[
        float | None, typer.Option("--truncate", help="Cut the data to this resolution (A) first")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed (charge flipping)")] = None,
    timeout: Annotated[float | None, typer.Option("--timeout", help="Seconds allowed (shelxt)")] = None,
    checkpoint: Annotated[
        Path | None, typer.Option("--checkpoint", help="Weights for --model (default: the shipped ones)")
    ] = None,
    fmt: Format = None,
    ins: Ins = None,
    cell: Cell = None,
    space_group: SpaceGroup = None,
    labels: Labels = None,
) -> None:
    """Extend the data with a model (or not), phase it, write .res and .cif, and print a report."""
    from rich.console import Console

    from .. import solving
    from ..errors import XrdplugError
    from ..files import check_input, check_output
    from ..sources import read_reflections

    console = Console()
    check_input(data)
    ref_xs = solving.read_reference(check_input(reference)) if reference is not None else None
    if phaser:
        solving.get_phaser(phaser)  # fail early, in one line, when it cannot run
    if formula:
        from cctbx_bridge.phasing import parse_formula

        parse_formula(formula)
    out_res = output if output is not None else Path(f"{data.stem}_solution.res")
    if out_res.suffix.lower() not in (".res", ".ins"):
        out_res = out_res.with_suffix(".res")
    out_cif = out_res.with_suffix(".cif")
    inputs = [p for p in (data, reference, ins) if p is not None]
    check_output(out_res, inputs)
    check_output(out_cif, inputs)

    rd = read_reflections(data, fmt=fmt, **read_options(ins, cell, space_group, labels))
    f_obs = rd.f_obs
    notes = list(rd.notes)
    if truncate is not None:
        if truncate <= f_obs.d_min():
            raise XrdplugError(
                f"--truncate {truncate} A is beyond the data's own limit ({f_obs.d_min():.2f} A)"
            )
        f_obs = f_obs.resolution_filter(d_min=truncate)
        notes.append(f"data cut to {truncate:g} A ({f_obs.size()} reflections)")
    label = data.name
    chosen = model.strip().lower()
    if checkpoint is not None:
        check_input(checkpoint)
        if chosen in ("auto", "none"):
            raise XrdplugError("--checkpoint needs --model NAME (the network the weights belong to)")
    if chosen == "auto":
        trained = solving.models_with_weights()
        if f_obs.d_min() <= 1.2:
            chosen = "none"
            notes.append(f"data reach {f_obs.d_min():.2f} A: phased as given (no extension needed)")
        elif trained:
            chosen = trained[0]
            notes.append(f"data stop at {f_obs.d_min():.2f} A: extended by '{chosen}' (best trained model)")
        else:
            chosen = "none"
            notes.append(
                f"data stop at {f_obs.d_min():.2f} A and no model has trained weights: phased as "
                "given (train one with `xrdplug train`, see `xrdplug plugins`)"
            )
    if chosen != "none":
        with console.status(f"extending to {d_min:g} A with {chosen}..."):
            f_obs = solving.extend_data(
                f_obs, chosen, d_min=d_min, checkpoint=str(checkpoint) if checkpoint else None
            )
        label = f"{data.name} + {chosen}"
    with console.status(f"phasing with {phaser}..."):
        run = solving.run_one(
            label, f_obs, ref_xs, phaser=phaser, formula=formula, seed=seed, timeout=timeout
        )
    run.notes = notes
    solving.print_report(console, [run], title=f"xrdplug solve {data.name}")
    if run.result is None:
        raise XrdplugError(run.error or "phasing failed")
    xs = run.result.structure
    if xs.scatterers().size() == 0:
        raise XrdplugError("no solution: the phaser placed no atoms; nothing written")
    from cctbx_bridge.structures import write_cif, write_res

    title = f"{data.name} solved by xrdplug {phaser}" + (
        f" after {chosen} extension" if chosen != "none" else ""
    )
    write_res(xs, out_res, title=title, inputs=tuple(inputs))
    write_cif(xs, out_cif, data_name=out_res.stem, inputs=tuple(inputs))
    console.print(f"wrote {out_res} and {out_cif} ({xs.scatterers().size()} atoms)")
    if run.match is not None:
        m = run.match
        console.print(
            f"matched {m.n_matched}/{m.n_reference} atoms ({100 * m.fraction:.0f}%) within "
            f"{m.tolerance:g} A, rms {m.rms if m.rms is None else round(m.rms, 3)} A: "
            + ("solved" if run.solved else "not solved")
        )


def bench_solve(
    data: Annotated[
        Path | None,
        typer.Option(
            "--data", help="Simulated data set (from `xrdplug simulate`); default: random P21/c structures"
        ),
    ] = None,
    split: Annotated[str, typer.Option("--split", help="Split of --data")] = "test",
    case_dir: Annotated[
        Path | None, typer.Option("--cases", help="A benchmark set of `xrdplug cases` (structure.cif + data.mtz "
                                  "per case): its observed data, cut to --d-low")
    ] = None,
    n: Annotated[int, typer.Option("--n", help="Number of structures")] = 20,
    models: Annotated[
        str, typer.Option("--models", help="Comma-separated models, 'all' (those with weights) or 'none'; "
                     "'wilson' (the Wilson-baseline extension) is added beside any model")
    ] = "all",
    d_low: Annotated[float, typer.Option("--d-low", help="Resolution of the 'measured' data (A)")] = 1.5,
    d_high: Annotated[float, typer.Option("--d-high", help="True / target resolution (A)")] = 0.8,
    phaser: Annotated[str, typer.Option("--phaser", "-p")] = "charge-flipping",
    seed: Annotated[int, typer.Option("--seed")] = 0,
    n_atoms: Annotated[int, typer.Option("--atoms", help="Atoms per random structure")] = 20,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write a bar chart (PNG) here")] = None,
    uncertainty: Annotated[
        bool, typer.Option("--uncertainty", help="Also phase each model's extension using its predicted SIGF: "
                           "confident predictions only, and predictions weighted by 1/(1+(SIGF/F)^2)")
    ] = False,
) -> None:
    """Solve rate and time for data cut to --d-low, extended by each model (beside the Wilson-baseline
    extension), and the true --d-high data."""
    from rich.console import Console
    from rich.progress import Progress

    from .. import solving
    from ..errors import XrdplugError
    from ..files import check_output

    console = Console()
    if n < 1:
        raise XrdplugError("--n must be at least 1")
    if not d_high < d_low:
        raise XrdplugError("--d-high must be finer (smaller) than --d-low")
    if plot is not None:
        check_output(plot)
    solving.get_phaser(phaser)
    trained = solving.models_with_weights()
    if models.strip().lower() == "all":
        chosen = [solving.WILSON, *trained]  # the Wilson baseline beside every model
        if not trained:
            console.print(
                "[yellow]note:[/yellow] no model has trained weights: the extended rows are skipped "
                "(train with `xrdplug train`, see `xrdplug plugins`)"
            )
    elif models.strip().lower() == "none":
        chosen = []
    else:
        chosen = [m.strip() for m in models.split(",") if m.strip()]
        from ..plugin_manager import canonical, registry

        for m in chosen:
            if m.lower() != solving.WILSON:
                registry().get("model", m)
        chosen = [solving.WILSON if m.lower() == solving.WILSON else canonical(m) for m in chosen]
        if solving.WILSON not in chosen:
            chosen.insert(0, solving.WILSON)  # every model figure stands beside the baseline
    if case_dir is not None:
        cases_iter = solving.benchmark_cases(case_dir, n=n, d_high=d_high)
        source = str(case_dir)
    elif data is not None:
        if not data.exists():
            raise XrdplugError(f"{data}: no such data set folder")
        cases_iter = solving.dataset_cases(data, split=split, n=n, d_high=d_high)
        source = f"{data}/{split}"
    else:
        cases_iter = solving.random_cases(n, d_high=d_high, seed=seed, n_atoms=n_atoms)
        source = f"random P21/c, {n_atoms} C/N/O atoms"
    with console.status("building structures..."):
        cases = list(cases_iter)
    if not cases:
        raise XrdplugError(f"no structures found in {source}")
    title = f"solve rate, {phaser}, {len(cases)} structures ({source})"
    with Progress(console=console, transient=True) as prog:
        task = prog.add_task("solving", total=len(cases))
        rows, _ = solving.bench_solve(
            cases,
            chosen,
            d_low=d_low,
            d_high=d_high,
            phaser=phaser,
            seed=seed,
            progress=lambda: prog.advance(task),
            uncertainty=uncertainty,
        )
    console.print(solving.bench_table(rows, title))
    console.print(
        f"solved: at least {100 * solving.SOLVED_FRACTION:.0f}% of the non-H atoms within "
        f"{solving.TOLERANCE} A (emma, true space group, phased with the true formula); PT: the phaser "
        "reported a phase transition; solved+PT: both; found: mean fraction of atoms matched; "
        "s: mean seconds"
    )
    if plot is not None:
        solving.bench_plot(rows, plot, title)
        console.print(f"wrote {plot}")


def register(app: typer.Typer, bench: typer.Typer) -> None:
    app.command("solve")(solve)
    bench.command("solve")(bench_solve)
