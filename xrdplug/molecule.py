"""A molecule as the direct-space search and the molecular simulator see it: atoms, bonds, free torsions.

Pure numpy (no RDKit, no cctbx), so searches and tests can build and move molecules anywhere. RDKit makes
them (`rdkit_bridge.molecules`); this module only describes and moves them.

A torsion is a rotatable bond (a, b): turning it rotates the atoms on b's side (`moving`) about the a->b
axis. Sides are chosen away from one root atom, so the moving sets nest like a tree; torsions are stored
leaves first, so applying them in order keeps every later axis where the earlier rotations left it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Torsion:
    a: int  # fixed-side atom of the bond
    b: int  # moving-side atom of the bond
    moving: np.ndarray  # indices of the atoms that turn (b included, a excluded)


@dataclass
class Molecule:
    """One molecule with H atoms: an ideal geometry (Cartesian A) and what may move in it."""

    elements: list[str]
    coords: np.ndarray  # (N, 3) Cartesian A
    bonds: np.ndarray  # (B, 2) int atom pairs
    torsions: list[Torsion] = field(default_factory=list)
    smiles: str = ""
    name: str = "molecule"
    inversion_partner: np.ndarray | None = None  # atom permutation of a centrosymmetric form, if any
    torsion_samples: np.ndarray | None = None  # (M, T) torsion changes (rad) that give low-energy conformers

    def __post_init__(self) -> None:
        self.coords = np.asarray(self.coords, dtype=np.float64).reshape(-1, 3)
        self.bonds = np.asarray(self.bonds, dtype=np.int64).reshape(-1, 2)
        if len(self.elements) != len(self.coords):
            raise ValueError("one element per atom")

    @property
    def n_atoms(self) -> int:
        return len(self.elements)

    @property
    def heavy(self) -> np.ndarray:
        """Boolean mask of the non-H atoms."""
        return np.array([e not in ("H", "D") for e in self.elements])

    @property
    def n_heavy(self) -> int:
        return int(self.heavy.sum())

    @property
    def formula(self) -> str:
        """Hill formula, e.g. 'C10H10F2N4'."""
        counts: dict[str, int] = {}
        for e in self.elements:
            counts[e] = counts.get(e, 0) + 1
        keys = sorted(counts)
        if "C" in counts:
            keys = ["C"] + (["H"] if "H" in counts else []) + [k for k in keys if k not in ("C", "H")]
        return "".join(f"{k}{counts[k] if counts[k] > 1 else ''}" for k in keys)

    def centred(self) -> np.ndarray:
        """Coordinates with the heavy-atom centroid at the origin."""
        return self.coords - self.coords[self.heavy].mean(axis=0)

    def torsion_angles(self, coords: np.ndarray | None = None) -> np.ndarray:
        """Dihedral angle (radians) of each torsion, through the first heavy neighbours of a and b."""
        x = self.coords if coords is None else coords
        return np.array([dihedral(x, *self.torsion_quad(t)) for t in self.torsions])

    def torsion_quad(self, t: Torsion) -> tuple[int, int, int, int]:
        """Four atoms (i, a, b, j) defining the dihedral of torsion t (heavy neighbours preferred)."""
        nbrs = neighbours(self.bonds, self.n_atoms)
        heavy = self.heavy

        def pick(centre: int, exclude: int) -> int:
            cand = [n for n in nbrs[centre] if n != exclude]
            cand.sort(key=lambda n: (not heavy[n], n))
            return cand[0]

        return pick(t.a, t.b), t.a, t.b, pick(t.b, t.a)

    def non_bonded_pairs(self, min_separation: int = 4) -> np.ndarray:
        """(P, 2) atom pairs more than `min_separation - 1` bonds apart (for clash checks)."""
        n = self.n_atoms
        dist = topological_distances(self.bonds, n)
        i, j = np.triu_indices(n, 1)
        keep = dist[i, j] >= min_separation
        return np.stack([i[keep], j[keep]], axis=1)


def neighbours(bonds: np.ndarray, n: int) -> list[list[int]]:
    out: list[list[int]] = [[] for _ in range(n)]
    for a, b in np.asarray(bonds).reshape(-1, 2):
        out[int(a)].append(int(b))
        out[int(b)].append(int(a))
    return out


def topological_distances(bonds: np.ndarray, n: int) -> np.ndarray:
    """Bond counts between all atom pairs (BFS; unconnected pairs get n + 1)."""
    nbrs = neighbours(bonds, n)
    out = np.full((n, n), n + 1, dtype=np.int64)
    for s in range(n):
        out[s, s] = 0
        frontier = [s]
        d = 0
        while frontier:
            d += 1
            nxt = []
            for u in frontier:
                for v in nbrs[u]:
                    if out[s, v] > d:
                        out[s, v] = d
                        nxt.append(v)
            frontier = nxt
    return out


def side_of(bonds: np.ndarray, n: int, a: int, b: int) -> np.ndarray:
    """Atoms reachable from b without crossing the bond (a, b)."""
    nbrs = neighbours(bonds, n)
    seen = {b}
    stack = [b]
    while stack:
        u = stack.pop()
        for v in nbrs[u]:
            if (u == b and v == a) or v in seen:
                continue
            seen.add(v)
            stack.append(v)
    if a in seen:
        raise ValueError(f"bond ({a}, {b}) is in a ring: it cannot turn freely")
    return np.array(sorted(seen), dtype=np.int64)


def build_torsions(bonds: np.ndarray, n: int, rotatable: list[tuple[int, int]],
                   heavy: np.ndarray) -> list[Torsion]:
    """Torsions for the given rotatable bonds, sides chosen away from the most central heavy atom."""
    if not rotatable:
        return []
    sides = {}
    for a, b in rotatable:
        sides[(a, b)] = side_of(bonds, n, a, b)
        sides[(b, a)] = side_of(bonds, n, b, a)
    best_root, best_cost = -1, None
    for root in np.flatnonzero(heavy):
        cost = 0
        for a, b in rotatable:
            mov = sides[(a, b)] if root not in sides[(a, b)] else sides[(b, a)]
            cost = max(cost, len(mov))
        if best_cost is None or cost < best_cost:
            best_root, best_cost = int(root), cost
    out = []
    for a, b in rotatable:
        if best_root in sides[(a, b)]:
            a, b = b, a
        out.append(Torsion(int(a), int(b), sides[(a, b)]))
    out.sort(key=lambda t: len(t.moving))  # leaves first
    return out


def dihedral(x: np.ndarray, i: int, j: int, k: int, l: int) -> float:
    b0, b1, b2 = x[i] - x[j], x[k] - x[j], x[l] - x[k]
    b1n = b1 / np.linalg.norm(b1)
    v = b0 - np.dot(b0, b1n) * b1n
    w = b2 - np.dot(b2, b1n) * b1n
    return float(np.arctan2(np.dot(np.cross(b1n, v), w), np.dot(v, w)))


def rotate_torsions(mol: Molecule, coords: np.ndarray, deltas: np.ndarray) -> np.ndarray:
    """Coordinates after turning each torsion by deltas[i] radians (in the molecule's stored order)."""
    x = np.array(coords, dtype=np.float64, copy=True)
    for t, d in zip(mol.torsions, np.asarray(deltas, dtype=np.float64).ravel()):
        axis = x[t.b] - x[t.a]
        axis /= np.linalg.norm(axis)
        x[t.moving] = rotate_about(x[t.moving] - x[t.b], axis, d) + x[t.b]
    return x


def rotate_about(v: np.ndarray, axis: np.ndarray, angle: float) -> np.ndarray:
    """Rodrigues rotation of row vectors v about a unit axis."""
    c, s = np.cos(angle), np.sin(angle)
    return v * c + np.cross(axis, v) * s + np.outer(v @ axis, axis) * (1 - c)


@dataclass
class HalfMolecule:
    """One half of a centrosymmetric molecule, coordinates relative to its inversion centre."""

    half: Molecule  # the atoms kept (a connected half), with their own bonds and torsions
    atoms: np.ndarray  # their indices in the whole molecule
    partner: np.ndarray  # partner[i]: the whole-molecule atom that atom i's inversion image stands for


def inversion_partners(automorphisms: list[tuple[int, ...]], mol: Molecule) -> np.ndarray | None:
    """An atom permutation that can be an inversion centre of the molecule: an involution that fixes no
    atom and preserves every bond (one of RDKit's graph automorphisms), with the centre at a bond midpoint
    or a ring centre. None when the molecule cannot sit on an inversion centre."""
    x = mol.coords
    best, best_rms = None, None
    for perm in automorphisms:
        p = _pair_hydrogens(np.array(perm), mol) if len(perm) == mol.n_atoms else np.asarray(perm)
        if len(p) != mol.n_atoms or np.any(p == np.arange(len(p))) or np.any(p[p] != np.arange(len(p))):
            continue
        centre = (x + x[p]).mean(axis=0) / 2
        rms = float(np.sqrt((((x - centre) + (x[p] - centre)) ** 2).sum(axis=1).mean()))
        if best_rms is None or rms < best_rms:
            best, best_rms = p, rms
    return best


def _pair_hydrogens(perm: np.ndarray, mol: Molecule) -> np.ndarray:
    """`perm` with the H atoms of each heavy atom i sent to those of perm[i] that lie nearest to their
    images through the centre of the heavy atoms and theirs (the graph alone cannot tell a CH2's two H
    atoms apart; an inversion can)."""
    heavy = mol.heavy
    x = mol.coords
    centre = (x[heavy] + x[perm[heavy]]).mean(axis=0) / 2
    nb = neighbours(mol.bonds, mol.n_atoms)
    out = perm.copy()
    for i in np.flatnonzero(heavy):
        j = int(perm[i])
        if j < i and perm[j] == i:
            continue  # the pair is done from j's side
        hi = [n for n in nb[i] if not heavy[n]]
        hj = [n for n in nb[j] if not heavy[n]]
        if len(hi) != len(hj) or not hi:
            continue
        cost = np.linalg.norm((2 * centre - x[hi])[:, None, :] - x[hj][None, :, :], axis=-1)
        order = min(itertools.permutations(range(len(hj))), key=lambda o: sum(cost[a, b] for a, b in enumerate(o)))
        for a, b in enumerate(order):
            out[hi[a]] = hj[b]
            out[hj[b]] = hi[a]
    return out


def half_molecule(mol: Molecule, partner: np.ndarray) -> HalfMolecule:
    """The half of a molecule that an inversion centre completes (see `inversion_partners`).

    When a bond joins the halves (biphenyl's central C-C), the halves keep their own geometry and the centre
    is that bond's midpoint, so the inversion image is bonded exactly as the model was (the torsion across
    it becomes 180 deg, as it must). Otherwise (a ring centre, as in anthracene) each half atom is averaged
    with the inverted image of its partner, which makes the model centrosymmetric.
    """
    nb = neighbours(mol.bonds, mol.n_atoms)
    heavy = mol.heavy
    start = int(np.flatnonzero(heavy)[0])
    chosen: list[int] = []
    taken = np.zeros(mol.n_atoms, dtype=bool)
    queue = [start]
    while queue:  # BFS: take an atom unless its partner is already taken
        i = queue.pop(0)
        if taken[i] or taken[partner[i]]:
            continue
        taken[i] = True
        chosen.append(i)
        queue.extend(nb[i])
    for i in range(mol.n_atoms):  # atoms unreachable without crossing to the other half
        if not taken[i] and not taken[partner[i]]:
            taken[i] = True
            chosen.append(i)
    atoms = np.array(sorted(chosen), dtype=np.int64)
    x = mol.coords
    cross = [(int(a), int(b)) for a, b in mol.bonds if taken[a] != taken[b] and partner[a] == b]
    if cross:
        a, b = cross[0]
        centre = (x[a] + x[b]) / 2
        local = x[atoms] - centre
    else:
        # the rigid core (moved by no torsion) is averaged with its inverted partner; flexible groups keep
        # their own geometry, since their torsions are searched anyway
        moving = set()
        for t in mol.torsions:
            moving.update(int(m) for m in t.moving)
        core = np.array([i for i in range(mol.n_atoms) if i not in moving and partner[i] not in moving])
        core = core if len(core) else np.arange(mol.n_atoms)
        centre = (x[core] + x[partner[core]]).mean(axis=0) / 2
        local = x[atoms] - centre
        in_core = np.isin(atoms, core)
        local[in_core] = ((x[atoms[in_core]] - centre) - (x[partner[atoms[in_core]]] - centre)) / 2
    index = {int(a): k for k, a in enumerate(atoms)}
    bonds = np.array([(index[int(a)], index[int(b)]) for a, b in mol.bonds if taken[a] and taken[b]],
                     dtype=np.int64).reshape(-1, 2)
    elements = [mol.elements[i] for i in atoms]
    torsions = []
    for t in mol.torsions:
        if taken[t.a] and taken[t.b] and partner[t.a] != t.b:
            moving_full = set(int(m) for m in t.moving)
            inside = [index[m] for m in moving_full if taken[m]]
            # only torsions whose moving side lies wholly in this half turn independently
            if len(inside) == len(moving_full):
                torsions.append((index[t.a], index[t.b]))
    h_mask = np.array([e not in ("H", "D") for e in elements])
    tors = build_torsions(bonds, len(elements), torsions, h_mask) if torsions else []
    # keep the moving sides away from the centre: the root must be the atom nearest to it
    if tors:
        root = int(np.argmin(np.linalg.norm(local, axis=1) + 100 * ~h_mask))
        fixed = []
        for tt in tors:
            if root in set(int(m) for m in tt.moving):
                other = side_of(bonds, len(elements), tt.b, tt.a)
                fixed.append(Torsion(tt.b, tt.a, other))
            else:
                fixed.append(tt)
        fixed.sort(key=lambda tt: len(tt.moving))
        tors = fixed
    half = Molecule(elements=elements, coords=local, bonds=bonds, torsions=tors, smiles=mol.smiles,
                    name=f"{mol.name} (half on an inversion centre)")
    return HalfMolecule(half=half, atoms=atoms, partner=np.asarray(partner))


def copies(mol: Molecule, n: int) -> Molecule:
    """`n` copies of a molecule as one (atoms repeated, bonds offset, no torsions): the asymmetric unit of
    Z' = n for refinement and output, where each copy already has its own geometry."""
    k = mol.n_atoms
    return Molecule(
        elements=list(mol.elements) * n,
        coords=np.vstack([mol.coords + 20.0 * i for i in range(n)]),  # apart, so no restraint mixes copies
        bonds=np.vstack([mol.bonds + k * i for i in range(n)]),
        smiles=mol.smiles,
        name=mol.name,
    )
