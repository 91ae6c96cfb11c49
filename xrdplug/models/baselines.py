"""Predictors that learn nothing about structure, and oracles that peek at the truth (pure numpy).

They stand beside every model figure, so that a gain can be read for what it is:

- wilson        each unmeasured |F| at its Wilson expectation from the cell content (form factors, epsilon,
                centric/acentric), scale and B fitted on the measured data (`cctbx_bridge.wilson`; computed
                once per structure and carried in `Case.wilson`)
- shell-mean    the mean normalised |F| of the training set in each resolution bin, put back on the
                structure's own scale (`xrdplug.normalise`): knows the resolution, nothing of the structure
- oracle-iso    the structure's OWN mean |F| in each of 10 equal-volume shells of the predicted region
                (the Wilson shape within a shell, rescaled to the truth): a model at this level has learnt the
                isotropic fall-off, not the structure
- oracle-aniso  oracle-iso times the structure's own direction dependence: in 3 radial groups, the ratio
                F_true / oracle-iso fitted by all degree-4 monomials of the unit vector s/|s| (exactly the even
                spherical harmonics l <= 4, 15 terms): a model at this level has learnt an envelope (molecular
                orientation, planar groups) but no more

A model must beat oracle-iso to show that it predicts structure rather than a fall-off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import hklgrid, normalise

ACENTRIC = math.sqrt(math.pi) / 2.0
CENTRIC = math.sqrt(2.0 / math.pi)
ISO_SHELLS = 10
ANISO_GROUPS = 3


@dataclass
class Case:
    """One structure to score: every target reflection to d_high with its true |F|, and what was measured."""

    label: str
    hkl: np.ndarray  # (N, 3)
    f: np.ndarray  # (N,) true |F| (the measured ones are the input)
    known: np.ndarray  # (N,) bool: measured, given to the predictor
    cell: tuple[float, ...]
    space_group: str
    d_high: float
    d_low: float = 1.5
    epsilon: np.ndarray | None = None  # (N,)
    centric: np.ndarray | None = None  # (N,) bool
    wilson: np.ndarray | None = None  # (N,) Wilson baseline |F| (cctbx_bridge.wilson)
    f_measured: np.ndarray | None = None  # (N,) what the predictors are given where it differs from f (noise)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def given(self) -> np.ndarray:
        """The amplitudes a predictor sees (its measured part): noisy where the case carries noise."""
        return self.f_measured if self.f_measured is not None else self.f

    @property
    def inv_d2(self) -> np.ndarray:
        return hklgrid.inverse_d_squared(self.hkl, self.cell)  # type: ignore[arg-type]

    @property
    def shell(self) -> np.ndarray:
        """The predicted shell: unmeasured reflections with d < d_low (lost low-resolution ones excluded)."""
        return ~self.known & (self.inv_d2 > (1.0 / self.d_low**2) * (1 + 1e-9))

    @property
    def f_known(self) -> np.ndarray:
        return self.given[self.known]


def wilson_shape(case: Case) -> np.ndarray:
    """The within-shell shape the oracles rescale: the Wilson baseline if known, else sqrt(eps) x centric factor."""
    if case.wilson is not None:
        return np.maximum(np.asarray(case.wilson, np.float64), 1e-12)
    eps = case.epsilon if case.epsilon is not None else np.ones(len(case.f))
    cen = case.centric if case.centric is not None else np.zeros(len(case.f), bool)
    return np.sqrt(eps) * np.where(cen, CENTRIC, ACENTRIC)


def oracle_iso(case: Case, n_shells: int = ISO_SHELLS) -> np.ndarray:
    """The structure's own per-shell mean |F| (peeks at the truth; see the module docstring)."""
    pred = case.shell
    # outside the shell: the measured values, and the Wilson shape for lost low-resolution reflections
    out = np.where(case.known, case.given, wilson_shape(case) if case.wilson is not None else 0.0).astype(np.float64)
    if not pred.any():
        return out
    s3 = case.inv_d2[pred] ** 1.5
    edges = np.linspace(s3.min(), s3.max() + 1e-12, n_shells + 1)
    idx = np.clip(np.searchsorted(edges, s3, side="right") - 1, 0, n_shells - 1)
    g = wilson_shape(case)[pred]
    num = np.bincount(idx, weights=case.f[pred], minlength=n_shells)
    den = np.bincount(idx, weights=g, minlength=n_shells)
    c = np.where(den > 0, num / np.maximum(den, 1e-30), 0.0)
    out[pred] = c[idx] * g
    return out


