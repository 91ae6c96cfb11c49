"""Figures of merit for predicted amplitudes, per structure on its reflections (pure numpy).

Every predictor (a model, a baseline, an oracle) gives one |F| per target reflection of a structure, on the
amplitude scale of its input. For one structure, with the predicted shell P = target reflections that were
not measured (d_low > d >= d_high, 1.5 > d >= 0.8 A for the shipped data):

    k        = sum_P F_true * F_pred / sum_P F_pred^2          least-squares scale fitted on the shell
    R_shell  = sum_P |F_true - k F_pred| / sum_P F_true
    R_all    = the same sum over ALL target reflections (d >= d_high) with the measured ones pasted back and
               the shell scaled by k: the reference work's "whole grid" R, diluted by the exact low part
    MSE      = mean over P of (F_norm_pred - F_norm_true)^2, both normalised with the structure's own
               `xrdplug.normalise` parameters fitted on its measured reflections (the training loss; no k)

Reported figures are means over structures of the per-structure values; the per-shell table pools
sum |F_true - k F_pred| / sum F_true over all structures in each resolution shell. The scale is fitted so
that a predictor is judged on the shape of what it predicts, the same way for models and baselines (a model
on the wrong overall scale would otherwise lose to a baseline fitted on the measured data, or win by luck).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import normalise

D_HIGH = 0.8
D_LOW = 1.5
EDGE_BINS = (12.0, 16.0, 22.0, 30.0)  # A: longest cell edge <= 12, 12-16, 16-22, 22-30 (and > 30)


def shell_edges(d_low: float = D_LOW, d_high: float = D_HIGH, n: int = 6) -> np.ndarray:
    """d edges of n shells of equal reciprocal volume between d_low and d_high (descending d)."""
    s3 = np.linspace((1 / d_low) ** 3, (1 / d_high) ** 3, n + 1)
    return 1.0 / np.cbrt(s3)


def fitted_scale(f_true: np.ndarray, f_pred: np.ndarray) -> float:
    """Least-squares scale k of f_pred onto f_true (1 when f_pred is all zero)."""
    den = float(np.sum(np.asarray(f_pred, np.float64) ** 2))
    return float(np.sum(np.asarray(f_true, np.float64) * f_pred) / den) if den > 0 else 1.0


def shell_r(f_true: np.ndarray, f_pred: np.ndarray) -> float:
    """R over the given reflections with a fitted scale (the per-structure shell R)."""
    k = fitted_scale(f_true, f_pred)
    den = float(np.sum(f_true))
    return float(np.sum(np.abs(f_true - k * f_pred)) / den) if den > 0 else float("nan")


def edge_bin(cell: tuple[float, ...] | np.ndarray) -> str:
    edge = float(max(cell[:3]))
    lo = 0.0
    for hi in EDGE_BINS:
        if edge <= hi:
            return f"{lo:g}-{hi:g}" if lo else f"<={hi:g}"
        lo = hi
    return f">{EDGE_BINS[-1]:g}"


@dataclass
class Scores:
    """Accumulates per-structure and per-shell figures for one predictor."""

    d_high: float = D_HIGH
    edges: np.ndarray = field(default_factory=shell_edges)
    r_shell: list[float] = field(default_factory=list)
    r_all: list[float] = field(default_factory=list)
    bins: list[str] = field(default_factory=list)
    sq_err: float = 0.0
    n_pred: int = 0
    shell_num: np.ndarray | None = None
    shell_den: np.ndarray | None = None
    shell_count: np.ndarray | None = None

    def add(self, f_true: np.ndarray, f_pred: np.ndarray, known: np.ndarray, inv_d2: np.ndarray,
            cell: tuple[float, ...] | np.ndarray | None = None) -> None:
        """One structure: f_true, f_pred (N,) amplitudes at its target reflections, known (N,) measured.

        The shell is the unmeasured reflections with d < d_low (edges[0]); unmeasured ones at lower resolution
        (lost to a beam stop or missing at random) count in R_all only."""
        f_true = np.asarray(f_true, np.float64)
        f_pred = np.maximum(np.asarray(f_pred, np.float64), 0.0)
        known = np.asarray(known, bool)
        inv_d2 = np.asarray(inv_d2, np.float64)
        pred = ~known & (inv_d2 > (1.0 / float(self.edges[0]) ** 2) * (1 + 1e-9))
        if not pred.any() or not known.any():
            return
        ft, fp = f_true[pred], f_pred[pred]
        k = fitted_scale(ft, fp)
        err = np.abs(ft - k * fp)
        den = float(ft.sum())
        if den <= 0:
            return
        self.r_shell.append(float(err.sum() / den))
        # the measured part as given (exact, or with the data's noise), every predicted one scaled by k
        err_other = float(np.abs(f_true[known] - f_pred[known]).sum())
        low_missing = ~known & ~pred
        err_other += float(np.abs(f_true[low_missing] - k * f_pred[low_missing]).sum())
        self.r_all.append(float((err.sum() + err_other) / f_true.sum()))
        self.bins.append(edge_bin(cell) if cell is not None else "")
        a, b = normalise.fit_wilson(inv_d2[known], f_true[known])
        sc = normalise.scale_at(inv_d2[pred], a, b)
        self.sq_err += float(np.sum((fp / sc - ft / sc) ** 2))
        self.n_pred += int(pred.sum())
        d = 1.0 / np.sqrt(np.maximum(inv_d2[pred], 1e-12))
        n = len(self.edges) - 1
        idx = np.clip(np.searchsorted(-self.edges, -d, side="right") - 1, 0, n - 1)
        if self.shell_num is None:
            self.shell_num, self.shell_den, self.shell_count = np.zeros(n), np.zeros(n), np.zeros(n, dtype=np.int64)
        self.shell_num += np.bincount(idx, weights=err, minlength=n)
        self.shell_den += np.bincount(idx, weights=ft, minlength=n)
        self.shell_count += np.bincount(idx, minlength=n)

    def summary(self) -> dict:
        n = len(self.edges) - 1
        num = self.shell_num if self.shell_num is not None else np.zeros(n)
        den = self.shell_den if self.shell_den is not None else np.zeros(n)
        cnt = self.shell_count if self.shell_count is not None else np.zeros(n, dtype=np.int64)
        shells = [
            {"d_max": float(self.edges[i]), "d_min": float(self.edges[i + 1]), "n": int(cnt[i]),
             "r": float(num[i] / den[i]) if den[i] > 0 else float("nan")}
            for i in range(n)
        ]
        by_bin: dict[str, dict[str, float]] = {}
        bins = np.array(self.bins)
        rs = np.array(self.r_shell)
        for b in sorted(set(self.bins), key=_bin_order):
            sel = bins == b
            by_bin[b] = {"samples": int(sel.sum()), "r_shell": float(rs[sel].mean())}
        return {
            "samples": len(self.r_shell),
            "mse": self.sq_err / max(self.n_pred, 1),
            "r_shell": float(np.mean(self.r_shell)) if self.r_shell else float("nan"),
            "r_all": float(np.mean(self.r_all)) if self.r_all else float("nan"),
            "r_shell_per_sample": [round(r, 5) for r in self.r_shell],
            "bins": list(self.bins),
            "shells": shells,
            "edge_bins": by_bin,
        }


def _bin_order(b: str) -> float:
    if b.startswith("<="):
        return 0.0
    if b.startswith(">"):
        return 1e9
    try:
        return float(b.split("-")[0])
    except ValueError:
        return -1.0
