"""What a molecular data set holds: density, space groups, Z', molecule sizes, contacts.

    python scripts/dataset_stats.py DATA_SET [--contacts K]

Density (V per non-H atom and V over the sum of Hofmann volumes) from every sample's cell, space group, Z'
and formula in index.npz; with --contacts K the first K structures are rebuilt from their seeds, written
as CIF to a temporary folder and measured by scripts/crystal_stats.py (closest intermolecular contacts).
"""

# ruff: noqa: I001  (xrdplug is imported first on purpose: library load order)
from __future__ import annotations

import argparse
import collections
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

import xrdplug  # noqa: F401
from xrdplug.data import shards
from xrdplug.molcrystal import HOFMANN_VOLUME, symmetry_operators


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--contacts", type=int, default=0)
    a = ap.parse_args()
    idx = shards.load_index(a.root)
    n = len(idx["shard"])
    vph, vhof = [], []
    for i in range(n):
        cell = idx["cell"][i]
        vol = cell[0] * cell[1] * cell[2] * np.sin(np.radians(cell[4]))
        z = len(symmetry_operators(str(idx["space_group"][i]))[0])
        counts = {e: int(c) for e, c in re.findall(r"([A-Z][a-z]?)(\d+)", str(idx["formula"][i]))}
        heavy = sum(c for e, c in counts.items() if e != "H")
        vph.append(vol / (z * heavy))
        vhof.append(vol / (z * sum(HOFMANN_VOLUME[e] * c for e, c in counts.items())))
    vph, vhof = np.array(vph), np.array(vhof)
    print(f"{n} samples; skipped {len(idx['skipped'])}")
    print(f"V per non-H atom: median {np.median(vph):.2f} A^3, 10-90 % {np.quantile(vph, .1):.2f}-{np.quantile(vph, .9):.2f}")
    print(f"V / Hofmann: median {np.median(vhof):.3f}, 10-90 % {np.quantile(vhof, .1):.3f}-{np.quantile(vhof, .9):.3f}")
    sg = collections.Counter(str(s) for s in idx["space_group"])
    print("space groups: " + ", ".join(f"{g} {100 * c / n:.1f}%" for g, c in sg.most_common()))
    zp = collections.Counter(float(z) for z in idx["z_prime"])
    print("Z': " + ", ".join(f"{z:g} {100 * c / n:.1f}%" for z, c in sorted(zp.items())))
    nh, nr = idx["n_heavy"], idx["n_rotatable"]
    print(f"non-H atoms per molecule: median {np.median(nh):.0f} ({nh.min()}-{nh.max()}); rotatable bonds "
          + ", ".join(f"{k}: {v}" for k, v in sorted(collections.Counter(int(x) for x in nr).items())))
    edges = idx["cell"][:, :3].max(axis=1)
    print(f"longest edge: median {np.median(edges):.1f} A, 90 % {np.quantile(edges, .9):.1f}, max {edges.max():.1f};"
          f" over 16 A: {100 * np.mean(edges > 16):.0f}%; reflections to d_high: median {np.median(idx['n_refl']):.0f},"
          f" max {idx['n_refl'].max()}; beta median {np.median(idx['cell'][:, 4]):.1f}")
    print("splits: " + ", ".join(f"{s} {c}" for s, c in sorted(collections.Counter(int(x) for x in idx["split"]).items())))
    if a.contacts:
        from xrdplug.data.references import structure_for_sample
        from cctbx_bridge.structures import write_cif

        with tempfile.TemporaryDirectory() as tmp:
            for i in range(min(a.contacts, n)):
                d = Path(tmp) / f"s{i:04d}"
                d.mkdir()
                write_cif(structure_for_sample(a.root, i), d / "structure.cif", data_name=f"s{i}")
            out = subprocess.run([sys.executable, str(Path(__file__).with_name("crystal_stats.py")), tmp],
                                 capture_output=True, text=True, check=True).stdout
            print("\n".join(line for line in out.splitlines() if not line.startswith("s0")))


if __name__ == "__main__":
    main()
