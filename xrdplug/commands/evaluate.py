"""`xrdplug evaluate`: MSE and R of trained models on a data split, beside a per-shell mean baseline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import XrdplugError
from ._options import Device, Overwrite, Threads


def evaluate(
    models: Annotated[
        list[str], typer.Option("--model", "-m", help="Model name (shipped weights) or checkpoint path; repeatable")
    ],
    data: Annotated[Path, typer.Option("--data", help="Data set folder made by `xrdplug simulate`")],
    checkpoints: Annotated[
        list[str] | None,
        typer.Option("--checkpoint", "-c", help="Checkpoint for the i-th --model (repeatable; default shipped weights)"),
    ] = None,
    split: Annotated[str, typer.Option(help="train, val or test")] = "test",
    max_samples: Annotated[int | None, typer.Option("--max-samples", help="Score only the first N samples")] = None,
    baseline_samples: Annotated[
        int, typer.Option("--baseline-samples", help="Training samples the shell-mean baseline learns from")
    ] = 2000,
    batch_size: Annotated[int, typer.Option("--batch-size")] = 16,
    device: Device = "auto",
    threads: Threads = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Draw R against resolution for every model")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the figures as JSON")] = None,
    overwrite: Overwrite = False,
) -> None:
    """Score models on the predicted shell (1.5 > d >= 0.8 A) and on all reflections (reference-style R),
    with a per-shell R table, beside a per-shell mean |F_norm| baseline learned from the training split."""
    from ..models.checkpoint import load_model
    from ..models.evaluation import evaluate as run
    from ..models.evaluation import fit_baseline, plot_results, print_results, write_json
    from ..models.training import dataset_d_high, open_split, resolve_device
    from ..plugin_manager import registry

    if split not in ("train", "val", "test"):
        raise XrdplugError(f"--split {split}: expected train, val or test")
    checkpoints = checkpoints or []
    if len(checkpoints) > len(models):
        raise XrdplugError("more --checkpoint than --model options: give one --model per checkpoint")
    from ..files import check_output

    for p in (plot, json_out):
        if p is not None:
            check_output(p, [data], overwrite=overwrite)
    if threads is not None:
        if threads < 1:
            raise XrdplugError("--threads must be at least 1")
        import torch

        torch.set_num_threads(threads)
    dev = resolve_device(device)
    reg = registry()
    loaded = []
    for i, name in enumerate(models):
        ckpt = checkpoints[i] if i < len(checkpoints) else None
        model, meta = load_model(name, reg, checkpoint=ckpt, device=dev)
        label = meta["model"] if ckpt is None else f"{meta['model']} ({Path(ckpt).name})"
        if any(label == lb for lb, _ in loaded):
            label = f"{label} #{i + 1}"
        loaded.append((label, model))
    test = open_split(data, split, max_samples)
    base = fit_baseline(open_split(data, "train"), baseline_samples) if baseline_samples > 0 else None
    d_high = dataset_d_high(test)
    d_low = float(getattr(getattr(test, "dataset", test), "d_low", 1.5))
    results = run(loaded, test, base, batch_size=batch_size, device=dev, d_high=d_high, d_low=d_low)
    print_results(results, d_low=d_low, d_high=d_high)
    if plot is not None:
        plot_results(results, plot, title=f"{Path(data).name} {split} ({len(test)} samples)")
        typer.echo(f"wrote {plot}")
    if json_out is not None:
        write_json({"data": str(data), "split": split, "samples": len(test), "results": results}, json_out)
        typer.echo(f"wrote {json_out}")


def register(app: typer.Typer, bench: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
