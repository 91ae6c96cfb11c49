"""The cctbx half of direct-space search: reflections and symmetry as plain arrays, and results back.

A search moves a molecule through thousands of trial positions; it computes structure factors itself
(vectorised, in torch) from what `search_data` extracts here once: indices, amplitudes, symmetry operators
reduced to what a structure-factor sum needs, the cell's metric, form factors per element, and the
directions in which the origin is free. `structure_from_sites` turns a found model back into a
`cctbx.xray.structure`; `model_figures` scores it with cctbx (R1, correlation) so the figures a user reads
never depend on the search's own arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import libtbx
import numpy as np
from cctbx import crystal, miller, sgtbx, xray
from cctbx.array_family import flex

from xrdplug.errors import XrdplugError


@dataclass
class SearchData:
    """Everything a structure-factor sum needs, as numpy arrays (no cctbx objects)."""

    hkl: np.ndarray  # (K, 3) int, asymmetric unit, no systematic absences, no F000
    f_obs: np.ndarray  # (K,) amplitudes on the data's own scale
    sigma: np.ndarray | None  # (K,) sigma(F) or None
    s2: np.ndarray  # (K,) 1/d^2
    rotations: np.ndarray  # (S, 3, 3) the operators summed explicitly (see `reduced_operators`)
    translations: np.ndarray  # (S, 3)
    real_sum: bool  # True: F = 2 * sum cos (the group has an inversion centre at the origin)
    multiplier: float  # lattice translations (and the inversion, when real_sum) summed analytically
    fractionalisation: np.ndarray  # (3, 3) Cartesian A -> fractional
    orthogonalisation: np.ndarray  # (3, 3) fractional -> Cartesian A
    free_origin: np.ndarray  # (F, 3) fractional directions along which the origin may move (polar axes)
    space_group: str
    cell: tuple[float, float, float, float, float, float]
    order_z: int
    all_rotations: np.ndarray | None = None  # (Z, 3, 3) every operator of the group (centring included)
    all_translations: np.ndarray | None = None  # (Z, 3)
    origin_shifts: np.ndarray | None = None  # (M, 3) discrete permissible origin shifts (0 included)
    epsilon: np.ndarray | None = None  # (K,) statistical weights (reflections on symmetry elements)
    centric: np.ndarray | None = None  # (K,) bool

    @property
    def d(self) -> np.ndarray:
        return 1.0 / np.sqrt(self.s2)


def reduced_operators(sg: sgtbx.space_group) -> tuple[np.ndarray, np.ndarray, bool, float]:
    """Operators a structure-factor sum must visit, and the factor the others contribute.

    Lattice translations multiply every allowed reflection by their number; an inversion centre at the
    origin pairs each operator with its inverse, so F = 2 sum cos over half of them (as cctbx does).
    """
    real = bool(sg.is_origin_centric())
    ops = [sg(0, 0, i) for i in range(sg.n_smx())]
    if sg.is_centric() and not real:  # inversion off the origin: sum its partners explicitly
        ops += [sg(0, 1, i) for i in range(sg.n_smx())]
    rot = np.array([np.array(op.r().as_double()).reshape(3, 3) for op in ops])
    tr = np.array([np.array(op.t().as_double()) for op in ops])
    multiplier = float(sg.n_ltr()) * (2.0 if real else 1.0)
    return rot, tr, real, multiplier


def origin_shifts(sg: sgtbx.space_group) -> np.ndarray:
    """The discrete permissible origin shifts (structure seminvariant steps, e.g. 1/2 along each axis of
    P2_1/c): shifting a solution by one of them gives the same crystal."""
    steps = [np.array(v.v, dtype=float) / v.m for v in sgtbx.structure_seminvariants(sg).vectors_and_moduli()
             if v.m > 0]
    shifts = [np.zeros(3)]
    for step in steps:
        n = int(round(1 / max(np.abs(step).max(), 1e-9)))
        shifts = [s + k * step for s in shifts for k in range(n)]
    return np.array(shifts) % 1.0


def free_origin_directions(sg: sgtbx.space_group) -> np.ndarray:
    """Fractional directions of continuous origin shifts (e.g. b in P2_1 and C2; a and c in Pc, Cc)."""
    ss = sgtbx.structure_seminvariants(sg)
    vecs = [np.array(v.v, dtype=float) for v in ss.vectors_and_moduli() if v.m == 0]
    return np.array(vecs).reshape(-1, 3)


def _amplitudes(f_obs: miller.array) -> miller.array:
    if f_obs.crystal_symmetry() is None or f_obs.space_group_info() is None or f_obs.unit_cell() is None:
        raise XrdplugError("the reflections carry no cell or space group; direct-space search needs both")
    f = f_obs
    if f.is_complex_array():
        f = f.amplitudes()
    elif f.is_xray_intensity_array():
        f = f.select(f.data() > 0).f_sq_as_f()
    if f.anomalous_flag():
        f = f.average_bijvoet_mates()
    if not f.is_unique_set_under_symmetry():
        f = f.merge_equivalents().array()
    f = f.map_to_asu().eliminate_sys_absent()
    f = f.select(flex.bool([h != (0, 0, 0) for h in f.indices()]) & (f.data() > 0))
    if f.size() < 10:
        raise XrdplugError(f"only {f.size()} usable reflections: too few for a direct-space search")
    return f


def search_data(f_obs: miller.array) -> SearchData:
    """Extract a direct-space search problem from merged amplitudes with their crystal symmetry."""
    f = _amplitudes(f_obs)
    sg = f.space_group()
    uc = f.unit_cell()
    rot, tr, real, mult = reduced_operators(sg)
    hkl = np.array(f.indices(), dtype=np.int64).reshape(-1, 3)
    sig = f.sigmas().as_numpy_array().astype(np.float64) if f.sigmas() is not None else None
    return SearchData(
        hkl=hkl,
        f_obs=f.data().as_numpy_array().astype(np.float64),
        sigma=sig,
        s2=f.d_star_sq().data().as_numpy_array().astype(np.float64),
        rotations=rot,
        translations=tr,
        real_sum=real,
        multiplier=mult,
        fractionalisation=np.array(uc.fractionalization_matrix()).reshape(3, 3),
        orthogonalisation=np.array(uc.orthogonalization_matrix()).reshape(3, 3),
        free_origin=free_origin_directions(sg),
        all_rotations=np.array([np.array(op.r().as_double()).reshape(3, 3) for op in sg.all_ops()]),
        all_translations=np.array([np.array(op.t().as_double()) for op in sg.all_ops()]),
        origin_shifts=origin_shifts(sg),
        space_group=str(f.space_group_info()),
        cell=tuple(float(x) for x in uc.parameters()),  # type: ignore[arg-type]
        order_z=int(sg.order_z()),
        epsilon=f.epsilons().data().as_numpy_array().astype(np.float64),
        centric=f.centric_flags().data().as_numpy_array().astype(bool),
    )


def form_factors(elements: Sequence[str], s2: np.ndarray) -> np.ndarray:
    """(K, E) X-ray form factors of each element at each 1/d^2, from the scattering table cctbx's
    structure factors use by default ("n_gaussian"), so the search and cctbx agree to rounding."""
    stol2 = np.asarray(s2, dtype=np.float64) / 4.0
    probe = xray.structure(crystal_symmetry=crystal.symmetry((10, 10, 10, 90, 90, 90), "P 1"))
    try:
        probe.add_scatterers(flex.xray_scatterer([xray.scatterer(f"X{i}", (0, 0, 0), scattering_type=el)
                                                  for i, el in enumerate(elements)]))
        registry = probe.scattering_type_registry()
    except Exception:
        raise XrdplugError(f"no X-ray scattering factors for one of {', '.join(elements)}") from None
    out = np.empty((len(stol2), len(elements)))
    for j, el in enumerate(elements):
        gauss = registry.gaussian_not_optional(scattering_type=el)
        a, b = np.array(gauss.array_of_a()), np.array(gauss.array_of_b())
        out[:, j] = (a[None, :] * np.exp(-b[None, :] * stol2[:, None])).sum(axis=1) + gauss.c()
    return out


def structure_from_sites(
    symmetry_source: miller.array | crystal.symmetry,
    elements: Sequence[str],
    sites_frac: np.ndarray,
    u_iso: Sequence[float] | np.ndarray,
    labels: Sequence[str] | None = None,
    occupancy: Sequence[float] | np.ndarray | None = None,
) -> xray.structure:
    """An `xray.structure` in the data's symmetry from element symbols and fractional sites."""
    cs = symmetry_source if isinstance(symmetry_source, crystal.symmetry) else symmetry_source.crystal_symmetry()
    # no snapping to special positions: a model atom near a symmetry element stays where the search put it
    # (as the search's own structure factors assume); the molecule models here sit on general positions
    xs = xray.structure(special_position_settings=crystal.special_position_settings(cs, min_distance_sym_equiv=0.0))
    counts: dict[str, int] = {}
    sc = flex.xray_scatterer()
    occ = np.ones(len(elements)) if occupancy is None else np.asarray(occupancy, dtype=float)
    for i, (el, site) in enumerate(zip(elements, np.asarray(sites_frac, dtype=float))):
        counts[el] = counts.get(el, 0) + 1
        label = labels[i] if labels is not None else f"{el}{counts[el]}"
        sc.append(xray.scatterer(label=label, site=tuple(float(v) for v in site), u=float(u_iso[i]),
                                 occupancy=float(occ[i]), scattering_type=el))
    xs.add_scatterers(sc)
    return xs


