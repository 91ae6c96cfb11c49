"""One direct-space solve: molecule -> setups (Z', stereoisomers, inversion centres) -> search -> refine.

Each setup gets an equal share of the time budget; the best minimum over all setups (fit plus packing
cost) is refined and returned with figures a user can judge it by: the intensity correlation and R1 of the
refined model (computed by cctbx, not by the search), how many independent starts reached that minimum,
and how far the best different minimum lies above it.
"""

from __future__ import annotations

import functools
import io
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xrdplug.errors import XrdplugError
from xrdplug.molecule import Molecule


@dataclass
class Job:
    label: str
    smiles: str
    setup: Any
    engine: Any


def _molecules(smiles: str | None, molecule: str | Path | None, keep_geometry: bool, seed: int,
               max_stereoisomers: int) -> list[Molecule]:
    from rdkit_bridge.molecules import molecule_from_file, molecule_from_smiles, stereoisomers

    if bool(smiles) == bool(molecule):
        raise XrdplugError("direct-space needs the molecule: give exactly one of --smiles or --molecule")
    if molecule:
        path = Path(molecule)
        if path.suffix.lower() in (".cif", ".res", ".ins"):
            return [_molecule_from_crystal(path, keep_geometry, seed)]
        return [molecule_from_file(path, keep_geometry=keep_geometry, seed=seed)]
    assert smiles is not None
    return [molecule_from_smiles(s, seed=seed, name=s) for s in stereoisomers(smiles, limit=max_stereoisomers)]


def _molecule_from_crystal(path: Path, keep_geometry: bool, seed: int) -> Molecule:
    """The largest molecule of a crystal structure file, assembled across symmetry (only its connectivity
    and a starting geometry are used)."""
    from cctbx_bridge.direct_space import molecules_in_structure
    from cctbx_bridge.structures import read_structure
    from rdkit_bridge.molecules import molecule_from_atoms

    found = molecules_in_structure(read_structure(path))
    if not found:
        raise XrdplugError(f"{path}: no molecule found")
    elements, coords, _ = found[0]
    return molecule_from_atoms(elements, coords, keep_geometry=keep_geometry, seed=seed, name=path.stem)


def _element_columns(mol: Molecule) -> tuple[list[str], np.ndarray]:
    els = sorted(set(mol.elements))
    return els, np.array([els.index(e) for e in mol.elements])


