"""Random (and CIF-derived) monoclinic structures and their |F|: the cctbx half of `xrdplug simulate`.

Everything random here is a pure function of one integer seed, so any stored sample can be rebuilt:

- ``random.Random(seed)`` (a private generator) draws the space group, the atom count, the volume per atom,
  the elements and the cell shape;
- then Python's global ``random`` and cctbx's ``flex`` generator are both seeded with ``seed`` and
  ``cctbx.development.random_structure`` places the atoms (it draws sites and U_iso from the global
  ``random``; ``flex.random_*`` is only used for "random" element lists, seeded anyway).

Choices (see also `SimParams`):

- space groups P2_1/c, P2_1, C2 (b unique), drawn uniformly;
- 10-30 atoms in the asymmetric unit, all on general positions (so the cell holds n * Z atoms);
- elements drawn per atom with weights C 0.55, N 0.15, O 0.20, Cl 0.10 for the default list (an organic-like
  mix; a user list without weights is drawn uniformly; ``C:5,N:1`` sets weights);
- volume per atom uniform in [14, 22] A^3 (non-hydrogen atoms), V = n * Z * v;
- the cell SHAPE varies: ln(a), ln(b), ln(c) relative ratios ~ N(0, 0.3) each and beta ~ U(90, 125) deg, then
  scaled to V. A shape is accepted when every edge is >= 3.5 A and the cell fits the model grid at d_high
  (`xrdplug.hklgrid.cell_fits`: every edge <= 20 * d_high = 16 A at 0.8 A); otherwise the shape is drawn
  again (rejection sampling, so large cells come out a little less elongated than small ones);
- isotropic ADPs with U_iso uniform in [0.01, 0.05] A^2 (B 0.8-3.9 A^2, typical of small-molecule data);
- minimum interatomic distance 1.2 A between any two atoms (symmetry mates included);
- |F| computed by cctbx's direct summation with a 2^18-point cos/sin table (see SF_TABLE; cctbx's FFT path
  is faster only at accuracies far worse than float16 storage), asymmetric unit of 2/m, no systematic
  absences, no F(000), to d_high. CIF structures use the same.

CIF structures: hydrogen (and deuterium) atoms are DROPPED before |F| is computed, because the synthetic
training structures have none and their X-ray contribution is small; pass ``keep_hydrogens=True`` to keep
them. Structures with partial occupancy (disorder), non-monoclinic groups, monoclinic groups that cannot
into a b-unique setting, or cells too large for the grid are skipped with a reason.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from cctbx import crystal, miller, sgtbx, uctbx, xray
from cctbx.array_family import flex
from cctbx.development import random_structure as _rs

from xrdplug import hklgrid
from xrdplug.errors import XrdplugError

DEFAULT_SPACE_GROUPS = ("P21/c", "P21", "C2")
DEFAULT_ELEMENTS = {"C": 0.55, "N": 0.15, "O": 0.20, "Cl": 0.10}
MIN_EDGE = 3.5
MAX_SHAPE_TRIES = 1000
MAX_PLACEMENT_TRIES = 20
# |F| by direct summation with a 2^18-point cos/sin look-up table: 2-2.5x faster than cctbx's exact direct
# sum, and measured against it on 40 random samples: median relative error 1.5e-5, worst absolute error
# 3.3e-4 of the mean |F|, i.e. below the float16 storage precision (relative 2.4e-4). 0 = exact.
SF_TABLE = 2**18
_tables: dict[int, Any] = {}
_LAUE_2M_B = sgtbx.space_group_info("P 1 2/m 1").group()


@dataclass
class SimParams:
    """Everything that, with a per-sample seed, determines a synthetic sample."""

    space_groups: list[str] = field(default_factory=lambda: list(DEFAULT_SPACE_GROUPS))
    elements: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_ELEMENTS))
    atoms: tuple[int, int] = (10, 30)
    volume_per_atom: tuple[float, float] = (14.0, 22.0)
    u_iso: tuple[float, float] = (0.01, 0.05)
    min_distance: float = 1.2
    ratio_sigma: float = 0.3
    beta: tuple[float, float] = (90.0, 125.0)
    d_high: float = 0.8
    sf_table: int = SF_TABLE

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["atoms"] = list(self.atoms)
        d["volume_per_atom"] = list(self.volume_per_atom)
        d["u_iso"] = list(self.u_iso)
        d["beta"] = list(self.beta)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SimParams:
        d = dict(d)
        for key in ("atoms", "volume_per_atom", "u_iso", "beta"):
            d[key] = tuple(d[key])
        return cls(**d)


# --------------------------------------------------------------------------------------------- symmetry


def space_group_b_unique(symbol: str) -> sgtbx.space_group_info:
    """A monoclinic space group in a b-unique setting, or XrdplugError saying why not."""
    try:
        sgi = sgtbx.space_group_info(symbol.strip())
    except Exception:
        raise XrdplugError(f"'{symbol}' is not a space group symbol cctbx knows") from None
    if sgi.group().build_derived_laue_group() != _LAUE_2M_B:
        raise XrdplugError(
            f"space group {sgi} is not monoclinic with b unique (Laue class 2/m); the model grid needs that"
        )
    return sgi


def is_b_unique_monoclinic(sgi: sgtbx.space_group_info) -> bool:
    return sgi.group().build_derived_laue_group() == _LAUE_2M_B


def parse_space_groups(spec: str | list[str]) -> list[str]:
    """'P21/c,P21,C2' -> canonical symbols ('P 1 21/c 1', ...), checked monoclinic b-unique."""
    items = [s for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    if not items:
        raise XrdplugError("no space group given")
    return [str(space_group_b_unique(s)) for s in items]


def parse_elements(spec: str | dict[str, float]) -> dict[str, float]:
    """'C,N,O,Cl' (default weights for the default set, else uniform) or 'C:5,N:1' -> normalised weights."""
    if isinstance(spec, dict):
        weights = dict(spec)
    else:
        parts = [p.strip() for p in spec.split(",") if p.strip()]
        if not parts:
            raise XrdplugError("no element given")
        if all(":" not in p for p in parts):
            names = [p.capitalize() for p in parts]
            if sorted(names) == sorted(DEFAULT_ELEMENTS):
                weights = {n: DEFAULT_ELEMENTS[n] for n in names}
            else:
                weights = {n: 1.0 for n in names}
        else:
            weights = {}
            for p in parts:
                name, _, w = p.partition(":")
                try:
                    weights[name.strip().capitalize()] = float(w) if w else 1.0
                except ValueError:
                    raise XrdplugError(f"bad element weight '{p}' (use e.g. C:5,N:1)") from None
    from cctbx.eltbx import xray_scattering

    for name, w in weights.items():
        try:
            xray_scattering.best_approximation(name)
        except Exception:
            raise XrdplugError(f"'{name}' is not an element cctbx has scattering factors for") from None
        if not w > 0:
            raise XrdplugError(f"element weight of {name} must be positive")
    total = sum(weights.values())
    return {k: v / total for k, v in weights.items()}


# --------------------------------------------------------------------------------------------- random cells


def random_cell(
    rng: random.Random, volume: float, params: SimParams
) -> tuple[float, float, float, float, float, float]:
    """A monoclinic cell of the given volume with a random shape that fits the grid at params.d_high."""
    for _ in range(MAX_SHAPE_TRIES):
        la, lb, lc = (rng.gauss(0.0, params.ratio_sigma) for _ in range(3))
        beta = rng.uniform(*params.beta)
        sb = math.sin(math.radians(beta))
        scale = (volume / (math.exp(la + lb + lc) * sb)) ** (1.0 / 3.0)
        a, b, c = scale * math.exp(la), scale * math.exp(lb), scale * math.exp(lc)
        cell = (a, b, c, 90.0, beta, 90.0)
        if min(a, b, c) >= MIN_EDGE and hklgrid.cell_fits(cell, params.d_high):
            return cell
    raise XrdplugError(
        f"no cell of volume {volume:.0f} A^3 fits the model grid at d_high {params.d_high} A; "
        "use fewer atoms or a smaller volume per atom"
    )


def _draw(rng: random.Random, weights: dict[str, float], n: int) -> list[str]:
    names = sorted(weights)  # not dict order: meta.json stores the weights with sorted keys
    return rng.choices(names, weights=[weights[k] for k in names], k=n)


def structure_from_seed(seed: int, params: SimParams | None = None) -> xray.structure:
    """The random structure of one sample, rebuilt exactly from its seed (the phasing reference)."""
    params = params or SimParams()
    rng = random.Random(seed)
    saved = random.getstate()  # random_structure draws from the global generator: restore it afterwards
    random.seed(seed)
    flex.set_random_seed(seed % (2**31))
    try:
        return _build(seed, rng, params)
    finally:
        random.setstate(saved)


def _build(seed: int, rng: random.Random, params: SimParams) -> xray.structure:
    for _ in range(MAX_PLACEMENT_TRIES):
        sgi = sgtbx.space_group_info(rng.choice(params.space_groups))
        n = rng.randint(*params.atoms)
        v = rng.uniform(*params.volume_per_atom)
        elements = _draw(rng, params.elements, n)
        cell = random_cell(rng, n * v * sgi.group().order_z(), params)
        try:
            xs = _rs.xray_structure(
                space_group_info=sgi,
                unit_cell=cell,
                elements=elements,
                min_distance=params.min_distance,
                general_positions_only=True,
                random_u_iso=True,
                random_u_iso_min=params.u_iso[0],
                random_u_iso_scale=params.u_iso[1] - params.u_iso[0],
            )
        except RuntimeError:  # no room for the sites with this cell: draw everything again
            continue
        # a plain xray.structure, without random_structure's extra state
        return xray.structure(special_position_settings=xs, scatterers=xs.scatterers())
    raise XrdplugError(f"seed {seed}: could not place the atoms in {MAX_PLACEMENT_TRIES} cells")


# --------------------------------------------------------------------------------------------- amplitudes


def sample_amplitudes(xs: xray.structure, d_high: float, sf_table: int = 0) -> miller.array:
    """|F| of the asymmetric unit (2/m, no absences, no F000) to d_high, by direct summation, as the data sets
    store them (`structures.amplitudes` is the general one: any d_max, anomalous, FFT).

    sf_table = 0: cctbx's exact sum; else cctbx's sum with a cos/sin look-up table of that many points.
    """
    ms = xs.build_miller_set(anomalous_flag=False, d_min=d_high)
    if sf_table:
        from cctbx import math_module

        table = _tables.get(sf_table)
        if table is None:
            table = _tables[sf_table] = math_module.cos_sin_table(int(sf_table))
        sf = xray.structure_factors.from_scatterers(miller_set=ms, cos_sin_table=table)
        f = sf(xray_structure=xs, miller_set=ms, algorithm="direct").f_calc().amplitudes()
    else:
        f = ms.structure_factors_from_scatterers(xs, algorithm="direct").f_calc().amplitudes()
    f.set_observation_type_xray_amplitude()
    return f


def sample_arrays(xs: xray.structure, d_high: float, sf_table: int = SF_TABLE) -> dict[str, Any]:
    """What a shard stores for one structure: int8 indices, float32 |F| (stored as float16), cell, group."""
    f = sample_amplitudes(xs, d_high, sf_table)
    hkl = np.rint(f.indices().as_vec3_double().as_numpy_array()).astype(np.int64).reshape(-1, 3)
    if np.abs(hkl).max(initial=0) > 127:
        raise XrdplugError("indices do not fit int8")
    values = f.data().as_numpy_array().astype(np.float32)
    # canonical, sorted order: compresses well and is independent of cctbx's ordering
    canon = hklgrid.canonical_indices(hkl)
    order = np.lexsort((canon[:, 2], canon[:, 1], canon[:, 0]))
    return {
        "hkl": canon[order].astype(np.int8),
        "f": values[order],
        "cell": tuple(float(x) for x in xs.unit_cell().parameters()),
        "space_group": str(xs.space_group_info()),
        "n_atoms": int(xs.scatterers().size()),
    }


def simulate_seed(seed: int, params: SimParams) -> dict[str, Any]:
    """One synthetic sample from its seed."""
    out = sample_arrays(structure_from_seed(seed, params), params.d_high, params.sf_table)
    out["seed"] = int(seed)
    return out


# --------------------------------------------------------------------------------------------- CIF input


def cif_structures(path: Path) -> Iterator[tuple[str, xray.structure | None, str]]:
    """(block name, structure or None, reason) for every data block of a CIF that holds atoms."""
    try:
        found = xray.structure.from_cif(file_path=str(path))
    except Exception as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        yield "", None, f"unreadable CIF ({msg[:120]})"
        return
    if not found:
        yield "", None, "no structure (cell, symmetry and atom sites) in the file"
        return
    for name, xs in found.items():
        yield name, xs, ""


def prepare_cif_structure(
    xs: xray.structure, d_high: float, keep_hydrogens: bool = False, check_grid: bool = True
) -> tuple[xray.structure | None, str]:
    """Check a CIF structure for use and put it in a b-unique setting; (structure, "") or (None, reason)."""
    if xs.scatterers().size() == 0:
        return None, "no atoms"
    occ = xs.scatterers().extract_occupancies().as_numpy_array()
    if np.any(occ < 0.999):
        return None, "partial occupancy (disorder)"
    sgi = xs.space_group_info()
    if sgi.group().crystal_system() != "Monoclinic":
        return None, f"non-monoclinic space group {sgi}"
    if not is_b_unique_monoclinic(sgi):
        cb = sgi.change_of_basis_op_to_reference_setting()
        xs = xs.change_basis(cb)
        if not is_b_unique_monoclinic(xs.space_group_info()):
            return None, f"monoclinic group {sgi} could not be put in a b-unique setting"
    if not keep_hydrogens:
        types = xs.scattering_types()
        xs = xs.select((types != "H") & (types != "D"))
        if xs.scatterers().size() == 0:
            return None, "only hydrogen atoms"
    cell = tuple(xs.unit_cell().parameters())
    if check_grid and not hklgrid.cell_fits(cell, d_high):  # type: ignore[arg-type]
        return None, (
            f"cell {cell[0]:.1f} {cell[1]:.1f} {cell[2]:.1f} too large for the model grid at {d_high} A"
        )
    return xs, ""


def structure_from_cif(
    path: str | Path, block: str, d_high: float, keep_hydrogens: bool = False
) -> xray.structure:
    """Re-read the structure of a CIF-derived sample (as it was used: b-unique, H dropped unless kept)."""
    found = xray.structure.from_cif(file_path=str(path))
    if block not in found:
        raise XrdplugError(f"{path}: no data block '{block}'")
    xs, why = prepare_cif_structure(found[block], d_high, keep_hydrogens)
    if xs is None:
        raise XrdplugError(f"{path} [{block}]: {why}")
    return xs


# --------------------------------------------------------------------------------------------- stored samples


def sample_to_miller(raw: dict[str, Any]) -> miller.array:
    """The amplitude miller.array of a stored sample (`xrdplug.data.shards.load_sample` / `ShardDataset.raw`).

    Indices are mapped to cctbx's asymmetric unit; values are the stored |F| (float16 precision).
    """
    cs = crystal.symmetry(
        unit_cell=uctbx.unit_cell(tuple(raw["cell"])), space_group_symbol=str(raw["space_group"])
    )
    hkl = np.asarray(raw["hkl"], dtype=np.int32).reshape(-1, 3)
    idx = flex.miller_index(*(flex.int(np.ascontiguousarray(hkl[:, j])) for j in range(3)))
    ms = miller.set(cs, idx, anomalous_flag=False)
    f = ms.array(data=flex.double(np.asarray(raw["f"], dtype=np.float64))).map_to_asu()
    f.set_observation_type_xray_amplitude()
    return f


def bare_cctbx_cost(repeat: int, seed: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """Mean (wall, CPU) seconds of plain cctbx building a random 20-atom P2_1/c structure (cctbx's own
    cell, 18 A^3/atom) and of its exact |F| to 0.8 A (direct sum): the yardstick `bench simulate` prints."""
    import time

    sgi = sgtbx.space_group_info("P 1 21/c 1")
    random.seed(seed)
    flex.set_random_seed(seed)
    build, sf = [0.0, 0.0], [0.0, 0.0]
    for _ in range(repeat):
        t = time.perf_counter(), time.process_time()
        xs = _rs.xray_structure(
            space_group_info=sgi, elements=["C"] * 14 + ["N"] * 3 + ["O"] * 3, volume_per_atom=18.0,
            min_distance=1.2, general_positions_only=True, random_u_iso=True, random_u_iso_min=0.01,
            random_u_iso_scale=0.04,
        )
        u = time.perf_counter(), time.process_time()
        xs.structure_factors(d_min=0.8, algorithm="direct").f_calc().amplitudes()
        v = time.perf_counter(), time.process_time()
        for k in range(2):
            build[k] += (u[k] - t[k]) / repeat
            sf[k] += (v[k] - u[k]) / repeat
    return (build[0], build[1]), (sf[0], sf[1])