@dataclass
class ModelFigures:
    r1: float  # sum ||Fo| - k|Fc|| / sum |Fo|, k fitted (cctbx r1_factor)
    correlation_i: float  # correlation of Fo^2 and Fc^2
    n_reflections: int
    d_min: float


def model_figures(f_obs: miller.array, structure: xray.structure, d_min: float | None = None) -> ModelFigures:
    """R1 and intensity correlation of a model against the data (cctbx's own structure factors)."""
    f = _amplitudes(f_obs)
    if d_min is not None:
        f = f.resolution_filter(d_min=d_min)
    fc = f.structure_factors_from_scatterers(structure, algorithm="direct").f_calc().amplitudes()
    fo, fc = f.common_sets(fc)
    r1 = float(fo.r1_factor(fc, scale_factor=libtbx.Auto))
    io, ic = fo.data().as_numpy_array() ** 2, fc.data().as_numpy_array() ** 2
    cc = float(np.corrcoef(io, ic)[0, 1]) if io.size > 2 and ic.std() > 0 else float("nan")
    return ModelFigures(r1=r1, correlation_i=cc, n_reflections=int(fo.size()), d_min=float(fo.d_min()))


def f_calc_cctbx(structure: xray.structure, hkl: np.ndarray) -> np.ndarray:
    """Complex F_calc of a structure at given indices (cctbx direct summation): the engine's yardstick."""
    idx = flex.miller_index([tuple(int(v) for v in h) for h in np.asarray(hkl)])
    ms = miller.set(structure.crystal_symmetry(), idx, anomalous_flag=False)
    fc = ms.structure_factors_from_scatterers(structure, algorithm="direct").f_calc().data()
    return np.array([complex(z) for z in fc])


