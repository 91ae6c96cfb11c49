"""Density and intermolecular contacts of crystal structures (CIF / SHELX .res), real or simulated.

    python scripts/crystal_stats.py FILE_OR_FOLDER ...     (a folder: every structure.cif below it)

Per structure: space group, Z, V per non-H atom, V over the sum of Hofmann (2002) atomic volumes (H counted
from the atoms present, or from _chemical_formula_sum when the file has no H atoms), and the closest
intermolecular contact per element pair, in A and as a fraction of the Bondi van der Waals sum (H 1.10 A).
Molecules are the connected parts of the covalent-bond graph (covalent radii + 0.45 A) of a 3x3x3 block
of cells. Then the medians and 10-90 % ranges over all structures given.
"""

# ruff: noqa: I001  (xrdplug is imported first on purpose: library load order)
from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np

import xrdplug  # noqa: F401  (library load order)
from cctbx import xray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from xrdplug.molcrystal import HOFMANN_VOLUME
from xrdplug.packing import VDW_RADII

COVALENT = {"H": 0.31, "C": 0.76, "N": 0.71, "O": 0.66, "S": 1.05, "F": 0.57, "Cl": 1.02, "Br": 1.20}
HBOND = {("H", "N"), ("H", "O"), ("N", "O"), ("O", "O"), ("N", "N")}


def read(path: Path) -> tuple[xray.structure, str]:
    if path.suffix.lower() == ".cif":
        found = xray.structure.from_cif(file_path=str(path))
        xs = list(found.values())[0]
        text = path.read_text(errors="replace")
        m = re.search(r"_chemical_formula_sum\s+'([^']+)'", text)
        return xs, m.group(1) if m else ""
    return xray.structure.from_shelx(filename=str(path)), ""


def stats(path: Path) -> dict:
    xs, formula = read(path)
    types = [t.capitalize() for t in xs.scattering_types()]
    n_h = sum(t in ("H", "D") for t in types)
    heavy = [t for t in types if t not in ("H", "D")]
    z = xs.space_group().order_z()
    if n_h == 0 and formula:  # H atoms not in the model: count them from the formula for the volume
        counts = dict(re.findall(r"([A-Z][a-z]?)(\d*)", formula))
        h_formula = int(counts.get("H", "1") or 1) if "H" in counts else 0
        c_formula = sum(int(v or 1) for k, v in counts.items() if k != "H")
        n_h = round(h_formula * len(heavy) / max(c_formula, 1))
    v = xs.unit_cell().volume()
    v_hof = z * (sum(HOFMANN_VOLUME.get(t, 20.0) for t in heavy) + n_h * HOFMANN_VOLUME["H"])
    p1 = xs.expand_to_p1(sites_mod_positive=True)
    frac = p1.sites_frac().as_numpy_array()
    el = [t.capitalize() for t in p1.scattering_types()]
    o = np.array(xs.unit_cell().orthogonalization_matrix()).reshape(3, 3)
    shifts = np.array([[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)])
    cart = ((frac[None] + shifts[:, None]).reshape(-1, 3)) @ o.T
    all_el = el * len(shifts)
    tree = cKDTree(cart)
    pairs = tree.query_pairs(2.2, output_type="ndarray")
    lim = np.array([COVALENT.get(all_el[i], 0.8) + COVALENT.get(all_el[j], 0.8) + 0.45 for i, j in pairs])
    d = np.linalg.norm(cart[pairs[:, 0]] - cart[pairs[:, 1]], axis=1)
    b = pairs[d < lim]
    g = coo_matrix((np.ones(len(b)), (b[:, 0], b[:, 1])), shape=(len(cart), len(cart)))
    _, label = connected_components(g, directed=False)
    n = len(el)
    centre = np.arange(13 * n, 14 * n)
    contacts: dict[tuple[str, str], float] = {}
    ratio_min = np.inf
    for i in centre:
        for j in tree.query_ball_point(cart[i], 4.5):
            if label[j] == label[i]:
                continue
            dd = float(np.linalg.norm(cart[i] - cart[j]))
            key = tuple(sorted((all_el[i], all_el[j])))
            contacts[key] = min(contacts.get(key, np.inf), dd)
            if key not in HBOND:
                ratio_min = min(ratio_min, dd / (VDW_RADII[all_el[i]] + VDW_RADII[all_el[j]]))
    return {"file": str(path), "group": str(xs.space_group_info()), "z": z, "heavy_asu": len(heavy),
            "h_asu": n_h, "v_per_heavy": v / (z * len(heavy)), "v_over_hofmann": v / v_hof,
            "contacts": contacts, "min_ratio_non_hbond": ratio_min}


def main(args: list[str]) -> None:
    files: list[Path] = []
    for a in args:
        p = Path(a)
        files += sorted(p.rglob("structure.cif")) if p.is_dir() else [p]
    rows = [stats(f) for f in files]
    for r in rows:
        worst = ", ".join(f"{a}-{b} {d:.2f}" for (a, b), d in sorted(r["contacts"].items()))
        print(f"{Path(r['file']).parent.name}/{Path(r['file']).name}: {r['group']} Z={r['z']} heavy {r['heavy_asu']} "
              f"H {r['h_asu']}  V/heavy {r['v_per_heavy']:.2f}  V/Hofmann {r['v_over_hofmann']:.3f}  "
              f"min non-H-bond d/vdW {r['min_ratio_non_hbond']:.3f}  [{worst}]")
    if len(rows) > 1:
        for key in ("v_per_heavy", "v_over_hofmann", "min_ratio_non_hbond"):
            v = np.array([r[key] for r in rows])
            print(f"{key}: median {np.median(v):.3f}, 10-90 % {np.quantile(v, 0.1):.3f}-{np.quantile(v, 0.9):.3f}, "
                  f"min {v.min():.3f}, max {v.max():.3f} (n = {len(v)})")
        pairs = sorted({k for r in rows for k in r["contacts"]})
        print("closest contact per pair over all structures: " + ", ".join(
            f"{a}-{b} {min(r['contacts'].get((a, b), np.inf) for r in rows):.2f}" for a, b in pairs))


if __name__ == "__main__":
    main(sys.argv[1:])