def _degree4_monomials(u: np.ndarray) -> np.ndarray:
    x, y, z = u[:, 0], u[:, 1], u[:, 2]
    cols = [x**i * y**j * z ** (4 - i - j) for i in range(5) for j in range(5 - i)]
    return np.stack(cols, axis=1)  # 15 columns: on the sphere, the span of even harmonics l = 0, 2, 4


def oracle_aniso(case: Case, n_groups: int = ANISO_GROUPS) -> np.ndarray:
    """oracle-iso times the structure's own direction-dependent envelope (peeks at the truth)."""
    iso = oracle_iso(case)
    pred = case.shell
    out = iso.copy()
    if pred.sum() < 30:
        return out
    s = hklgrid.reciprocal_cartesian(case.hkl[pred], case.cell)  # type: ignore[arg-type]
    u = s / np.linalg.norm(s, axis=1, keepdims=True)
    basis = _degree4_monomials(u)
    ratio = case.f[pred] / np.maximum(iso[pred], 1e-12)
    order = np.argsort(case.inv_d2[pred])
    fitted = np.ones(pred.sum())
    for grp in np.array_split(order, n_groups):
        if len(grp) < 3 * basis.shape[1]:
            continue
        coef, *_ = np.linalg.lstsq(basis[grp], ratio[grp], rcond=None)
        fitted[grp] = basis[grp] @ coef
    out[pred] = np.maximum(iso[pred] * fitted, 0.0)
    return out


class ShellMeanBaseline:
    """The training set's mean F_norm per resolution bin, on each structure's own scale (`xrdplug.normalise`).

    Bins are on s2 * d_high^2 (the d_high sphere at 1), so the baseline knows the resolution and nothing else.
    """

    def __init__(self, n_bins: int = 40):
        self.n_bins = n_bins
        self.sums = np.zeros(n_bins)
        self.counts = np.zeros(n_bins)

    def _bin(self, s2_scaled: np.ndarray) -> np.ndarray:
        return np.clip((np.asarray(s2_scaled) * self.n_bins).astype(np.int64), 0, self.n_bins - 1)

    def fit_case(self, case: Case) -> None:
        inv_d2 = case.inv_d2
        a, b = normalise.fit_wilson(inv_d2[case.known], case.f_known)
        pred = case.shell
        fn = normalise.normalise(case.f[pred], inv_d2[pred], a, b)
        idx = self._bin(inv_d2[pred] * case.d_high**2)
        self.sums += np.bincount(idx, weights=fn.astype(np.float64), minlength=self.n_bins)
        self.counts += np.bincount(idx, minlength=self.n_bins)

    @property
    def means(self) -> np.ndarray:
        filled = self.counts > 0
        m = np.zeros(self.n_bins)
        m[filled] = self.sums[filled] / self.counts[filled]
        if filled.any():  # empty bins take the nearest filled one
            idx = np.arange(self.n_bins)
            m[~filled] = np.interp(idx[~filled], idx[filled], m[filled])
        return m

    def predict(self, case: Case) -> np.ndarray:
        inv_d2 = case.inv_d2
        a, b = normalise.fit_wilson(inv_d2[case.known], case.f_known)
        fn = self.means[self._bin(inv_d2 * case.d_high**2)]
        return np.where(case.known, case.given, normalise.denormalise(fn, inv_d2, a, b))


def wilson(case: Case) -> np.ndarray:
    if case.wilson is None:
        raise ValueError(f"{case.label}: no Wilson baseline (the cell content is unknown)")
    return np.where(case.known, case.given, case.wilson)
