"""Molecular samples end to end: SMILES -> conformer set (cached) -> crystal (seed) -> |F| + noise numbers.

RDKit (rdkit_bridge) and cctbx (cctbx_bridge) are imported inside the functions, so this module is cheap to
import. A sample is a pure function of (SMILES, seed, MolParams): `model_for` rebuilds its crystal, which
is how `structure_for_sample` and the tests get the reference structure back.

Seeds: sample i of a run with --seed S belongs to molecule group g = i // per_molecule (a --smiles file's
molecules in turn, else one shipped SMILES drawn by
SeedSequence([S, g, 7])); its crystal seed is generate.sample_seed(S, i); its noise numbers come from
default_rng([seed, 1]). Conformer sets are cached per SMILES within a worker, so the `per_molecule` crystals
of a group (different torsions, groups, packings, ADPs, noise) share one embedding.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np

from .. import hklgrid
from ..molcrystal import CrystalModel, MolParams, build_crystal
from . import noise

_CACHE: OrderedDict[str, Any] = OrderedDict()
CACHE_SIZE = 256


def conformers(smiles: str) -> Any:
    """The (cached) conformer set of a SMILES; XrdplugError when RDKit/MMFF cannot build it."""
    cs = _CACHE.get(smiles)
    if cs is None:
        from rdkit_bridge.conformers import conformer_set

        cs = conformer_set(smiles)
        _CACHE[smiles] = cs
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    else:
        _CACHE.move_to_end(smiles)
    return cs


def clear_cache() -> None:
    """Forget the cached conformer sets (so that a benchmark times RDKit, not the cache)."""
    _CACHE.clear()


def model_for(smiles: str, seed: int, params: MolParams, **force: Any) -> CrystalModel:
    return build_crystal(conformers(smiles), seed, params, **force)


def sample(smiles: str, seed: int, params: MolParams, sf_table: int | None = None) -> dict[str, Any]:
    """One molecular sample as a shard row: exact |F| (the training target) plus its noise numbers."""
    from cctbx_bridge import molecular as cm
    from cctbx_bridge.simulate import SF_TABLE

    model = model_for(smiles, seed, params)
    out = cm.sample_arrays(model, params.d_high, SF_TABLE if sf_table is None else sf_table)
    inv_d2 = hklgrid.inverse_d_squared(out["hkl"], out["cell"])
    out["noise"] = noise.draw_params(out["f"], inv_d2, params.d_high, np.random.default_rng([int(seed), 1]))
    out.update(
        seed=int(seed), kind="molecular", smiles=model.smiles, z_prime=model.z_prime, n_heavy=model.n_heavy,
        n_rotatable=model.n_rotatable, formula=model.formula,
    )
    return out


def observed(raw: dict[str, Any]) -> noise.Observed:
    """The observed data of a stored sample (deterministic from its noise numbers)."""
    return noise.observe(raw["hkl"], raw["f"], tuple(raw["cell"]), str(raw["space_group"]), raw["noise"])
