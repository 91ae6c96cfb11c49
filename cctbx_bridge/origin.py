"""Origin search: P1 structure factors from charge flipping -> structure factors in the true space group.

Charge flipping solves in P1 with the structure anywhere in the cell. As smtbx's
`f_calc_symmetrisations` does (after phenix.hyss), cctbx.translation_search.fast_nv1995 maps the
correlation of the data with the P1 structure factors symmetrised about every trial origin, and
cctbx.symmetry_search.shift_refinement refines the shift of each strong peak; the correlation at the
refined shift is the figure of merit.

Two differences from smtbx: its peak search keeps only fast-correlation peaks above 0.5, which a 2-atom Cc
structure never reaches (its best, correct, peak is 0.45), so here peaks down to half the highest are
kept; and the `n` strongest are returned rather than the first, because the highest peak is not always
the right origin: the model R1 (polish.py) decides among them.
"""

from __future__ import annotations

from dataclasses import dataclass

from cctbx import maptbx, miller, symmetry_search, translation_search
from cctbx.array_family import flex

RELATIVE_CUTOFF = 0.5  # fast-correlation peaks below this fraction of the highest are not tried


@dataclass
class Origin:
    f_calc: miller.array  # symmetrised, shifted structure factors in the data's space group
    shift: tuple[float, float, float]  # fractional shift applied to the P1 solution
    correlation: float  # of the data with the symmetrised structure factors


def origin_candidates(f_obs: miller.array, f_calc_p1: miller.array, n: int = 3) -> list[Origin]:
    """Up to `n` origins, best correlation first (see the module docstring)."""
    if f_obs.space_group().order_z() == 1:  # P1: every origin is allowed
        return [Origin(f_calc_p1.common_set(f_obs), (0.0, 0.0, 0.0), 1.0)]
    out: list[Origin] = []
    for site in _correlation_peaks(f_obs, f_calc_p1)[:n]:
        sr = symmetry_search.shift_refinement(f_obs, f_calc_p1, site)
        shift = tuple(float(x) for x in sr.shift)
        out.append(Origin(sr.symmetrised_shifted_sf.f_x, shift, float(sr.goos.correlation)))
    out.sort(key=lambda o: -o.correlation)
    return out


def _correlation_peaks(f_obs: miller.array, f_calc_p1: miller.array) -> list[tuple[float, float, float]]:
    """Sites of the fast translation-function peaks, highest first, down to RELATIVE_CUTOFF of the top."""
    gridding = f_obs.crystal_gridding(
        symmetry_flags=translation_search.symmetry_flags(is_isotropic_search_model=False, have_f_part=False),
        resolution_factor=1 / 3,
    )
    cc_map = translation_search.fast_nv1995(
        gridding=gridding.n_real(),
        space_group=f_obs.space_group(),
        anomalous_flag=f_obs.anomalous_flag(),
        miller_indices_f_obs=f_obs.indices(),
        f_obs=f_obs.data(),
        f_part=flex.complex_double(),
        miller_indices_p1_f_calc=f_calc_p1.indices(),
        p1_f_calc=f_calc_p1.data(),
    ).target_map()
    params = maptbx.peak_search_parameters(
        peak_search_level=1,
        peak_cutoff=0.0,
        interpolate=True,
        min_distance_sym_equiv=1e-6,
        general_positions_only=False,
        min_cross_distance=f_obs.d_min() / 2,
    )
    peaks = list(gridding.tags().peak_search(map=cc_map, parameters=params))
    if not peaks:
        return []
    top = peaks[0].height
    return [tuple(p.site) for p in peaks if p.height >= RELATIVE_CUTOFF * top]
