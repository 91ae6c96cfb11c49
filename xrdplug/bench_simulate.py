"""`xrdplug bench simulate`: where the time of one training sample goes on one core, beside the bare cctbx
cost, and how many bytes it takes on disk.

Every figure is a (wall s, CPU s) pair per item, measured in this process: on a shared machine the CPU
figure is the one that says what a core can do. The command prints what these functions measure.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import XrdplugError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from .molcrystal import MolParams


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(t: tuple[float, float]) -> list[float]:
    return [time.perf_counter() - t[0], time.process_time() - t[1]]


@dataclass
class RandomBench:
    """`bench simulate --kind random`: per-item (wall s, CPU s) of each step, bare cctbx first."""

    rows: list[tuple[str, list[float]]]
    bytes_per_sample: float
    pipeline: list[float]  # the whole pipeline, per sample
    amplitudes: list[float]  # |F| with the cos/sin table + arrays, per structure
    structure: list[float]  # building one random structure


def random_bench(n: int, repeat: int, seed: int) -> RandomBench:
    """Time bare cctbx (`repeat` 20-atom P2_1/c structures, exact |F| to 0.8 A by direct sum), our
    generator's pieces on its own structures, and the whole pipeline (storage and index) for `n` samples."""
    from cctbx_bridge import simulate as sim

    from .data import generate

    params = sim.SimParams()
    sim.sample_amplitudes(sim.structure_from_seed(0, params), params.d_high, params.sf_table)  # build the table once
    # bare cctbx: 20-atom P2_1/c structure (cctbx's own cell, 18 A^3/atom) + exact |F| to 0.8 A, direct sum
    bare_s, bare_f = (list(x) for x in sim.bare_cctbx_cost(repeat, seed))
    # our generator's pieces on its own structures
    seeds = [generate.sample_seed(seed, i) for i in range(min(n, 200))]
    t = _clock()
    structs = [sim.structure_from_seed(s, params) for s in seeds]
    gen = [v / len(seeds) for v in _since(t)]
    t = _clock()
    for xs in structs:
        sim.sample_amplitudes(xs, params.d_high, 0)
    exact = [v / len(seeds) for v in _since(t)]
    t = _clock()
    for xs in structs:
        sim.sample_arrays(xs, params.d_high, params.sf_table)
    amp = [v / len(seeds) for v in _since(t)]
    n_atoms = sum(xs.scatterers().size() for xs in structs) / len(structs)
    # the whole pipeline, storage and index included, one worker in this process
    with tempfile.TemporaryDirectory() as tmp:
        t = _clock()
        _stats, index = generate.simulate(Path(tmp) / "ds", n, params, seed=seed, workers=1,
                                          shard_size=min(500, n), progress=False)
        pipe = [v / n for v in _since(t)]
        size = sum(p.stat().st_size for p in (Path(tmp) / "ds" / "shards").glob("*.npz"))
    n_refl = float(index["n_refl"].mean())
    rows = [
        ("bare cctbx: random 20-atom P2_1/c structure", bare_s),
        ("bare cctbx: its exact |F| to 0.8 A (direct sum)", bare_f),
        ("bare cctbx: structure + |F|", [bare_s[0] + bare_f[0], bare_s[1] + bare_f[1]]),
        (f"ours: random structure, varied cell (mean {n_atoms:.1f} atoms)", gen),
        (f"ours: exact |F| to {params.d_high} A (mean {n_refl:.0f} refl.)", exact),
        (f"ours: |F| with {params.sf_table}-point cos/sin table + arrays", amp),
        (f"ours: whole pipeline, storage + index, n={n}", pipe),
    ]
    return RandomBench(rows, size / n, pipe, amp, gen)


@dataclass
class MolecularBench:
    """`bench simulate --kind molecular`: per-structure (wall s, CPU s) of each step, and what was made."""

    rows: list[tuple[str, np.ndarray]]
    total: np.ndarray
    crystals: int
    molecules: int
    failed: int  # seeds that gave no crystal within the attempts
    density_ratio: np.ndarray  # V / Hofmann volume, per crystal
    volume_per_heavy_atom: np.ndarray
    bytes_per_sample: float


def molecular_bench(n: int, seed: int, params: MolParams, per_molecule: int) -> MolecularBench:
    """Where the time of a molecular sample goes: conformers, packing, |F|, noise numbers, storage, for
    `n // per_molecule` molecules with `per_molecule` crystals each."""
    import numpy as np

    from cctbx_bridge import molecular as cm
    from cctbx_bridge.simulate import SF_TABLE

    from . import hklgrid
    from .data import generate, molecular, noise, shards
    from .molcrystal import SampleFailed

    pool: dict[str, Any] = {"centro_share": 0.08, "user": None}
    groups = n // per_molecule
    smis = [generate.molecule_for_group(seed, g, pool)[0] for g in range(groups)]

    molecular.clear_cache()  # time the conformers, not the cache
    t = _clock()
    sets = {}
    for s in smis:
        try:
            sets[s] = molecular.conformers(s)
        except XrdplugError:
            pass
    conf = np.array(_since(t)) / max(len(sets), 1)
    pack, sf, nz, done, fails = np.zeros(2), np.zeros(2), np.zeros(2), 0, 0
    dens: list[float] = []
    vph: list[float] = []
    refl: list[int] = []
    samples: list[dict[str, Any]] = []
    for g, s in enumerate(smis):
        if s not in sets:
            continue
        for j in range(per_molecule):
            sd = generate.sample_seed(seed, g * per_molecule + j)
            t = _clock()
            try:
                model = molecular.build_crystal(sets[s], sd, params)
            except SampleFailed:
                fails += 1
                continue
            pack += _since(t)
            t = _clock()
            arr = cm.sample_arrays(model, params.d_high, SF_TABLE)
            sf += _since(t)
            t = _clock()
            inv_d2 = hklgrid.inverse_d_squared(arr["hkl"], arr["cell"])
            arr["noise"] = noise.draw_params(arr["f"], inv_d2, 0.8, np.random.default_rng([sd, 1]))
            nz += _since(t)
            arr.update(seed=sd, sample=len(samples), split=0, structure_id=f"mol:{sd}", kind="molecular",
                       smiles=model.smiles, z_prime=model.z_prime, n_heavy=model.n_heavy,
                       n_rotatable=model.n_rotatable, formula=model.formula)
            samples.append(arr)
            dens.append(model.density_ratio)
            vph.append(model.volume_per_heavy_atom())
            refl.append(len(arr["f"]))
            done += 1
    with tempfile.TemporaryDirectory() as tmp:
        t = _clock()
        size = shards.write_shard(os.path.join(tmp, "s.npz"), samples)
        store = np.array(_since(t)) / max(done, 1)
    pack, sf, nz = pack / max(done, 1), sf / max(done, 1), nz / max(done, 1)
    conf_share = conf / per_molecule
    total = conf_share + pack + sf + nz + store
    rows = [
        (f"conformers (ETKDG + MMFF, per molecule; / {per_molecule} crystals)", conf_share),
        (f"packing ({params.relax_steps} relaxation steps, per crystal)", pack),
        (f"|F| to 0.8 A, H included ({SF_TABLE}-point table; mean {np.mean(refl):.0f} refl.)", sf),
        ("noise numbers (exposure fit)", nz),
        ("storage (float16, compressed)", store),
        ("total per structure", total),
    ]
    return MolecularBench(rows, total, done, len(sets), fails, np.array(dens), np.array(vph), size / max(done, 1))
