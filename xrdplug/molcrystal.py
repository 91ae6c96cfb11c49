"""Molecular crystals from a conformer set and one seed: the chemistry half of `xrdplug simulate --kind
molecular` (pure numpy; RDKit makes the conformers, cctbx the structure factors).

One integer seed decides everything done to the molecule (`build_crystal`), drawn from
``numpy.random.default_rng(seed)`` in a fixed order:

1. the space group, by CSD-like frequencies among b-unique monoclinic groups (`SPACE_GROUP_WEIGHTS`);
2. Z' = 1/2 (the molecule on an inversion centre) when the molecule can be centrosymmetric and the group
   has inversion centres, with probability `MolParams.z_half`; else Z' = 1;
3. the geometry: one of the MMFF conformers, each free torsion turned by N(0, 15 deg) (kept only when no
   non-bonded atoms come closer than 0.75 of their van der Waals sum), every atom moved by N(0, s) with s
   ~ U(0.006, 0.012) A per coordinate (0.01-0.02 A per atom: crystal geometry is not MMFF's), H atoms at
   X-ray (riding) X-H distances; for Z' = 1/2 the centrosymmetric conformer, perturbed symmetrically;
4. the packing (`xrdplug.packing`), `starts` times, the densest kept: a start beta = 90 + |N(0, 11)| deg,
   random orientation and position, exact compression to contact, then `relax_steps` of relaxation under
   pressure with soft contacts in which the cell, the orientation, the position, the free torsions
   (restrained towards their start) and the terminal rotors (CH3, NH2, OH) all move; an exact clean-up
   follows (no clash remains: every intermolecular distance is at least `ContactRule` of its van der Waals
   sum, H bonds allowed closer), then a uniform expansion to a drawn density when the packing came out
   denser than that (`MolParams.density`, in units of the sum of Hofmann's atomic volumes, which reproduce
   CSD cell volumes to a few percent); beta < 90 is mapped to 180 - beta (the same lattice);
5. isotropic ADPs: per structure a mean U of the non-H atoms ~ U(0.015, 0.045) A^2, per atom scaled up
   towards the molecule's rim (x 0.75-1.25) with 10 % log-normal spread; H atoms 1.2x their parent
   (1.5x for methyl and hydroxyl H).

A failed attempt (no clash-free start, an edge over `max_edge`, too many reflections) draws again from
the same generator, so the sample is still a pure function of (SMILES, seed).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from . import packing
from .errors import XrdplugError

# CSD frequencies of the monoclinic groups among organic structures (Groom et al. 2016, all-CSD shares:
# P2_1/c 34 % in either setting, C2/c 8 %, P2_1 5.5 %, Cc 1 %, C2 1 %, P2/c and Pc ~0.5 % each), P2_1/c
# split evenly between its P2_1/c and P2_1/n cells and C2/Cc/P2/c/Pc rounded up so that they occur.
SPACE_GROUP_WEIGHTS: dict[str, float] = {
    "P 1 21/c 1": 0.33, "P 1 21/n 1": 0.31, "C 1 2/c 1": 0.14, "P 1 21 1": 0.11,
    "C 1 2 1": 0.04, "C 1 c 1": 0.03, "P 1 2/c 1": 0.02, "P 1 c 1": 0.02,
}
# symmetry operators (x, y, z -> R x + t) of the groups above, cctbx's settings (tests check them)
_OPS = {
    "P 1 21/c 1": ["x,y,z", "-x,y+1/2,-z+1/2", "-x,-y,-z", "x,-y+1/2,z+1/2"],
    "P 1 21/n 1": ["x,y,z", "-x+1/2,y+1/2,-z+1/2", "-x,-y,-z", "x+1/2,-y+1/2,z+1/2"],
    "C 1 2/c 1": ["x,y,z", "-x,y,-z+1/2", "-x,-y,-z", "x,-y,z+1/2"],
    "P 1 21 1": ["x,y,z", "-x,y+1/2,-z"],
    "C 1 2 1": ["x,y,z", "-x,y,-z"],
    "C 1 c 1": ["x,y,z", "x,-y,z+1/2"],
    "P 1 2/c 1": ["x,y,z", "-x,y,-z+1/2", "-x,-y,-z", "x,-y,z+1/2"],
    "P 1 c 1": ["x,y,z", "x,-y,z+1/2"],
}
_CENTRED = {"C 1 2/c 1", "C 1 2 1", "C 1 c 1"}
# inversion centres that give different structures (the others are equivalent by an origin shift)
INVERSION_SITES = {
    "P 1 21/c 1": [(0.0, 0.0, 0.0)], "P 1 21/n 1": [(0.0, 0.0, 0.0)], "P 1 2/c 1": [(0.0, 0.0, 0.0)],
    "C 1 2/c 1": [(0.0, 0.0, 0.0), (0.25, 0.25, 0.0)],
}
# Hofmann (2002) mean atomic volumes in crystals, A^3
HOFMANN_VOLUME = {"H": 5.08, "C": 13.87, "N": 11.8, "O": 11.39, "F": 11.17, "S": 24.6, "Cl": 25.8,
                  "Br": 31.5, "I": 44.6, "P": 24.6, "Si": 38.7, "B": 18.2}


def symmetry_operators(symbol: str) -> tuple[np.ndarray, np.ndarray]:
    """(R (n,3,3), t (n,3)) of every operator, centring included, of one of SPACE_GROUP_WEIGHTS' groups."""
    if symbol not in _OPS:
        raise XrdplugError(f"space group '{symbol}' is not one the molecular simulator packs in "
                           f"({', '.join(_OPS)})")
    rot, tra = [], []
    shifts = [(0.0, 0.0, 0.0), (0.5, 0.5, 0.0)] if symbol in _CENTRED else [(0.0, 0.0, 0.0)]
    for shift in shifts:
        for op in _OPS[symbol]:
            r, t = _parse_op(op)
            rot.append(r)
            tra.append((t + np.array(shift)) % 1.0)
    return np.array(rot), np.array(tra)


