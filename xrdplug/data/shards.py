"""The on-disk data set of `xrdplug simulate`, in pure numpy (no cctbx, no torch).

Layout of a data set folder::

    meta.json              how it was made (mode, seed, parameters, d_high, d_low, shard size, splits)
    shards/shard-00000.npz one compressed npz per shard (default 500 samples), written atomically
    index.npz              one row per sample, gathered from the shards when every shard is done

A shard holds, for its n samples with N reflections in all:

    hkl      int8  (N, 3)  indices, 2/m representative (k >= 0, l >= 0), sorted; the sample's F000-free
                           asymmetric unit to d_high, no systematic absences
    f        float16 (N,)  |F| (electrons; float16: relative precision 5e-4)
    offsets  int64 (n+1,)  sample j owns rows offsets[j]:offsets[j+1]
    cell     float64 (n, 6), space_group <U (n,) (full cctbx symbol), n_atoms int16 (asymmetric unit, non-H),
    seed     int64 (n,) (-1 for CIF samples), sample int64 (n,) (number in the data set), split int8 (n,)
             (0 train, 1 val, 2 test), structure_id <U (n,), source <U (n,) / block <U (n,) (CIF samples),
    skipped  <U (m,)     "what: reason" for every input structure that was skipped (CIF mode)
    format   int         FORMAT

Molecular samples (`xrdplug simulate --kind molecular`) add, per sample (optional keys: shards without them
read as before):

    kind <U (n,) ("molecular"), smiles <U (n,) (canonical), z_prime float32 (n,) (1 or 0.5),
    n_heavy int16 (n,), n_rotatable int16 (n,) (of the molecule), formula <U (n,) (asymmetric unit, H
    included: what a Wilson baseline needs), noise float64 (n, 6) (`xrdplug.data.noise.NOISE_FIELDS`).

For those, `f` is the EXACT |F| (H atoms included): the training target. The observed data a diffractometer
would give (counting noise, missing reflections, beam stop, French-Wilson amplitudes) are redrawn from the
six noise numbers by `xrdplug.data.noise.observe`, identically every time; `sample_from_shard` does not
apply them, `dataset.make_item` uses them for the measured (input) reflections.

A shard exists only when complete (temporary file + rename), so a killed run leaves no partial shard and a
re-run skips the shards already there. Anything unreadable raises XrdplugError naming the file.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import XrdplugError

FORMAT = 1
META = "meta.json"
INDEX = "index.npz"
SHARD_DIR = "shards"
_SHARD_KEYS = ("hkl", "f", "offsets", "cell", "space_group", "n_atoms", "seed", "sample", "split",
               "structure_id", "source", "block", "skipped", "format")
_INDEX_KEYS = ("shard", "pos", "cell", "space_group", "n_atoms", "n_refl", "seed", "sample", "split",
               "structure_id")
# optional per-sample keys (molecular samples) and their dtypes; the index carries all but noise
OPTIONAL_KEYS = {"kind": str, "smiles": str, "z_prime": np.float32, "n_heavy": np.int16,
                 "n_rotatable": np.int16, "formula": str, "noise": np.float64}


def shard_path(root: str | os.PathLike[str], k: int) -> Path:
    return Path(root) / SHARD_DIR / f"shard-{k:05d}.npz"


def _atomic_save(path: Path, arrays: dict[str, Any], compressed: bool = True) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            (np.savez_compressed if compressed else np.savez)(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_shard(
    path: str | os.PathLike[str], samples: Sequence[dict[str, Any]], skipped: Sequence[str] = ()
) -> int:
    """Write one shard atomically; returns its size in bytes."""
    n = len(samples)
    counts = np.array([len(s["f"]) for s in samples], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    arrays = {
        "hkl": (np.concatenate([s["hkl"] for s in samples]) if n else np.zeros((0, 3))).astype(np.int8),
        "f": (np.concatenate([s["f"] for s in samples]) if n else np.zeros(0)).astype(np.float16),
        "offsets": offsets,
        "cell": np.array([s["cell"] for s in samples], dtype=np.float64).reshape(n, 6),
        "space_group": np.array([s["space_group"] for s in samples], dtype="U32"),
        "n_atoms": np.array([s["n_atoms"] for s in samples], dtype=np.int16),
        "seed": np.array([s.get("seed", -1) for s in samples], dtype=np.int64),
        "sample": np.array([s["sample"] for s in samples], dtype=np.int64),
        "split": np.array([s["split"] for s in samples], dtype=np.int8),
        "structure_id": np.array([s["structure_id"] for s in samples], dtype=str).reshape(n),
        "source": np.array([s.get("source", "") for s in samples], dtype=str).reshape(n),
        "block": np.array([s.get("block", "") for s in samples], dtype=str).reshape(n),
        "skipped": np.array(list(skipped), dtype=str).reshape(len(skipped)),
        "format": np.array(FORMAT),
    }
    for key, dtype in OPTIONAL_KEYS.items():
        if n and all(key in s for s in samples):
            arrays[key] = np.array([s[key] for s in samples], dtype=dtype)
            if key == "noise":
                arrays[key] = arrays[key].reshape(n, -1)
    if np.any(~np.isfinite(arrays["f"])):
        raise XrdplugError(f"{path}: |F| overflows float16")
    p = Path(path)
    _atomic_save(p, arrays)
    return p.stat().st_size


def _bad(path: Path, why: str) -> XrdplugError:
    return XrdplugError(
        f"{path}: corrupt or partial shard ({why}); delete it and re-run `xrdplug simulate` with the same "
        "options to rebuild it"
    )


def read_shard(path: str | os.PathLike[str], keys: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Load (some of) a shard's arrays, checking that the file is whole and self-consistent."""
    p = Path(path)
    if not p.exists():
        raise XrdplugError(f"{p}: missing shard; re-run `xrdplug simulate` with the same options")
    try:
        with np.load(p, allow_pickle=False) as z:
            want = tuple(keys) if keys is not None else _SHARD_KEYS + tuple(k for k in OPTIONAL_KEYS if k in z.files)
            missing = [k for k in want if k not in z.files]
            if missing:
                raise _bad(p, f"no {', '.join(missing)}")
            out = {k: z[k] for k in want}
            if "format" in z.files and int(z["format"]) != FORMAT:
                raise XrdplugError(f"{p}: shard format {int(z['format'])}, this xrdplug reads {FORMAT}")
    except XrdplugError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError, KeyError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else ""
        raise _bad(p, f"{type(exc).__name__}: {detail}".rstrip(": ")) from None
    _check(p, out)
    return out


