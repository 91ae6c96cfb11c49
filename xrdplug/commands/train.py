"""`xrdplug train` (one model on a simulated data set), `xrdplug train-shipped` (retrain the built-in
weights) and `xrdplug bench train` (training samples per second, CPU and CUDA)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import XrdplugError


def train(
    model: Annotated[str, typer.Option("--model", "-m", help="Model plugin name (see `xrdplug plugins`)")],
    data: Annotated[Path, typer.Option("--data", help="Data set folder made by `xrdplug simulate`")],
    epochs: Annotated[int, typer.Option(help="Last epoch to train (with --resume: continue up to it)")] = 10,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Samples per step (per process under torchrun)")] = 16,
    lr: Annotated[float, typer.Option(help="Adam learning rate (ReduceLROnPlateau halves it)")] = 1e-3,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda")] = "auto",
    out: Annotated[Path, typer.Option("--out", "-o", help="Checkpoint written each epoch (+ NAME.best.pt)")] = Path(
        "model.pt"
    ),
    resume: Annotated[bool, typer.Option("--resume", help="Continue the checkpoint at --out")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Start afresh even if --out exists")] = False,
    seed: Annotated[int, typer.Option(help="Random seed")] = 0,
    max_samples: Annotated[int | None, typer.Option("--max-samples", help="Use only the first N training samples")] = None,
    epoch_samples: Annotated[
        int | None, typer.Option("--epoch-samples", help="Each epoch draws N random training samples")
    ] = None,
    val_samples: Annotated[int, typer.Option("--val-samples", help="Validation samples per epoch")] = 512,
    hparams: Annotated[
        list[str] | None,
        typer.Option("--hparams", help="Hyper-parameter overrides: JSON object or key=value (repeatable)"),
    ] = None,
    workers: Annotated[
        int, typer.Option("--loader-workers", help="DataLoader processes reading shards (0: in the training process)")
    ] = 0,
    workers_old: Annotated[int | None, typer.Option("--workers", hidden=True)] = None,
    threads: Annotated[int | None, typer.Option(help="torch CPU threads (default: torch's own)")] = None,
    time_limit: Annotated[
        float | None, typer.Option("--time-limit", help="Stop after this many minutes (checkpoint kept)")
    ] = None,
    cpu_limit: Annotated[
        float | None, typer.Option("--cpu-limit", help="Stop after this many CPU-minutes of this process "
                                   "(checkpoint kept; honest on a shared machine)")
    ] = None,
    size: Annotated[
        str, typer.Option("--size", help="shipped: the built-in model's shipped size; reference: the reference "
                          "work's hyper-parameters (the plugin's defaults)")
    ] = "shipped",
    no_progress: Annotated[
        bool, typer.Option("--no-progress", help="No progress bar or per-batch lines (epoch lines only)")
    ] = False,
    log_every: Annotated[
        int, typer.Option("--log-every", help="When output is not a terminal: a progress line every N batches")
    ] = 50,
) -> None:
    """Train a model plugin: MSE on normalised |F| over the predicted shell, validation each epoch,
    a checkpoint each epoch. Under `torchrun --nproc_per_node N` it trains with DistributedDataParallel."""
    from ..models.training import TrainConfig, parse_hparams
    from ..models.training import train as run

    workers = workers if workers_old is None else workers_old  # --workers: old name of --loader-workers
    cfg = TrainConfig(
        model=model, data=str(data), out=str(out), epochs=epochs, batch_size=batch_size, lr=lr, device=device,
        resume=resume, overwrite=overwrite, seed=seed, max_samples=max_samples, epoch_samples=epoch_samples,
        val_samples=val_samples, hparams=parse_hparams(hparams), workers=workers, threads=threads,
        time_limit_min=time_limit, cpu_limit_min=cpu_limit, size=size, progress=not no_progress, log_every=log_every,
    )
    meta = run(cfg)
    if meta:
        last = meta["history"][-1]
        typer.echo(
            f"wrote {out} (epoch {meta['epoch']}, val MSE {last['val_mse']:.5f}, val R_shell {last['val_r_shell']:.3f}, "
            f"{meta['train_seconds']:.0f} s in all)"
            if last.get("val_mse") is not None
            else f"wrote {out} (epoch {meta['epoch']})"
        )


def train_shipped(
    data: Annotated[Path, typer.Option("--data", help="Data set folder made by `xrdplug simulate`")] = Path("data/sim"),
    models: Annotated[
        list[str] | None, typer.Option("--model", "-m", help="Only these (default: every model plugin with a recipe)")
    ] = None,
    minutes: Annotated[float | None, typer.Option(help="Training minutes per model (CPU-minutes on CPU; default: each recipe's)")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda")] = "auto",
    work: Annotated[Path, typer.Option(help="Folder for the full training checkpoints")] = Path("runs/shipped"),
    eval_samples: Annotated[int | None, typer.Option("--eval-samples", help="Test samples to score")] = None,
    threads: Annotated[int | None, typer.Option(help="torch CPU threads per training")] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the runs in --work for --minutes more, then re-ship")
    ] = False,
    recipe: Annotated[
        str, typer.Option(help="cpu: the small shipped recipes; reference: reference sizes, whole epochs (GPU)")
    ] = "cpu",
    ship: Annotated[
        bool, typer.Option("--ship", help="Replace the shipped weights (only by a candidate that measures at least "
                           "as well on the same test split)")
    ] = False,
    allow_worse: Annotated[
        bool, typer.Option("--allow-worse", help="With --ship: ship even a candidate that measures worse (said)")
    ] = False,
) -> None:
    """Retrain the models whose plugins give a recipe (the built-ins, and any other) into --work and score each
    candidate beside the shipped weights and the baselines on the test split. Only with --ship are the files
    beside each plugin's weights (NAME.pt, NAME.json, README.md) replaced, and never by a worse model unless
    --allow-worse."""
    from ..models.shipped import retrain

    if allow_worse and not ship:
        raise XrdplugError("--allow-worse only makes sense with --ship")
    retrain(data=data, models=models, minutes=minutes, device=device, work=work, eval_samples=eval_samples, threads=threads,
            resume=resume, recipe=recipe, ship=ship, allow_worse=allow_worse)


def bench_train(
    models: Annotated[list[str] | None, typer.Option("--model", "-m", help="Models (default: all registered)")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size")] = 8,
    steps: Annotated[int, typer.Option(help="Timed steps per model and device")] = 3,
    hparams: Annotated[
        list[str] | None, typer.Option("--hparams", help="Overrides for every model (key=value or JSON)")
    ] = None,
    size: Annotated[str, typer.Option("--size", help="shipped (the shipped sizes) or reference")] = "shipped",
    data: Annotated[Path | None, typer.Option("--data", help="Take batches from this data set (default: toy data)")] = None,
    threads: Annotated[int | None, typer.Option(help="torch CPU threads")] = None,
) -> None:
    """Training samples per second (forward + backward + Adam step) per model and cell size (8, 16, 28 A; or
    a batch of --data), on CPU (per CPU-second) and on CUDA if present."""
    from ..models.bench import bench_train as run

    run(models=models, batch_size=batch_size, steps=steps, hparams=hparams, size=size, data=data, threads=threads)


def register(app: typer.Typer, bench: typer.Typer) -> None:
    app.command("train")(train)
    app.command("train-shipped")(train_shipped)
    bench.command("train")(bench_train)