def _parse_op(text: str) -> tuple[np.ndarray, np.ndarray]:
    r = np.zeros((3, 3))
    t = np.zeros(3)
    for row, part in enumerate(text.split(",")):
        part = part.replace("-", "+-")
        for term in filter(None, part.split("+")):
            sign = -1.0 if term.startswith("-") else 1.0
            term = term.lstrip("-")
            if term in ("x", "y", "z"):
                r[row, "xyz".index(term)] = sign
            else:
                num, _, den = term.partition("/")
                t[row] += sign * float(num) / float(den or 1)
    return r, t


def centrosymmetric_group(symbol: str) -> bool:
    return symbol in INVERSION_SITES


def hofmann_volume(elements: list[str]) -> float:
    return float(sum(HOFMANN_VOLUME.get(e, 20.0) for e in elements))


@dataclass
class MolParams:
    """Everything that, with a SMILES and a seed, determines a molecular crystal."""

    space_groups: dict[str, float] = field(default_factory=lambda: dict(SPACE_GROUP_WEIGHTS))
    z_half: float = 0.6  # P(Z' = 1/2) for a centrosymmetric-capable molecule in a centrosymmetric group
    torsion_sigma: float = 15.0  # degrees
    coord_sigma: tuple[float, float] = (0.006, 0.012)  # A per coordinate, drawn per structure
    u_iso: tuple[float, float] = (0.015, 0.045)  # mean U of the non-H atoms, A^2, drawn per structure
    density: tuple[float, float] = (0.96, 0.04)  # V / sum of Hofmann volumes: mean, sd (floor of packing)
    vdw_fraction: float = 0.93
    beta_sd: float = 11.0  # start beta = 90 + |N(0, beta_sd)| deg, at most 125 (CSD-like: median ~97)
    pressure: float = 1e-2
    relax_steps: int = 300
    starts: int = 1
    flexible: bool = True  # torsions adapt to the packing during relaxation (restrained towards MMFF's)
    torsion_stiffness: float = 0.1
    rotors: bool = True  # methyl, NH2, OH, SH groups turn as well
    max_edge: float = 30.0
    max_reflections: int = 12000
    d_high: float = 0.8
    attempts: int = 6

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("coord_sigma", "u_iso", "density"):
            d[key] = list(d[key])
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> MolParams:
        d = dict(d)
        for key in ("coord_sigma", "u_iso", "density"):
            d[key] = tuple(d[key])
        return cls(**d)


