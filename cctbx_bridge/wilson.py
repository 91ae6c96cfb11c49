"""The Wilson baseline: every unmeasured |F| set to its Wilson expectation from the cell content.

This is the prediction that knows no structure at all, only what the atoms are:

    Sigma(s)  = epsilon(hkl) * sum over the atoms of the unit cell of f_j(s)^2     (f_j: WK1995 form factors)
    E|F|      = sqrt(pi)/2 * sqrt(Sigma)   acentric          sqrt(2/pi) * sqrt(Sigma)   centric
    F_wilson  = k * exp(-B s^2 / 4) * E|F|                    s^2 = 1/d^2

k and the overall B are fitted on the measured reflections by a Wilson plot: ln(<F_obs^2> / <Sigma>) against
<s^2> in bins of equal count, a straight line ln k^2 - (B/2) s^2, weighted by the reflections per bin, over
the measured reflections with d <= `d_fit_max` (the low-resolution ones follow the molecular transform, not
Wilson statistics). A model that does not beat this has learnt nothing about structure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from cctbx import miller
from cctbx.array_family import flex
from cctbx.eltbx import xray_scattering

D_FIT_MAX = 3.0  # A: measured reflections with d <= this take part in the Wilson fit
N_FIT_BINS = 8
ACENTRIC = math.sqrt(math.pi) / 2.0
CENTRIC = math.sqrt(2.0 / math.pi)


@dataclass
class WilsonFit:
    k: float  # scale on |F|
    b: float  # overall B (A^2)
    n_used: int  # measured reflections in the fit


def _form_factor(label: str):
    try:
        return xray_scattering.wk1995(label, True).fetch()
    except (RuntimeError, ValueError):
        return xray_scattering.wk1995(label, False).fetch()


def sigma(ms: miller.set, content: dict[str, float]) -> np.ndarray:
    """epsilon * sum_j f_j^2 over the unit-cell content {scattering type: atoms per cell} (B = 0)."""
    d_star_sq = ms.d_star_sq().data()
    total = np.zeros(ms.size())
    for label, count in content.items():
        if count <= 0:
            continue
        f = _form_factor(label).at_d_star_sq(d_star_sq).as_numpy_array()
        total += count * f**2
    eps = ms.epsilons().data().as_numpy_array().astype(np.float64)
    return eps * total


def expected_amplitudes(ms: miller.set, content: dict[str, float]) -> np.ndarray:
    """E|F| per reflection for the cell content, B = 0, k = 1 (centric/acentric by the space group)."""
    centric = ms.centric_flags().data().as_numpy_array().astype(bool)
    return np.where(centric, CENTRIC, ACENTRIC) * np.sqrt(sigma(ms, content))


def fit_scale_b(f_obs: miller.array, content: dict[str, float], d_fit_max: float = D_FIT_MAX,
                n_bins: int = N_FIT_BINS) -> WilsonFit:
    """k and B from a Wilson plot of the measured amplitudes (see the module docstring)."""
    sel = f_obs.d_spacings().data() <= d_fit_max
    use = f_obs.select(sel) if sel.count(True) >= 4 * n_bins else f_obs
    f2 = use.data().as_numpy_array().astype(np.float64) ** 2
    sig = sigma(use, content)
    s2 = use.d_star_sq().data().as_numpy_array()
    order = np.argsort(s2)
    bins = [b for b in np.array_split(order, max(1, min(n_bins, len(order) // 10))) if len(b)]
    x = np.array([s2[b].mean() for b in bins])
    y = np.array([np.log(max(f2[b].mean(), 1e-30) / max(sig[b].mean(), 1e-30)) for b in bins])
    w = np.array([len(b) for b in bins], dtype=np.float64)
    if len(bins) >= 2 and np.ptp(x) > 0:
        slope, intercept = np.polyfit(x, y, 1, w=np.sqrt(w))
    else:
        slope, intercept = 0.0, float(y[0]) if len(y) else 0.0
    return WilsonFit(k=float(np.exp(intercept / 2.0)), b=float(-2.0 * slope), n_used=int(use.size()))


def unit_cell_content(structure) -> dict[str, float]:
    """{scattering type: atoms per unit cell} of an xray.structure (occupancies and multiplicities counted)."""
    return {str(k): float(v) for k, v in structure.unit_cell_content().items()}


def content_from_formula(formula: dict[str, float], z: int) -> dict[str, float]:
    """Unit-cell content from a per-molecule (or asymmetric-unit) formula and the number of copies."""
    return {k: float(v) * z for k, v in formula.items()}


def baseline(f_measured: miller.array, targets: miller.set, content: dict[str, float],
             d_fit_max: float = D_FIT_MAX) -> tuple[np.ndarray, WilsonFit]:
    """F_wilson at every index of `targets` (in its order), with k and B fitted on `f_measured`."""
    fit = fit_scale_b(f_measured, content, d_fit_max)
    e = expected_amplitudes(targets, content)
    s2 = targets.d_star_sq().data().as_numpy_array()
    return fit.k * np.exp(-fit.b * s2 / 4.0) * e, fit


def miller_set(hkl: np.ndarray, cell: tuple[float, ...], space_group: str) -> miller.set:
    """A miller.set of these indices (no map to the asymmetric unit: the order is kept)."""
    from cctbx import crystal, uctbx

    cs = crystal.symmetry(unit_cell=uctbx.unit_cell(tuple(cell)), space_group_symbol=str(space_group))
    hkl = np.asarray(hkl, dtype=np.int32).reshape(-1, 3)
    idx = flex.miller_index(*(flex.int(np.ascontiguousarray(hkl[:, j])) for j in range(3)))
    return miller.set(cs, idx, anomalous_flag=False)


def reflection_facts(hkl: np.ndarray, cell: tuple[float, ...], space_group: str) -> dict[str, np.ndarray]:
    """epsilon and centric flag of each index (in the order given), for the numpy-side baselines."""
    ms = miller_set(hkl, cell, space_group)
    return {
        "epsilon": ms.epsilons().data().as_numpy_array().astype(np.float64),
        "centric": ms.centric_flags().data().as_numpy_array().astype(bool),
    }


def baseline_for_indices(hkl: np.ndarray, f: np.ndarray, known: np.ndarray, cell: tuple[float, ...],
                         space_group: str, content: dict[str, float],
                         d_fit_max: float = D_FIT_MAX) -> tuple[np.ndarray, WilsonFit]:
    """The Wilson baseline on numpy arrays: F_wilson at every index, fitted on the `known` ones."""
    ms = miller_set(hkl, cell, space_group)
    sel = flex.bool(np.asarray(known, dtype=bool))
    f_meas = ms.select(sel).array(data=flex.double(np.asarray(f, dtype=np.float64)[np.asarray(known, bool)]))
    return baseline(f_meas, ms, content, d_fit_max)


def extend_with_wilson(f_measured: miller.array, content: dict[str, float], d_min: float,
                       d_fit_max: float = D_FIT_MAX) -> miller.array:
    """The measured amplitudes plus every missing reflection to d_min at its Wilson expectation (the baseline
    extension that `xrdplug bench solve` sets beside the models)."""
    targets = miller.build_set(crystal_symmetry=f_measured.crystal_symmetry(), anomalous_flag=False,
                               d_min=d_min).map_to_asu()
    f_measured = f_measured.map_to_asu()
    missing = targets.lone_set(f_measured)
    values, _ = baseline(f_measured, missing, content, d_fit_max)
    added = missing.array(data=flex.double(values))
    if f_measured.sigmas() is not None:
        added = added.customized_copy(sigmas=flex.double(0.5 * values))
    return f_measured.concatenate(added).set_observation_type_xray_amplitude()


def content_from_asu_formula(formula: str, space_group: str) -> dict[str, float]:
    """Unit-cell content from an asymmetric-unit formula ("C12 H10 N2 O1" or "C12H10N2O") and the group."""
    import re

    from cctbx import sgtbx

    counts: dict[str, float] = {}
    for el, num in re.findall(r"([A-Z][a-z]?)\s*([0-9.]*)", formula):
        counts[el] = counts.get(el, 0.0) + (float(num) if num else 1.0)
    order = sgtbx.space_group_info(space_group).group().order_z()
    return {el: n * order for el, n in counts.items()}
