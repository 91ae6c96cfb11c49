"""`xrdplug cases`: fixed benchmark sets of molecular crystals, one folder per structure."""

from __future__ import annotations

from pathlib import Path

import typer


def cases(
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the set (created; must be empty)."),
    n: int = typer.Option(12, "--n", help="Number of structures."),
    seed: int = typer.Option(0, help="Seed: the same seed writes the same set."),
    pool: str = typer.Option("heldout", help="Test molecules to draw from: dev, heldout or all."),
    smiles: Path = typer.Option(None, "--smiles", help="Your own molecules instead (one SMILES per line, "
                                "optional name)."),
    d_high: float = typer.Option(0.8, help="Resolution of the observed data (A)."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
) -> None:
    """Write benchmark structures: structure.cif (with H), molecule.smi, data.mtz (F, SIGF, I, SIGI with
    counting noise) per case, and cases.json. Molecules come from the test split of the shipped SMILES."""
    from ..data import cases as cases_mod

    if d_high <= 0:
        from ..errors import XrdplugError

        raise XrdplugError("--d-high must be positive")
    rows = cases_mod.make_cases(out, n, seed=seed, pool=pool, smiles_file=smiles, d_high=d_high, progress=progress)
    groups: dict[str, int] = {}
    for r in rows:
        groups[r["space_group"]] = groups.get(r["space_group"], 0) + 1
    half = sum(r["z_prime"] == 0.5 for r in rows)
    typer.echo(f"{out}: {len(rows)} cases ({half} with Z' = 1/2); "
               + ", ".join(f"{g.replace(' 1', '').replace('P ', 'P').replace('C ', 'C')} {c}"
                           for g, c in sorted(groups.items())))


def register(app: typer.Typer, bench: typer.Typer) -> None:
    app.command("cases")(cases)
