"""Make the shipped SMILES subset (xrdplug/data/smiles_sets/moses_subset.smi.gz) from the MOSES train set.

MOSES (Polykovskiy et al. 2020, MIT licence) ships its ZINC-derived SMILES inside the `molsets` wheel:

    pip download --no-deps molsets -d /tmp/molsets
    python scripts/make_moses_subset.py /tmp/molsets/molsets-0.3.1-py3-none-any.whl

Kept: one neutral molecule, 8-30 heavy atoms, only C H N O S F Cl Br, 0-8 rotatable bonds (the definition of
`rdkit_bridge.molecules.rotatable_bonds`), MMFF94 parameters for every atom. A deterministic sample (hash of
the canonical SMILES, so re-running gives the same file) is written as
"canonical_smiles<TAB>n_heavy<TAB>n_rotatable", one per line, sorted by hash. MOSES is drug-like and has few
rigid molecules (0.1 % with no rotatable bond), so the sample is stratified by rotatable bonds: every rigid
molecule of the whole set is kept, and up to QUOTA[n] of the others with n rotatable bonds.
"""

# ruff: noqa: I001  (xrdplug is imported first on purpose: library load order)
from __future__ import annotations

import gzip
import hashlib
import io
import sys
import zipfile

import xrdplug  # noqa: F401  (library load order)
from rdkit import Chem
from rdkit.Chem import AllChem

from rdkit_bridge.molecules import rotatable_bonds

ALLOWED = {"C", "H", "N", "O", "S", "F", "Cl", "Br"}
QUOTA = {0: 100000, 1: 5000, 2: 4000, 3: 5000, 4: 6000, 5: 6000, 6: 5000, 7: 4000, 8: 4000}


def h64(s: str) -> int:
    return int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "little")


def main(wheel: str, out: str) -> None:
    with zipfile.ZipFile(wheel) as z:
        raw = gzip.decompress(z.read("moses/dataset/data/train.csv.gz")).decode()
    lines = [x.strip() for x in io.StringIO(raw) if x.strip() and x.strip() != "SMILES"]
    # scan a hash-ordered part of the set (deterministic, no order bias)
    lines.sort(key=h64)
    kept: dict[str, tuple[int, int]] = {}
    counts = dict.fromkeys(QUOTA, 0)
    for smi in lines:
        mol = Chem.MolFromSmiles(smi)
        if mol is None or len(Chem.GetMolFrags(mol)) != 1:
            continue
        if any(a.GetFormalCharge() != 0 or a.GetNumRadicalElectrons() for a in mol.GetAtoms()):
            continue
        n_heavy = mol.GetNumAtoms()
        if not 8 <= n_heavy <= 30 or any(a.GetSymbol() not in ALLOWED for a in mol.GetAtoms()):
            continue
        molh = Chem.AddHs(mol)
        n_rot = len(rotatable_bonds(molh))
        if n_rot > 8 or counts[n_rot] >= QUOTA[n_rot] or not AllChem.MMFFHasAllMoleculeParams(molh):
            continue
        can = Chem.MolToSmiles(mol)
        if can not in kept:
            kept[can] = (n_heavy, n_rot)
            counts[n_rot] += 1
    rows = sorted(kept.items(), key=lambda kv: h64(kv[0]))
    text = "".join(f"{s}\t{h}\t{r}\n" for s, (h, r) in rows)
    with gzip.GzipFile(out, "wb", mtime=0, compresslevel=9) as fh:
        fh.write(text.encode())
    print(f"{len(rows)} SMILES from {len(lines)} scanned -> {out}; by rotatable bonds: {counts}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "xrdplug/data/smiles_sets/moses_subset.smi.gz")
