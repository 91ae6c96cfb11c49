"""`xrdplug evaluate`: shell R of trained models beside the Wilson baseline, the per-shell mean and two oracles."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import XrdplugError
from ._options import Device, Overwrite, Threads


def evaluate(
    models: Annotated[
        list[str] | None,
        typer.Option("--model", "-m", help="Model name (shipped weights) or checkpoint path; repeatable. "
                     "None: the baselines alone"),
    ] = None,
    data: Annotated[Path | None, typer.Option("--data", help="Data set folder made by `xrdplug simulate`")] = None,
    structures: Annotated[
        list[Path] | None,
        typer.Option("--structures", help="Crystal structures (CIF/.res files or folders): calculated |F| "
                     "with H atoms as the truth; a data.mtz beside a structure is its measured input "
                     "(benchmark cases of `xrdplug cases`); repeatable"),
    ] = None,
    checkpoints: Annotated[
        list[str] | None,
        typer.Option("--checkpoint", "-c", help="Checkpoint for the i-th --model (repeatable; default shipped weights)"),
    ] = None,
    split: Annotated[str, typer.Option(help="train, val, test or all (with --data)")] = "test",
    max_samples: Annotated[int | None, typer.Option("--max-samples", help="Score only the first N structures")] = None,
    baseline_samples: Annotated[
        int, typer.Option("--baseline-samples", help="Training structures the shell-mean baseline learns from")
    ] = 1000,
    baseline_data: Annotated[
        Path | None, typer.Option("--baseline-data", help="--structures: a training data set for the shell-mean "
                                  "baseline (default: none)")
    ] = None,
    noise: Annotated[float, typer.Option(help="--structures: relative noise on the measured |F| (e.g. 0.02)")] = 0.0,
    device: Device = "auto",
    threads: Threads = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Draw R against resolution for every predictor")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the figures as JSON")] = None,
    overwrite: Overwrite = False,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bar")] = False,
) -> None:
    """Score models on the predicted shell (1.5 > d >= 0.8 A, scale fitted per structure) and on all
    reflections (reference-style R), always beside the Wilson baseline, the per-shell mean, and two oracles
    that peek at the truth (the structure's own per-shell mean |F|, and that with its direction envelope)."""
    from ..runtime import load_torch_first

    load_torch_first()
    import torch

    from ..models import evaluation as E
    from ..models.checkpoint import load_model
    from ..models.training import resolve_device
    from ..plugin_manager import registry

    if data is None and not structures:
        raise XrdplugError("nothing to score: give --data DIR (a simulated data set) or --structures FILES")
    if split not in ("train", "val", "test", "all"):
        raise XrdplugError(f"--split {split}: expected train, val, test or all")
    models = models or []
    checkpoints = checkpoints or []
    if len(checkpoints) > len(models):
        raise XrdplugError("more --checkpoint than --model options: give one --model per checkpoint")
    from ..files import check_output

    for p in (plot, json_out):
        if p is not None:
            check_output(p, [data] if data is not None else [], overwrite=overwrite)
    if threads is not None:
        if threads < 1:
            raise XrdplugError("--threads must be at least 1")
        torch.set_num_threads(threads)
    dev = resolve_device(device)
    reg = registry()
    predictors: dict[str, E.Predictor] = {}
    for i, name in enumerate(models):
        ckpt = checkpoints[i] if i < len(checkpoints) else None
        model, meta = load_model(name, reg, checkpoint=ckpt, device=dev)
        label = meta["model"] if ckpt is None and not str(name).endswith(".pt") else f"{meta['model']} ({Path(meta['checkpoint']).name})"
        if label in predictors:
            label = f"{label} #{i + 1}"
        predictors[label] = E.ModelPredictor(model, device=str(dev))

    if data is not None:
        from ..models.training import open_split

        open_split(data, split if split != "all" else "train")  # a clear error for a missing folder / split
        shell_mean = E.fit_shell_mean(E.train_cases(data, baseline_samples)) if baseline_samples > 0 else None
        cases = E.dataset_cases(data, split, max_samples)
        from ..data import shards

        meta = shards.read_meta(data)
        d_high, d_low = float(meta["d_high"]), float(meta.get("d_low", 1.5))
        title = f"{Path(data).name} {split}"
    else:
        files = _structure_files(structures or [])
        shell_mean = (E.fit_shell_mean(E.train_cases(baseline_data, baseline_samples))
                      if baseline_data is not None and baseline_samples > 0 else None)
        cases = E.structure_cases(files[:max_samples] if max_samples else files, noise=noise)
        d_high, d_low = 0.8, 1.5
        title = f"{len(files)} structure files" + (f", {100 * noise:g}% noise" if noise else "")
    predictors.update(E.baseline_predictors(shell_mean))
    cases = list(cases)
    if not cases:
        raise XrdplugError("no structure could be scored (no usable b-unique monoclinic structure)")
    from ..progress import progress_bar

    bar = progress_bar("", disable=no_progress)
    with bar:
        task = bar.add_task("scoring", total=len(cases))
        results = E.evaluate(predictors, cases, d_high=d_high, d_low=d_low, progress=lambda: bar.advance(task))
    E.print_results(results, d_low=d_low, d_high=d_high, title=title)
    if plot is not None:
        E.plot_results(results, plot, title=f"{title} ({len(cases)} structures)")
        typer.echo(f"wrote {plot}")
    if json_out is not None:
        E.write_json({"data": str(data) if data else [str(s) for s in structures or []], "split": split,
                      "samples": len(cases), "results": results}, json_out)
        typer.echo(f"wrote {json_out}")


def _structure_files(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted(q for q in p.rglob("*") if q.suffix.lower() in (".cif", ".res", ".ins"))
            if any((q.parent / "data.mtz").is_file() for q in out):  # benchmark cases: the structures only
                out = [q for q in out if q.name == "structure.cif" or not (q.parent / "data.mtz").is_file()]
        elif p.is_file():
            out.append(p)
        else:
            raise XrdplugError(f"{p}: no such file or folder")
    return out


def register(app: typer.Typer, bench: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
