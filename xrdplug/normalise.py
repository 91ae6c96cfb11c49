"""Per-sample Wilson normalisation: the models see amplitudes with the resolution fall-off divided out.

Measured amplitudes come on an arbitrary scale and fall with resolution. From the *known* reflections
only we fit the Wilson line  ln <F^2>(s2) = a + b*s2  (s2 = 1/d^2, least squares over resolution shells),
then use

    F_norm = F / sqrt(exp(a + b*s2))        and back        F = F_norm * sqrt(exp(a + b*s2)).

The same (a, b) normalise the target beyond the measured resolution, so the transform is exactly
invertible and predictions return on the input's own scale. F_norm is E-like (mean square ~1 where the
line fits). The slope is clamped to [B_SLOPE_MIN, 0] so a noisy fit cannot blow up the extrapolation.
"""

from __future__ import annotations

import numpy as np

B_SLOPE_MIN = -12.0  # b = -B/2 in Wilson's terms: clamps B at 24 A^2
N_SHELLS = 8


def fit_wilson(inv_d2: np.ndarray, f: np.ndarray, n_shells: int = N_SHELLS) -> tuple[float, float]:
    """Fit (a, b) of ln<F^2> = a + b*s2 over equal-count shells of the given reflections."""
    s2 = np.asarray(inv_d2, dtype=np.float64).ravel()
    f2 = np.asarray(f, dtype=np.float64).ravel() ** 2
    if s2.size < 2 * n_shells or not np.any(f2 > 0):
        mean = float(np.mean(f2)) if f2.size else 1.0
        return float(np.log(max(mean, 1e-12))), 0.0
    order = np.argsort(s2)
    shells = np.array_split(order, n_shells)
    x = np.array([s2[i].mean() for i in shells])
    y = np.log(np.maximum([f2[i].mean() for i in shells], 1e-12))
    b, a = np.polyfit(x, y, 1)
    b = float(np.clip(b, B_SLOPE_MIN, 0.0))
    a = float(np.mean(y - b * x))  # refit the intercept for the clamped slope
    return a, b


def scale_at(inv_d2: np.ndarray, a: float, b: float) -> np.ndarray:
    """sqrt(exp(a + b*s2)): the amplitude scale at each resolution."""
    return np.exp(0.5 * (a + b * np.asarray(inv_d2, dtype=np.float64)))


def normalise(f: np.ndarray, inv_d2: np.ndarray, a: float, b: float) -> np.ndarray:
    return (np.asarray(f, dtype=np.float64) / scale_at(inv_d2, a, b)).astype(np.float32)


def denormalise(f_norm: np.ndarray, inv_d2: np.ndarray, a: float, b: float) -> np.ndarray:
    return (np.asarray(f_norm, dtype=np.float64) * scale_at(inv_d2, a, b)).astype(np.float64)
