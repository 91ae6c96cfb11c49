"""`xrdplug demo`: the whole chain on thpp (shipped with cctbx-base), offline, in seconds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ._options import hidden_alias

DEMO_ATTEMPTS = 2  # attempts per charge-flipping run: one solves the full data, two keep the 1.5 A rows short

if TYPE_CHECKING:  # pragma: no cover
    from ..solving import SolveRun


def conclusion(runs: list[SolveRun], d_low: float) -> str:
    """The demo's finding in one line: did extension help (atoms found against the data as given), and
    what direct space and the full data found."""

    def found(r: SolveRun) -> str:
        text = f"{r.match.n_matched}/{r.match.n_reference}" if r.match is not None else "-"
        return text + (" (solved)" if r.solved else "")

    given = runs[0]
    extended = [r for r in runs if " + " in r.label]
    direct = [r for r in runs if r.label.endswith("direct space")]
    full = [r for r in runs if r.label.startswith("full")]
    if extended:
        counts = [r.match.n_matched for r in extended if r.match is not None]
        n_ref = given.match.n_reference if given.match is not None else 0
        lo, hi = (min(counts), max(counts)) if counts else (0, 0)
        spread = f"{lo}/{n_ref}" if lo == hi else f"{lo}-{hi}/{n_ref}"
        # help means a solution the data as given did not give; a few more atoms of a wrong map are not one
        helped = any(r.solved for r in extended) and not given.solved
        head = (f"extension {'helped' if helped else 'did not help'} here: {found(given)} atoms found from the "
                f"{d_low:g} A data as given, {spread} after extension ({len(extended)} models"
                f"{'' if helped else ', none solved'})")
    else:
        head = f"no model extended the data; {found(given)} atoms found from the {d_low:g} A data as given"
    parts = [head]
    if direct:
        parts.append("direct space from the SMILES: " + ", ".join(
            f"{found(r)} at {r.label.split(' A')[0]} A" for r in direct))
    if full:
        parts.append(f"the full {full[0].d_min:.2f} A data: {found(full[0])}")
    return "conclusion: " + "; ".join(parts)


def demo(
    cut: Annotated[float, typer.Option("--cut", help="Resolution to cut thpp's data to (A)")] = 1.5,
    d_low: Annotated[float | None, hidden_alias("--d-low")] = None,
    d_min: Annotated[float, typer.Option("--d-min", help="Resolution to extend to (A)")] = 0.8,
    seed: Annotated[int, typer.Option("--seed", help="Random seed for charge flipping")] = 1,
) -> None:
    """Cut thpp's measured data (P21/n, 0.70 A) to 1.5 A, extend it with every trained model, phase each by
    charge flipping, solve the 1.5 A and 2.0 A data by direct-space search from thpp's SMILES, and compare
    with the published structure (thpp.cif); the full data for reference."""
    from rich.console import Console

    from .. import model_choice, solve_report, solving, thpp
    from ..errors import XrdplugError

    d_low = d_low if d_low is not None else cut
    console = Console()
    paths = thpp.thpp_paths()
    console.print(
        f"[bold]thpp[/bold] from cctbx-base: {paths['hkl']} (cell and symmetry from thpp.ins), "
        f"published structure thpp.cif; formula {thpp.THPP_FORMULA}"
    )
    with console.status("reading thpp..."):
        f_full, ref = thpp.thpp_data()
    if d_low <= f_full.d_min():
        raise XrdplugError(f"--cut must be above thpp's own limit ({f_full.d_min():.2f} A)")
    low = f_full.resolution_filter(d_min=d_low)
    opts = {"formula": thpp.THPP_FORMULA, "seed": seed, "max_attempts": DEMO_ATTEMPTS}
    runs = []
    with console.status(f"phasing the data cut to {d_low:g} A..."):
        runs.append(solving.run_one(f"{d_low:g} A as given", low, ref, **opts))
    trained = model_choice.models_with_weights()
    for m in trained:
        with console.status(f"extending with {m} and phasing..."):
            try:
                ext = model_choice.extend_data(low, m, d_min=d_min)
            except XrdplugError as exc:
                console.print(f"[red]{m}[/red]: extension failed: {exc}")
                continue
            runs.append(solving.run_one(f"{d_low:g} A + {m}", ext, ref, **opts))
    with console.status("phasing the full data..."):
        runs.append(solving.run_one(f"full {f_full.d_min():.2f} A", f_full, ref, **opts))
    for d_ds in (d_low, 2.0):
        data_cut = f_full.resolution_filter(d_min=d_ds)
        with console.status(f"direct-space search from thpp's SMILES at {d_ds:g} A..."):
            runs.append(solving.run_one(f"{d_ds:g} A, direct space", data_cut, ref, phaser="direct-space",
                                        smiles=thpp.THPP_SMILES, seed=seed, budget=60))
    solve_report.print_report(console, runs, title="thpp", seed=seed)
    if not trained:
        console.print(
            "[yellow]note:[/yellow] no model has trained weights yet, so no extended row "
            "(train one with `xrdplug train`; see `xrdplug plugins`)"
        )
    console.print(
        "solved = at least 80% of the non-H atoms within 0.5 A of thpp.cif "
        "(emma in P21/n, origin shifts and inversion allowed)"
    )
    console.print(f"[bold]{conclusion(runs, d_low)}[/bold]", soft_wrap=True)  # one line, even when piped


def register(app: typer.Typer, bench: typer.Typer) -> None:
    app.command("demo")(demo)
