"""Drive `xrdplug simulate`: shards in worker processes, resume, progress, index.

cctbx is imported only inside the worker functions (through `cctbx_bridge.simulate`), so importing this
module stays cheap and cctbx-free. Workers are started with the "spawn" method (a fresh interpreter each:
no inherited locks or thread pools) and get `xrdplug.runtime.worker_env()`'s LD_PRELOAD, so they are safe
whatever they import.

Per-sample seeds: sample i of a run with --seed S uses seed = SeedSequence([S, i]) (first 31-bit word); the
seed is stored with the sample, so rebuilding never needs S.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import XrdplugError
from . import shards, splits

DEFAULT_SHARD_SIZE = 500


def sample_seed(base_seed: int, i: int) -> int:
    return int(np.random.SeedSequence([int(base_seed), int(i)]).generate_state(1, dtype=np.uint32)[0] >> 1)


@dataclass
class RunStats:
    n_samples: int = 0
    n_shards: int = 0
    shards_done: int = 0
    shards_skipped: int = 0
    shards_damaged: int = 0
    seconds: float = 0.0
    bytes: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    skipped_examples: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------- worker side


def _synthetic_shard(task: dict[str, Any]) -> dict[str, Any]:
    from cctbx_bridge import simulate as sim

    params = sim.SimParams.from_json(task["params"])
    t0 = time.perf_counter()
    samples = []
    for i in range(task["start"], task["stop"]):
        seed = sample_seed(task["seed"], i)
        s = sim.simulate_seed(seed, params)
        s["sample"] = i
        s["structure_id"] = f"sim:{seed}"
        s["split"] = splits.assign(s["structure_id"], tuple(task["fractions"]))
        samples.append(s)
    size = shards.write_shard(task["path"], samples)
    return {"k": task["k"], "n": len(samples), "bytes": size, "seconds": time.perf_counter() - t0,
            "skipped": []}


def molecule_for_group(base_seed: int, g: int, pool: dict[str, Any]) -> tuple[str, int]:
    """(SMILES, split) of molecule group g: one draw from SeedSequence([seed, g, 7])."""
    rng = np.random.default_rng([int(base_seed), int(g), 7])
    if pool.get("user") is not None:
        smi, split = pool["user"][int(rng.integers(len(pool["user"])))]
        return str(smi), int(split)
    from . import smiles as smiles_sets

    if rng.random() < float(pool["centro_share"]):
        entries = smiles_sets.centrosymmetric()
    else:
        entries = smiles_sets.moses()
    e = entries[int(rng.integers(len(entries)))]
    return e.smiles, e.split


def _molecular_shard(task: dict[str, Any]) -> dict[str, Any]:
    from ..errors import XrdplugError as _Err
    from ..molcrystal import MolParams
    from . import molecular

    params = MolParams.from_json(task["params"])
    t0 = time.perf_counter()
    samples, skipped = [], []
    for i in range(task["start"], task["stop"]):
        smi, split = molecule_for_group(task["seed"], i // task["per_molecule"], task["pool"])
        seed = sample_seed(task["seed"], i)
        try:
            s = molecular.sample(smi, seed, params)
        except _Err as exc:  # RDKit/MMFF cannot build it, or no crystal within the attempts: skip, say why
            skipped.append(f"sample {i} ({smi}, seed {seed}): {exc}")
            continue
        s["sample"] = i
        s["structure_id"] = f"mol:{seed}"
        s["split"] = split
        samples.append(s)
    size = shards.write_shard(task["path"], samples, skipped)
    return {"k": task["k"], "n": len(samples), "bytes": size, "seconds": time.perf_counter() - t0,
            "skipped": skipped}


def _cif_shard(task: dict[str, Any]) -> dict[str, Any]:
    from cctbx_bridge import simulate as sim

    t0 = time.perf_counter()
    d_high = float(task["d_high"])
    samples, skipped = [], []
    for j, fname in enumerate(task["files"]):
        path = Path(task["cif_dir"]) / fname
        for block, xs, why in sim.cif_structures(path):
            what = f"{fname}#{block}" if block else fname
            if xs is not None:
                xs, why = sim.prepare_cif_structure(xs, d_high, task["keep_hydrogens"])
            if xs is None:
                skipped.append(f"{what}: {why}")
                continue
            try:
                s = sim.sample_arrays(xs, d_high, int(task["sf_table"]))
            except Exception as exc:  # a structure cctbx cannot compute is skipped, not fatal
                skipped.append(f"{what}: structure factors failed ({type(exc).__name__}: {str(exc)[:80]})")
                continue
            s["sample"] = task["first_file"] + j
            s["seed"] = -1
            s["structure_id"] = f"cif:{fname}#{block}"
            s["source"] = str(path)
            s["block"] = block
            s["split"] = splits.assign(s["structure_id"], tuple(task["fractions"]))
            samples.append(s)
    size = shards.write_shard(task["path"], samples, skipped)
    return {"k": task["k"], "n": len(samples), "bytes": size, "seconds": time.perf_counter() - t0,
            "skipped": skipped}


# --------------------------------------------------------------------------------------------- driver


def reason_key(why: str) -> str:
    """Group skip reasons that carry details (a cell, an error text) under one name."""
    for prefix, key in (("unreadable CIF", "unreadable CIF"),
                        ("structure factors failed", "structure factors failed"),
                        ("non-monoclinic", "non-monoclinic space group"),
                        ("monoclinic group", "monoclinic, no b-unique setting")):
        if why.startswith(prefix):
            return key
    if "no crystal within" in why:
        return "no crystal within the attempts (edge or reflection limit)"
    if "RDKit" in why or "MMFF" in why:
        return "RDKit/MMFF could not build the molecule"
    return "cell too large for the model grid" if "too large" in why else why


def _count_skips(stats: RunStats, lines: list[str]) -> None:
    for line in lines:
        what, _, why = line.partition(": ")
        key = reason_key(why)
        stats.skipped[key] = stats.skipped.get(key, 0) + 1
        stats.skipped_examples.setdefault(key, what)


def _prepare_root(out: Path, meta: dict[str, Any]) -> None:
    if out.exists() and not out.is_dir():
        raise XrdplugError(f"{out}: exists and is not a folder")
    if (out / shards.META).exists():
        old = shards.read_meta(out)
        diff = sorted(k for k in set(old) | set(meta) if old.get(k) != meta.get(k))
        if diff:
            what = ", ".join(f"{k}: {old.get(k)!r} -> {meta.get(k)!r}" for k in diff[:3])
            raise XrdplugError(
                f"{out} holds a data set made with other settings ({what}); "
                "re-run with the same options to resume it, or choose another --out"
            )
        return
    if out.exists() and any(out.iterdir()):
        raise XrdplugError(f"{out}: folder is not empty and is not an xrdplug data set; choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    shards.write_meta(out, meta)


def _run(
    out: Path,
    tasks: list[dict[str, Any]],
    fn: Callable[[dict[str, Any]], dict[str, Any]],
    workers: int,
    expected: list[int],
    progress: bool,
    label: str,
) -> RunStats:
    stats = RunStats(n_shards=len(tasks))
    for stale in (out / shards.SHARD_DIR).glob(".shard-*.tmp"):  # left by a killed run
        stale.unlink(missing_ok=True)
    todo = []
    for task, n_exp in zip(tasks, expected, strict=True):
        path = Path(task["path"])
        if path.exists():
            if not shards.shard_ok(path):
                # a shard only appears by rename, so this is damage after the fact: rebuild it
                path.unlink()
                stats.shards_damaged += 1
            else:
                stats.shards_skipped += 1
                continue
        todo.append((task, n_exp))
    total = sum(expected)
    done_before = total - sum(n for _, n in todo)
    t0 = time.perf_counter()

    from ..progress import progress_bar

    with progress_bar("{task.fields[rate]}", disable=not progress) as bar:
        pid = bar.add_task(label, total=total, completed=done_before, rate="")

        def finished(res: dict[str, Any], n_exp: int) -> None:
            stats.shards_done += 1
            stats.bytes += res["bytes"]
            stats.n_samples += res["n"]
            _count_skips(stats, res["skipped"])
            el = time.perf_counter() - t0
            bar.update(pid, advance=n_exp, rate=f"{stats.n_samples / max(el, 1e-9):.0f} samples/s")

        if workers <= 1 or len(todo) <= 1:
            for task, n_exp in todo:
                finished(fn(task), n_exp)
        else:
            import multiprocessing as mp

            from ..runtime import worker_env

            saved = os.environ.get("LD_PRELOAD")
            preload = worker_env().get("LD_PRELOAD")
            if preload:  # spawned workers inherit it; restored below
                os.environ["LD_PRELOAD"] = preload
            try:
                ctx = mp.get_context("spawn")
                with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
                    pending = {pool.submit(fn, task): n_exp for task, n_exp in todo}
                    while pending:
                        ready, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                        for fut in ready:
                            n_exp = pending.pop(fut)
                            try:
                                res = fut.result()
                            except XrdplugError:
                                for other in pending:
                                    other.cancel()
                                raise
                            finished(res, n_exp)
            finally:
                if saved is None:
                    os.environ.pop("LD_PRELOAD", None)
                else:
                    os.environ["LD_PRELOAD"] = saved
    stats.seconds = time.perf_counter() - t0
    return stats


def simulate(
    out: str | os.PathLike[str],
    n: int,
    params: Any,
    seed: int = 0,
    workers: int = 1,
    shard_size: int = DEFAULT_SHARD_SIZE,
    fractions: tuple[float, float, float] = splits.DEFAULT_FRACTIONS,
    d_low: float = 1.5,
    progress: bool = True,
) -> tuple[RunStats, dict[str, np.ndarray]]:
    """Generate (or resume) a synthetic data set of n samples in `out`. `params` is a SimParams."""
    if n < 1:
        raise XrdplugError("--n must be at least 1")
    if shard_size < 1:
        raise XrdplugError("--shard-size must be at least 1")
    if not 0 < params.d_high < d_low:
        raise XrdplugError(f"need 0 < d-high < d-low (got d-high {params.d_high}, d-low {d_low})")
    out = Path(out)
    meta = {"format": shards.FORMAT, "mode": "synthetic", "n": n, "seed": seed, "shard_size": shard_size,
            "params": params.to_json(), "d_high": params.d_high, "d_low": d_low,
            "fractions": list(fractions), "splits": list(splits.SPLITS)}
    _prepare_root(out, meta)
    n_shards = (n + shard_size - 1) // shard_size
    tasks, expected = [], []
    for k in range(n_shards):
        start, stop = k * shard_size, min(n, (k + 1) * shard_size)
        tasks.append({"k": k, "start": start, "stop": stop, "seed": seed, "params": params.to_json(),
                      "fractions": list(fractions), "path": str(shards.shard_path(out, k))})
        expected.append(stop - start)
    stats = _run(out, tasks, _synthetic_shard, workers, expected, progress, "simulate")
    index = shards.build_index(out, n_shards)
    return stats, index


def simulate_from_cif(
    cif_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    d_high: float = 0.8,
    workers: int = 1,
    shard_size: int = DEFAULT_SHARD_SIZE,
    fractions: tuple[float, float, float] = splits.DEFAULT_FRACTIONS,
    d_low: float = 1.5,
    keep_hydrogens: bool = False,
    progress: bool = True,
    sf_table: int = 2**18,
) -> tuple[RunStats, dict[str, np.ndarray]]:
    """Build a data set from every *.cif under `cif_dir` (one or many structures per file)."""
    src = Path(cif_dir)
    if not src.is_dir():
        raise XrdplugError(f"{src}: no such folder")
    files = sorted(
        str(p.relative_to(src)) for p in src.rglob("*") if p.suffix.lower() == ".cif" and p.is_file()
    )
    if not files:
        raise XrdplugError(f"{src}: no .cif files found")
    if not 0 < d_high < d_low:
        raise XrdplugError(f"need 0 < d-high < d-low (got d-high {d_high}, d-low {d_low})")
    out = Path(out)
    if out.resolve() == src.resolve():
        raise XrdplugError("--out must not be the CIF folder")
    meta = {"format": shards.FORMAT, "mode": "cif", "cif_dir": str(src.resolve()), "n_files": len(files),
            "shard_size": shard_size, "d_high": d_high, "d_low": d_low, "keep_hydrogens": keep_hydrogens,
            "sf_table": sf_table,
            "fractions": list(fractions), "splits": list(splits.SPLITS)}
    _prepare_root(out, meta)
    n_shards = (len(files) + shard_size - 1) // shard_size
    tasks, expected = [], []
    for k in range(n_shards):
        chunk = files[k * shard_size:(k + 1) * shard_size]
        tasks.append({"k": k, "files": chunk, "first_file": k * shard_size, "cif_dir": str(src.resolve()),
                      "d_high": d_high, "keep_hydrogens": keep_hydrogens, "fractions": list(fractions),
                      "sf_table": sf_table,
                      "path": str(shards.shard_path(out, k))})
        expected.append(len(chunk))
    stats = _run(out, tasks, _cif_shard, workers, expected, progress, "from CIF")
    index = shards.build_index(out, n_shards)
    # skip counts over the whole data set (resumed shards included) come from the index
    stats.skipped, stats.skipped_examples = {}, {}
    _count_skips(stats, [str(line) for line in index["skipped"]])
    return stats, index


def simulate_molecular(
    out: str | os.PathLike[str],
    n: int,
    params: Any,
    seed: int = 0,
    workers: int = 1,
    shard_size: int = DEFAULT_SHARD_SIZE,
    per_molecule: int = 4,
    smiles_file: str | os.PathLike[str] | None = None,
    fractions: tuple[float, float, float] = splits.DEFAULT_FRACTIONS,
    centro_share: float = 0.08,
    d_low: float = 1.5,
    progress: bool = True,
) -> tuple[RunStats, dict[str, np.ndarray]]:
    """Generate (or resume) a data set of n molecular crystals in `out`. `params` is a MolParams.

    Molecules: the shipped MOSES subset plus, with probability `centro_share` per molecule, the list of
    centrosymmetric molecules (their splits are fixed by molecule, see `xrdplug.data.smiles`), or the
    SMILES of `smiles_file` (split by molecule with `fractions`). Each molecule gives `per_molecule`
    consecutive samples (different crystals of one conformer set).
    """
    from . import smiles as smiles_sets

    if n < 1:
        raise XrdplugError("--n must be at least 1")
    if shard_size < 1 or per_molecule < 1:
        raise XrdplugError("--shard-size and --per-molecule must be at least 1")
    if not 0 < params.d_high < d_low:
        raise XrdplugError(f"need 0 < d-high < d-low (got d-high {params.d_high}, d-low {d_low})")
    pool: dict[str, Any] = {"centro_share": centro_share, "user": None}
    source = "shipped"
    if smiles_file is not None:
        entries = smiles_sets.read_smiles_file(smiles_file, fractions)
        pool["user"] = [[e.smiles, e.split] for e in entries]
        source = str(Path(smiles_file).resolve())
    elif tuple(fractions) != tuple(splits.DEFAULT_FRACTIONS):
        raise XrdplugError("the shipped SMILES are split by molecule once and for all (90/5/5, see "
                           "xrdplug/data/smiles.py); --split applies to --smiles files")
    out = Path(out)
    meta = {"format": shards.FORMAT, "mode": "molecular", "n": n, "seed": seed, "shard_size": shard_size,
            "per_molecule": per_molecule, "params": params.to_json(), "d_high": params.d_high, "d_low": d_low,
            "smiles": source, "pool_size": len(pool["user"]) if pool["user"] is not None else None,
            "centro_share": centro_share, "fractions": list(fractions), "splits": list(splits.SPLITS),
            "target": "exact |F| (H included); observed data from the per-sample noise numbers"}
    _prepare_root(out, meta)
    n_shards = (n + shard_size - 1) // shard_size
    tasks, expected = [], []
    for k in range(n_shards):
        start, stop = k * shard_size, min(n, (k + 1) * shard_size)
        tasks.append({"k": k, "start": start, "stop": stop, "seed": seed, "params": params.to_json(),
                      "per_molecule": per_molecule, "pool": pool, "path": str(shards.shard_path(out, k))})
        expected.append(stop - start)
    stats = _run(out, tasks, _molecular_shard, workers, expected, progress, "molecular")
    index = shards.build_index(out, n_shards)
    stats.skipped, stats.skipped_examples = {}, {}
    _count_skips(stats, [str(line) for line in index["skipped"]])
    return stats, index
