"""Score models beside baselines and oracles on the same structures; print tables, draw R against d.

One pass over a list of `baselines.Case` (one per structure: every target reflection to d_high, its true |F|,
what was measured). Every predictor gives |F| at every target reflection on the input's scale; the
figures are those of `xrdplug.models.metrics` (shell R with a fitted scale, reference-style R, MSE on F_norm).
Always scored beside the models: the Wilson baseline, the per-shell mean, and the two oracles of
`xrdplug.models.baselines`. A model that refuses a structure (a legacy model and a cell over its grid) is
counted as refused and its ratio to Wilson is taken over the structures it scored.

Cases come from a data set of `xrdplug simulate` (`dataset_cases`) or from crystal structures
(`structure_cases`: CIF/.res files, H atoms kept). Building cases needs cctbx (the Wilson baseline's
form factors, epsilon and centric flags): torch is imported first so it keeps its threads.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..files import atomic_output
from . import baselines as B
from .metrics import D_HIGH, D_LOW, Scores, shell_edges

R_FORMULA = (
    "R_shell = sum|F_true - k F_pred| / sum F_true over the predicted shell ({d_low:g} > d >= {d_high:g} A) "
    "of one structure, k its least-squares scale fitted on that shell, averaged over structures. "
    "R_all (reference-style): the same sum over every reflection to {d_high:g} A with the measured ones pasted "
    "back. MSE: on F_norm (xrdplug/normalise.py, fitted on the measured data) over the shell, no fitted scale. "
    "Wilson: each unmeasured |F| at its Wilson expectation from the cell content (form factors, epsilon, "
    "centric/acentric; scale and B fitted on the measured data). shell-mean: the training set's mean F_norm "
    "per resolution bin. oracle-iso / oracle-aniso peek at the truth: the structure's own per-shell mean |F| "
    "(10 shells), and that times its own direction envelope (even harmonics l<=4 in 3 radial groups)."
)
WILSON, SHELL_MEAN, ORACLE_ISO, ORACLE_ANISO = "wilson", "shell-mean", "oracle-iso", "oracle-aniso"
BASELINES = (WILSON, SHELL_MEAN, ORACLE_ISO, ORACLE_ANISO)
BASELINE = SHELL_MEAN  # the name older records used


# ------------------------------------------------------------------------------------------------- cases


def _with_cctbx_facts(case: B.Case, content: dict[str, float] | None) -> B.Case:
    from cctbx_bridge import wilson as W

    facts = W.reflection_facts(case.hkl, case.cell, case.space_group)
    case.epsilon, case.centric = facts["epsilon"], facts["centric"]
    if content:
        case.wilson, fit = W.baseline_for_indices(case.hkl, case.given, case.known, case.cell, case.space_group,
                                                  content)
        case.info.update(wilson_k=fit.k, wilson_b=fit.b)
    return case


def dataset_cases(root: str | Path, split: str = "test", n: int | None = None, d_low: float | None = None,
                  wilson: bool = True) -> Iterator[B.Case]:
    """The structures of one split of a simulated data set, with their Wilson baselines."""
    from ..data import shards, splits
    from ..runtime import load_torch_first

    load_torch_first()
    root = Path(root)
    meta = shards.read_meta(root)
    d_high = float(meta["d_high"])
    d_low = float(d_low if d_low is not None else meta.get("d_low", D_LOW))
    index = shards.load_index(root)
    rows = np.arange(len(index["split"])) if split == "all" else np.flatnonzero(
        index["split"] == splits.split_code(split))
    for row in rows[: n if n is not None else len(rows)]:
        raw = shards.load_sample(root, int(row))
        content = None
        if wilson:
            content = _content_for_sample(root, int(row), raw)
        yield _with_cctbx_facts(case_from_raw(raw, d_low, d_high, str(raw.get("structure_id", row)), int(row)),
                                content)


def case_from_raw(raw: dict[str, Any], d_low: float, d_high: float, label: str, row: int = -1) -> B.Case:
    """A stored sample as a case: exact |F| as the truth; the measured part as the data set's model input
    has it (`xrdplug.data.dataset.observed_input`: the diffractometer's noise and lost reflections, where the
    sample carries noise numbers)."""
    from ..data.dataset import observed_input

    hkl = np.asarray(raw["hkl"], np.int64)
    f = np.asarray(raw["f"], np.float64)
    known, values = observed_input(raw, d_low)
    return B.Case(label=label, hkl=hkl, f=f, known=known, cell=tuple(float(c) for c in raw["cell"]),
                  space_group=str(raw["space_group"]), d_high=d_high, d_low=d_low, info={"row": row},
                  f_measured=None if values is None else np.asarray(values, np.float64))


def _content_for_sample(root: Path, row: int, raw: dict[str, Any]) -> dict[str, float] | None:
    """Unit-cell content of a stored sample: a stored formula if the data set has one, else its structure."""
    from cctbx_bridge import wilson as W

    from ..data.references import structure_for_sample

    formula = raw.get("formula")
    if isinstance(formula, (str, np.str_)) and str(formula).strip():  # asymmetric unit, H included
        return W.content_from_asu_formula(str(formula), str(raw["space_group"]))

    try:
        return W.unit_cell_content(structure_for_sample(root, row))
    except Exception:  # a structure that cannot be rebuilt: score without the Wilson baseline
        return None


def structure_cases(paths: Iterable[str | Path], d_high: float = D_HIGH, d_low: float = D_LOW,
                    keep_hydrogens: bool = True, noise: float = 0.0, seed: int = 0) -> Iterator[B.Case]:
    """Cases from crystal-structure files (CIF, .res/.ins), put in a b-unique setting: the truth is their
    calculated |F| to d_high (H atoms kept by default). The measured input is a `data.mtz` beside the file
    when there is one (a benchmark case of `xrdplug cases`: the diffractometer's noise and lost reflections),
    else the calculated |F| to d_low, with relative Gaussian `noise` if asked."""
    from ..runtime import load_torch_first

    load_torch_first()
    from cctbx_bridge import simulate as sim
    from cctbx_bridge import wilson as W
    from cctbx_bridge.structures import b_unique_monoclinic, read_structure

    from .. import hklgrid

    rng = np.random.default_rng(seed)
    for p in paths:
        p = Path(p)
        try:
            found = [("", read_structure(p))] if p.suffix.lower() in (".res", ".ins") else [
                (b, xs) for b, xs, _ in sim.cif_structures(p) if xs is not None]
        except Exception:
            continue
        for block, xs in found:
            xs, why = b_unique_monoclinic(xs, keep_hydrogens)
            if xs is None:
                continue
            f = sim.sample_amplitudes(xs, d_high, 0)
            hkl_c = hklgrid.canonical_indices(np.array(f.indices(), dtype=np.int64).reshape(-1, 3))
            fv = f.data().as_numpy_array().astype(np.float64)
            cell = tuple(float(c) for c in xs.unit_cell().parameters())
            known = hklgrid.inverse_d_squared(hkl_c, cell) <= (1.0 / d_low**2) * (1 + 1e-9)
            f_in: np.ndarray | None = None
            mtz = p.parent / "data.mtz"
            label = f"{p.parent.name}/{p.name}" if mtz.is_file() else p.name
            if mtz.is_file():
                from cctbx_bridge.reflections import read_mtz

                obs = read_mtz(mtz).f_obs.map_to_asu().resolution_filter(d_min=d_low)
                pairs = f.match_indices(obs).pairs()
                i_f = np.array(pairs.column(0), dtype=np.int64)
                i_o = np.array(pairs.column(1), dtype=np.int64)
                known = np.zeros(len(fv), dtype=bool)
                known[i_f] = True
                f_in = np.zeros(len(fv))
                f_in[i_f] = obs.data().as_numpy_array()[i_o]
            elif noise > 0:
                f_in = fv.copy()
                f_in[known] = np.abs(f_in[known] * (1 + noise * rng.standard_normal(known.sum())))
            sg = str(xs.space_group_info().type().lookup_symbol())
            case = B.Case(label=f"{label}{'#' + block if block else ''}", hkl=hkl_c, f=fv, known=known,
                          cell=cell, space_group=sg, d_high=d_high, d_low=d_low, info={"path": str(p)},
                          f_measured=f_in)  # predictors see the measured data; the truth stays exact
            yield _with_cctbx_facts(case, W.unit_cell_content(xs))


# ------------------------------------------------------------------------------------------------- predictors

Predictor = Callable[[B.Case], np.ndarray]


class ModelPredictor:
    """A trained model as a predictor: case -> |F| at its targets; raises ValueError for a refused cell."""

    def __init__(self, model: Any, device: str = "cpu"):
        self.model = model
        self.device = device

    def __call__(self, case: B.Case) -> np.ndarray:
        from ..batch import accepts, layout_of, make_input, prediction_to_amplitudes
        from .checkpoint import predict

        layout = layout_of(self.model)
        if not accepts(case.cell, case.d_high, layout):
            raise ValueError("cell too large for the model's grid")
        f_meas = case.given
        mi = make_input(case.hkl, case.known, f_meas[case.known], case.cell, case.d_high, layout)  # type: ignore[arg-type]
        y = predict(self.model, mi.x[None], device=self.device)[0]
        return np.where(case.known, f_meas, prediction_to_amplitudes(y, case.hkl, mi))


def baseline_predictors(shell_mean: B.ShellMeanBaseline | None) -> dict[str, Predictor]:
    out: dict[str, Predictor] = {WILSON: B.wilson}
    if shell_mean is not None:
        out[SHELL_MEAN] = shell_mean.predict
    out[ORACLE_ISO] = B.oracle_iso
    out[ORACLE_ANISO] = B.oracle_aniso
    return out


def fit_shell_mean(cases: Iterable[B.Case]) -> B.ShellMeanBaseline:
    base = B.ShellMeanBaseline()
    for c in cases:
        base.fit_case(c)
    return base


def train_cases(root: str | Path, n: int = 1000) -> Iterator[B.Case]:
    """Training-split cases without cctbx facts (for the shell-mean baseline), spread over the split."""
    from ..data import shards, splits

    root = Path(root)
    meta = shards.read_meta(root)
    index = shards.load_index(root)
    rows = np.flatnonzero(index["split"] == splits.split_code("train"))
    if len(rows) > n:
        rows = rows[np.linspace(0, len(rows) - 1, n).astype(int)]
    for row in rows:
        raw = shards.load_sample(root, int(row))
        yield case_from_raw(raw, float(meta.get("d_low", D_LOW)), float(meta["d_high"]), str(row), int(row))


# ------------------------------------------------------------------------------------------------- scoring


def evaluate(
    predictors: dict[str, Predictor],
    cases: Iterable[B.Case],
    d_high: float = D_HIGH,
    d_low: float = D_LOW,
    progress: Callable[[], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Score every predictor on every case; returns {label: Scores.summary() + seconds, refused, labels}."""
    edges = shell_edges(d_low, d_high)
    scores = {lb: Scores(d_high=d_high, edges=edges) for lb in predictors}
    seconds = dict.fromkeys(predictors, 0.0)
    refused: dict[str, list[str]] = {lb: [] for lb in predictors}
    labels: dict[str, list[str]] = {lb: [] for lb in predictors}
    n_cases = 0
    for case in cases:
        n_cases += 1
        inv_d2 = case.inv_d2
        for lb, fn in predictors.items():
            t = time.process_time()
            try:
                fp = fn(case)
            except ValueError:
                refused[lb].append(case.label)
                continue
            seconds[lb] += time.process_time() - t
            before = len(scores[lb].r_shell)
            scores[lb].add(case.f, fp, case.known, inv_d2, case.cell)
            if len(scores[lb].r_shell) > before:
                labels[lb].append(case.label)
        if progress is not None:
            progress()
    out: dict[str, dict[str, Any]] = {}
    for lb, sc in scores.items():
        s = sc.summary()
        s.update(cpu_seconds=seconds[lb], refused=len(refused[lb]), refused_labels=refused[lb][:20],
                 labels=labels[lb], cases=n_cases)
        out[lb] = s
    _add_ratios(out)
    return out


def _add_ratios(results: dict[str, dict[str, Any]]) -> None:
    """R_shell / Wilson on the same structures (a model that refused some is compared on the rest), overall
    and per cell-edge bin."""
    w = results.get(WILSON)
    if not w or not w["labels"]:
        return
    wr = dict(zip(w["labels"], w["r_shell_per_sample"]))
    for s in results.values():
        rows = [(r, wr[lb], b) for lb, r, b in zip(s["labels"], s["r_shell_per_sample"], s["bins"]) if lb in wr]
        if not rows:
            continue
        s["r_shell_over_wilson"] = float(np.mean([x[0] for x in rows]) / np.mean([x[1] for x in rows]))
        s["wilson_r_shell_same_cases"] = float(np.mean([x[1] for x in rows]))
        for b, e in s.get("edge_bins", {}).items():
            sel = [x for x in rows if x[2] == b]
            if sel:
                e["over_wilson"] = float(np.mean([x[0] for x in sel]) / np.mean([x[1] for x in sel]))


# ------------------------------------------------------------------------------------------------- output


def print_results(results: dict[str, dict[str, Any]], d_low: float = D_LOW, d_high: float = D_HIGH,
                  console=None, title: str = "") -> None:
    import sys

    from rich.console import Console
    from rich.table import Table

    console = console or Console(width=None if sys.stdout.isatty() else 160)
    n = max(s["cases"] for s in results.values())
    t = Table(title=f"{title + ': ' if title else ''}{n} structures")
    for col in ("predictor", "scored", f"R_shell ({d_low:g}>d>={d_high:g})", "/ Wilson", "R_all (ref-style)",
                "MSE (F_norm)", "CPU s"):
        t.add_column(col, justify="left" if col == "predictor" else "right")
    for label, s in results.items():
        ratio = s.get("r_shell_over_wilson")
        t.add_row(label, f"{s['samples']}" + (f" ({s['refused']} refused)" if s["refused"] else ""),
                  f"{s['r_shell']:.3f}", f"{ratio:.3f}" if ratio is not None else "-", f"{s['r_all']:.3f}",
                  f"{s['mse']:.4f}", f"{s['cpu_seconds']:.1f}")
    console.print(t)
    labels = list(results)
    st = Table(title="R per resolution shell (pooled over structures, fitted scale per structure)")
    st.add_column("d range (A)")
    st.add_column("n", justify="right")
    for label in labels:
        st.add_column(label, justify="right")
    first = results[labels[0]]["shells"]
    for i, sh in enumerate(first):
        st.add_row(f"{sh['d_max']:.3f}-{sh['d_min']:.3f}", str(sh["n"]),
                   *[f"{results[lb]['shells'][i]['r']:.3f}" for lb in labels])
    console.print(st)
    bins = sorted({b for s in results.values() for b in s.get("edge_bins", {})},
                  key=lambda b: (0 if b.startswith("<=") else 1e9 if b.startswith(">") else float(b.split("-")[0])))
    if len(bins) > 1 or (bins and bins[0]):
        bt = Table(title="R_shell by longest cell edge (A): mean (ratio to Wilson on the same structures)")
        bt.add_column("predictor")
        for b in bins:
            bt.add_column(b, justify="right")
        for label, s in results.items():
            cells = []
            for b in bins:
                e = s.get("edge_bins", {}).get(b)
                if not e:
                    cells.append("-")
                    continue
                ow = e.get("over_wilson")
                cells.append(f"{e['r_shell']:.3f} ({ow:.2f}) n={e['samples']}" if ow else f"{e['r_shell']:.3f} n={e['samples']}")
            bt.add_row(label, *cells)
        console.print(bt)
    console.print(R_FORMULA.format(d_low=d_low, d_high=d_high), soft_wrap=False)


def plot_results(results: dict[str, dict[str, Any]], path: str | Path, title: str = "") -> Path:
    from ..plotting import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for label, s in results.items():
        d = [math.sqrt(sh["d_max"] * sh["d_min"]) for sh in s["shells"]]
        r = [sh["r"] for sh in s["shells"]]
        style = "--" if label in BASELINES else "-"
        ax.plot(d, r, style, marker="o", label=f"{label} (R_shell {s['r_shell']:.3f})")
    ax.invert_xaxis()
    ax.set_xlabel("resolution d (A)")
    ax.set_ylabel("R (pooled per shell, fitted scale)")
    ax.set_title(title or "R of predicted amplitudes against resolution")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path)