def inversion_centres(space_group: str) -> list[tuple[float, float, float]]:
    """Inversion centres of a space group, one per class of origin-equivalent centres.

    A centrosymmetric molecule may sit on any of them, but centres related by a permissible origin shift
    (the discrete structure seminivariant shifts, e.g. 1/2 along each axis of P2_1/c) give the same
    crystal, so one of each class is enough: one class in P2_1/c, two in C2/c (4a/4b and 4c/4d).
    """
    sgi = sgtbx.space_group_info(space_group)
    sg = sgi.group()
    table = sgi.wyckoff_table()
    centres = []
    for i in range(table.size()):
        pos = table.position(i)
        if pos.point_group_type() == "-1":
            centres.append(np.array(pos.special_op().t().as_double()) % 1.0)
    shifts = list(origin_shifts(sg))
    ops = [(np.array(op.r().as_double()).reshape(3, 3), np.array(op.t().as_double())) for op in sg.all_ops()]

    def same(a: np.ndarray, b: np.ndarray) -> bool:
        for r, t in ops:
            for sh in shifts:
                d = r @ a + t + sh - b
                if np.all(np.abs(d - np.round(d)) < 1e-6):
                    return True
        return False

    reps: list[np.ndarray] = []
    for c in sorted(centres, key=lambda c: (float(c.sum()), tuple(c))):
        if not any(same(c, r) for r in reps):
            reps.append(c)
    return [tuple(float(x) for x in c) for c in reps]


