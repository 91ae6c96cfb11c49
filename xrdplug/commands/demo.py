"""`xrdplug demo`: the whole chain on thpp (shipped with cctbx-base), offline, in seconds."""

from __future__ import annotations

from typing import Annotated

import typer

DEMO_ATTEMPTS = 2


def demo(
    d_low: Annotated[float, typer.Option("--d-low", help="Resolution to cut thpp's data to (A)")] = 1.5,
    d_min: Annotated[float, typer.Option("--d-min", help="Resolution to extend to (A)")] = 0.8,
    seed: Annotated[int, typer.Option("--seed", help="Random seed for charge flipping")] = 1,
) -> None:
    """Cut thpp's measured data (P21/n, 0.70 A) to 1.5 A, extend it with every trained model, phase each by
    charge flipping, and compare with the published structure (thpp.cif); the full data for reference."""
    from rich.console import Console

    from .. import solving
    from ..errors import XrdplugError

    console = Console()
    paths = solving.thpp_paths()
    console.print(
        f"[bold]thpp[/bold] from cctbx-base: {paths['hkl']} (cell and symmetry from thpp.ins), "
        f"published structure thpp.cif; formula {solving.THPP_FORMULA}"
    )
    with console.status("reading thpp..."):
        f_full, ref = solving.thpp_data()
    if d_low <= f_full.d_min():
        raise XrdplugError(f"--d-low must be above thpp's own limit ({f_full.d_min():.2f} A)")
    low = f_full.resolution_filter(d_min=d_low)
    # two attempts each: enough for thpp's full data (one solves it) and keeps the unsolvable 1.5 A rows short
    opts = {"formula": solving.THPP_FORMULA, "seed": seed, "max_attempts": DEMO_ATTEMPTS}
    runs = []
    with console.status(f"phasing the data cut to {d_low:g} A..."):
        runs.append(solving.run_one(f"{d_low:g} A as given", low, ref, **opts))
    trained = solving.models_with_weights()
    for m in trained:
        with console.status(f"extending with {m} and phasing..."):
            try:
                ext = solving.extend_data(low, m, d_min=d_min)
            except XrdplugError as exc:
                console.print(f"[red]{m}[/red]: extension failed: {exc}")
                continue
            runs.append(solving.run_one(f"{d_low:g} A + {m}", ext, ref, **opts))
    with console.status("phasing the full data..."):
        runs.append(solving.run_one(f"full {f_full.d_min():.2f} A", f_full, ref, **opts))
    solving.print_report(console, runs, title="thpp")
    if not trained:
        console.print(
            "[yellow]note:[/yellow] no model has trained weights yet, so no extended row "
            "(train one with `xrdplug train`; see `xrdplug plugins`)"
        )
    console.print(
        "solved = at least 80% of the non-H atoms within 0.5 A of thpp.cif "
        "(emma in P21/n, origin shifts and inversion allowed)"
    )


def register(app: typer.Typer, bench: typer.Typer) -> None:
    app.command("demo")(demo)