def compact(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The figures without per-sample lists (for records)."""
    drop = ("labels", "r_shell_per_sample", "refused_labels", "bins")
    return {lb: {k: v for k, v in s.items() if k not in drop} for lb, s in results.items()}


def write_json(results: dict[str, Any], path: str | Path) -> None:
    with atomic_output(path) as tmp:
        Path(tmp).write_text(json.dumps(results, indent=1))


def plot_learning_curves(histories: dict[str, list[dict[str, Any]]], path: str | Path, title: str = "") -> Path:
    """Validation shell R against training CPU-minutes per model (from checkpoint histories), with each run's
    'fall-off alone' reference (F_norm = 1: the fixed light-atom curve on the measured scale)."""
    from ..plotting import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for label, hist in histories.items():
        h = [e for e in hist if e.get("val_r_shell") is not None]
        if not h:
            continue
        x = [e.get("cpu_seconds", 0.0) / 60.0 for e in h]
        line = ax.plot(x, [e["val_r_shell"] for e in h], marker=".", label=label)[0]
        flat = [e.get("val_r_shell_flat") for e in h if e.get("val_r_shell_flat") is not None]
        if flat:
            ax.axhline(flat[-1], color=line.get_color(), ls=":", lw=0.8)
    ax.set_xlabel("training CPU-minutes (one thread)")
    ax.set_ylabel("validation R_shell (fitted scale)")
    ax.set_title(title or "learning curves (dotted: the fall-off alone)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)
