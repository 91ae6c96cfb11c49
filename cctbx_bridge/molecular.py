"""Molecular crystals through cctbx: `xrdplug.molcrystal.CrystalModel` -> xray.structure, |F|, CIF, MTZ."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from cctbx import crystal, miller, sgtbx, xray
from cctbx.array_family import flex

from xrdplug.errors import XrdplugError
from xrdplug.files import atomic_output

from . import simulate as sim
from .structures import cif_text


def structure(model: Any) -> xray.structure:
    """The asymmetric unit of a CrystalModel as a cctbx structure (H atoms included; all general positions)."""
    cs = crystal.symmetry(unit_cell=tuple(model.cell), space_group_symbol=model.space_group)
    scatterers = flex.xray_scatterer()
    for label, el, site, u in zip(model.labels, model.elements, model.sites_frac, model.u_iso, strict=True):
        scatterers.append(xray.scatterer(label=label, site=tuple(float(v) for v in site), u=float(u),
                                         scattering_type=el))
    xs = xray.structure(crystal_symmetry=cs, scatterers=scatterers)
    special = xs.site_symmetry_table().special_position_indices()
    if special.size():
        raise XrdplugError(f"{model.smiles} seed {model.seed}: an atom sits on a special position")
    return xs


def group_operators(symbol: str) -> tuple[np.ndarray, np.ndarray]:
    """(R, t) of every operator (centring included) as cctbx has them: the tests hold molcrystal's table to it."""
    g = sgtbx.space_group_info(symbol).group()
    rot = np.array([np.array(op.r().as_double()).reshape(3, 3) for op in g.all_ops()])
    tra = np.array([np.array(op.t().as_double()) % 1.0 for op in g.all_ops()])
    return rot, tra


def sample_arrays(model: Any, d_high: float, sf_table: int = sim.SF_TABLE) -> dict[str, Any]:
    """What a shard stores for one molecular crystal (the random simulator's arrays, H atoms scatter)."""
    xs = structure(model)
    out = sim.sample_arrays(xs, d_high, sf_table)
    out["n_atoms"] = int(sum(e not in ("H", "D") for e in model.elements))
    return out


def observed_array(xs: xray.structure, hkl: np.ndarray, values: np.ndarray, sigmas: np.ndarray) -> miller.array:
    idx = flex.miller_index(*(flex.int(np.ascontiguousarray(hkl[:, j].astype(np.int32))) for j in range(3)))
    ms = miller.set(xs.crystal_symmetry(), idx, anomalous_flag=False)
    return ms.array(data=flex.double(np.asarray(values, dtype=np.float64)),
                    sigmas=flex.double(np.asarray(sigmas, dtype=np.float64))).map_to_asu()


def write_case(model: Any, folder: Path, hkl: np.ndarray, obs: Any) -> dict[str, str]:
    """structure.cif (with H), molecule.smi and data.mtz (F, SIGF and I, SIGI of the observed reflections)."""
    return write_case_files(structure(model), model.smiles, folder.name, folder, hkl, obs)


def write_case_files(xs: xray.structure, smiles: str, name: str, folder: Path, hkl: np.ndarray, obs: Any
                     ) -> dict[str, str]:
    """A benchmark case folder from any structure: structure.cif, molecule.smi ("SMILES<TAB>name") and
    data.mtz holding the observed reflections of `obs` (`xrdplug.data.noise.Observed`) on indices `hkl`."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {"structure": "structure.cif", "smiles": "molecule.smi", "data": "data.mtz"}
    with atomic_output(folder / files["structure"]) as tmp:
        tmp.write_text(cif_text(xs, data_name=folder.name))
    with atomic_output(folder / files["smiles"]) as tmp:
        tmp.write_text(f"{smiles}\t{name}\n")
    keep = np.asarray(obs.observed, dtype=bool)
    f_obs = observed_array(xs, hkl[keep], obs.f_obs[keep], obs.sig_f[keep])
    f_obs.set_observation_type_xray_amplitude()
    i_obs = observed_array(xs, hkl[keep], obs.i_obs[keep], obs.sig_i[keep])
    i_obs.set_observation_type_xray_intensity()
    ds = f_obs.as_mtz_dataset(column_root_label="F", wavelength=0.71073)
    ds.add_miller_array(i_obs, column_root_label="I")
    with atomic_output(folder / files["data"]) as tmp:
        ds.mtz_object().write(str(tmp))
    for file in files.values():
        (folder / file).chmod(0o644)
    return files
