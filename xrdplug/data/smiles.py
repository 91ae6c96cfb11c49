"""SMILES for the molecular simulator: the shipped sets, a user's file, and splits BY MOLECULE.

Shipped (``xrdplug/data/smiles_sets/``, see its README):

- ``moses_subset.smi.gz``: 37,718 drug-like molecules from the MOSES training set (MIT licence), 8-30 heavy
  atoms, C H N O S F Cl Br, 0-8 rotatable bonds, stratified by rotatable bonds (scripts/make_moses_subset.py);
- ``centrosymmetric.smi``: molecules that often crystallise on inversion centres (Z' = 1/2).

A molecule's split is a hash of its canonical SMILES (`splits.unit_hash("smiles:" + canonical)`), so every
crystal of one molecule lands in the same part and test molecules never reach training. MOSES molecules
split 90/5/5 (train/val/test); the short centrosymmetric list 50/10/40, so that the benchmark sets have
enough Z' = 1/2 test molecules. The benchmark sets (`xrdplug cases`) draw from the test part only.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import XrdplugError
from . import splits

DATA = Path(__file__).parent / "smiles_sets"
MOSES_FILE = DATA / "moses_subset.smi.gz"
CENTRO_FILE = DATA / "centrosymmetric.smi"
MOSES_FRACTIONS = (0.90, 0.05, 0.05)
CENTRO_FRACTIONS = (0.50, 0.10, 0.40)


@dataclass(frozen=True)
class Entry:
    smiles: str  # canonical (RDKit) for the shipped sets; as given for a user's file until embedded
    name: str
    split: int  # 0 train, 1 val, 2 test
    source: str  # "moses", "centrosymmetric" or a file name
    n_heavy: int = 0
    n_rotatable: int = -1


def split_of(canonical: str, fractions: tuple[float, float, float] = MOSES_FRACTIONS) -> int:
    return splits.assign("smiles:" + canonical, fractions)


@lru_cache(maxsize=1)
def moses() -> tuple[Entry, ...]:
    with gzip.open(MOSES_FILE, "rt") as fh:
        rows = [line.rstrip("\n").split("\t") for line in fh if line.strip()]
    return tuple(Entry(s, f"moses:{i}", split_of(s, MOSES_FRACTIONS), "moses", int(h), int(r))
                 for i, (s, h, r) in enumerate(rows))


@lru_cache(maxsize=1)
def centrosymmetric() -> tuple[Entry, ...]:
    out = []
    for line in CENTRO_FILE.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        smi, _, name = line.partition("\t")
        out.append(Entry(smi.strip(), name.strip() or smi.strip(), split_of(smi.strip(), CENTRO_FRACTIONS),
                         "centrosymmetric"))
    return tuple(out)


def read_smiles_file(path: str | Path, fractions: tuple[float, float, float] = MOSES_FRACTIONS
                     ) -> tuple[Entry, ...]:
    """One SMILES per line, optionally a name after white space; '#' comments and blank lines skipped.

    Every SMILES is checked with RDKit here, so a bad one is reported with its line number before any
    work starts.
    """
    from rdkit_bridge.conformers import canonical_smiles

    p = Path(path)
    if not p.is_file():
        raise XrdplugError(f"{p}: no such file")
    out = []
    for n, line in enumerate(p.read_text(errors="replace").splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        smi, _, name = text.replace("\t", " ").partition(" ")
        try:
            can = canonical_smiles(smi)
        except XrdplugError:
            raise XrdplugError(f"{p}:{n}: RDKit cannot parse the SMILES '{smi}'") from None
        if "." in can:
            raise XrdplugError(f"{p}:{n}: '{smi}' has several disconnected parts; give one molecule per line")
        out.append(Entry(can, name.strip() or f"{p.name}:{n}", split_of(can, fractions), p.name))
    if not out:
        raise XrdplugError(f"{p}: no SMILES in the file")
    return tuple(out)


def shipped_pool(centro_share: float = 0.08) -> tuple[tuple[Entry, ...], tuple[Entry, ...], float]:
    """(MOSES entries, centrosymmetric entries, probability of drawing from the second)."""
    return moses(), centrosymmetric(), centro_share