def solve_direct_space(
    f_obs: Any,
    smiles: str | None = None,
    molecule: str | Path | None = None,
    formula: str | None = None,
    seed: int | None = None,
    budget: float = 120.0,
    z_prime: str = "auto",
    starts: int = 128,
    keep_geometry: bool = False,
    progress: Any = None,
    max_stereoisomers: int = 8,
) -> tuple[Any, dict[str, Any], str]:
    """(structure, figures, log) of the best solution; see the package docstring for the options."""
    import torch

    from cctbx_bridge import direct_space as ds

    from .compare import DIFFERENT_FRACTION, overlay_fraction
    from .engine import Engine
    from .pair import PairEngine, search_two
    from .problem import check_formula, choose_z_prime, room, setups
    from .refine import refine
    from .search import SearchOptions, heavy_sites, search, stage_table

    if seed is None:
        seed = int.from_bytes(os.urandom(4), "little") % 100000
    seed = int(seed)
    budget = float(budget)
    if not budget > 0:
        raise XrdplugError(f"--budget must be positive seconds (got {budget})")
    log = io.StringIO()
    data = ds.search_data(f_obs)
    mols = _molecules(smiles, molecule, keep_geometry, seed, max_stereoisomers)
    centres = ds.inversion_centres(data.space_group)
    twofold = ds.twofold_sites(data.space_group)
    volume = ds.cell_volume(data.cell)
    composition = None
    if formula:
        from cctbx_bridge.phasing import parse_formula

        composition = parse_formula(formula) if isinstance(formula, str) else dict(formula)
    jobs: list[Job] = []
    for mol in mols:
        ratio = room(volume, data.order_z, mol)
        zp = choose_z_prime(ratio, mol, bool(centres), z_prime, has_twofold_sites=bool(twofold))
        if composition:
            check_formula(composition, mol, zp)
        for st in setups(mol, zp, centres, twofold):
            els, cols = _element_columns(st.molecule)
            table = ds.form_factors(els, data.s2)
            eng: Any
            if st.z_prime == 2.0:
                eng = PairEngine(functools.partial(Engine, data, st.molecule, table, cols))
            else:
                eng = Engine(data, st.molecule, table, cols, anchor=st.anchor, special_sites=st.special_sites)
            jobs.append(Job(f"{st.label}" + (f", {mol.smiles}" if len(mols) > 1 else ""), mol.smiles, st, eng))
        print(f"{mol.smiles}: {mol.n_heavy} non-H atoms, {len(mol.torsions)} free torsions, Z' = {zp:g} "
              f"(asymmetric unit {ratio:.2f} x its Hofmann volume)", file=log)
    print(f"{data.space_group}, {len(data.hkl)} reflections to {float(data.d.min()):.2f} A; "
          f"{len(jobs)} setup(s); seed {seed}; budget {budget:g} s", file=log)

    results = []
    t0 = time.perf_counter()
    interrupted = False
    for k, job in enumerate(jobs):
        opt = SearchOptions(seed=seed + 7919 * k, budget=budget / len(jobs), starts_per_round=int(starts))

        def report(frac: float, msg: str, k: int = k, label: str = job.label) -> None:
            if progress is not None:
                progress((k + frac) / len(jobs), f"{label}: {msg}")

        if isinstance(job.engine, PairEngine):
            res, pair_figures = search_two(job.engine, opt, progress=report)
            print(f"{job.label}: first copy alone 1-CC {pair_figures['first_copy_cost']:.4f}; both copies, per "
                  f"placement of the first tried: {pair_figures['branch_costs']}", file=log)
            stages = ", ".join(f"{n} refl to {d:.2f} A" for d, n in stage_table(job.engine.first, opt))
        else:
            res = search(job.engine, opt, progress=report)
            stages = ", ".join(f"{n} refl to {d:.2f} A" for d, n in stage_table(job.engine, opt))
        print(f"{job.label}: best 1-CC {res.best.cost:.4f} (packing {res.best.pack:.3f}), found by "
              f"{res.found_by} of {res.starts} starts in {res.rounds} rounds, {res.seconds:.1f} s [{stages}]"
              + (" (interrupted)" if res.interrupted else ""), file=log)
        results.append((job, res, opt))
        if res.interrupted:
            interrupted = True
            break
    search_seconds = time.perf_counter() - t0
    job, res, opt = min(results, key=lambda r: r[1].best.cost + r[2].pack_weight * r[1].best.pack)
    eng = job.engine
    best = res.best
    # the other setups' (stereoisomers', inversion centres') best models rival it only when they are a
    # different structure: two diastereomers differing in an H position give the same heavy-atom model
    xa, el_a = heavy_sites(eng, [best.params])
    seconds = [res.second]
    for j2, r2, _ in results:
        if j2 is not job:
            xb, el_b = heavy_sites(j2.engine, [r2.best.params])
            if overlay_fraction(xa[0], xb[0], el_a, eng.data, elements_b=el_b) < DIFFERENT_FRACTION:
                seconds.append(r2.best.cost)
    second = min((c for c in seconds if c is not None), default=None)

    # refine every non-H atom with restraints, then score with cctbx
    t1 = time.perf_counter()
    p = torch.tensor(best.params[None], dtype=eng.dtype)
    with torch.no_grad():
        xf = eng.fractional(p)[0].double().numpy()
        torsions = eng.cartesian_local(p)[0].double().numpy()
    mol = eng.mol  # the atoms modelled: the molecule, its half on an inversion centre, or two copies
    els, cols = _element_columns(mol)
    u0 = np.where(mol.heavy, 0.04, 0.052)
    refined = refine(data, mol, ds.form_factors(els, data.s2), cols, xf, mol.coords, u0)
    # a whole molecule on a 2-fold or mirror is half there: half occupancy, then each copy pair merged
    occ = np.full(mol.n_atoms, 0.5 if job.setup.special_sites is not None else 1.0)
    structure_search = ds.structure_from_sites(f_obs, mol.elements, xf, u0, occupancy=occ)
    structure = ds.structure_from_sites(f_obs, mol.elements, refined.sites_frac, refined.u_iso, occupancy=occ)
    if job.setup.special_sites is not None:
        structure_search = ds.merge_symmetry_copies(structure_search)
        structure = ds.merge_symmetry_copies(structure)
    fig_search = ds.model_figures(f_obs, structure_search)
    fig = ds.model_figures(f_obs, structure)
    if fig.r1 > fig_search.r1:  # refinement made it worse (rare; a wrong minimum): keep the search model
        structure, fig = structure_search, fig_search
        print("refinement raised R1; the search model is kept", file=log)
    refine_seconds = time.perf_counter() - t1
    del torsions
    found_by = res.found_by
    separation = (second - best.cost) if second is not None else None
    confident = found_by >= opt.agree and (second is None or second >= opt.separation * best.cost)
    # the same vocabulary as every phaser: verdict "solved" (the phaser vouches for it) or not, and why
    verdict = "solved" if confident else "uncertain"
    reason = (
        f"reached by {found_by} independent starts"
        + (f"; the next different minimum is {second / max(best.cost, 1e-9):.1f}x worse" if second is not None
           else "; no different minimum seen")
        + f", CC(I) {fig.correlation_i:.2f}, R1 {fig.r1:.2f}"
    )
    if not confident:
        reason += f" (a solution needs {opt.agree} starts and the next {opt.separation:g}x worse)"
    if interrupted:
        verdict = "interrupted"
        reason = "the best solution so far; " + reason
    figures: dict[str, Any] = {
        "verdict": verdict,
        "reason": reason,
        "confident": bool(confident and not interrupted),
        "cost": round(best.cost, 5),  # 1 - CC(I) of the search model on all reflections
        "second_cost": None if second is None else round(second, 5),
        "separation": None if separation is None else round(separation, 5),
        "found_by": int(found_by),
        "starts": int(sum(r.starts for _, r, _ in results)),
        "rounds": int(sum(r.rounds for _, r, _ in results)),
        "correlation": round(fig.correlation_i, 4),
        "r1": round(fig.r1, 4),
        "r1_search": round(fig_search.r1, 4),
        "z_prime": job.setup.z_prime,
        "setup": job.label,
        "smiles": job.smiles,
        "n_torsions": len(job.setup.molecule.torsions),
        "n_atoms": int(structure.scatterers().size()),
        "d_min": round(fig.d_min, 3),
        "n_reflections": fig.n_reflections,
        "seed": seed,
        "budget": budget,
        "search_seconds": round(search_seconds, 2),
        "refine_seconds": round(refine_seconds, 2),
        "interrupted": interrupted,
    }
    print(f"refined: R1 {fig.r1:.3f} (search model {fig_search.r1:.3f}), CC(I) {fig.correlation_i:.3f}, "
          f"rms shift {refined.shift_rms:.2f} A", file=log)
    return structure, figures, log.getvalue()
