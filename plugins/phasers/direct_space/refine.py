"""Restrained refinement of a direct-space solution: every non-H atom free, geometry held by restraints.

The search keeps bond lengths and angles as RDKit made them; real molecules differ a little (ring puckers,
methyl groups, angles at N), which leaves some atoms 0.3-0.8 A from the truth. A few dozen L-BFGS steps
of least squares on |F| with restraints to the model's own geometry move them home:

    E = sum_h (|Fo| - k |Fc|)^2 / sigma_F^2  +  sum_bonds ((d - d0) / 0.02)^2  +  sum_angles ((d13 - d0) / 0.04)^2
        + sum_centres ((V - V0) / 0.2)^2  +  sum_atoms ((U - <U>) / 0.02)^2

k is the least-squares scale, sigma_F the starting model's rms residual (so the data count as one
observation per reflection), d13 the 1-3 distances that fix angles, V the signed volume at atoms with three
or more heavy neighbours (chirality and planarity). H atoms ride on their parent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from xrdplug.molecule import Molecule, neighbours

SIGMA_BOND = 0.02
SIGMA_ANGLE = 0.04
SIGMA_VOLUME = 0.2
SIGMA_U = 0.02


@dataclass
class Refined:
    sites_frac: np.ndarray  # (N, 3) every atom, H included
    u_iso: np.ndarray  # (N,)
    r_lsq_start: float
    r_lsq_end: float
    shift_rms: float  # rms movement of non-H atoms (A)


def _restraints(mol: Molecule, coords: np.ndarray) -> dict[str, np.ndarray]:
    heavy = mol.heavy
    nb = neighbours(mol.bonds, mol.n_atoms)
    bonds = np.array([(a, b) for a, b in mol.bonds if heavy[a] and heavy[b]], dtype=np.int64).reshape(-1, 2)
    angles = []
    for c in range(mol.n_atoms):
        if not heavy[c]:
            continue
        hn = [n for n in nb[c] if heavy[n]]
        for i in range(len(hn)):
            for j in range(i + 1, len(hn)):
                angles.append((hn[i], hn[j]))
    angles_arr = np.array(angles, dtype=np.int64).reshape(-1, 2)
    vols = []
    for c in range(mol.n_atoms):
        hn = [n for n in nb[c] if heavy[n]]
        if heavy[c] and len(hn) >= 3:
            vols.append((c, hn[0], hn[1], hn[2]))
    vols_arr = np.array(vols, dtype=np.int64).reshape(-1, 4)
    x = coords
    return {
        "bonds": bonds,
        "bond_d0": np.linalg.norm(x[bonds[:, 0]] - x[bonds[:, 1]], axis=1) if len(bonds) else np.zeros(0),
        "angles": angles_arr,
        "angle_d0": np.linalg.norm(x[angles_arr[:, 0]] - x[angles_arr[:, 1]], axis=1) if len(angles_arr) else np.zeros(0),
        "vols": vols_arr,
        "vol0": _volumes_np(x, vols_arr),
    }


def _volumes_np(x: np.ndarray, v: np.ndarray) -> np.ndarray:
    if not len(v):
        return np.zeros(0)
    a, b, c, d = (x[v[:, i]] for i in range(4))
    return np.einsum("ij,ij->i", b - a, np.cross(c - a, d - a))


def _volumes(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    a, b, c, d = (x[v[:, i]] for i in range(4))
    return ((b - a) * torch.cross(c - a, d - a, dim=-1)).sum(-1)


def refine(
    data: object,
    mol: Molecule,
    form_factor_table: np.ndarray,
    element_index: np.ndarray,
    sites_frac: np.ndarray,
    ideal_coords: np.ndarray,
    u_start: np.ndarray,
    steps: int = 60,
    atoms: np.ndarray | None = None,
) -> Refined:
    """Refine positions (non-H free, H riding) and U_iso against all reflections of `data`
    (a `cctbx_bridge.direct_space.SearchData`). `ideal_coords` (Cartesian, any frame) define the
    restraint targets; `atoms` limits the model to some atoms (the half molecule of Z' = 1/2)."""
    dt = torch.float64
    d = data
    orth = torch.tensor(d.orthogonalisation, dtype=dt)  # type: ignore[attr-defined]
    frac_m = torch.tensor(d.fractionalisation, dtype=dt)  # type: ignore[attr-defined]
    hkl = torch.tensor(d.hkl, dtype=dt)  # type: ignore[attr-defined]
    rot = torch.tensor(d.rotations, dtype=dt)  # type: ignore[attr-defined]
    tr = torch.tensor(d.translations, dtype=dt)  # type: ignore[attr-defined]
    hr = torch.einsum("kc,scd->ksd", hkl, rot)
    ht = 2 * math.pi * torch.einsum("kc,sc->ks", hkl, tr)
    s2 = torch.tensor(d.s2, dtype=dt)  # type: ignore[attr-defined]
    fo = torch.tensor(d.f_obs, dtype=dt)  # type: ignore[attr-defined]
    ff0 = torch.tensor(np.asarray(form_factor_table)[:, np.asarray(element_index)], dtype=dt)
    sel = torch.as_tensor(np.arange(mol.n_atoms) if atoms is None else np.asarray(atoms))
    real = bool(d.real_sum)  # type: ignore[attr-defined]

    heavy = torch.as_tensor(mol.heavy)
    nb = neighbours(mol.bonds, mol.n_atoms)
    parent = np.arange(mol.n_atoms)
    for i in range(mol.n_atoms):
        if not mol.heavy[i] and nb[i]:
            parent[i] = nb[i][0]
    parent_t = torch.as_tensor(parent)
    x0 = torch.einsum("ij,nj->ni", orth, torch.tensor(sites_frac, dtype=dt))  # Cartesian start
    rs = _restraints(mol, np.asarray(ideal_coords))
    bonds, bond_d0 = torch.as_tensor(rs["bonds"]), torch.tensor(rs["bond_d0"], dtype=dt)
    angles, angle_d0 = torch.as_tensor(rs["angles"]), torch.tensor(rs["angle_d0"], dtype=dt)
    vols, vol0 = torch.as_tensor(rs["vols"]), torch.tensor(rs["vol0"], dtype=dt)

    disp = torch.zeros(mol.n_atoms, 3, dtype=dt, requires_grad=True)
    log_u = torch.tensor(np.log(np.asarray(u_start, dtype=float)), dtype=dt, requires_grad=True)

    def model(disp: torch.Tensor, log_u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shift = torch.where(heavy[:, None], disp, disp[parent_t])  # H atoms ride on their parent
        x = x0 + shift
        xf = torch.einsum("ij,nj->ni", frac_m, x)[sel]
        u = torch.exp(log_u)[sel]
        ff = ff0[:, sel] * torch.exp(-2 * math.pi**2 * u[None, :] * s2[:, None])
        phase = 2 * math.pi * torch.einsum("ksd,nd->ksn", hr, xf) + ht[:, :, None]
        if real:
            fc = (torch.cos(phase).sum(1) * ff).sum(-1).abs()
        else:
            a = (torch.cos(phase).sum(1) * ff).sum(-1)
            b = (torch.sin(phase).sum(1) * ff).sum(-1)
            fc = torch.sqrt(a * a + b * b + 1e-12)
        return x, fc

    def residual(fc: torch.Tensor) -> torch.Tensor:
        k = (fo * fc).sum() / (fc * fc).sum().clamp_min(1e-30)
        return fo - k * fc

    with torch.no_grad():
        _, fc = model(disp, log_u)
        r0 = residual(fc)
        sigma_f2 = (r0 * r0).mean().clamp_min(1e-12)
        r_start = float(torch.sqrt((r0 * r0).sum() / (fo * fo).sum()))

    def energy() -> torch.Tensor:
        x, fc = model(disp, log_u)
        r = residual(fc)
        e = (r * r).sum() / sigma_f2
        if len(bonds):
            e = e + (((x[bonds[:, 0]] - x[bonds[:, 1]]).norm(dim=-1) - bond_d0) / SIGMA_BOND).pow(2).sum()
        if len(angles):
            e = e + (((x[angles[:, 0]] - x[angles[:, 1]]).norm(dim=-1) - angle_d0) / SIGMA_ANGLE).pow(2).sum()
        if len(vols):
            e = e + ((_volumes(x, vols) - vol0) / SIGMA_VOLUME).pow(2).sum()
        u = torch.exp(log_u)[heavy]
        e = e + ((u - u.mean()) / SIGMA_U).pow(2).sum()
        return e

    opt = torch.optim.LBFGS([disp, log_u], lr=1.0, max_iter=steps, history_size=20, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        e = energy()
        e.backward()
        return e

    opt.step(closure)
    with torch.no_grad():
        x, fc = model(disp, log_u)
        r1 = residual(fc)
        r_end = float(torch.sqrt((r1 * r1).sum() / (fo * fo).sum()))
        u = torch.exp(log_u).clamp(0.005, 0.25)
        u = torch.where(heavy, u, u[parent_t] * 1.2)
        moved = (x - x0)[heavy].norm(dim=-1)
        xf = torch.einsum("ij,nj->ni", frac_m, x)
    return Refined(xf.numpy(), u.numpy(), r_start, r_end, float(torch.sqrt((moved * moved).mean())))
