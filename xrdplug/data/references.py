"""The reference structure of one sample of a simulated data set, rebuilt from what the data set records.

Shards hold amplitudes only; the structure comes back from the sample's seed and the data set's
parameters (random atoms, molecular crystals) or is re-read from its CIF. Needs cctbx (and RDKit for
molecular data sets): training never imports this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from . import shards

if TYPE_CHECKING:  # pragma: no cover
    from cctbx import xray


def structure_for_sample(root: str | Path, i: int) -> xray.structure:
    """The reference structure of sample i of a data set (rebuilt from its seed, or re-read from its CIF)."""
    from cctbx_bridge.simulate import SimParams, structure_from_cif, structure_from_seed

    meta = shards.read_meta(Path(root))
    raw = shards.load_sample(root, i)
    if meta.get("mode") == "cif":
        return structure_from_cif(
            raw["source"], raw["block"], float(meta["d_high"]), bool(meta.get("keep_hydrogens", False))
        )
    if meta.get("mode") == "molecular":
        from cctbx_bridge.molecular import structure

        from ..molcrystal import MolParams
        from .molecular import model_for

        return structure(model_for(str(raw["smiles"]), int(raw["seed"]), MolParams.from_json(meta["params"])))
    return structure_from_seed(int(raw["seed"]), SimParams.from_json(meta["params"]))
