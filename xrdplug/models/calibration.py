"""Per-reflection uncertainty of predicted amplitudes, calibrated on held-out structures (pure numpy).

A model's error is not one number: it grows towards 0.8 A and is relatively larger for weak predictions.
The calibration table bins every predicted reflection of held-out structures by resolution shell (6 shells
of equal reciprocal volume between d_low and d_high) and by its prediction relative to the mean prediction
of its shell and structure (5 bins: quantiles of that ratio over the calibration set), and records in each
bin the RMS error relative to the prediction:

    sigma_rel(bin) = sqrt(mean((F_true - k F_pred)^2)) / mean(k F_pred)      (k: the structure's fitted scale)

so that SIGF(F_pred) = sigma_rel(bin of F_pred) * F_pred. `coverage` says how often |F_true - k F_pred| <=
SIGF on other held-out structures (0.68 for well-calibrated Gaussian errors).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from .metrics import D_HIGH, D_LOW, fitted_scale, shell_edges

N_SHELLS = 6
N_LEVELS = 5


def _bins(inv_d2: np.ndarray, rel: np.ndarray, d_edges: np.ndarray, q_edges: np.ndarray) -> tuple[np.ndarray, ...]:
    d = 1.0 / np.sqrt(np.maximum(inv_d2, 1e-12))
    ishell = np.clip(np.searchsorted(-d_edges, -d, side="right") - 1, 0, len(d_edges) - 2)
    ilevel = np.clip(np.searchsorted(q_edges, rel, side="right") - 1, 0, len(q_edges) - 2)
    return ishell, ilevel


def relative_prediction(f_pred: np.ndarray, inv_d2: np.ndarray, d_edges: np.ndarray) -> np.ndarray:
    """Each prediction over the mean prediction of its shell (within one structure)."""
    d = 1.0 / np.sqrt(np.maximum(inv_d2, 1e-12))
    ishell = np.clip(np.searchsorted(-d_edges, -d, side="right") - 1, 0, len(d_edges) - 2)
    means = np.bincount(ishell, weights=f_pred, minlength=len(d_edges) - 1)
    counts = np.bincount(ishell, minlength=len(d_edges) - 1)
    m = np.where(counts > 0, means / np.maximum(counts, 1), 1.0)
    return f_pred / np.maximum(m[ishell], 1e-12)


def fit(samples: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]], d_low: float = D_LOW,
        d_high: float = D_HIGH) -> dict[str, Any]:
    """The table from (f_true, f_pred, inv_d2) of the predicted reflections of held-out structures."""
    d_edges = shell_edges(d_low, d_high, N_SHELLS)
    pooled: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    for f_true, f_pred, inv_d2 in samples:
        k = fitted_scale(f_true, f_pred)
        fp = np.maximum(k * f_pred, 0.0)
        pooled.append((f_true, fp, inv_d2, relative_prediction(fp, inv_d2, d_edges)))
    rel_all = np.concatenate([p[3] for p in pooled]) if pooled else np.ones(1)
    q_edges = np.quantile(rel_all, np.linspace(0, 1, N_LEVELS + 1))
    q_edges[0], q_edges[-1] = -np.inf, np.inf
    sq = np.zeros((N_SHELLS, N_LEVELS))
    fsum = np.zeros((N_SHELLS, N_LEVELS))
    cnt = np.zeros((N_SHELLS, N_LEVELS))
    for f_true, fp, inv_d2, rel in pooled:
        i, j = _bins(inv_d2, rel, d_edges, q_edges)
        np.add.at(sq, (i, j), (f_true - fp) ** 2)
        np.add.at(fsum, (i, j), fp)
        np.add.at(cnt, (i, j), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        sigma_rel = np.sqrt(sq / cnt) / (fsum / cnt)
    fallback = float(np.sqrt(sq.sum() / max(cnt.sum(), 1)) / max(fsum.sum() / max(cnt.sum(), 1), 1e-12))
    sigma_rel = np.where(np.isfinite(sigma_rel), sigma_rel, fallback)
    return {
        "d_edges": [float(x) for x in d_edges], "level_edges": [float(x) for x in q_edges[1:-1]],
        "sigma_rel": sigma_rel.round(5).tolist(), "counts": cnt.astype(int).tolist(),
        "structures": len(pooled), "formula": "SIGF = sigma_rel[shell][level] * F_pred (xrdplug/models/calibration.py)",
    }


def sigmas(table: dict[str, Any], f_pred: np.ndarray, inv_d2: np.ndarray) -> np.ndarray:
    """SIGF for one structure's predicted amplitudes from a calibration table."""
    d_edges = np.asarray(table["d_edges"], dtype=np.float64)
    q_edges = np.concatenate([[-np.inf], np.asarray(table["level_edges"], dtype=np.float64), [np.inf]])
    rel = relative_prediction(np.asarray(f_pred, np.float64), inv_d2, d_edges)
    i, j = _bins(inv_d2, rel, d_edges, q_edges)
    return np.asarray(table["sigma_rel"], dtype=np.float64)[i, j] * np.asarray(f_pred, np.float64)


def coverage(table: dict[str, Any], samples: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> dict[str, float]:
    """How often the truth lies within 1 and 2 SIGF of the (scaled) prediction on other structures."""
    inside1 = inside2 = n = 0
    for f_true, f_pred, inv_d2 in samples:
        k = fitted_scale(f_true, f_pred)
        fp = np.maximum(k * f_pred, 0.0)
        s = sigmas(table, fp, inv_d2)
        err = np.abs(f_true - fp)
        inside1 += int((err <= s).sum())
        inside2 += int((err <= 2 * s).sum())
        n += len(err)
    return {"within_1_sigma": inside1 / max(n, 1), "within_2_sigma": inside2 / max(n, 1), "reflections": n}


def model_samples(predict, cases) -> Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(f_true, f_pred, inv_d2) of the predicted reflections of each case, for `fit` and `coverage`."""
    for c in cases:
        try:
            fp = predict(c)
        except ValueError:
            continue
        pred = ~c.known
        yield c.f[pred], fp[pred], c.inv_d2[pred]
