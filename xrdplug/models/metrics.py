"""Figures of merit for predicted amplitudes (pure numpy; torch and cctbx are not needed).

All R factors are computed on the AMPLITUDE scale of the input: predictions and truth are taken back from
F_norm with the sample's own Wilson parameters (F = F_norm * sqrt(<F^2>(s2)), `xrdplug.normalise`), and no
scale factor is fitted (the model returns amplitudes on the input's own scale, so a fitted scale would hide
a scale error). MSE is on F_norm (the training loss).

    R_shell (per sample)   = sum_{shell} |F_pred - F_true| / sum_{shell} F_true
                             over the predicted shell: target & not known, i.e. d_low > d >= d_high
                             (1.5 > d >= 0.8 A for the shipped data)
    R_all (reference-style)= the same sum over the WHOLE target set (d >= d_high) with the known reflections
                             pasted back, so the exact low-resolution part dilutes it
    reported R_shell, R_all = the mean over test samples of the per-sample values
    per-shell R            = pooled over the test set: sum over all samples of |F_pred - F_true| in the
                             resolution shell / sum of F_true in the shell
    MSE                    = mean of (F_norm_pred - F_norm_true)^2 over all predicted-shell reflections
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

D_HIGH = 0.8
D_LOW = 1.5


def shell_edges(d_low: float = D_LOW, d_high: float = D_HIGH, n: int = 6) -> np.ndarray:
    """d edges of n shells of equal reciprocal volume between d_low and d_high (descending d)."""
    s3 = np.linspace((1 / d_low) ** 3, (1 / d_high) ** 3, n + 1)
    return 1.0 / np.cbrt(s3)


def amplitudes(f_norm: np.ndarray, s2_scaled: np.ndarray, wilson: np.ndarray, d_high: float) -> np.ndarray:
    """F_norm -> F on the input's scale. f_norm, s2_scaled: (B, *grid); wilson: (B, 2)."""
    w = np.asarray(wilson, dtype=np.float64).reshape(-1, 2)
    expand = (slice(None),) + (None,) * (f_norm.ndim - 1)
    s2 = s2_scaled.astype(np.float64) / d_high**2
    return f_norm.astype(np.float64) * np.exp(0.5 * (w[:, 0][expand] + w[:, 1][expand] * s2))


@dataclass
class Scores:
    """Accumulates per-sample and per-shell figures over batches."""

    d_high: float = D_HIGH
    edges: np.ndarray = field(default_factory=shell_edges)
    r_shell: list[float] = field(default_factory=list)
    r_all: list[float] = field(default_factory=list)
    sq_err: float = 0.0
    n_pred: int = 0
    shell_num: np.ndarray | None = None
    shell_den: np.ndarray | None = None
    shell_count: np.ndarray | None = None

    def add(self, x: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, wilson: np.ndarray) -> None:
        """x (B,4,*grid) model input, y_true / y_pred (B,*grid) F_norm (y_pred with known pasted back)."""
        known = x[:, 1] > 0.5
        target = x[:, 2] > 0.5
        pred = target & ~known
        diff_n = (y_pred - y_true)[pred]
        self.sq_err += float(np.sum(diff_n.astype(np.float64) ** 2))
        self.n_pred += int(pred.sum())
        ft = amplitudes(y_true, x[:, 3], wilson, self.d_high)
        fp = amplitudes(np.where(known, y_true, y_pred), x[:, 3], wilson, self.d_high)
        err = np.abs(fp - ft)
        ft = np.abs(ft)
        axes = tuple(range(1, pred.ndim))
        num_s = np.sum(err * pred, axis=axes)
        den_s = np.sum(ft * pred, axis=axes)
        num_a = np.sum(err * target, axis=axes)
        den_a = np.sum(ft * target, axis=axes)
        ok = den_s > 0
        self.r_shell.extend((num_s[ok] / den_s[ok]).tolist())
        ok = den_a > 0
        self.r_all.extend((num_a[ok] / den_a[ok]).tolist())
        # per-shell, pooled
        with np.errstate(divide="ignore"):
            d = np.where(pred, self.d_high / np.sqrt(np.maximum(x[:, 3], 1e-12)), np.inf)
        n = len(self.edges) - 1
        idx = np.clip(np.searchsorted(-self.edges, -d[pred], side="right") - 1, 0, n - 1)
        if self.shell_num is None:
            self.shell_num, self.shell_den, self.shell_count = np.zeros(n), np.zeros(n), np.zeros(n, dtype=np.int64)
        self.shell_num += np.bincount(idx, weights=err[pred], minlength=n)
        self.shell_den += np.bincount(idx, weights=ft[pred], minlength=n)
        self.shell_count += np.bincount(idx, minlength=n)

    def summary(self) -> dict:
        n = len(self.edges) - 1
        num = self.shell_num if self.shell_num is not None else np.zeros(n)
        den = self.shell_den if self.shell_den is not None else np.zeros(n)
        cnt = self.shell_count if self.shell_count is not None else np.zeros(n, dtype=np.int64)
        shells = [
            {
                "d_max": float(self.edges[i]),
                "d_min": float(self.edges[i + 1]),
                "n": int(cnt[i]),
                "r": float(num[i] / den[i]) if den[i] > 0 else float("nan"),
            }
            for i in range(n)
        ]
        return {
            "samples": len(self.r_all),
            "mse": self.sq_err / max(self.n_pred, 1),
            "r_shell": float(np.mean(self.r_shell)) if self.r_shell else float("nan"),
            "r_all": float(np.mean(self.r_all)) if self.r_all else float("nan"),
            "shells": shells,
        }


class ShellMeanBaseline:
    """Predict every unknown reflection as the mean target F_norm of its resolution bin (from training data).

    Bins are on channel 3 (s2 scaled so that d_high is at 1), so the baseline knows the resolution but
    nothing about the structure. Known reflections are pasted back like any model's.
    """

    def __init__(self, n_bins: int = 40):
        self.n_bins = n_bins
        self.sums = np.zeros(n_bins)
        self.counts = np.zeros(n_bins)

    def _bin(self, s2_scaled: np.ndarray) -> np.ndarray:
        return np.clip((s2_scaled * self.n_bins).astype(np.int64), 0, self.n_bins - 1)

    def fit_batch(self, x: np.ndarray, y: np.ndarray) -> None:
        pred = (x[:, 2] > 0.5) & (x[:, 1] < 0.5)
        b = self._bin(x[:, 3][pred])
        self.sums += np.bincount(b, weights=y[pred].astype(np.float64), minlength=self.n_bins)
        self.counts += np.bincount(b, minlength=self.n_bins)

    @property
    def means(self) -> np.ndarray:
        filled = self.counts > 0
        m = np.zeros(self.n_bins)
        m[filled] = self.sums[filled] / self.counts[filled]
        if filled.any():  # empty bins take the nearest filled one
            idx = np.arange(self.n_bins)
            m[~filled] = np.interp(idx[~filled], idx[filled], m[filled])
        return m

    def predict(self, x: np.ndarray) -> np.ndarray:
        y = self.means[self._bin(x[:, 3])].astype(np.float32)
        known = x[:, 1] > 0.5
        target = x[:, 2] > 0.5
        return np.where(known, x[:, 0], np.where(target, y, 0.0)).astype(np.float32)
