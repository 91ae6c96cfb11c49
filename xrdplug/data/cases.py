"""Fixed benchmark sets of molecular crystals (`xrdplug cases`): one folder per structure.

Each case folder holds ``structure.cif`` (the full asymmetric unit with H atoms, U_iso), ``molecule.smi``
(canonical SMILES and the case name) and ``data.mtz`` (observed F, SIGF and I, SIGI to d_high, the noise
model of `xrdplug.data.noise`: counting statistics, missing reflections, beam stop); ``cases.json`` lists
them all. Everything is deterministic from --seed (and the shipped SMILES): the same command writes the
same files.

Molecules come from the TEST split of the shipped SMILES only (so no benchmark molecule is ever a training
molecule), sub-split by another hash into a `dev` pool (30 %, for tuning choices) and a `heldout` pool
(70 %, never used for choices), so that the two sets never share a molecule. The design fills slots:
Z' = 1/2 molecules on inversion centres (about 15 %, at least 2, in P2_1/c, P2_1/n and C2/c in turn) and
Z' = 1 slots spread evenly over 0, 1-3 and 4-8 rotatable bonds and over the space groups by
`DESIGN_GROUPS` (largest remainders).
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from .. import hklgrid
from ..errors import XrdplugError
from ..molcrystal import MolParams, SampleFailed, centrosymmetric_group
from . import noise, splits
from . import smiles as smiles_sets

DESIGN_GROUPS = {"P 1 21/c 1": 0.27, "P 1 21/n 1": 0.25, "P 1 21 1": 0.20, "C 1 2/c 1": 0.12,
                 "C 1 2 1": 0.10, "C 1 c 1": 0.06}
HALF_GROUPS = ("P 1 21/c 1", "C 1 2/c 1", "P 1 21/n 1")
ROT_BINS = ((0, 0), (1, 3), (4, 8))
POOLS = ("dev", "heldout", "all")
DEV_FRACTION = 0.3
# more packing effort than training data: the benchmark structures should be as real as we can make them
CASE_PARAMS = MolParams(starts=6, relax_steps=400)


def pool_of(canonical: str) -> str:
    return "dev" if splits.unit_hash("bench:" + canonical) < DEV_FRACTION else "heldout"


def design(n: int) -> list[dict[str, Any]]:
    """The slots of an n-case set: (space group, Z', rotatable-bond bin) each."""
    n_half = max(2, round(0.15 * n)) if n >= 4 else 0
    n_one = n - n_half
    quota = {g: w * n_one for g, w in DESIGN_GROUPS.items()}
    counts = {g: int(math.floor(q)) for g, q in quota.items()}
    for g in sorted(quota, key=lambda g: -(quota[g] - counts[g]))[: n_one - sum(counts.values())]:
        counts[g] += 1
    groups = [g for g in DESIGN_GROUPS for _ in range(counts[g])]
    slots = []
    for j, g in enumerate(groups):
        slots.append({"space_group": g, "z_prime": 1.0, "rot_bin": j % 3})
    for j in range(n_half):
        slots.append({"space_group": HALF_GROUPS[j % len(HALF_GROUPS)], "z_prime": 0.5, "rot_bin": None})
    return slots


def _candidates(pool: str, user: tuple[smiles_sets.Entry, ...] | None) -> tuple[list[Any], list[Any]]:
    if user is not None:
        return list(user), list(user)
    def ok(e: smiles_sets.Entry) -> bool:
        return e.split == 2 and (pool == "all" or pool_of(e.smiles) == pool)
    return [e for e in smiles_sets.moses() if ok(e)], [e for e in smiles_sets.centrosymmetric() if ok(e)]


def make_cases(out: str | Path, n: int, seed: int = 0, pool: str = "heldout", smiles_file: str | Path | None = None,
               d_high: float = 0.8, params: MolParams | None = None, progress: bool = True) -> list[dict[str, Any]]:
    """Write n cases under `out` (must not hold a set already) and return the cases.json rows."""
    from . import molecular

    if n < 1:
        raise XrdplugError("--n must be at least 1")
    if pool not in POOLS:
        raise XrdplugError(f"unknown pool '{pool}' (choose one of {', '.join(POOLS)})")
    out = Path(out)
    if (out / "cases.json").exists() or (out.exists() and any(out.iterdir())):
        raise XrdplugError(f"{out}: folder is not empty; choose another --out")
    params = replace(params or CASE_PARAMS, d_high=d_high)
    user = smiles_sets.read_smiles_file(smiles_file) if smiles_file is not None else None
    moses, centro = _candidates(pool, user)
    used: set[str] = set()
    rows = []
    from ..progress import progress_bar

    with progress_bar("", disable=not progress) as bar:
        task = bar.add_task("cases", total=n)
        for j, slot in enumerate(design(n) if user is None else _user_design(n, user)):
            rng = np.random.default_rng([int(seed), j])
            row = _one_case(out, j, slot, rng, moses, centro, used, params, molecular, user is not None)
            rows.append(row)
            bar.update(task, advance=1)
    text = json.dumps({"format": 1, "seed": seed, "pool": pool if user is None else "user",
                       "d_high": d_high, "params": params.to_json(), "cases": rows}, indent=1)
    (out / "cases.json").write_text(text + "\n")
    return rows


def _user_design(n: int, user: tuple[smiles_sets.Entry, ...]) -> list[dict[str, Any]]:
    groups = list(DESIGN_GROUPS)
    return [{"space_group": groups[j % len(groups)], "z_prime": None, "rot_bin": None, "entry": user[j % len(user)]}
            for j in range(n)]


def _one_case(out: Path, j: int, slot: dict[str, Any], rng: np.random.Generator, moses: list[Any],
              centro: list[Any], used: set[str], params: MolParams, molecular: Any, user: bool) -> dict[str, Any]:
    from cctbx_bridge import molecular as cm

    half = slot["z_prime"] == 0.5
    if user:
        order = [slot["entry"]]
    else:
        pool = centro if half else [e for e in moses if ROT_BINS[slot["rot_bin"]][0] <= e.n_rotatable
                                    <= ROT_BINS[slot["rot_bin"]][1]]
        if not pool:
            raise XrdplugError(f"no test molecule for slot {slot}")
        order = [pool[int(i)] for i in rng.permutation(len(pool))]
    last = ""
    for entry in order:
        if not user and entry.smiles in used:
            continue
        try:
            cs = molecular.conformers(entry.smiles)
        except XrdplugError as exc:
            last = str(exc)
            continue
        if not user and not 8 <= cs.molecule.n_heavy <= 30:
            continue
        if half and not cs.centrosymmetric:
            continue
        group = slot["space_group"]
        z_prime = slot["z_prime"]
        if user and z_prime is None:
            z_prime = 0.5 if (cs.centrosymmetric and centrosymmetric_group(group)) and rng.random() < 0.3 else 1.0
        crystal_seed = int(rng.integers(2**31 - 1))
        try:
            model = molecular.build_crystal(cs, crystal_seed, params, space_group=group, z_prime=z_prime)
        except SampleFailed as exc:
            last = str(exc)
            continue
        used.add(entry.smiles)
        arrays = cm.sample_arrays(model, params.d_high, 0)  # exact direct sum for the benchmark data
        inv_d2 = hklgrid.inverse_d_squared(arrays["hkl"], arrays["cell"])
        nparams = noise.draw_params(arrays["f"], inv_d2, params.d_high, np.random.default_rng([crystal_seed, 1]))
        obs = noise.observe(arrays["hkl"], arrays["f"], arrays["cell"], model.space_group, nparams)
        name = f"case-{j:03d}"
        if not user:
            model.smiles = entry.smiles  # the shipped (canonical) string: its hash is its split
        cm.write_case(model, out / name, arrays["hkl"], obs)
        outer = inv_d2 >= 1.0 / (noise.OUTER_SHELL * params.d_high) ** 2
        return {
            "id": name, "smiles": entry.smiles if not user else model.smiles, "name": entry.name,
            "source": entry.source,
            "space_group": model.space_group, "cell": [round(x, 4) for x in model.cell], "z_prime": model.z_prime,
            "n_heavy": model.n_heavy, "n_rotatable": model.n_rotatable, "formula_asu": model.formula,
            "seed": crystal_seed, "volume": round(model.volume, 2),
            "volume_per_heavy_atom": round(model.volume_per_heavy_atom(), 2),
            "volume_over_hofmann": round(model.density_ratio, 4),
            "min_contact_over_threshold": round(model.min_contact_ratio, 4),
            "d_min": params.d_high, "n_reflections": int(len(arrays["f"])), "n_observed": int(obs.observed.sum()),
            "i_over_sigma_outer_shell": round(float(np.median((obs.i_obs / obs.sig_i)[outer])), 2),
            "noise": dict(zip(noise.NOISE_FIELDS, [float(x) for x in nparams[:5]] + [int(nparams[5])])),
        }
    raise XrdplugError(f"slot {j} ({slot['space_group']}, Z' {slot['z_prime']}): no molecule could be packed"
                       + (f" ({last})" if last else ""))