@dataclass
class CrystalModel:
    """A molecular crystal as plain data: what cctbx needs for |F|, CIF and MTZ, and what the index keeps."""

    space_group: str
    cell: tuple[float, float, float, float, float, float]
    elements: list[str]  # asymmetric unit
    sites_frac: np.ndarray  # (n, 3)
    u_iso: np.ndarray  # (n,)
    labels: list[str]
    z_prime: float
    smiles: str
    n_heavy: int  # of the molecule
    n_rotatable: int
    seed: int
    conformer: int
    pack_ratio: float  # V / Hofmann volume as packed, before any expansion to the drawn density
    density_ratio: float  # V / Hofmann volume of the final crystal
    min_contact_ratio: float  # smallest intermolecular d / threshold (>= 1)
    molecule_cartesian: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 3)))

    @property
    def volume(self) -> float:
        a, b, c, _, beta, _ = self.cell
        return float(a * b * c * np.sin(np.radians(beta)))

    @property
    def n_atoms_cell(self) -> int:
        return len(self.elements) * len(symmetry_operators(self.space_group)[0])

    @property
    def formula(self) -> str:
        """Hill formula of the asymmetric unit."""
        counts: dict[str, int] = {}
        for e in self.elements:
            counts[e] = counts.get(e, 0) + 1
        keys = ["C", "H"] + sorted(k for k in counts if k not in ("C", "H"))
        return " ".join(f"{k}{counts[k]}" for k in keys if k in counts)

    def volume_per_heavy_atom(self) -> float:
        z_mol = len(symmetry_operators(self.space_group)[0]) * self.z_prime
        return self.volume / (z_mol * self.n_heavy)


def expected_reflections(cell: np.ndarray, d_high: float, centred: bool) -> float:
    """Unique reflections of Laue class 2/m to d_high, F000 excluded: (4 pi / 3) V / d^3 / 4 (/2 for C)."""
    n = 4.0 * np.pi / 3.0 * packing.volume(cell) / d_high**3 / 4.0
    return n / 2.0 if centred else n


class SampleFailed(XrdplugError):
    """No crystal could be made from this (SMILES, seed) within the attempts."""