def twofold_sites(space_group: str) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The 2-fold axes and mirror planes of a group as Wyckoff projectors: (label, R, t) with x -> R x + t
    putting any point on the element. A molecule with a 2-fold axis or a mirror plane of its own (or a
    planar one, on a mirror) may sit there, half of it in the asymmetric unit (Z' = 1/2)."""
    table = sgtbx.space_group_info(space_group).wyckoff_table()
    out: list[tuple[str, np.ndarray, np.ndarray]] = []
    for i in range(table.size()):
        pos = table.position(i)
        if pos.point_group_type() in ("2", "m"):
            op = pos.special_op()
            r = np.array(op.r().as_double()).reshape(3, 3)
            out.append((f"{pos.multiplicity()}{pos.letter()} ({pos.point_group_type()})", r,
                        np.array(op.t().as_double())))
    return out


def merge_symmetry_copies(structure: xray.structure, tolerance: float = 0.5) -> xray.structure:
    """A molecule modelled whole at half occupancy on a 2-fold axis or mirror, as a crystallographer writes
    it: each atom and the symmetry copy of an atom of the same element within `tolerance` (A) become one
    atom at full occupancy, at their mean site (so the pair is exactly symmetric) with their mean U; an
    atom that its own copy overlaps sits on the element (snapped onto it by cctbx's special-position
    rules). Atoms without a partner (an H of a methyl group astride the element) keep their half
    occupancy."""
    sg = structure.space_group()
    uc = structure.unit_cell()
    orth = np.array(uc.orthogonalization_matrix()).reshape(3, 3)
    frac = structure.sites_frac().as_numpy_array()
    types = np.array(list(structure.scattering_types()))
    ops = [(np.array(op.r().as_double()).reshape(3, 3), np.array(op.t().as_double()))
           for op in sg.all_ops()][1:]
    u_iso = structure.scatterers().extract_u_iso().as_numpy_array()
    n = len(frac)
    drop = np.zeros(n, dtype=bool)
    whole = np.zeros(n, dtype=bool)
    site = frac.copy()
    u = u_iso.copy()
    for i in range(n):
        if drop[i]:
            continue
        for r, t in ops:
            delta = frac - (r @ frac[i] + t)
            delta -= np.round(delta)
            dist = np.where(types == types[i], np.linalg.norm(delta @ orth.T, axis=1), np.inf)
            dist[drop | whole] = np.inf  # an atom already merged is not merged again
            j = int(np.argmin(dist))
            if dist[j] < tolerance:
                whole[i] = True
                # x_j is the image of x_i + R^-1 delta_j: the pair's mean site, in atom i's frame
                site[i] = frac[i] + np.linalg.solve(r, delta[j]) / 2
                u[i] = (u_iso[i] + u_iso[j]) / 2
                drop[j] = j != i
                break
    out = xray.structure(crystal_symmetry=structure.crystal_symmetry())
    sc = flex.xray_scatterer()
    for i, s in enumerate(structure.scatterers()):
        if drop[i]:
            continue
        if whole[i]:
            s = s.customized_copy(site=tuple(float(v) for v in site[i]), u=float(u[i]),
                                  occupancy=min(1.0, 2 * s.occupancy))
        sc.append(s)
    out.add_scatterers(sc)
    return out


def cell_volume(cell: Sequence[float]) -> float:
    a, b, c, al, be, ga = cell
    ca, cb, cg = (math.cos(math.radians(x)) for x in (al, be, ga))
    return a * b * c * math.sqrt(max(1 - ca * ca - cb * cb - cg * cg + 2 * ca * cb * cg, 0.0))


def molecules_in_structure(
    structure: xray.structure, tolerance: float = 0.45, min_occupancy: float = 0.5
) -> list[tuple[list[str], np.ndarray, list[int]]]:
    """The molecules of a crystal structure's asymmetric unit, each assembled whole across symmetry.

    Atoms are bonded when closer than the sum of their covalent radii plus `tolerance` (cctbx's
    `add_covalent_pairs`); the minor part of a disorder (occupancy < `min_occupancy`, or the second of two
    sites closer than 0.8 A) is left out. Returns (elements, Cartesian coordinates, atom indices) per
    molecule, largest first (atom indices repeat for a molecule on a symmetry element).
    """
    occ = structure.scatterers().extract_occupancies().as_numpy_array()
    keep = occ >= min_occupancy - 1e-6
    sites = structure.sites_cart().as_numpy_array()
    is_h = np.array([t in ("H", "D") for t in structure.scattering_types()])
    for i in range(len(sites)):  # equal-occupancy disorder: keep the first of two near-coincident sites
        if keep[i]:
            close = np.linalg.norm(sites[i + 1:] - sites[i], axis=1) < 0.8
            close &= is_h[i + 1:] == is_h[i]  # a short X-ray X-H bond is no disorder
            keep[i + 1:][close] = False
    xs = structure.select(flex.bool(keep.tolist()))
    index = np.flatnonzero(keep)
    am = xs.asu_mappings(buffer_thickness=3.5)
    pat = crystal.pair_asu_table(am)
    pat.add_covalent_pairs(xs.scattering_types(), tolerance=tolerance)
    table = pat.extract_pair_sym_table(skip_j_seq_less_than_i_seq=False, all_interactions_from_inside_asu=True)
    uc = xs.unit_cell()
    frac = xs.sites_frac()
    n = xs.scatterers().size()
    types = xs.scattering_types()
    seen_atoms: set[int] = set()
    molecules = []
    for start in range(n):
        if start in seen_atoms:
            continue
        # images (atom, operator) grown along bonds; an atom may appear twice when the molecule sits on
        # a symmetry element (Z' = 1/2): both images are kept, as the whole molecule has both
        images: list[tuple[int, object]] = [(start, sgtbx.rt_mx())]
        coords = [np.array(uc.orthogonalize(frac[start]))]
        queue = [0]
        while queue:
            k = queue.pop()
            i, op_i = images[k]
            for j, ops in table[i].items():
                for op in ops:
                    op_j = op_i.multiply(op)  # type: ignore[attr-defined]
                    x = np.array(uc.orthogonalize(op_j * frac[j]))
                    if min(np.linalg.norm(x - c) for c in coords) < 0.1:
                        continue
                    images.append((j, op_j))
                    coords.append(x)
                    queue.append(len(images) - 1)
        seen_atoms.update(i for i, _ in images)
        elements = [types[i] for i, _ in images]
        molecules.append((elements, np.array(coords), [int(index[i]) for i, _ in images]))
    molecules.sort(key=lambda m: -len(m[0]))
    return molecules
