"""Conformer sets for the molecular crystal simulator: a few MMFF conformers per SMILES, atom roles for
packing and ADPs, and a centrosymmetric conformer where the molecule can sit on an inversion centre.

Everything here is a pure function of the SMILES (the embedding seed comes from a hash of the canonical
SMILES), so a conformer set can be cached per SMILES and rebuilt anywhere: a crystal's seed then only
decides what is done with the set (which conformer, torsion changes, packing, ADPs, noise).

A molecule can sit on an inversion centre (Z' = 1/2) when its graph has an automorphism that is an
involution fixing no atom (naphthalene, biphenyl, trans-stilbene, p-xylene, oxalic acid, ...). The
conformer is made exactly centrosymmetric by averaging it with its inverted, permuted copy, re-optimised by
MMFF from there (the forces of a symmetric start are symmetric, so MMFF keeps it nearly symmetric; it is
symmetrised exactly afterwards) and kept when its bond lengths stay within 0.03 A of the free conformer's.
Biphenyl, twisted by 40 degrees in MMFF, becomes planar, as it is in its crystal.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from rdkit import Chem
from rdkit.Chem import AllChem
from scipy.optimize import linear_sum_assignment

from xrdplug.errors import XrdplugError
from xrdplug.molecule import Molecule

from .molecules import parse_smiles, to_molecule

# X-ray (riding-model) X-H distances, as SHELXL's AFIX defaults at 100-150 K: X-ray sees the bonding
# density, shifted towards the parent atom, not the nucleus that MMFF places at 1.09 A.
XRAY_XH = {"C_aromatic": 0.95, "C_sp2": 0.95, "C_3": 0.98, "C_2": 0.99, "C_1": 1.00, "C_sp": 0.93,
           "N": 0.88, "O": 0.84, "S": 1.20}
MAX_MATCHES = 20000


@dataclass
class ConformerSet:
    """Conformers of one molecule (heavy atoms first, then H, as RDKit's AddHs orders them)."""

    molecule: Molecule  # topology, torsions; coords = conformers[0]
    conformers: np.ndarray  # (K, N, 3) MMFF conformers, A
    energies: np.ndarray  # (K,) MMFF energies, kcal/mol, relative to the lowest
    parent: np.ndarray  # (N,) heavy atom bonded to each H; -1 for heavy atoms
    xh_distance: np.ndarray  # (N,) X-ray X-H distance for each H; 0 for heavy atoms
    u_ratio: np.ndarray  # (N,) U_iso of each H relative to its parent (1.2, or 1.5 for CH3 / OH); 1 heavy
    donor_h: np.ndarray  # (N,) bool: H on N or O
    donor: np.ndarray  # (N,) bool: N or O carrying an H
    inversion: np.ndarray | None  # (N,) atom permutation of the centrosymmetric form, or None
    centro: np.ndarray | None  # (M, N, 3) exactly centrosymmetric conformers about the origin
    canonical: str  # RDKit canonical SMILES (heavy atoms)

    @property
    def n_atoms(self) -> int:
        return self.molecule.n_atoms

    @property
    def centrosymmetric(self) -> bool:
        return self.centro is not None and len(self.centro) > 0


def canonical_smiles(smiles: str) -> str:
    """RDKit's canonical SMILES of one molecule, or XrdplugError."""
    mol = Chem.MolFromSmiles(smiles.strip()) if smiles.strip() else None
    if mol is None:
        raise XrdplugError(f"RDKit cannot parse the SMILES '{smiles}'")
    return Chem.MolToSmiles(mol)


def smiles_seed(canonical: str) -> int:
    return int.from_bytes(hashlib.blake2b(canonical.encode(), digest_size=4).digest(), "little") >> 1


def conformer_set(smiles: str, n_conformers: int = 4, energy_window: float = 8.0,
                  centrosymmetric: bool = True) -> ConformerSet:
    """ETKDG v3 conformers (pruned at 0.3 A RMSD), MMFF94-optimised, within `energy_window` kcal/mol."""
    mol = parse_smiles(smiles)
    canonical = Chem.MolToSmiles(Chem.RemoveHs(mol))
    params = AllChem.ETKDGv3()
    params.randomSeed = smiles_seed(canonical)
    params.pruneRmsThresh = 0.3
    params.numThreads = 1
    ids = list(AllChem.EmbedMultipleConfs(mol, numConfs=int(n_conformers), params=params))
    if not ids:
        params.useRandomCoords = True
        ids = list(AllChem.EmbedMultipleConfs(mol, numConfs=int(n_conformers), params=params))
    if not ids:
        raise XrdplugError(f"RDKit could not build a 3D model of {canonical}")
    if not AllChem.MMFFHasAllMoleculeParams(mol):
        raise XrdplugError(f"MMFF94 has no parameters for {canonical}")
    res = AllChem.MMFFOptimizeMoleculeConfs(mol, numThreads=1, maxIters=2000)
    energies = np.array([e for _, e in res], dtype=np.float64)
    coords = np.array([mol.GetConformer(i).GetPositions() for i in ids], dtype=np.float64)
    order = np.argsort(energies)
    energies, coords = energies[order] - energies[order[0]], coords[order]
    keep = energies <= energy_window
    energies, coords = energies[keep], coords[keep]
    molecule = to_molecule(mol, coords[0], smiles=canonical, name=canonical)
    parent, xh, u_ratio, donor_h, donor = _atom_roles(mol)
    inversion, centro = (None, None)
    if centrosymmetric:
        inversion, centro = _centrosymmetric(mol, coords)
    return ConformerSet(molecule=molecule, conformers=coords, energies=energies, parent=parent,
                        xh_distance=xh, u_ratio=u_ratio, donor_h=donor_h, donor=donor, inversion=inversion,
                        centro=centro, canonical=canonical)


def _atom_roles(mol: Chem.Mol) -> tuple[np.ndarray, ...]:
    n = mol.GetNumAtoms()
    parent = np.full(n, -1, dtype=np.int64)
    xh = np.zeros(n)
    u_ratio = np.ones(n)
    donor_h = np.zeros(n, dtype=bool)
    donor = np.zeros(n, dtype=bool)
    for atom in mol.GetAtoms():
        if atom.GetAtomicNum() != 1:
            continue
        h = atom.GetIdx()
        (par,) = atom.GetNeighbors()
        parent[h] = par.GetIdx()
        sym = par.GetSymbol()
        n_h = par.GetTotalNumHs(includeNeighbors=True)
        if sym == "C":
            if par.GetIsAromatic():
                key = "C_aromatic"
            elif par.GetHybridization() == Chem.HybridizationType.SP2:
                key = "C_sp2"
            elif par.GetHybridization() == Chem.HybridizationType.SP:
                key = "C_sp"
            else:
                key = {3: "C_3", 2: "C_2"}.get(n_h, "C_1")
            xh[h] = XRAY_XH[key]
            u_ratio[h] = 1.5 if (key == "C_3" and n_h == 3) else 1.2
        else:
            xh[h] = XRAY_XH.get(sym, 0.95)
            u_ratio[h] = 1.5 if sym == "O" else 1.2
            if sym in ("N", "O"):
                donor_h[h] = True
                donor[par.GetIdx()] = True
    return parent, xh, u_ratio, donor_h, donor


def _centrosymmetric(mol: Chem.Mol, coords: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
    heavy = Chem.RemoveHs(mol)
    nh = heavy.GetNumAtoms()
    ranks = list(Chem.CanonicalRankAtoms(heavy, breakTies=False))
    if any(ranks.count(r) % 2 for r in set(ranks)):
        return None, None  # a class of odd size: some atom would have to map to itself
    matches = heavy.GetSubstructMatches(heavy, uniquify=False, useChirality=False, maxMatches=MAX_MATCHES)
    invols = []
    for m in matches:
        perm = np.array(m, dtype=np.int64)
        if np.all(perm[perm] == np.arange(nh)) and np.all(perm != np.arange(nh)):
            invols.append(perm)
    if not invols:
        return None, None
    n = mol.GetNumAtoms()
    ff_props = AllChem.MMFFGetMoleculeProperties(mol)
    bonds = np.array([(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()])
    h_of = [[nb.GetIdx() for nb in mol.GetAtomWithIdx(i).GetNeighbors() if nb.GetAtomicNum() == 1]
            for i in range(nh)]
    best_perm, out = None, []
    for x in coords:
        # the heavy-atom involution that this conformer is closest to being centrosymmetric under
        best = None
        for perm_h in invols:
            y = x - x.mean(axis=0)
            dev = np.abs(y[:nh] + y[perm_h]).mean()
            if best is None or dev < best[0]:
                best = (dev, perm_h)
        perm = _with_hydrogens(best[1], x - x.mean(axis=0), h_of, n)
        if perm is None:
            continue
        y = x - x.mean(axis=0)
        sym = 0.5 * (y - y[perm])
        conf = mol.GetConformer()
        work = Chem.Mol(mol)
        work.RemoveAllConformers()
        c = Chem.Conformer(conf)
        for a in range(n):
            c.SetAtomPosition(a, sym[a].tolist())
        work.AddConformer(c, assignId=True)
        ff = AllChem.MMFFGetMoleculeForceField(work, ff_props)
        if ff is None:
            continue
        ff.Minimize(maxIts=1000)
        z = np.array(work.GetConformer().GetPositions())
        z -= z.mean(axis=0)
        z = 0.5 * (z - z[perm])
        if np.abs(np.linalg.norm(z[bonds[:, 0]] - z[bonds[:, 1]], axis=1)
                  - np.linalg.norm(x[bonds[:, 0]] - x[bonds[:, 1]], axis=1)).max() > 0.03:
            continue
        if best_perm is None:
            best_perm = perm
        if np.array_equal(perm, best_perm):
            out.append(z)
    if not out:
        return None, None
    return best_perm, np.array(out)


def _with_hydrogens(perm_heavy: np.ndarray, y: np.ndarray, h_of: list[list[int]], n: int) -> np.ndarray | None:
    """Extend a heavy-atom involution to the H atoms: each H goes to the H of the image parent nearest to
    its inverted position."""
    perm = np.arange(n)
    perm[: len(perm_heavy)] = perm_heavy
    for i, hs in enumerate(h_of):
        j = int(perm_heavy[i])
        hj = h_of[j]
        if len(hs) != len(hj):
            return None
        if not hs:
            continue
        if i > j:
            continue
        cost = np.linalg.norm(y[hs][:, None, :] + y[hj][None, :, :], axis=2)
        r, c = linear_sum_assignment(cost)
        for a, b in zip(r, c):
            perm[hs[a]] = hj[b]
            perm[hj[b]] = hs[a]
    if not np.all(perm[perm] == np.arange(n)) or np.any(perm == np.arange(n)):
        return None
    return perm