def build_crystal(cs: Any, seed: int, params: MolParams, space_group: str | None = None,
                  z_prime: float | None = None) -> CrystalModel:
    """The crystal of one seed (see the module docstring). `cs` is an `rdkit_bridge.conformers.ConformerSet`
    (any object with its fields). space_group / z_prime force those choices (benchmark sets)."""
    rng = np.random.default_rng(int(seed))
    groups = sorted(params.space_groups)
    w = np.array([params.space_groups[g] for g in groups], dtype=np.float64)
    sg = groups[int(rng.choice(len(groups), p=w / w.sum()))]
    if space_group is not None:
        sg = space_group
    half = bool(cs.centrosymmetric and centrosymmetric_group(sg) and rng.random() < params.z_half)
    if z_prime is not None:
        if z_prime == 0.5 and not (cs.centrosymmetric and centrosymmetric_group(sg)):
            raise XrdplugError(f"{cs.canonical}: Z' = 1/2 needs a centrosymmetric molecule in a group with "
                               f"inversion centres (got {sg})")
        half = z_prime == 0.5
    rot, tra = symmetry_operators(sg)
    elements = list(cs.molecule.elements)
    heavy = np.array([e not in ("H", "D") for e in elements])
    thr = packing.contact_thresholds(elements, cs.donor_h, cs.donor,
                                     packing.ContactRule(vdw_fraction=params.vdw_fraction))
    packer = packing.Packer(rot, tra, thr, beta_range=(55.0, 125.0), max_edge=params.max_edge, beta_moves=False)
    relaxer = packing.SoftRelaxer(packer, pressure=params.pressure, steps=params.relax_steps)
    v_mol = hofmann_volume(elements)
    flex = _flexibility(cs, params) if params.flexible and (cs.molecule.torsions or _rotors(cs)) else None
    for _attempt in range(params.attempts):
        if half:
            k = int(rng.integers(len(cs.centro)))
            x = _perturb(cs, cs.centro[k], rng, params, symmetric=True)
            site = np.array(INVERSION_SITES[sg][int(rng.integers(len(INVERSION_SITES[sg])))])
        else:
            k = int(rng.integers(len(cs.conformers)))
            x = _turn_torsions(cs, cs.conformers[k], rng, params)
            x = _perturb(cs, x, rng, params, symmetric=False)
            x = x - x.mean(axis=0)
            site = None
        best = None
        for _ in range(max(1, params.starts)):
            beta = min(90.0 + abs(rng.normal(0.0, params.beta_sd)), 125.0)
            pk = _pack_once(packer, relaxer, x, rng, site, beta, flex)
            if pk is not None and (best is None or pk.volume < best.volume):
                best = pk
        target = rng.normal(*params.density)
        if best is None:
            continue
        z_mol = len(best.ops)
        pack_ratio = best.volume / (z_mol * v_mol)
        cell = best.cell.copy()
        if pack_ratio < target:  # denser than the drawn density: open the cell uniformly to it
            cell[:3] *= (target / pack_ratio) ** (1.0 / 3.0)
            if packer.min_ratio(cell, best.y, best.p, best.ops) < 1.0:
                radius = float(np.linalg.norm(best.y, axis=1).max())
                opened = packer.expand_uniform(cell, best.y, best.p, best.ops, radius, packer._geometry(best.y))
                if opened is None:
                    continue
                cell = opened
        if max(cell[:3]) > params.max_edge:
            continue
        if expected_reflections(cell, params.d_high, sg in _CENTRED) > params.max_reflections:
            continue
        ratio = packer.min_ratio(cell, best.y, best.p, best.ops)
        if ratio < 1.0 - 1e-6:
            raise RuntimeError(f"{cs.canonical} seed {seed}: a clash survived packing ({ratio:.4f})")
        frac = best.y @ np.linalg.inv(packing.orthogonalisation(cell)).T + best.p
        if cell[3] < 90.0:  # the same lattice as (-a, -b, c), beta -> 180 - beta; every group here keeps its ops
            cell[3] = 180.0 - cell[3]
            frac = frac * np.array([-1.0, -1.0, 1.0])
        u = _adps(best.y, heavy, cs, rng, params)
        asu = np.arange(len(elements)) if not half else np.flatnonzero(np.arange(len(elements)) < cs.inversion)
        labels = _labels([elements[i] for i in asu])
        return CrystalModel(
            space_group=sg,
            cell=(float(cell[0]), float(cell[1]), float(cell[2]), 90.0, float(cell[3]), 90.0),
            elements=[elements[i] for i in asu], sites_frac=frac[asu], u_iso=u[asu], labels=labels,
            z_prime=0.5 if half else 1.0, smiles=cs.canonical, n_heavy=int(heavy.sum()),
            n_rotatable=len(cs.molecule.torsions), seed=int(seed), conformer=k,
            pack_ratio=float(pack_ratio), density_ratio=float(packing.volume(cell) / (z_mol * v_mol)),
            min_contact_ratio=float(ratio), molecule_cartesian=best.y,
        )
    raise SampleFailed(f"{cs.canonical} seed {seed}: no crystal within {params.attempts} attempts "
                       f"(max edge {params.max_edge} A, at most {params.max_reflections} reflections)")


def _pack_once(packer: packing.Packer, relaxer: packing.SoftRelaxer, x: np.ndarray, rng: np.random.Generator,
               site: np.ndarray | None, beta: float, flex: packing.Flexibility | None) -> packing.Packing | None:
    start = packer.pack(x, rng, site=site, moves=0, beta=beta, rounds=1)
    if start is None:
        return None
    fixed = site is not None
    cell, y, p = relaxer.relax(start.cell, start.y, start.p, start.ops, fixed, flex=None if fixed else flex)
    if flex is not None and not fixed and not _intramolecular_ok(y, _nonbonded_strict(flex)):
        return start  # the torsions pushed atoms of the molecule too close: keep the rigid packing
    radius = float(np.linalg.norm(y, axis=1).max())
    clean = packer.expand_uniform(cell, y, p, start.ops, radius, packer._geometry(y), lam_max=10.0)
    if clean is None:
        return start
    ratio = packer.min_ratio(clean, y, p, start.ops)
    if ratio < 1.0 - 1e-6 or packing.volume(clean) >= start.volume:
        return start
    return packing.Packing(cell=clean, y=y, p=p, ops=start.ops, min_ratio=ratio, rounds=start.rounds,
                           moves_accepted=0)


def _turn_torsions(cs: Any, x: np.ndarray, rng: np.random.Generator, params: MolParams) -> np.ndarray:
    from .molecule import rotate_torsions

    mol = cs.molecule
    if not mol.torsions:
        return x.copy()
    pairs = _nonbonded(cs)
    sigma = np.radians(params.torsion_sigma)
    for _ in range(8):
        deltas = rng.normal(0.0, sigma, len(mol.torsions))
        y = rotate_torsions(mol, x, deltas)
        if _intramolecular_ok(y, pairs):
            return y
        sigma *= 0.6
    return x.copy()


