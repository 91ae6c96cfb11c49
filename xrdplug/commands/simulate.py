"""`xrdplug simulate` (training data from random or CIF structures) and `xrdplug bench simulate`."""

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


def _params(space_groups: str, elements: str, atoms: str, volume_per_atom: str, d_high: float):
    from cctbx_bridge.simulate import SimParams, parse_elements, parse_space_groups

    if d_high <= 0:
        raise XrdplugError("--d-high must be positive")
    return SimParams(
        space_groups=parse_space_groups(space_groups),
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
    n: int = typer.Option(20000, "--n", help="Number of random structures."),
    space_groups: str = typer.Option("P21/c,P21,C2", help="Monoclinic (b unique) groups, drawn uniformly."),
    elements: str = typer.Option("C,N,O,Cl", help="Elements; C:5,N:1 sets weights (default 55/15/20/10)."),
    atoms: str = typer.Option("10-30", help="Atoms in the asymmetric unit (uniform)."),
    volume_per_atom: str = typer.Option("14-22", help="Volume per atom in A^3 (uniform)."),
    d_low: float = typer.Option(1.5, help="Resolution of the 'measured' input data (A)."),
    d_high: float = typer.Option(0.8, help="Resolution of the target |F| (A)."),
    seed: int = typer.Option(0, help="Base seed; sample i uses a seed from (seed, i), stored with it."),
    workers: int = typer.Option(1, "--workers", "-j", help="Processes building structures in parallel."),
    shard_size: int = typer.Option(500, help="Samples per shard file."),
    split: str = typer.Option("90/5/5", help="train/val/test parts, by structure."),
    from_cif: Path = typer.Option(None, "--from-cif", help="Use every *.cif under this folder instead."),
    keep_hydrogens: bool = typer.Option(False, help="CIF mode: keep H atoms (default: dropped before |F|)."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
) -> None:
    """Make training data: |F| to d-high of random monoclinic structures (or CIF structures), sharded."""
    from ..data import generate, splits

    fractions = splits.parse_fractions(split)
    if workers < 1:
        raise XrdplugError("--workers must be at least 1")
    if from_cif is not None:
        if not 0 < d_high < d_low:
            raise XrdplugError(f"need 0 < d-high < d-low (got {d_high}, {d_low})")
        stats, index = generate.simulate_from_cif(
            from_cif, out, d_high=d_high, workers=workers, shard_size=shard_size, fractions=fractions,
            d_low=d_low, keep_hydrogens=keep_hydrogens, progress=progress)
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
) -> None:
    """Structures per second per core and bytes per sample, beside the bare cctbx cost.

    Every row gives wall time and CPU time of this process: on a shared machine the CPU figure is the one
    that says what a core can do.
    """
    import os
    import tempfile
    import time

    from rich.console import Console
    from rich.table import Table

    from cctbx_bridge import simulate as sim

    from ..data import generate

    def clock() -> tuple[float, float]:
        return time.perf_counter(), time.process_time()

    def since(t: tuple[float, float]) -> tuple[float, float]:
        return time.perf_counter() - t[0], time.process_time() - t[1]

    params = sim.SimParams()
    sim.amplitudes(sim.structure_from_seed(0, params), params.d_high, params.sf_table)  # build the table once
    # bare cctbx: 20-atom P2_1/c structure (cctbx's own cell, 18 A^3/atom) + exact |F| to 0.8 A, direct sum
    bare_s, bare_f = (list(x) for x in sim.bare_cctbx_cost(repeat, seed))
    # our generator's pieces on its own structures
    seeds = [generate.sample_seed(seed, i) for i in range(min(n, 200))]
    t = clock()
    structs = [sim.structure_from_seed(s, params) for s in seeds]
    gen = [v / len(seeds) for v in since(t)]
    t = clock()
    for xs in structs:
        sim.amplitudes(xs, params.d_high, 0)
    exact = [v / len(seeds) for v in since(t)]
    t = clock()
    for xs in structs:
        sim.sample_arrays(xs, params.d_high, params.sf_table)
    amp = [v / len(seeds) for v in since(t)]
    n_atoms = sum(xs.scatterers().size() for xs in structs) / len(structs)
    # the whole pipeline, storage and index included, one worker in this process
    with tempfile.TemporaryDirectory() as tmp:
        t = clock()
        stats, index = generate.simulate(Path(tmp) / "ds", n, params, seed=seed, workers=1,
                                         shard_size=min(500, n), progress=False)
        pipe = [v / n for v in since(t)]
        size = sum(p.stat().st_size for p in (Path(tmp) / "ds" / "shards").glob("*.npz"))
    n_refl = float(index["n_refl"].mean())
    table = Table(title=f"xrdplug bench simulate (one core; load average {os.getloadavg()[0]:.1f})")
    for col in ("what", "wall ms", "CPU ms", "per CPU-s"):
        table.add_column(col, justify="left" if col == "what" else "right")
    rows = [
        ("bare cctbx: random 20-atom P2_1/c structure", bare_s),
        ("bare cctbx: its exact |F| to 0.8 A (direct sum)", bare_f),
        ("bare cctbx: structure + |F|", [bare_s[0] + bare_f[0], bare_s[1] + bare_f[1]]),
        (f"ours: random structure, varied cell (mean {n_atoms:.1f} atoms)", gen),
        (f"ours: exact |F| to {params.d_high} A (mean {n_refl:.0f} refl.)", exact),
        (f"ours: |F| with {params.sf_table}-point cos/sin table + arrays", amp),
        (f"ours: whole pipeline, storage + index, n={n}", pipe),
    ]
    for what, (w, c) in rows:
        table.add_row(what, f"{1e3 * w:.2f}", f"{1e3 * c:.2f}", f"{1 / max(c, 1e-9):.0f}")
    con = Console(width=120)
    con.print(table)
    con.print(f"bytes per sample on disk: {size / n:.0f} ({size / n / 1024:.1f} kB; target <= 16 kB)")
    con.print(f"pipeline: {1 / pipe[1]:.0f} structures per CPU-second ({1 / pipe[0]:.0f}/s wall) on one core "
              f"(target >= 200); |F| is {100 * amp[1] / pipe[1]:.0f}% of the CPU time, building the "
              f"structure "
              f"{100 * gen[1] / pipe[1]:.0f}%, the rest (seeds, splits, float16, compression, index) "
              f"{100 * max(0.0, 1 - (amp[1] + gen[1]) / pipe[1]):.0f}%")


def register(app: typer.Typer, bench: typer.Typer) -> None:
    app.command("simulate")(simulate)
    bench.command("simulate")(bench_simulate)