def _check(p: Path, a: dict[str, np.ndarray]) -> None:
    if "offsets" in a:
        off = a["offsets"]
        if off.ndim != 1 or off.size < 1 or off[0] != 0 or np.any(np.diff(off) < 0):
            raise _bad(p, "bad offsets")
        for key in ("hkl", "f"):
            if key in a and len(a[key]) != off[-1]:
                raise _bad(p, f"{key} has {len(a[key])} rows, offsets say {int(off[-1])}")
        n = off.size - 1
        for key in ("cell", "space_group", "n_atoms", "seed", "sample", "split", "structure_id", *OPTIONAL_KEYS):
            if key in a and len(a[key]) != n:
                raise _bad(p, f"{key} has {len(a[key])} entries for {n} samples")


def shard_ok(path: str | os.PathLike[str]) -> bool:
    """A finished shard that reads back whole (used by resume)."""
    try:
        read_shard(path, keys=("offsets", "sample", "f"))
        return True
    except XrdplugError:
        return False


# --------------------------------------------------------------------------------------------- meta / index


def write_meta(root: str | os.PathLike[str], meta: dict[str, Any]) -> None:
    p = Path(root) / META
    fd, tmp = tempfile.mkstemp(prefix=".meta.", suffix=".tmp", dir=p.parent)
    with os.fdopen(fd, "w") as fh:
        json.dump(meta, fh, indent=1, sort_keys=True)
    os.chmod(tmp, 0o644)
    os.replace(tmp, p)


def read_meta(root: str | os.PathLike[str]) -> dict[str, Any]:
    p = Path(root) / META
    if not p.exists():
        raise XrdplugError(f"{root}: not an xrdplug data set (no {META}); make one with `xrdplug simulate`")
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise XrdplugError(f"{p}: unreadable ({exc})") from None


