"""Molecules for direct-space search and simulation: SMILES or a file -> RDKit 3D model -> `Molecule`.

The geometry is RDKit's: an ETKDG (v3) conformer, MMFF94-optimised, with all H atoms. Rotatable bonds
are acyclic single bonds between two non-terminal heavy atoms (RDKit's Lipinski pattern, on the heavy-atom
graph), except amide C(=O)-N and ester/acid C(=O)-O bonds, which are planar in crystals; turning a
terminal group moves only H atoms, so those bonds are left alone too.

A file (.mol, .sdf, .mol2, .pdb, .xyz) gives the connectivity and a starting geometry; the ideal geometry
is rebuilt from it with RDKit unless `keep_geometry` is set.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rdkit import Chem, RDLogger
from rdkit.Chem import AllChem, rdDetermineBonds

from xrdplug.errors import XrdplugError
from xrdplug.molecule import Molecule, build_torsions, inversion_partners

RDLogger.DisableLog("rdApp.*")  # RDKit prints parse warnings to stderr; we raise one clear error instead

ROTATABLE = Chem.MolFromSmarts("[!$(*#*)&!D1]-&!@[!$(*#*)&!D1]")
PLANAR = [Chem.MolFromSmarts(s) for s in ("[CX3](=O)-[NX3]", "[CX3](=O)-[OX2]", "[CX3](=S)-[NX3]")]
MOLECULE_SUFFIXES = (".mol", ".sdf", ".mol2", ".pdb", ".xyz")
MAX_HEAVY_ATOMS = 200


def parse_smiles(smiles: str) -> Chem.Mol:
    """An RDKit molecule with explicit H atoms, or XrdplugError naming the SMILES."""
    text = smiles.strip()
    mol = Chem.MolFromSmiles(text) if text else None
    if mol is None:
        raise XrdplugError(f"RDKit cannot parse the SMILES '{smiles}'")
    frags = Chem.GetMolFrags(mol)
    if len(frags) > 1:
        raise XrdplugError(
            f"the SMILES '{smiles}' has {len(frags)} disconnected parts; give one molecule (salts, solvates "
            "and Z' > 1 are not searched yet)"
        )
    if mol.GetNumAtoms() > MAX_HEAVY_ATOMS:
        raise XrdplugError(f"the SMILES has {mol.GetNumAtoms()} heavy atoms; at most {MAX_HEAVY_ATOMS} are searched")
    return Chem.AddHs(mol)


def embed(mol: Chem.Mol, seed: int = 0, optimise: bool = True, n_tries: int = 3) -> np.ndarray:
    """An ETKDG conformer (MMFF94-optimised when possible); Cartesian coordinates (N, 3) in A."""
    mol.RemoveAllConformers()
    params = AllChem.ETKDGv3()
    for attempt in range(n_tries):
        params.randomSeed = int(seed) + 7919 * attempt
        if AllChem.EmbedMolecule(mol, params) == 0:
            break
        params.useRandomCoords = True
    else:
        raise XrdplugError(f"RDKit could not build a 3D model of {Chem.MolToSmiles(Chem.RemoveHs(mol))}")
    if optimise:
        if AllChem.MMFFHasAllMoleculeParams(mol):
            AllChem.MMFFOptimizeMolecule(mol, maxIters=2000)
        else:
            AllChem.UFFOptimizeMolecule(mol, maxIters=2000)
    return np.array(mol.GetConformer().GetPositions(), dtype=np.float64)


def rotatable_bonds(mol: Chem.Mol) -> list[tuple[int, int]]:
    """Free torsions (atom index pairs) of a molecule with explicit H atoms (see the module docstring)."""
    heavy = Chem.RemoveHs(mol, updateExplicitCount=True)
    # RemoveHs keeps heavy atoms in order; map heavy indices back to the full molecule
    heavy_index = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() > 1]
    planar: set[frozenset[int]] = set()
    for patt in PLANAR:
        for match in heavy.GetSubstructMatches(patt):
            planar.add(frozenset((match[0], match[-1])))
    out = []
    for i, j in heavy.GetSubstructMatches(ROTATABLE):
        if frozenset((i, j)) in planar:
            continue
        out.append((heavy_index[i], heavy_index[j]))
    return out


def to_molecule(mol: Chem.Mol, coords: np.ndarray, smiles: str = "", name: str = "molecule") -> Molecule:
    """Plain-data `Molecule` from an RDKit molecule (explicit H) and its coordinates."""
    elements = [a.GetSymbol() for a in mol.GetAtoms()]
    bonds = np.array([(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()], dtype=np.int64)
    heavy = np.array([e != "H" for e in elements])
    torsions = build_torsions(bonds, len(elements), rotatable_bonds(mol), heavy)
    out = Molecule(
        elements=elements,
        coords=coords,
        bonds=bonds,
        torsions=torsions,
        smiles=smiles or Chem.MolToSmiles(Chem.RemoveHs(mol)),
        name=name,
    )
    out.inversion_partner = inversion_partners(_centrosymmetric_automorphisms(mol), out)
    return out


def torsion_samples(mol: Chem.Mol, molecule: Molecule, n: int = 30, seed: int = 0) -> np.ndarray | None:
    """Torsion changes (relative to `molecule`'s geometry, radians) of `n` ETKDG + MMFF conformers: where
    a search should look first, as powder programs use torsion statistics. None without torsions."""
    if not molecule.torsions:
        return None
    work = Chem.Mol(mol)
    work.RemoveAllConformers()
    params = AllChem.ETKDGv3()
    params.randomSeed = int(seed) + 104729
    ids = list(AllChem.EmbedMultipleConfs(work, numConfs=int(n), params=params))
    if not ids:
        return None
    if AllChem.MMFFHasAllMoleculeParams(work):
        AllChem.MMFFOptimizeMoleculeConfs(work, maxIters=500)
    base = molecule.torsion_angles()
    rows = [molecule.torsion_angles(np.array(work.GetConformer(i).GetPositions())) - base for i in ids]
    return (np.array(rows) + np.pi) % (2 * np.pi) - np.pi


def _centrosymmetric_automorphisms(mol: Chem.Mol, limit: int = 5000) -> list[tuple[int, ...]]:
    """Graph automorphisms that an inversion could realise: stereocentres must pair R with S (meso).

    They are enumerated on the heavy atoms: with H atoms, the swaps of the H atoms of each CH2 and CH3
    alone outnumber any limit (a dodecyl chain has 2^11 of them), and the one that inverts the molecule
    would never be reached. The H atoms of each heavy atom go to those of its image in index order;
    `xrdplug.molecule.inversion_partners` pairs them by geometry."""
    Chem.AssignStereochemistry(mol, cleanIt=True, force=True)
    centres = {i: lbl for i, lbl in Chem.FindMolChiralCenters(mol, includeUnassigned=True, useLegacyImplementation=False)}
    if any(lbl == "?" for lbl in centres.values()):
        return []  # unassigned stereocentres: the molecule is not known to be centrosymmetric
    heavy_idx = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() > 1]
    # unsanitised: the heavy atoms in order and with the molecule's own aromatic flags (MMFF typing
    # rewrites them on `mol`; a re-sanitised copy then no longer matches the molecule it came from)
    query = Chem.RemoveHs(mol, updateExplicitCount=True, sanitize=False)
    h_of = {i: sorted(n.GetIdx() for n in mol.GetAtomWithIdx(i).GetNeighbors() if n.GetAtomicNum() == 1)
            for i in heavy_idx}
    out = []
    for match in mol.GetSubstructMatches(query, uniquify=False, useChirality=False, maxMatches=limit):
        perm = list(range(mol.GetNumAtoms()))
        ok = True
        for q, target in enumerate(match):
            i = heavy_idx[q]
            perm[i] = target
            if len(h_of[i]) != len(h_of.get(target, [])):
                ok = False
                break
            for h, h2 in zip(h_of[i], h_of[target]):
                perm[h] = h2
        if ok and all(centres.get(perm[i]) not in (None, lbl) for i, lbl in centres.items()):
            out.append(tuple(perm))
    return out


def molecule_from_smiles(smiles: str, seed: int = 0, name: str | None = None) -> Molecule:
    """SMILES -> H atoms added -> ETKDG + MMFF geometry -> `Molecule` with its free torsions."""
    mol = parse_smiles(smiles)
    coords = embed(mol, seed=seed)
    out = to_molecule(mol, coords, smiles=smiles.strip(), name=name or smiles.strip())
    out.torsion_samples = torsion_samples(mol, out, seed=seed)
    return out


def molecule_from_file(path: str | Path, keep_geometry: bool = False, seed: int = 0) -> Molecule:
    """A molecule file -> `Molecule`. Bonds come from the file or, for .xyz, from the geometry."""
    p = Path(path)
    if not p.exists():
        raise XrdplugError(f"{p}: no such file")
    suffix = p.suffix.lower()
    if suffix not in MOLECULE_SUFFIXES:
        raise XrdplugError(
            f"{p}: molecule files are {', '.join(MOLECULE_SUFFIXES)} (or give the crystal structure as .cif/.res)"
        )
    if suffix in (".mol", ".sdf"):
        mol = Chem.MolFromMolFile(str(p), removeHs=False)
    elif suffix == ".mol2":
        mol = Chem.MolFromMol2File(str(p), removeHs=False)
    elif suffix == ".pdb":
        mol = Chem.MolFromPDBFile(str(p), removeHs=False)
    else:
        mol = Chem.MolFromXYZFile(str(p))
        if mol is not None:
            mol = _perceive_bonds(mol, p)
    if mol is None:
        raise XrdplugError(f"{p}: RDKit could not read a molecule from it")
    return molecule_from_rdkit(mol, keep_geometry=keep_geometry, seed=seed, name=p.stem)


def molecule_from_atoms(
    elements: list[str], coords: np.ndarray, keep_geometry: bool = False, seed: int = 0, name: str = "molecule"
) -> Molecule:
    """Elements and Cartesian coordinates of one molecule (e.g. assembled from a crystal structure) ->
    `Molecule`, bonds and bond orders perceived from the geometry (H atoms are added when missing)."""
    block = f"{len(elements)}\n{name}\n" + "".join(
        f"{e} {x:.5f} {y:.5f} {z:.5f}\n" for e, (x, y, z) in zip(elements, np.asarray(coords))
    )
    mol = Chem.MolFromXYZBlock(block)
    if mol is None:
        raise XrdplugError(f"{name}: RDKit could not read the atoms")
    mol = _perceive_bonds(mol, name)
    return molecule_from_rdkit(mol, keep_geometry=keep_geometry, seed=seed, name=name)


def _perceive_bonds(mol: Chem.Mol, where: object) -> Chem.Mol:
    has_h = any(a.GetAtomicNum() == 1 for a in mol.GetAtoms())
    if has_h:
        # a neutral bonding pattern if there is one; else charges that balance (nitro groups, N-oxides,
        # zwitterions); a lone charge or a radical means an H atom is missing from the file
        for charged in (False, True):
            trial = Chem.Mol(mol)
            try:
                rdDetermineBonds.DetermineBonds(trial, charge=0, allowChargedFragments=charged)
            except Exception:
                continue
            atoms = list(trial.GetAtoms())
            charged = [a for a in atoms if a.GetFormalCharge()]
            # charges only on N and O (a charged S or C is a resonance form of hypervalent S: see below)
            if sum(a.GetFormalCharge() for a in atoms) == 0 and not any(a.GetNumRadicalElectrons() for a in atoms) \
                    and all(a.GetSymbol() in ("N", "O") for a in charged):
                return trial
    rdDetermineBonds.DetermineConnectivity(mol)
    _bond_orders_without_h(mol)  # also fills in H atoms a file left out
    return mol


def _bond_orders_without_h(mol: Chem.Mol) -> None:
    """Bond orders from the geometry when H atoms are missing (all, e.g. a .res without H, or some);
    the missing H atoms are implied.

    An atom needs a pi bond when it is trigonal-planar, or linear, or carries a bond shorter than a single
    bond to it; the pi bonds are then placed as a matching of such atoms: RDKit's kekuliser for rings
    (aromatic flags), short terminal bonds (C=O, C#N) first. What cannot be matched is taken as saturated.
    """
    conf = mol.GetConformer()
    pos = np.array(conf.GetPositions())
    n = mol.GetNumAtoms()
    nbrs = [[b.GetOtherAtomIdx(i) for b in mol.GetAtomWithIdx(i).GetBonds()] for i in range(n)]
    sym = [a.GetSymbol() for a in mol.GetAtoms()]
    single = {("C", "C"): 1.45, ("C", "N"): 1.40, ("C", "O"): 1.33, ("N", "N"): 1.38, ("N", "O"): 1.33,
              ("C", "S"): 1.72, ("O", "S"): 1.50}

    def short(i: int, j: int) -> bool:
        key = tuple(sorted((sym[i], sym[j])))
        return key in single and np.linalg.norm(pos[i] - pos[j]) < single[key]  # type: ignore[comparison-overlap]

    def angle_sum(i: int) -> float:
        v = [pos[j] - pos[i] for j in nbrs[i]]
        tot = 0.0
        for a in range(len(v)):
            for b in range(a + 1, len(v)):
                c = np.dot(v[a], v[b]) / (np.linalg.norm(v[a]) * np.linalg.norm(v[b]))
                tot += np.degrees(np.arccos(np.clip(c, -1, 1)))
        return tot

    need = np.zeros(n, dtype=int)
    for i in range(n):
        d = len(nbrs[i])
        if sym[i] not in ("C", "N", "O", "S"):
            continue
        if d == 3 and sym[i] == "C" and angle_sum(i) > 350:
            need[i] = 1
        elif d == 2 and angle_sum(i) > 165:
            need[i] = 2
        elif d in (1, 2) and any(short(i, j) for j in nbrs[i]) and not (sym[i] == "O" and d == 2):
            need[i] = 2 if d <= 2 and any(np.linalg.norm(pos[i] - pos[j]) < 1.2 for j in nbrs[i]) else 1
    rw = Chem.RWMol(mol)
    for i in range(n):  # nitro groups (N+ =O, O-) and S=O: terminal O with a short bond to N or S
        if sym[i] not in ("N", "S"):
            continue
        oxo = [j for j in nbrs[i] if sym[j] == "O" and len(nbrs[j]) == 1 and short(i, j)]
        if sym[i] == "N" and len(nbrs[i]) == 3 and len(oxo) >= 2:
            rw.GetBondBetweenAtoms(i, oxo[0]).SetBondType(Chem.BondType.DOUBLE)
            rw.GetAtomWithIdx(i).SetFormalCharge(1)
            rw.GetAtomWithIdx(oxo[1]).SetFormalCharge(-1)
            need[i] = need[oxo[0]] = need[oxo[1]] = 0
        elif sym[i] == "S":
            for j in oxo:
                rw.GetBondBetweenAtoms(i, j).SetBondType(Chem.BondType.DOUBLE)
                need[j] = 0
    for b in rw.GetBonds():  # triple bonds: both ends linear or terminal and very short
        i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        if need[i] == 2 and need[j] == 2 and np.linalg.norm(pos[i] - pos[j]) < 1.25:
            b.SetBondType(Chem.BondType.TRIPLE)
            need[i] = need[j] = 0
    need = np.minimum(need, 1)
    Chem.FastFindRings(rw)
    ring = rw.GetRingInfo()
    for i in range(n):  # terminal and acyclic pi bonds: the shortest bond to a partner that needs one
        if need[i] and not ring.NumAtomRings(i):
            cand = [j for j in nbrs[i] if need[j]]
            if cand:
                j = min(cand, key=lambda j: np.linalg.norm(pos[i] - pos[j]))
                rw.GetBondBetweenAtoms(i, j).SetBondType(Chem.BondType.DOUBLE)
                need[i] = need[j] = 0
    for b in rw.GetBonds():  # the rest, in rings: aromatic flags for RDKit's kekuliser
        i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        if need[i] and need[j] and b.IsInRing():
            b.SetBondType(Chem.BondType.AROMATIC)
            b.SetIsAromatic(True)
            rw.GetAtomWithIdx(i).SetIsAromatic(True)
            rw.GetAtomWithIdx(j).SetIsAromatic(True)
    out = rw.GetMol()
    for a in out.GetAtoms():
        a.SetNoImplicit(a.GetFormalCharge() != 0)  # charged (nitro) atoms carry no implied H
        a.SetNumExplicitHs(0)
    try:
        Chem.SanitizeMol(out)
    except Exception as exc:
        raise XrdplugError(
            f"the bond orders of the molecule could not be worked out from its geometry ({exc}); give it with "
            "H atoms or as SMILES"
        ) from None
    mol.__init__(out)  # type: ignore[misc]


def molecule_from_rdkit(mol: Chem.Mol, keep_geometry: bool = False, seed: int = 0, name: str = "molecule") -> Molecule:
    """Any RDKit molecule with a conformer -> `Molecule` (H added with coordinates; geometry rebuilt unless
    `keep_geometry`)."""
    try:
        Chem.SanitizeMol(mol)
    except Exception as exc:
        raise XrdplugError(f"{name}: not a valid molecule ({exc})") from None
    if len(Chem.GetMolFrags(mol)) > 1:
        raise XrdplugError(f"{name}: the file holds {len(Chem.GetMolFrags(mol))} separate molecules; give one")
    if mol.GetNumConformers():
        Chem.AssignStereochemistryFrom3D(mol)
    mol = Chem.AddHs(mol, addCoords=mol.GetNumConformers() > 0)
    smiles = Chem.MolToSmiles(Chem.RemoveHs(mol))
    if keep_geometry and mol.GetNumConformers():
        coords = np.array(mol.GetConformer().GetPositions(), dtype=np.float64)
    else:
        coords = embed(mol, seed=seed)
    out = to_molecule(mol, coords, smiles=smiles, name=name)
    out.torsion_samples = torsion_samples(mol, out, seed=seed)
    return out


def heavy_atom_count(smiles: str) -> int:
    mol = Chem.MolFromSmiles(smiles)
    return mol.GetNumAtoms() if mol is not None else 0


def stereoisomers(smiles: str, limit: int = 8) -> list[str]:
    """Every stereoisomer a SMILES leaves open, one of each mirror-image pair (X-ray amplitudes cannot tell
    enantiomers apart), as SMILES with all centres assigned; [smiles] when nothing is open.

    XrdplugError when more than `limit` diastereomers would have to be searched.
    """
    from rdkit.Chem.EnumerateStereoisomers import EnumerateStereoisomers, StereoEnumerationOptions

    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise XrdplugError(f"RDKit cannot parse the SMILES '{smiles}'")
    opts = StereoEnumerationOptions(onlyUnassigned=True, unique=True, tryEmbedding=False, maxIsomers=4 * limit + 4)
    isomers = [Chem.MolToSmiles(m) for m in EnumerateStereoisomers(mol, options=opts)]
    if len(isomers) <= 1:
        return [smiles.strip()]
    kept: list[str] = []
    seen: set[str] = set()
    for s in isomers:
        if s in seen:
            continue
        kept.append(s)
        seen.add(s)
        seen.add(_mirror(s))
    if len(kept) > limit:
        raise XrdplugError(
            f"the SMILES leaves {len(kept)} diastereomers open (unassigned stereocentres or double bonds); at "
            f"most {limit} are searched: give the stereochemistry (@/@@, / and \\\\) in the SMILES"
        )
    return kept


def _mirror(smiles: str) -> str:
    mol = Chem.MolFromSmiles(smiles.replace("@@", "!").replace("@", "@@").replace("!", "@"))
    return Chem.MolToSmiles(mol) if mol is not None else ""
