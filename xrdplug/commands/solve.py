"""`xrdplug solve`: extend (optionally) then phase one data set; `xrdplug bench solve`: solve rates."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
    either,
    hidden_alias,
    read_options,
)

if TYPE_CHECKING:  # pragma: no cover
    from rich.console import Console


def solve(
    data: Annotated[Path, typer.Argument(help="Reflection file (MTZ, SHELX .hkl, CIF, XDS_ASCII)")],
    model: Annotated[
        str,
        typer.Option(
            "--model",
            "-m",
            help="Model to extend the data with first; 'none' (default) phases the data as given, the choice "
            "that measures best today; 'auto' extends only with a model whose weights record a solve-rate gain",
        ),
    ] = "none",
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
    cut: Cut = None,
    truncate: Annotated[float | None, hidden_alias("--truncate")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed; makes a run repeatable")] = None,
    smiles: Annotated[
        str | None, typer.Option("--smiles", help="The molecule, for --phaser direct-space (e.g. 'c1ccccc1O')")
    ] = None,
    molecule: Annotated[
        Path | None,
        typer.Option("--molecule", help="The molecule as a file (.mol .sdf .mol2 .pdb .xyz .cif .res), for direct-space"),
    ] = None,
    budget: Annotated[
        float | None,
        typer.Option("--budget", help="Seconds allowed: the direct-space search, or charge flipping's attempts "
                     "(CPU s); default 120"),
    ] = None,
    z_prime: Annotated[
        str | None, typer.Option("--z-prime", help="Molecules per asymmetric unit: auto, 1/2, 1 or 2 (direct-space)")
    ] = None,
    attempts: Annotated[
        int | None, typer.Option("--attempts", help="Independent attempts at most (charge flipping; 12)")
    ] = None,
    timeout: Annotated[float | None, typer.Option("--timeout", help="Seconds allowed (shelxt)")] = None,
    checkpoint: Annotated[
        Path | None, typer.Option("--checkpoint", help="Weights for --model (default: the shipped ones)")
    ] = None,
    device: Device = "auto",
    fmt: Format = None,
    ins: Ins = None,
    cell: Cell = None,
    space_group: SpaceGroup = None,
    labels: Labels = None,
    ignore_absences: IgnoreAbsences = False,
    overwrite: Overwrite = False,
) -> None:
    """Extend the data with a model (or not), phase it, write .res and .cif, and print a report."""
    from rich.console import Console

    from ..errors import XrdplugError
    from ..files import check_input, check_output
    from ..model_choice import extend_data, solve_model
    from ..solve_report import match_line, print_report
    from ..solving import get_phaser, read_reference, run_one
    from ..sources import read_reflections

    console = Console()
    cut = either(cut, truncate, "--cut", "--truncate")
    check_input(data)
    ref_xs = read_reference(check_input(reference)) if reference is not None else None
    if phaser:
        get_phaser(phaser)  # fail early, in one line, when it cannot run
    if formula:
        from cctbx_bridge.phasing import parse_formula

        parse_formula(formula)
    out_res = output if output is not None else Path(f"{data.stem}_solution.res")
    if out_res.suffix.lower() not in (".res", ".ins"):
        out_res = out_res.with_suffix(".res")
    out_cif = out_res.with_suffix(".cif")
    inputs = [p for p in (data, reference, ins) if p is not None]
    check_output(out_res, inputs, overwrite=overwrite)
    check_output(out_cif, inputs, overwrite=overwrite)

    rd = read_reflections(data, fmt=fmt, **read_options(ins, cell, space_group, labels, ignore_absences))
    notes = list(rd.notes)
    rd, cut_notes = cut_data(rd, cut)
    notes += cut_notes
    label = data.name
    if checkpoint is not None:
        check_input(checkpoint)
        if model.strip().lower() in ("auto", "none"):
            raise XrdplugError("--checkpoint needs --model NAME (the network the weights belong to)")
    chosen, why = solve_model(model, rd, get_phaser(phaser))
    notes += why
    to_phase: object = rd
    if chosen != "none":
        with console.status(f"extending to {d_min:g} A with {chosen}..."):
            to_phase = extend_data(
                rd, chosen, d_min=d_min, checkpoint=str(checkpoint) if checkpoint else None, device=device
            )
        notes += to_phase.notes  # type: ignore[attr-defined]
        label = f"{data.name} + {chosen}"
    if molecule is not None:
        check_input(molecule)
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console,
                  transient=True) as prog:
        task = prog.add_task(f"phasing with {phaser}", total=1.0)

        def show(fraction: float, message: str) -> None:
            prog.update(task, completed=min(1.0, fraction), description=f"{phaser}: {message}")

        run = run_one(
            label, to_phase, ref_xs, phaser=phaser, formula=formula, seed=seed, timeout=timeout,
            smiles=smiles, molecule=str(molecule) if molecule else None, budget=budget, z_prime=z_prime,
            progress=show, max_attempts=attempts,
        )
    run.notes = notes
    print_report(console, [run], title=f"xrdplug solve {data.name}", seed=seed)
    if run.result is None:
        raise XrdplugError(run.error or "phasing failed")
    xs = run.result.structure
    if xs.scatterers().size() == 0:
        raise XrdplugError("no solution: the phaser placed no atoms; nothing written")
    from cctbx_bridge.structures import write_cif, write_res

    title = f"{data.name} solved by xrdplug {phaser}" + (
        f" after {chosen} extension ({run.n_predicted} reflections predicted)" if chosen != "none" else ""
    )
    if chosen == "none" and run.n_predicted:
        title += f" ({run.n_predicted} reflections predicted)"
    write_res(xs, out_res, title=title, inputs=tuple(inputs))  # --overwrite was checked above
    write_cif(xs, out_cif, data_name=out_res.stem, inputs=tuple(inputs))
    console.print(f"wrote {out_res} and {out_cif} ({xs.scatterers().size()} atoms)")
    if run.match is not None:
        console.print(match_line(run))


def bench_solve(
    data: Annotated[
        Path | None,
        typer.Option(
            "--data", help="Simulated data set (from `xrdplug simulate`); default: random P21/c structures"
        ),
    ] = None,
    split: Annotated[str, typer.Option("--split", help="Split of --data")] = "test",
    n: Annotated[
        int | None, typer.Option("--n", help="Number of structures (default 20; with --set or --cases, all of them)")
    ] = None,
    models: Annotated[
        list[str] | None,
        typer.Option("--model", "-m", help="Model to extend with; repeatable; 'all' (those with weights, the "
                     "default) or 'none'"),
    ] = None,
    models_old: Annotated[str | None, hidden_alias("--models", "comma-separated models (old name of -m)")] = None,
    d_low: Annotated[float, typer.Option("--d-low", help="Resolution of the 'measured' data (A)")] = 1.5,
    d_high: Annotated[float, typer.Option("--d-high", help="True / target resolution (A)")] = 0.8,
    phaser: Annotated[str, typer.Option("--phaser", "-p")] = "charge-flipping",
    seed: Annotated[int, typer.Option("--seed")] = 0,
    n_atoms: Annotated[int, typer.Option("--atoms", help="Atoms per random structure")] = 20,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write a bar chart (PNG) here")] = None,
    overwrite: Overwrite = False,
    cases: Annotated[
        Path | None,
        typer.Option("--cases", help="A folder of benchmark cases (structure.cif, data.mtz, molecule.smi per "
                     "folder, e.g. benchmarks/molecular/heldout): solve rates per phaser at --resolutions; "
                     "with -m, the cases' own data cut to --d-low, extended by each model beside the Wilson "
                     "extension"),
    ] = None,
    also: Annotated[
        list[str] | None, typer.Option("--also", help="With --cases: more phasers to run on the same data")
    ] = None,
    structures: Annotated[
        Path | None,
        typer.Option(
            "--set",
            help="A fixed benchmark set (folders with a CIF and an MTZ): charge flipping against smtbx's "
            "solving_iterator per space group at each of --resolutions (default 0.8,1.0,1.2)",
        ),
    ] = None,
    resolutions: Annotated[
        str | None,
        typer.Option("--resolutions", help="With --cases or --set: comma-separated d_min values, e.g. 1.5,2.0"),
    ] = None,
    results: Annotated[
        Path | None, typer.Option("--results", help="With --cases: append records here (JSON lines); resumes")
    ] = None,
    yardstick: Annotated[
        bool, typer.Option("--yardstick/--no-yardstick", help="With --set: run smtbx's solving_iterator too")
    ] = True,
    attempts: Annotated[int | None, typer.Option("--attempts", help="Charge-flipping attempts per structure")] = None,
    budget: Annotated[
        float | None,
        typer.Option("--budget", help="Seconds per run: the direct-space budget (--cases), charge flipping's CPU "
                     "budget (--set, random or --data structures)"),
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="With --set: one record per run here")] = None,
    uncertainty: Annotated[
        bool, typer.Option("--uncertainty", help="Also phase each model's extension using its predicted SIGF: "
                           "confident predictions only, and predictions weighted by 1/(1+(SIGF/F)^2)")
    ] = False,
) -> None:
    """Solve rate and time for data cut to --d-low, extended by each model (beside the Wilson-baseline
    extension), and the true --d-high data; with --cases, solve rates of phasers on a fixed set of benchmark
    cases (with -m: of the extended data); with --set, charge flipping against smtbx's own driver on a fixed
    set, per space group and resolution."""
    if cases is not None and not models and models_old is None:
        bench_cases(cases, [phaser, *(also or [])], resolutions or f"{d_low:g}", results, seed, n, budget)
        return
    from rich.console import Console
    from rich.progress import Progress

    from .. import bench_solve as bench
    from ..errors import XrdplugError
    from ..files import check_output
    from ..solving import SOLVED_FRACTION, TOLERANCE, get_phaser

    console = Console()
    if n is not None and n < 1:
        raise XrdplugError("--n must be at least 1")
    if structures is not None:
        _bench_set(console, structures, n, resolutions or "0.8,1.0,1.2", yardstick, seed, attempts, budget,
                   json_out, overwrite)
        return
    if cases is None:
        n = 20 if n is None else n
    if not d_high < d_low:
        raise XrdplugError("--d-high must be finer (smaller) than --d-low")
    if plot is not None:
        check_output(plot, overwrite=overwrite)
    get_phaser(phaser)
    names = [part.strip() for m in (models or []) for part in m.split(",") if part.strip()]
    if models_old is not None:
        if names:
            raise XrdplugError("--models is the old name of --model/-m; give only -m")
        names = [m.strip() for m in models_old.split(",") if m.strip()]
    names = names or ["all"]
    chosen = bench.bench_models(names)
    if names == ["all"] and chosen == [bench.WILSON]:
        console.print(
            "[yellow]note:[/yellow] no model has trained weights: the extended rows are skipped "
            "(train with `xrdplug train`, see `xrdplug plugins`)"
        )
    if cases is not None:
        cases_iter = bench.benchmark_cases(cases, n=n, d_high=d_high)
        source = str(cases)
    elif data is not None:
        if not data.exists():
            raise XrdplugError(f"{data}: no such data set folder")
        cases_iter = bench.dataset_cases(data, split=split, n=n, d_high=d_high)
        source = f"{data}/{split}"
    else:
        cases_iter = bench.random_cases(n, d_high=d_high, seed=seed, n_atoms=n_atoms)
        source = f"random P21/c, {n_atoms} C/N/O atoms"
    with console.status("building structures..."):
        cases = list(cases_iter)
    if not cases:
        raise XrdplugError(f"no structures found in {source}")
    title = f"solve rate, {phaser}, {len(cases)} structures ({source})"
    with Progress(console=console, transient=True) as prog:
        task = prog.add_task("solving", total=len(cases))
        rows, _ = bench.bench_solve(
            cases,
            chosen,
            d_low=d_low,
            d_high=d_high,
            phaser=phaser,
            seed=seed,
            progress=lambda: prog.advance(task),
            uncertainty=uncertainty,
            **{k: v for k, v in {"max_attempts": attempts, "budget": budget}.items() if v is not None},
        )
    console.print(bench.bench_table(rows, title))
    console.print(
        f"solved: at least {100 * SOLVED_FRACTION:.0f}% of the non-H atoms within "
        f"{TOLERANCE} A (emma, true space group, phased with the true formula); PT: the phaser "
        "reported a phase transition; solved+PT: both; found: mean fraction of atoms matched; "
        "s: mean seconds"
    )
    if plot is not None:
        bench.bench_plot(rows, plot, title)
        console.print(f"wrote {plot}")


def _bench_set(
    console: Console,
    root: Path,
    n: int | None,
    resolutions: str,
    yardstick: bool,
    seed: int,
    attempts: int | None,
    budget: float | None,
    json_out: Path | None,
    overwrite: bool = False,
) -> None:
    """`bench solve --set`: see bench_solve."""
    import json

    from rich.progress import Progress

    from ..bench_phasers import bench_phasers, phaser_table, structure_set_cases
    from ..errors import XrdplugError
    from ..files import atomic_output, check_output
    from ..solving import SOLVED_FRACTION, TOLERANCE

    try:
        ds = tuple(sorted({float(x) for x in resolutions.split(",") if x.strip()}))
    except ValueError:
        raise XrdplugError(f"--resolutions '{resolutions}': write numbers like 0.8,1.0,1.2") from None
    if not ds or min(ds) <= 0:
        raise XrdplugError("--resolutions needs positive numbers (A)")
    if json_out is not None:
        check_output(json_out, overwrite=overwrite)
    cases = structure_set_cases(root, n=n)
    opts = {"max_attempts": attempts, "budget": budget}

    def save(records: list[dict]) -> None:  # after every run, so that a stopped benchmark keeps its records
        if json_out is not None:
            with atomic_output(json_out, overwrite=True) as tmp:
                tmp.write_text(json.dumps(records, indent=1))

    with Progress(console=console, transient=True) as prog:
        task = prog.add_task("solving", total=len(cases))
        rows, records = bench_phasers(
            cases, ds, yardstick=yardstick, seed=seed, progress=lambda: prog.advance(task), on_record=save,
            **{k: v for k, v in opts.items() if v is not None},
        )  # fmt: skip
    title = f"solve rate, charge flipping vs smtbx, {len(cases)} structures ({root})"
    console.print(phaser_table(rows, title))
    console.print(
        f"solved: at least {100 * SOLVED_FRACTION:.0f}% of the non-H atoms within {TOLERANCE} A "
        "(emma, true space group, phased with the true formula); s: mean CPU seconds per structure; "
        "claimed (wrong): runs our phaser called solved (of which not solved); smtbx: solving_iterator "
        "(2 attempts, quasi-E, its own origin acceptance), strongest peaks as atoms"
    )
    if json_out is not None:
        save(records)
        console.print(f"wrote {json_out}")


def bench_cases(root: Path, phasers: list[str], resolutions: str, results: Path | None, seed: int,
                n: int | None, budget: float | None) -> None:
    """`bench solve --cases`: per phaser and resolution, the solve rate and CPU time, overall and by
    rotatable bonds, Z' and space group."""
    from rich.console import Console
    from rich.table import Table

    from .. import case_bench
    from ..errors import XrdplugError
    from ..solving import get_phaser

    console = Console()
    try:
        ds = [float(x) for x in resolutions.split(",") if x.strip()]
    except ValueError:
        raise XrdplugError(f"--resolutions takes numbers like 1.5,2.0 (got {resolutions!r})") from None
    for p in phasers:
        get_phaser(p)
    import torch

    torch.set_num_threads(1)  # figures per core
    all_cases = case_bench.load_cases(root)
    chosen = all_cases[:n] if n is not None and n < len(all_cases) else all_cases
    options = {"direct-space": {"budget": budget}} if budget else {}
    total = len(chosen) * len(phasers) * len(ds)
    with console.status(f"solving {total} (case, phaser, resolution) runs...") as status:
        done = [0]

        def tick(msg: str) -> None:
            done[0] += 1
            status.update(f"{done[0]}/{total} {msg}")

        records = case_bench.run_benchmark(chosen, phasers, ds, results=results, seed=seed, options=options,
                                           progress=tick)
    keys = {
        "all": lambda r: f"{r['phaser']} {r['d_min']:g} A",
        "rotatable bonds": lambda r: f"{r['phaser']} {r['d_min']:g} A, {case_bench.rotatable_class(r.get('n_rotatable'))}",
        "Z'": lambda r: f"{r['phaser']} {r['d_min']:g} A, Z'={r.get('z_prime')}",
        "space group": lambda r: f"{r['phaser']} {r['d_min']:g} A, {r.get('space_group')}",
    }
    for title, key in keys.items():
        t = Table(title=f"{root.name}: by {title}" if title != "all" else f"{root.name}: {len(chosen)} cases")
        for c in ("group", "n", "solved", "rate", "median CPU s", "p90 CPU s", "errors"):
            t.add_column(c, justify="left" if c == "group" else "right")
        for row in case_bench.summarise(records, key):
            t.add_row(row.group, str(row.n), str(row.solved), f"{100 * row.rate:.0f}%", f"{row.median_cpu:.1f}",
                      f"{row.p90_cpu:.1f}", str(row.errors))
        console.print(t)
    console.print("solved: at least 80% of the non-H atoms within 0.5 A (emma, true space group); CPU seconds "
                  "per structure on this process (one core when torch runs one thread)")


def register(app: typer.Typer, bench: typer.Typer) -> None:
    app.command("solve")(solve)
    bench.command("solve")(bench_solve)
