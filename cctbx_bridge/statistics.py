"""Figures of a data set (`xrdplug info`) and R factors between two cctbx amplitude arrays.

The R factor, in its cctbx form (the figures xrdplug reports on data sets are computed in numpy by
`xrdplug.models.metrics`, over whole grids; this one works on miller arrays and is what a cctbx script wants):

    R = sum_h | |F_ref(h)| - k |F(h)| |  /  sum_h |F_ref(h)|,      k = sum |F_ref||F| / sum |F|^2

over the reflections common to both arrays inside the resolution shell d_max > d >= d_min. k is the
least-squares scale (cctbx `r1_factor(scale_factor=Auto)`), so R measures shape, not scale; pass
`fit_scale=False` for k = 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import libtbx
import numpy as np
from cctbx import miller


@dataclass
class Summary:
    space_group: str
    cell: tuple[float, ...]
    n_reflections: int
    d_max: float
    d_min: float
    completeness: float


def summarise(f_obs: miller.array) -> Summary:
    d_max, d_min = f_obs.d_max_min()
    return Summary(
        space_group=str(f_obs.space_group_info()),
        cell=tuple(round(x, 4) for x in f_obs.unit_cell().parameters()),
        n_reflections=f_obs.size(),
        d_max=d_max,
        d_min=d_min,
        completeness=f_obs.completeness(d_max=d_max),
    )


def resolution_cut(f: miller.array, d_max: float | None = None, d_min: float | None = None) -> miller.array:
    return f.resolution_filter(d_max=d_max or 0, d_min=d_min or 0)


def r_factor(reference: miller.array, other: miller.array, d_max: float | None = None,
             d_min: float | None = None, fit_scale: bool = True) -> float:
    """R between two amplitude arrays in a shell (formula in the module docstring); NaN if empty."""
    ref, oth = reference.common_sets(other)
    ref = resolution_cut(ref, d_max, d_min)
    oth = resolution_cut(oth, d_max, d_min)
    if ref.size() == 0:
        return float("nan")
    ref, oth = ref.common_sets(oth)
    return float(ref.r1_factor(oth, scale_factor=libtbx.Auto if fit_scale else None))


def r_table(reference: miller.array, other: miller.array, edges: list[float],
            fit_scale: bool = True) -> list[tuple[float, float, int, float]]:
    """Per-shell R for shells between consecutive resolution edges (descending d).

    Returns rows (d_max, d_min, n_reflections, R); the scale is fitted once over all shells so the rows
    are comparable.
    """
    ref, oth = reference.common_sets(other)
    ref = resolution_cut(ref, edges[0], edges[-1])
    oth = resolution_cut(oth, edges[0], edges[-1])
    ref, oth = ref.common_sets(oth)
    k = 1.0
    if fit_scale and oth.size():
        a, b = ref.data().as_numpy_array(), oth.data().as_numpy_array()
        denom = (b * b).sum()
        k = (a * b).sum() / denom if denom > 0 else 1.0
    rows = []
    for hi, lo in zip(edges[:-1], edges[1:]):
        r = resolution_cut(ref, hi, lo)
        o = resolution_cut(oth, hi, lo)
        r, o = r.common_sets(o)
        a, b = r.data().as_numpy_array(), o.data().as_numpy_array()
        num, den = float(np.abs(a - k * b).sum()), float(a.sum())
        rows.append((hi, lo, r.size(), float(num / den) if den > 0 else float("nan")))
    return rows
