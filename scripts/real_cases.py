"""Benchmark case folders from real crystal structures (CIF files with H atoms), for `xrdplug bench solve --cases`.

    python scripts/real_cases.py INDEX.json OUT_DIR [--d-high 0.8] [--seed 0] [--limit N]

INDEX.json lists structures (fields `file`, `name`, `smiles`, `smiles_ok`, `core`, as in the collection of real
organic structures described in its README); each core entry with a checked SMILES becomes a folder
`rNNN-NAME/` holding structure.cif (the structure as cctbx reads it, H included), molecule.smi and data.mtz:
|F_calc| with H atoms to d_high, observed with the simulator's noise model (counting statistics, a few %
missing, beam stop; `xrdplug.data.noise`), as F, SIGF, I, SIGI. Folders are numbered in a fixed pseudo-random
order (a hash of the name), so that the first k cases of an interrupted benchmark are an unbiased sample of
all of them. Any space group is kept: users' crystals are not all monoclinic.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np

import xrdplug  # noqa: F401  (import order: see xrdplug.runtime)
from cctbx_bridge.molecular import write_case_files
from cctbx_bridge.structures import non_hydrogen, read_structure
from xrdplug.data import noise


def write_case(entry: dict, source: Path, folder: Path, d_high: float, seed: int) -> dict:
    xs = read_structure(source)
    f = xs.structure_factors(d_min=d_high, algorithm="direct").f_calc().amplitudes()
    hkl = np.array(f.indices(), dtype=np.int64).reshape(-1, 3)
    values = f.data().as_numpy_array()
    inv_d2 = f.d_star_sq().data().as_numpy_array()
    centric = f.centric_flags().data().as_numpy_array().astype(bool)
    params = noise.draw_params(values, inv_d2, d_high, np.random.default_rng([seed, int(entry["_hash"], 16) % 2**31]))
    obs = noise.observe(hkl, values, tuple(xs.unit_cell().parameters()), str(xs.space_group_info()), params,
                        centric=centric, inv_d2=inv_d2)
    if folder.exists():
        raise FileExistsError(f"{folder} exists")
    write_case_files(xs, entry["smiles"], entry["name"], folder, hkl, obs)
    keep = obs.observed
    from rdkit_bridge.molecules import parse_smiles, rotatable_bonds

    n_rot = len(rotatable_bonds(parse_smiles(entry["smiles"])))
    return {"id": folder.name, "name": entry["name"], "smiles": entry["smiles"], "source_file": entry["file"],
            "space_group": str(xs.space_group_info()), "z_prime": entry.get("z_prime"),
            "n_heavy": int(non_hydrogen(xs).scatterers().size()), "n_rotatable": n_rot,
            "cell": [round(float(x), 4) for x in xs.unit_cell().parameters()],
            "n_reflections": int(len(values)), "n_observed": int(keep.sum()), "d_min": d_high}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("index", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--d-high", type=float, default=0.8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=None, help="Only the first N (in the fixed order)")
    args = ap.parse_args()
    entries = [e for e in json.loads(args.index.read_text()) if e.get("core") and e.get("smiles_ok")]
    for e in entries:
        e["_hash"] = hashlib.sha256(e["name"].encode()).hexdigest()[:12]
    entries.sort(key=lambda e: e["_hash"])
    entries = entries[: args.limit] if args.limit else entries
    args.out.mkdir(parents=True, exist_ok=True)
    rows, failed = [], []
    for k, e in enumerate(entries):
        folder = args.out / f"r{k:03d}-{''.join(c if c.isalnum() or c in '-_' else '_' for c in e['name'])}"
        try:
            rows.append(write_case(e, args.index.parent / e["file"], folder, args.d_high, args.seed))
        except Exception as exc:  # one unreadable structure must not stop the set: say which and why
            failed.append({"name": e["name"], "error": f"{type(exc).__name__}: {exc}"})
            print(f"skipped {e['name']}: {exc}")
    (args.out / "cases.json").write_text(json.dumps({"format": 1, "pool": "real", "d_high": args.d_high,
                                                      "cases": rows, "skipped": failed}, indent=1) + "\n")
    print(f"wrote {len(rows)} cases to {args.out} ({len(failed)} skipped)")


if __name__ == "__main__":
    main()