def build_index(root: str | os.PathLike[str], n_shards: int) -> dict[str, np.ndarray]:
    """Gather every shard's per-sample rows into index.npz (atomically). Returns the index."""
    keys = ("offsets", "cell", "space_group", "n_atoms", "seed", "sample", "split", "structure_id")
    parts: dict[str, list[np.ndarray]] = {k: [] for k in _INDEX_KEYS}
    skipped: list[np.ndarray] = []
    optional = [key for key in OPTIONAL_KEYS if key != "noise"]
    for k in range(n_shards):
        present = _stored_keys(shard_path(root, k))
        optional = [key for key in optional if key in present]
    for key in optional:
        parts[key] = []
    for k in range(n_shards):
        a = read_shard(shard_path(root, k), keys=(*keys, "skipped", *optional))
        n = a["offsets"].size - 1
        parts["shard"].append(np.full(n, k, dtype=np.int32))
        parts["pos"].append(np.arange(n, dtype=np.int32))
        parts["n_refl"].append(np.diff(a["offsets"]).astype(np.int32))
        for key in (*keys[1:], *optional):
            parts[key].append(a[key])
        skipped.append(a["skipped"])
    index = {k: np.concatenate(v) if v else np.zeros(0) for k, v in parts.items()}
    index["space_group"] = index["space_group"].astype("U32")
    index["structure_id"] = index["structure_id"].astype(str)
    for key in optional:
        if OPTIONAL_KEYS[key] is str:
            index[key] = index[key].astype(str)
    index["skipped"] = np.concatenate(skipped).astype(str) if skipped else np.zeros(0, dtype="U1")
    index["format"] = np.array(FORMAT)
    _atomic_save(Path(root) / INDEX, index, compressed=True)
    return index


def _stored_keys(path: Path) -> tuple[str, ...]:
    try:
        with np.load(path, allow_pickle=False) as z:
            return tuple(z.files)
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError):
        return ()  # read_shard reports the damage


def load_index(root: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    p = Path(root) / INDEX
    if not p.exists():
        read_meta(root)  # a clearer message when it is not a data set at all
        raise XrdplugError(
            f"{root}: the data set is incomplete (no {INDEX}); finish it with `xrdplug simulate`"
        )
    try:
        with np.load(p, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError) as exc:
        raise XrdplugError(f"{p}: corrupt index ({type(exc).__name__}); re-run `xrdplug simulate`") from None


def sample_from_shard(a: dict[str, np.ndarray], pos: int) -> dict[str, Any]:
    """Sample `pos` of a loaded shard as a raw dict (hkl int64, f float32, cell, space_group, ...)."""
    lo, hi = int(a["offsets"][pos]), int(a["offsets"][pos + 1])
    raw = {
        "hkl": a["hkl"][lo:hi].astype(np.int64),
        "f": a["f"][lo:hi].astype(np.float32),
        "cell": tuple(float(x) for x in a["cell"][pos]),
        "space_group": str(a["space_group"][pos]),
        "n_atoms": int(a["n_atoms"][pos]),
        "seed": int(a["seed"][pos]),
        "sample": int(a["sample"][pos]),
        "split": int(a["split"][pos]),
        "structure_id": str(a["structure_id"][pos]),
    }
    for key in ("source", "block"):
        if key in a:
            raw[key] = str(a[key][pos])
    for key, dtype in OPTIONAL_KEYS.items():
        if key in a:
            v = a[key][pos]
            raw[key] = np.array(v, dtype=np.float64) if key == "noise" else (str(v) if dtype is str else v.item())
    return raw


def load_sample(root: str | os.PathLike[str], i: int) -> dict[str, Any]:
    """Raw sample number i of the data set (row i of index.npz): hkl, f, cell, space_group, seed, ..."""
    index = load_index(root)
    n = len(index["shard"])
    if not 0 <= i < n:
        raise XrdplugError(f"{root}: no sample {i} (the data set has {n})")
    a = read_shard(shard_path(root, int(index["shard"][i])))
    return sample_from_shard(a, int(index["pos"][i]))
