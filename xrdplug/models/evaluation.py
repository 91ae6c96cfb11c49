"""Score trained models (and the per-shell mean baseline) on a data split; print tables, draw R vs d.

The formulas are in `xrdplug.models.metrics` (R on the amplitude scale of the input, no fitted scale).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..files import atomic_output
from .checkpoint import predict
from .metrics import D_HIGH, D_LOW, Scores, ShellMeanBaseline, shell_edges
from .training import collate, dataset_d_high

R_FORMULA = (
    "R = sum|F_pred - F_true| / sum F_true per sample, on the input's amplitude scale (F = F_norm * "
    "sqrt(<F^2>(s2)) with the sample's own normalisation, xrdplug/normalise.py; no fitted scale), "
    "averaged over samples. "
    "R_shell: predicted shell only (target & not known: {d_low:g} > d >= {d_high:g} A). "
    "R_all (reference-style): all reflections to {d_high:g} A with the known ones pasted back. "
    "Per-shell R: pooled over samples. MSE: on F_norm over the predicted shell."
)
BASELINE = "shell-mean baseline"


def fit_baseline(train_set: Dataset, max_samples: int = 2000, batch_size: int = 64) -> ShellMeanBaseline:
    base = ShellMeanBaseline()
    n = min(len(train_set), max_samples)
    idx = np.linspace(0, len(train_set) - 1, n).astype(int) if n < len(train_set) else np.arange(n)
    loader = DataLoader(torch.utils.data.Subset(train_set, idx.tolist()), batch_size=batch_size, collate_fn=collate)
    for batch in loader:
        base.fit_batch(batch["x"].numpy(), batch["y"].numpy())
    return base


def evaluate(
    models: list[tuple[str, torch.nn.Module]],
    dataset: Dataset,
    baseline: ShellMeanBaseline | None = None,
    batch_size: int = 16,
    device: str | torch.device = "cpu",
    d_high: float | None = None,
    d_low: float = D_LOW,
    progress: bool = True,
) -> dict[str, dict[str, Any]]:
    """One pass over `dataset`; returns {label: Scores.summary() + seconds} for every model and the baseline."""
    d_high = d_high or dataset_d_high(dataset) or D_HIGH
    edges = shell_edges(d_low, d_high)
    scores = {label: Scores(d_high=d_high, edges=edges) for label, _ in models}
    seconds = {label: 0.0 for label, _ in models}
    if baseline is not None:
        scores[BASELINE] = Scores(d_high=d_high, edges=edges)
    loader = DataLoader(dataset, batch_size=batch_size, collate_fn=collate)
    for _, m in models:
        m.to(device).eval()
    bar = None
    if progress:
        from rich.progress import Progress

        bar = Progress(transient=True)
        bar.start()
        task = bar.add_task("evaluating", total=len(loader))
    try:
        for batch in loader:
            x, y = batch["x"].numpy(), batch["y"].numpy()
            wil = batch["wilson"].numpy()
            for label, m in models:
                t = time.perf_counter()
                yp = predict(m, x, batch_size=batch_size, device=device)
                seconds[label] += time.perf_counter() - t
                scores[label].add(x, y, yp, wil)
            if baseline is not None:
                scores[BASELINE].add(x, y, baseline.predict(x), wil)
            if bar is not None:
                bar.update(task, advance=1)
    finally:
        if bar is not None:
            bar.stop()
    out = {}
    for label, sc in scores.items():
        s = sc.summary()
        s["seconds"] = seconds.get(label, 0.0)
        out[label] = s
    return out


def print_results(results: dict[str, dict[str, Any]], d_low: float = D_LOW, d_high: float = D_HIGH, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    t = Table(title=f"test figures ({next(iter(results.values()))['samples']} samples)")
    for col in ("model", "MSE (F_norm, shell)", f"R_shell ({d_low:g}>d>={d_high:g})", "R_all (reference-style)"):
        t.add_column(col, justify="right" if col != "model" else "left")
    for label, s in results.items():
        t.add_row(label, f"{s['mse']:.4f}", f"{s['r_shell']:.3f}", f"{s['r_all']:.3f}")
    console.print(t)
    labels = list(results)
    st = Table(title="R per resolution shell (pooled)")
    st.add_column("d range (A)")
    st.add_column("n", justify="right")
    for label in labels:
        st.add_column(label, justify="right")
    first = results[labels[0]]["shells"]
    for i, sh in enumerate(first):
        st.add_row(
            f"{sh['d_max']:.3f}-{sh['d_min']:.3f}", str(sh["n"]),
            *[f"{results[lb]['shells'][i]['r']:.3f}" for lb in labels],
        )
    console.print(st)
    console.print(R_FORMULA.format(d_low=d_low, d_high=d_high), soft_wrap=False)


def plot_results(results: dict[str, dict[str, Any]], path: str | Path, title: str = "") -> Path:
    from ..plotting import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for label, s in results.items():
        d = [math.sqrt(sh["d_max"] * sh["d_min"]) for sh in s["shells"]]
        r = [sh["r"] for sh in s["shells"]]
        style = "--" if label == BASELINE else "-"
        ax.plot(d, r, style, marker="o", label=f"{label} (R_shell {s['r_shell']:.3f})")
    ax.invert_xaxis()
    ax.set_xlabel("resolution d (A)")
    ax.set_ylabel("R (pooled per shell)")
    ax.set_title(title or "R of predicted amplitudes against resolution")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def write_json(results: dict[str, Any], path: str | Path) -> None:
    with atomic_output(path) as tmp:
        Path(tmp).write_text(json.dumps(results, indent=1))