_NONBONDED: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def _nonbonded(cs: Any) -> tuple[np.ndarray, np.ndarray]:
    key = cs.canonical
    if key not in _NONBONDED:
        if len(_NONBONDED) > 512:
            _NONBONDED.clear()
        pairs = cs.molecule.non_bonded_pairs(4)
        thr = packing.contact_thresholds(cs.molecule.elements, cs.donor_h, cs.donor,
                                         packing.ContactRule(vdw_fraction=0.75, hbond_h=1.6, hbond_heavy=2.5))
        _NONBONDED[key] = (pairs, thr[pairs[:, 0], pairs[:, 1]] if len(pairs) else np.zeros(0))
    return _NONBONDED[key]


def _rotors(cs: Any) -> list[tuple[int, int, np.ndarray]]:
    """Terminal groups that turn in crystals to mesh with their neighbours: X-CH3, X-NH2, X-OH, X-SH (their
    H atoms move); not torsions of the molecule's skeleton, so `Molecule.torsions` leaves them out."""
    from .molecule import neighbours

    mol = cs.molecule
    nbrs = neighbours(mol.bonds, mol.n_atoms)
    heavy = mol.heavy
    out = []
    for b in range(mol.n_atoms):
        if not heavy[b]:
            continue
        hv = [a for a in nbrs[b] if heavy[a]]
        hs = [h for h in nbrs[b] if not heavy[h]]
        if len(hv) == 1 and hs:
            out.append((hv[0], b, np.array(hs, dtype=np.int64)))
    return out


def _flexibility(cs: Any, params: MolParams) -> packing.Flexibility:
    pairs, thr = _nonbonded(cs)
    tors = [(t.a, t.b, t.moving) for t in cs.molecule.torsions]
    if params.rotors:
        tors += _rotors(cs)
    return packing.Flexibility(torsions=tors, pairs=pairs, thr2=(thr / 0.75 * 0.8) ** 2 if len(thr) else thr,
                               stiffness=params.torsion_stiffness, n_atoms=cs.n_atoms)


def _nonbonded_strict(flex: packing.Flexibility) -> tuple[np.ndarray, np.ndarray]:
    """The pairs of a Flexibility with a 0.7-of-vdW acceptance threshold (the relaxation keeps them at 0.8
    with soft walls, which the pressure may dent a little)."""
    return flex.pairs, np.sqrt(flex.thr2) / 0.8 * 0.7


def _intramolecular_ok(x: np.ndarray, pairs: tuple[np.ndarray, np.ndarray]) -> bool:
    idx, thr = pairs
    if not len(idx):
        return True
    d = np.linalg.norm(x[idx[:, 0]] - x[idx[:, 1]], axis=1)
    return bool(np.all(d >= thr))


def _perturb(cs: Any, x: np.ndarray, rng: np.random.Generator, params: MolParams, symmetric: bool) -> np.ndarray:
    sigma = rng.uniform(*params.coord_sigma)
    e = rng.normal(0.0, sigma, x.shape)
    if symmetric:
        e = 0.5 * (e - e[cs.inversion])
    y = x + e
    h = cs.parent >= 0
    vec = y[h] - y[cs.parent[h]]
    y[h] = y[cs.parent[h]] + vec * (cs.xh_distance[h] / np.linalg.norm(vec, axis=1))[:, None]
    if symmetric:
        y = 0.5 * (y - y[cs.inversion])  # exact again (the H rescaling is symmetric up to rounding)
    return y


def _adps(y: np.ndarray, heavy: np.ndarray, cs: Any, rng: np.random.Generator, params: MolParams) -> np.ndarray:
    u_mean = rng.uniform(*params.u_iso)
    r = np.linalg.norm(y - y[heavy].mean(axis=0), axis=1)
    rim = (r / max(r[heavy].max(), 1e-6)) ** 2
    u = u_mean * (0.75 + 0.5 * rim) * np.exp(rng.normal(0.0, 0.1, len(y)))
    h = cs.parent >= 0
    u[h] = cs.u_ratio[h] * u[cs.parent[h]]
    return np.clip(u, 0.005, 0.15)


def _labels(elements: list[str]) -> list[str]:
    counts: dict[str, int] = {}
    out = []
    for e in elements:
        counts[e] = counts.get(e, 0) + 1
        out.append(f"{e}{counts[e]}")
    return out
