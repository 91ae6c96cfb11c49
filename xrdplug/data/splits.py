"""Train/validation/test splits BY STRUCTURE: a structure's id alone decides its part.

The part is a deterministic hash of the structure id (``blake2b``), so it never depends on the order of
generation, the number of workers or which shards were resumed, and every sample of one structure (should a
data set ever hold several per structure, e.g. augmented copies) lands in the same part. Synthetic structures
are identified by their seed ("sim:<seed>"), CIF structures by file name and data block
("cif:<file>#<block>").
"""

from __future__ import annotations

import hashlib

from ..errors import XrdplugError

SPLITS: tuple[str, ...] = ("train", "val", "test")
DEFAULT_FRACTIONS: tuple[float, float, float] = (0.90, 0.05, 0.05)


def parse_fractions(text: str) -> tuple[float, float, float]:
    """'90/5/5' or '0.9,0.05,0.05' -> fractions summing to 1."""
    parts = [p for p in text.replace("/", ",").split(",") if p.strip()]
    try:
        vals = [float(p) for p in parts]
    except ValueError:
        raise XrdplugError(f"bad split '{text}' (use e.g. 90/5/5)") from None
    if len(vals) != 3 or min(vals) < 0 or sum(vals) <= 0:
        raise XrdplugError(f"bad split '{text}': give three non-negative parts train/val/test, e.g. 90/5/5")
    total = sum(vals)
    return vals[0] / total, vals[1] / total, vals[2] / total


def split_code(name: str) -> int:
    if name not in SPLITS:
        raise XrdplugError(f"unknown split '{name}' (choose one of {', '.join(SPLITS)})")
    return SPLITS.index(name)


def unit_hash(structure_id: str) -> float:
    """A uniform number in [0, 1) fixed by the structure id."""
    h = hashlib.blake2b(structure_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(h, "little") / 2.0**64


def assign(structure_id: str, fractions: tuple[float, float, float] = DEFAULT_FRACTIONS) -> int:
    """0 (train), 1 (val) or 2 (test) for this structure."""
    u = unit_hash(structure_id)
    if u < fractions[0]:
        return 0
    if u < fractions[0] + fractions[1]:
        return 1
    return 2
