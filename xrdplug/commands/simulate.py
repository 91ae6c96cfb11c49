"""`xrdplug simulate` (training data from random or CIF structures) and `xrdplug bench simulate` (which
prints what xrdplug.bench_simulate measures)."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import XrdplugError


def _range(text: str, what: str, cast: type = float) -> tuple:
    try:
        lo, _, hi = text.partition("-")
        lo_v, hi_v = cast(lo), cast(hi if hi else lo)
    except ValueError:
        raise XrdplugError(f"bad {what} '{text}' (use e.g. 10-30)") from None
    if lo_v > hi_v or lo_v <= 0:
        raise XrdplugError(f"bad {what} '{text}': need 0 < low <= high")
    return lo_v, hi_v


def _mol_params(space_groups: str | None, d_high: float, max_edge: float, relax_steps: int):
    from ..molcrystal import SPACE_GROUP_WEIGHTS, MolParams

    if d_high <= 0:
        raise XrdplugError("--d-high must be positive")
    if not 8.0 <= max_edge <= 60.0:
        raise XrdplugError("--max-edge must be between 8 and 60 A")
    if relax_steps < 0:
        raise XrdplugError("--relax-steps must be >= 0")
    weights = dict(SPACE_GROUP_WEIGHTS)
    if space_groups:
        from cctbx_bridge.simulate import parse_space_groups

        chosen = parse_space_groups(space_groups)
        unknown = [g for g in chosen if g not in weights]
        if unknown:
            raise XrdplugError(f"the molecular simulator packs in {', '.join(weights)}; not {', '.join(unknown)}")
        weights = {g: weights[g] for g in chosen}
    return MolParams(space_groups=weights, d_high=d_high, max_edge=max_edge, relax_steps=relax_steps)


def _params(space_groups: str | None, elements: str, atoms: str, volume_per_atom: str, d_high: float):
    from cctbx_bridge.simulate import DEFAULT_SPACE_GROUPS, SimParams, parse_elements, parse_space_groups

    if d_high <= 0:
        raise XrdplugError("--d-high must be positive")
    return SimParams(
        space_groups=parse_space_groups(space_groups or ",".join(DEFAULT_SPACE_GROUPS)),
        elements=parse_elements(elements),
        atoms=_range(atoms, "--atoms", int),
        volume_per_atom=_range(volume_per_atom, "--volume-per-atom", float),
        d_high=d_high,
    )


def _report(stats, index, out: Path) -> None:
    import numpy as np

    from ..data import splits

    n = len(index["shard"])
    counts = np.bincount(index["split"].astype(np.int64), minlength=3) if n else np.zeros(3, int)
    parts = ", ".join(f"{name} {int(c)}" for name, c in zip(splits.SPLITS, counts, strict=True))
    size = sum(p.stat().st_size for p in (out / "shards").glob("shard-*.npz"))
    typer.echo(f"{out}: {n} samples in {stats.n_shards} shards ({parts}); "
              f"{size / max(n, 1) / 1024:.1f} kB per sample on disk")
    if stats.shards_damaged:
        typer.echo(f"rebuilt {stats.shards_damaged} corrupt or partial shard(s)")
    if stats.shards_skipped:
        typer.echo(f"resumed: {stats.shards_skipped} finished shards kept, {stats.shards_done} made now")
    if stats.shards_done and stats.seconds > 0:
        rate = stats.n_samples / stats.seconds
        typer.echo(f"made {stats.n_samples} samples in {stats.seconds:.1f} s ({rate:.0f}/s)")
    for why, c in sorted(stats.skipped.items(), key=lambda kv: -kv[1]):
        typer.echo(f"skipped {c}: {why} (e.g. {stats.skipped_examples.get(why, '')})")


def simulate(
    out: Path = typer.Option(..., "--out", "-o", help="Data set folder (created; re-run to resume)."),
    n: int = typer.Option(20000, "--n", help="Number of structures."),
    kind: str = typer.Option("molecular", help="molecular (SMILES -> RDKit -> packed crystals, H atoms, "
                             "noise) or random (random atoms, the old data)."),
    smiles: Path = typer.Option(None, "--smiles", help="molecular: your SMILES file (one per line, optional "
                                "name) instead of the shipped MOSES subset."),
    per_molecule: int = typer.Option(4, help="molecular: crystals per molecule (one conformer set)."),
    max_edge: float = typer.Option(30.0, help="molecular: longest cell edge allowed (A)."),
    relax_steps: int = typer.Option(300, help="molecular: packing relaxation steps (density vs speed)."),
    space_groups: str = typer.Option(None, help="Monoclinic (b unique) groups. random: drawn uniformly "
                                     "(default P21/c,P21,C2); molecular: CSD weights (default all 8)."),
    elements: str = typer.Option("C,N,O,Cl", help="random: elements; C:5,N:1 sets weights (default 55/15/20/10)."),
    atoms: str = typer.Option("10-30", help="random: atoms in the asymmetric unit (uniform)."),
    volume_per_atom: str = typer.Option("14-22", help="random: volume per atom in A^3 (uniform)."),
    d_low: float = typer.Option(1.5, help="Resolution of the 'measured' input data (A)."),
    d_high: float = typer.Option(0.8, help="Resolution of the target |F| (A)."),
    seed: int = typer.Option(0, help="Base seed; sample i uses a seed from (seed, i), stored with it."),
    workers: int = typer.Option(1, "--workers", "-j", help="Processes building structures in parallel."),
    shard_size: int = typer.Option(500, help="Samples per shard file."),
    split: str = typer.Option("90/5/5", help="train/val/test parts, by structure (molecular: by molecule; the "
                              "shipped SMILES have a fixed 90/5/5)."),
    from_cif: Path = typer.Option(None, "--from-cif", help="Use every *.cif under this folder instead."),
    keep_hydrogens: bool = typer.Option(False, help="CIF mode: keep H atoms (default: dropped before |F|)."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
) -> None:
    """Make training data: |F| to d-high of molecular crystals (or random or CIF structures), sharded."""
    from ..data import generate, splits

    fractions = splits.parse_fractions(split)
    if workers < 1:
        raise XrdplugError("--workers must be at least 1")
    if kind not in ("molecular", "random"):
        raise XrdplugError(f"unknown --kind '{kind}' (choose molecular or random)")
    if smiles is not None and (kind != "molecular" or from_cif is not None):
        raise XrdplugError("--smiles goes with --kind molecular (and not with --from-cif)")
    if from_cif is not None:
        if not 0 < d_high < d_low:
            raise XrdplugError(f"need 0 < d-high < d-low (got {d_high}, {d_low})")
        stats, index = generate.simulate_from_cif(
            from_cif, out, d_high=d_high, workers=workers, shard_size=shard_size, fractions=fractions,
            d_low=d_low, keep_hydrogens=keep_hydrogens, progress=progress)
    elif kind == "molecular":
        params = _mol_params(space_groups, d_high, max_edge, relax_steps)
        stats, index = generate.simulate_molecular(
            out, n, params, seed=seed, workers=workers, shard_size=shard_size, per_molecule=per_molecule,
            smiles_file=smiles, fractions=fractions, d_low=d_low, progress=progress)
    else:
        params = _params(space_groups, elements, atoms, volume_per_atom, d_high)
        stats, index = generate.simulate(
            out, n, params, seed=seed, workers=workers, shard_size=shard_size, fractions=fractions,
            d_low=d_low, progress=progress)
    _report(stats, index, out)
    if len(index["shard"]) == 0:
        why = "; ".join(f"{c} {reason}" for reason, c in sorted(stats.skipped.items(), key=lambda kv: -kv[1]))
        raise XrdplugError(
            f"{from_cif or out}: no usable structure, so the data set is empty" + (f" (skipped: {why})" if why else "")
        )


def bench_simulate(
    n: int = typer.Option(300, "--n", help="Samples through the whole pipeline (one core)."),
    repeat: int = typer.Option(50, help="Structures for the bare cctbx timing."),
    seed: int = typer.Option(0),
    kind: str = typer.Option("random", help="random (the old data) or molecular."),
    relax_steps: int = typer.Option(300, help="molecular: packing relaxation steps."),
    per_molecule: int = typer.Option(4, help="molecular: crystals per molecule."),
) -> None:
    """Structures per second per core and bytes per sample, beside the bare cctbx cost.

    Every row gives wall time and CPU time of this process: on a shared machine the CPU figure is the one
    that says what a core can do.
    """
    if kind == "molecular":
        _bench_molecular(n, seed, relax_steps, per_molecule)
        return
    if kind != "random":
        raise XrdplugError(f"unknown --kind '{kind}' (choose molecular or random)")
    import os

    from rich.console import Console
    from rich.table import Table

    from ..bench_simulate import random_bench

    b = random_bench(n, repeat, seed)
    table = Table(title=f"xrdplug bench simulate (one core; load average {os.getloadavg()[0]:.1f})")
    for col in ("what", "wall ms", "CPU ms", "per CPU-s"):
        table.add_column(col, justify="left" if col == "what" else "right")
    for what, (w, c) in b.rows:
        table.add_row(what, f"{1e3 * w:.2f}", f"{1e3 * c:.2f}", f"{1 / max(c, 1e-9):.0f}")
    pipe, amp, gen = b.pipeline, b.amplitudes, b.structure
    con = Console(width=120)
    con.print(table)
    con.print(f"bytes per sample on disk: {b.bytes_per_sample:.0f} ({b.bytes_per_sample / 1024:.1f} kB; "
              "target <= 16 kB)")
    con.print(f"pipeline: {1 / pipe[1]:.0f} structures per CPU-second ({1 / pipe[0]:.0f}/s wall) on one core "
              f"(target >= 200); |F| is {100 * amp[1] / pipe[1]:.0f}% of the CPU time, building the "
              f"structure "
              f"{100 * gen[1] / pipe[1]:.0f}%, the rest (seeds, splits, float16, compression, index) "
              f"{100 * max(0.0, 1 - (amp[1] + gen[1]) / pipe[1]):.0f}%")


def _bench_molecular(n: int, seed: int, relax_steps: int, per_molecule: int) -> None:
    """`bench simulate --kind molecular`: the table of xrdplug.bench_simulate.molecular_bench."""
    import os

    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from ..bench_simulate import molecular_bench

    if n < per_molecule:
        raise XrdplugError("--n must be at least --per-molecule")
    b = molecular_bench(n, seed, _mol_params(None, 0.8, 30.0, relax_steps), per_molecule)
    table = Table(title=f"xrdplug bench simulate --kind molecular (one core; load average {os.getloadavg()[0]:.1f})")
    for col in ("what", "wall ms", "CPU ms", "share of CPU"):
        table.add_column(col, justify="left" if col == "what" else "right")
    for what, (w, c) in b.rows:
        table.add_row(what, f"{1e3 * w:.1f}", f"{1e3 * c:.1f}", f"{100 * c / b.total[1]:.0f}%")
    con = Console(width=130)
    con.print(table)
    d, v = b.density_ratio, b.volume_per_heavy_atom
    con.print(f"{b.crystals} crystals of {b.molecules} molecules ({b.failed} seeds gave no crystal within the "
              f"attempts): {1 / b.total[1]:.1f} structures per CPU-second on one core (target >= 20)")
    con.print(f"density: V / Hofmann volume median {np.median(d):.3f} (10-90 % {np.quantile(d, .1):.3f}-"
              f"{np.quantile(d, .9):.3f}); V per non-H atom median {np.median(v):.1f} A^3 (10-90 % "
              f"{np.quantile(v, .1):.1f}-{np.quantile(v, .9):.1f})")
    con.print(f"bytes per sample on disk: {b.bytes_per_sample:.0f} ({b.bytes_per_sample / 1024:.1f} kB)")


def register(app: typer.Typer, bench: typer.Typer) -> None:
    app.command("simulate")(simulate)
    bench.command("simulate")(bench_simulate)
