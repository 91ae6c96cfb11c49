"""Training loop shared by `xrdplug train`, `xrdplug train-shipped` and the tests.

Loss: MSE on normalised amplitudes (F_norm) over the predicted shell only (target & not known); the known
reflections are inputs and get pasted back at prediction time. Adam (lr 1e-3 by default) with
ReduceLROnPlateau on the validation loss, a checkpoint every epoch (atomic, with optimizer and scheduler
state for --resume), mixed precision on CUDA, and DistributedDataParallel when started by `torchrun`.
Never imports cctbx: torch keeps its own thread pool.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from ..errors import XrdplugError
from ..plugin_manager import Registry, canonical
from .checkpoint import paste_known, read_checkpoint, save_checkpoint
from .metrics import D_HIGH, Scores


@dataclass
class TrainConfig:
    model: str
    data: str | None = None
    out: str = "model.pt"
    epochs: int = 10
    batch_size: int = 16
    lr: float = 1e-3
    device: str = "auto"
    resume: bool = False
    overwrite: bool = False
    seed: int = 0
    max_samples: int | None = None
    epoch_samples: int | None = None
    val_samples: int | None = 512
    hparams: dict[str, Any] = field(default_factory=dict)
    workers: int = 0
    time_limit_min: float | None = None
    cpu_limit_min: float | None = None  # stop after this much CPU time of this process (honest on a shared CPU)
    threads: int | None = None
    progress: bool = True  # a bar on a terminal, else a line every `log_every` batches; False: epoch lines only
    log_every: int = 50
    weight_decay: float = 0.0
    patience: int = 2
    size: str = "shipped"  # shipped: the built-in model's shipped size; reference: the plugin's default_hparams


def resolve_device(device: str) -> torch.device:
    device = (device or "auto").lower()
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise XrdplugError("--device cuda: no CUDA device is available here (torch sees none); use --device cpu")
        return torch.device(device)
    if device == "cpu":
        return torch.device("cpu")
    raise XrdplugError(f"--device {device}: expected auto, cpu or cuda")


def open_split(root: str | os.PathLike[str], split: str, max_samples: int | None = None,
               layout: str = "cell-grid") -> Dataset:
    """The simulator's ShardDataset for one split (items in the given input layout), optionally cut to its
    first `max_samples`."""
    root = Path(root)
    if not root.is_dir():
        raise XrdplugError(f"{root}: no such data folder (make one with `xrdplug simulate --out {root}`)")
    try:
        from ..data.dataset import ShardDataset
    except ImportError as exc:
        raise XrdplugError(f"the data set reader is not available ({exc})") from None
    try:
        ds = ShardDataset(root, split=split, layout=layout)
    except XrdplugError:
        raise
    except (OSError, ValueError, KeyError) as exc:
        raise XrdplugError(f"{root}: cannot open the '{split}' split ({exc})") from None
    if len(ds) == 0:
        raise XrdplugError(f"{root}: the '{split}' split is empty")
    if max_samples is not None and max_samples < len(ds):
        ds = Subset(ds, range(max_samples))
    return ds


def dataset_d_high(ds: Dataset) -> float:
    base = ds.dataset if isinstance(ds, Subset) else ds
    for attr in ("d_high", "d_min"):
        v = getattr(base, attr, None)
        if isinstance(v, (int, float)) and v > 0:
            return float(v)
    return D_HIGH


def collate(items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Stack items, zero-padding grids of different sizes to the largest (padding has no target)."""
    from ..batch import pad_stack

    out = {
        "x": torch.from_numpy(pad_stack([np.asarray(it["x"], dtype=np.float32) for it in items])),
        "y": torch.from_numpy(pad_stack([np.asarray(it["y"], dtype=np.float32) for it in items])),
    }
    if all("wilson" in it for it in items):
        out["wilson"] = torch.from_numpy(np.stack([np.asarray(it["wilson"], dtype=np.float32) for it in items]))
    return out


def grid_volumes(ds: Dataset) -> np.ndarray | None:
    """Grid voxels per sample (ShardDataset or a Subset of one), or None when the data set cannot say."""
    base, idx = (ds.dataset, np.asarray(ds.indices)) if isinstance(ds, Subset) else (ds, None)
    fn = getattr(base, "grid_volumes", None)
    if fn is None:
        return None
    v = fn()
    return v[idx] if idx is not None else v


class BucketBatchSampler(torch.utils.data.Sampler):
    """Batches of structures with similar grid sizes, so that a padded batch is mostly real reflections.

    Each epoch: a random draw of `num_samples` indices (all when None) from `generator`, cut into chunks of
    `chunk` batches, each chunk sorted by grid volume and cut into batches, and the batches shuffled. With
    shuffle=False (validation) the order is by size within chunks of the natural order.
    """

    def __init__(self, sizes: np.ndarray, batch_size: int, num_samples: int | None = None,
                 generator: torch.Generator | None = None, drop_last: bool = False, chunk: int = 50,
                 shuffle: bool = True):
        self.sizes = np.asarray(sizes)
        self.batch_size = int(batch_size)
        self.num_samples = min(int(num_samples), len(self.sizes)) if num_samples else len(self.sizes)
        self.generator = generator
        self.drop_last = drop_last
        self.chunk = chunk
        self.shuffle = shuffle

    def __iter__(self):
        n = len(self.sizes)
        order = torch.randperm(n, generator=self.generator).tolist() if self.shuffle else list(range(n))
        order = order[: self.num_samples]
        batches: list[list[int]] = []
        span = self.chunk * self.batch_size
        for c in range(0, len(order), span):
            part = sorted(order[c : c + span], key=lambda i: self.sizes[i])
            batches += [part[i : i + self.batch_size] for i in range(0, len(part), self.batch_size)]
        if self.drop_last:
            batches = [b for b in batches if len(b) == self.batch_size]
        if self.shuffle:
            perm = torch.randperm(len(batches), generator=self.generator).tolist()
            batches = [batches[i] for i in perm]
        return iter(batches)

    def __len__(self) -> int:
        full, rest = divmod(self.num_samples, self.batch_size)
        return full if self.drop_last else full + bool(rest)


def masked_mse(pred: torch.Tensor, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """MSE over the predicted shell: target (channel 2) and not known (channel 1)."""
    m = (x[:, 2] > 0.5) & (x[:, 1] < 0.5)
    diff = (pred.float() - y.float())[m]
    if diff.numel() == 0:
        return pred.float().sum() * 0.0
    return (diff**2).mean()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def parse_hparams(items: list[str] | None) -> dict[str, Any]:
    """--hparams '{"filters": [16, 32, 64]}' or --hparams filters=[16,32,64] --hparams depth=3."""
    import json

    out: dict[str, Any] = {}
    for item in items or []:
        item = item.strip()
        if not item:
            continue
        if item.startswith("{"):
            try:
                obj = json.loads(item)
            except json.JSONDecodeError as exc:
                raise XrdplugError(f"--hparams {item!r}: not valid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise XrdplugError(f"--hparams {item!r}: expected a JSON object")
            out.update(obj)
            continue
        key, eq, val = item.partition("=")
        if not eq or not key.strip():
            raise XrdplugError(f"--hparams {item!r}: expected key=value or a JSON object")
        try:
            out[key.strip()] = json.loads(val)
        except json.JSONDecodeError:
            out[key.strip()] = val
    return out


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class _Dist:
    def __init__(self) -> None:
        self.enabled = "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ
        self.rank = int(os.environ.get("RANK", 0))
        self.local_rank = int(os.environ.get("LOCAL_RANK", 0))
        self.world = int(os.environ.get("WORLD_SIZE", 1))

    @property
    def main(self) -> bool:
        return self.rank == 0

    def setup(self, device: torch.device) -> torch.device:
        if not self.enabled:
            return device
        import torch.distributed as dist

        if device.type == "cuda":
            device = torch.device("cuda", self.local_rank)
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        return device

    def barrier(self) -> None:
        if self.enabled:
            import torch.distributed as dist

            dist.barrier()

    def broadcast_flag(self, flag: bool, device: torch.device) -> bool:
        if not self.enabled:
            return flag
        import torch.distributed as dist

        t = torch.tensor([1 if flag else 0], device=device)
        dist.broadcast(t, 0)
        return bool(t.item())

    def close(self) -> None:
        if self.enabled:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()


@torch.no_grad()
def validate(model: torch.nn.Module, loader: DataLoader, device: torch.device, d_high: float,
             amp_dtype: torch.dtype | None = None) -> dict[str, Any]:
    """Validation MSE (the loss) and shell R with a fitted scale, from the grids (the l = 0 plane's mirror
    voxels count twice here; `xrdplug evaluate` scores each reflection once)."""
    from .. import normalise

    model.eval()
    scores = Scores(d_high=d_high)
    flat = Scores(d_high=d_high)  # reference: F_norm = 1 everywhere, i.e. the fixed light-atom fall-off
    for batch in loader:
        x = batch["x"].to(device, non_blocking=True)
        with torch.autocast(device_type=device.type, dtype=amp_dtype or torch.float16, enabled=amp_dtype is not None):
            y = model(x)
        xn = batch["x"].numpy()
        yp = paste_known(xn, y.float().cpu().numpy())
        yt = batch["y"].numpy()
        wil = batch["wilson"].numpy() if "wilson" in batch else np.zeros((len(xn), 2), np.float32)
        for i in range(len(xn)):
            t = xn[i, 2] > 0.5
            inv_d2 = xn[i, 3][t].astype(np.float64) / d_high**2
            sc = normalise.scale_at(inv_d2, float(wil[i, 0]), float(wil[i, 1]))
            kn = xn[i, 1][t] > 0.5
            scores.add(yt[i][t] * sc, yp[i][t] * sc, kn, inv_d2)
            flat.add(yt[i][t] * sc, np.where(kn, yt[i][t], 1.0) * sc, kn, inv_d2)
    model.train()
    s = scores.summary()
    return {"mse": s["mse"], "r_shell": s["r_shell"], "r_all": s["r_all"], "samples": s["samples"],
            "r_shell_flat": flat.summary()["r_shell"]}


def _print_line(msg: str) -> None:
    print(msg, flush=True)  # flushed, so that piped output (nohup, CI logs) shows each line as it comes


def _check_config(cfg: TrainConfig) -> Path:
    """The options `train` refuses before any work, in one line each; makes the checkpoint's folder."""
    if cfg.epochs < 1:
        raise XrdplugError("--epochs must be at least 1")
    if cfg.batch_size < 1:
        raise XrdplugError("--batch-size must be at least 1")
    out = Path(cfg.out)
    if cfg.size not in ("shipped", "reference"):
        raise XrdplugError(f"--size {cfg.size}: expected shipped or reference")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)  # like simulate's --out: the folder is made
    except OSError as exc:
        raise XrdplugError(f"{out}: cannot create the folder {out.parent} ({exc.strerror})") from None
    return out


@dataclass
class _Start:
    """Where a run starts: the first epoch, the history so far, the checkpoint resumed (or None), hparams."""

    epoch: int
    history: list[dict[str, Any]]
    ckpt: dict[str, Any] | None
    hparams: dict[str, Any]


def _start(cfg: TrainConfig, plugin: Any, name: str, out: Path, log: Callable[[str], None]) -> _Start:
    """Resume from `out` (--resume: the checkpoint's hyper-parameters win) or start afresh (never over an
    existing checkpoint without --overwrite)."""
    from .recipes import shipped_hparams

    size_hparams = shipped_hparams(name) if cfg.size == "shipped" else {}
    hparams = {**plugin.default_hparams, **size_hparams, **cfg.hparams}
    if not cfg.resume:
        if out.exists() and not cfg.overwrite:
            raise XrdplugError(f"{out} exists: pass --resume to continue it or --overwrite to start afresh")
        return _Start(1, [], None, hparams)
    if not out.is_file():
        raise XrdplugError(f"--resume: no checkpoint at {out} to continue; drop --resume to start afresh")
    ckpt = read_checkpoint(out)
    if canonical(ckpt["model"]) != name:
        raise XrdplugError(f"{out}: this checkpoint holds a '{ckpt['model']}' model, not '{name}'")
    hparams = dict(ckpt["hparams"])
    meta = ckpt.get("meta") or {}
    if cfg.hparams and any(hparams.get(k) != v for k, v in cfg.hparams.items()):
        log(f"note: --resume keeps the checkpoint's hyper-parameters {hparams}; --hparams ignored")
    return _Start(int(meta.get("epoch", 0)) + 1, list(meta.get("history", [])), ckpt, hparams)


def _loaders(cfg: TrainConfig, train_set: Dataset, val_set: Dataset | None, dist_: _Dist, gen: torch.Generator,
             device: torch.device) -> tuple[DataLoader, DataLoader | None, Any]:
    """The training loader (batches of similar grid size where the data set can say, else torch's samplers;
    DistributedSampler under torchrun), the validation loader (or None) and the sampler that needs
    set_epoch (or None)."""
    sampler: Any = None
    if dist_.enabled:
        from torch.utils.data.distributed import DistributedSampler

        sampler = DistributedSampler(train_set, num_replicas=dist_.world, rank=dist_.rank, shuffle=True, seed=cfg.seed)
    pin = device.type == "cuda"
    sizes = grid_volumes(train_set) if sampler is None else None
    drop_last = len(train_set) > cfg.batch_size
    if sizes is not None:
        # batches of similar grid size (each epoch a fresh random draw of epoch_samples, without replacement)
        batch_sampler = BucketBatchSampler(sizes, cfg.batch_size, cfg.epoch_samples, gen, drop_last)
        train_loader = DataLoader(train_set, batch_sampler=batch_sampler, collate_fn=collate, num_workers=cfg.workers,
                                  pin_memory=pin, persistent_workers=cfg.workers > 0)
    else:
        if sampler is None and cfg.epoch_samples is not None and cfg.epoch_samples < len(train_set):
            from torch.utils.data import RandomSampler

            sampler = RandomSampler(train_set, replacement=False, num_samples=cfg.epoch_samples, generator=gen)
        train_loader = DataLoader(
            train_set, batch_size=cfg.batch_size, shuffle=sampler is None, sampler=sampler, collate_fn=collate,
            num_workers=cfg.workers, drop_last=drop_last, generator=gen if sampler is None else None,
            pin_memory=pin, persistent_workers=cfg.workers > 0,
        )
    val_loader = None
    if val_set is not None:
        vsizes = grid_volumes(val_set)
        vkw: dict[str, Any] = (
            {"batch_sampler": BucketBatchSampler(vsizes, cfg.batch_size, shuffle=False)} if vsizes is not None
            else {"batch_size": cfg.batch_size, "shuffle": False}
        )
        val_loader = DataLoader(val_set, collate_fn=collate, num_workers=cfg.workers, pin_memory=pin, **vkw)
    return train_loader, val_loader, sampler


def _optimiser(cfg: TrainConfig, model: torch.nn.Module, device: torch.device, ckpt: dict[str, Any] | None
               ) -> tuple[torch.optim.Optimizer, Any, torch.dtype | None, Any]:
    """Adam, ReduceLROnPlateau, and on CUDA mixed precision (bfloat16 where supported, else float16 with a
    GradScaler); their states restored from a resumed checkpoint."""
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=cfg.patience)
    amp_dtype = None
    scaler = None
    if device.type == "cuda":
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if amp_dtype == torch.float16:
            scaler = torch.amp.GradScaler("cuda")
    if ckpt is not None:
        if "optimizer" in ckpt:
            opt.load_state_dict(ckpt["optimizer"])
        if "scheduler" in ckpt:
            sched.load_state_dict(ckpt["scheduler"])
        if scaler is not None and "scaler" in ckpt:
            scaler.load_state_dict(ckpt["scaler"])
    return opt, sched, amp_dtype, scaler


@dataclass
class _Loop:
    """What every epoch of one run shares (built by `train`, used by _train_epoch and _end_epoch)."""

    cfg: TrainConfig
    name: str
    hparams: dict[str, Any]
    out: Path
    model: torch.nn.Module
    net: torch.nn.Module  # the model, or its DDP wrapper
    device: torch.device
    dist: _Dist
    train_loader: DataLoader
    val_loader: DataLoader | None
    sampler: Any
    gen: torch.Generator
    opt: torch.optim.Optimizer
    sched: Any
    scaler: Any
    amp_dtype: torch.dtype | None
    d_high: float
    info: dict[str, Any]
    history: list[dict[str, Any]]
    log: Callable[[str], None]
    prior_seconds: float = 0.0  # of the run resumed
    prior_cpu: float = 0.0
    best: float = math.inf  # best validation MSE so far
    t_start: float = 0.0
    c_start: float = 0.0
    progress: Any = None  # a rich bar on a terminal
    lines: bool = False  # not a terminal: a plain progress line every cfg.log_every batches instead of a bar


@dataclass
class _Epoch:
    """One epoch's training figures, and why the run stops after it (None: it goes on)."""

    loss_sum: float = 0.0
    n_batches: int = 0
    seen: int = 0
    seconds: float = 0.0
    stopped: str | None = None


def _step(loop: _Loop, batch: dict[str, torch.Tensor], epoch: int) -> tuple[float, int]:
    """One optimiser step on one batch: (its loss, its samples); XrdplugError when the loss diverges."""
    x = batch["x"].to(loop.device, non_blocking=True)
    y = batch["y"].to(loop.device, non_blocking=True)
    with torch.autocast(device_type=loop.device.type, dtype=loop.amp_dtype or torch.float16,
                        enabled=loop.amp_dtype is not None):
        pred = loop.net(x)
    loss = masked_mse(pred, y, x)
    loop.opt.zero_grad(set_to_none=True)
    if loop.scaler is not None:
        loop.scaler.scale(loss).backward()
        loop.scaler.step(loop.opt)
        loop.scaler.update()
    else:
        loss.backward()
        loop.opt.step()
    lv = float(loss.detach())
    if not math.isfinite(lv):
        raise XrdplugError(f"training diverged at epoch {epoch} (loss {lv}); lower --lr")
    return lv, x.shape[0]


def _over_limit(loop: _Loop, epoch: int) -> str | None:
    """Why the run stops now (wall or CPU limit, agreed by every rank), or None."""
    cfg = loop.cfg
    over = cfg.time_limit_min is not None and (time.perf_counter() - loop.t_start) > 60 * cfg.time_limit_min
    over_cpu = cfg.cpu_limit_min is not None and (time.process_time() - loop.c_start) > 60 * cfg.cpu_limit_min
    if not loop.dist.broadcast_flag(over or over_cpu, loop.device):
        return None
    return (f"time limit {cfg.time_limit_min} min" if over else
            f"CPU limit {cfg.cpu_limit_min} min") + f" reached in epoch {epoch}"


def _train_epoch(loop: _Loop, epoch: int) -> _Epoch:
    """One pass over the training loader (stopping early at a time limit), with progress as configured."""
    cfg = loop.cfg
    # every epoch's randomness (data order, dropout) depends on (seed, epoch) alone, so a run resumed
    # from epoch N's checkpoint retraces the uninterrupted run
    seed_everything(cfg.seed + loop.dist.rank + 1000 * (epoch - 1))
    loop.gen.manual_seed(cfg.seed + epoch)
    if hasattr(loop.sampler, "set_epoch"):
        loop.sampler.set_epoch(epoch)
    loop.net.train()
    progress = loop.progress
    task = progress.add_task(f"epoch {epoch}/{cfg.epochs}", total=len(loop.train_loader), loss="-") if progress else None
    ep = _Epoch()
    t_ep = time.perf_counter()
    for batch in loop.train_loader:
        lv, n = _step(loop, batch, epoch)
        ep.loss_sum += lv
        ep.n_batches += 1
        ep.seen += n
        if progress is not None:
            progress.update(task, advance=1, loss=f"{ep.loss_sum / ep.n_batches:.4f}")
        elif loop.lines and ep.n_batches % max(1, cfg.log_every) == 0:
            el = time.perf_counter() - t_ep
            loop.log(f"epoch {epoch} batch {ep.n_batches}/{len(loop.train_loader)}: train MSE "
                     f"{ep.loss_sum / ep.n_batches:.5f}  {ep.seen / max(el, 1e-9):.1f} samples/s")
        ep.stopped = _over_limit(loop, epoch)
        if ep.stopped:
            break
    ep.seconds = time.perf_counter() - t_ep
    if progress is not None:
        progress.remove_task(task)
    return ep


def _end_epoch(loop: _Loop, epoch: int, ep: _Epoch) -> dict[str, Any]:
    """Rank 0 after each epoch: validate, step the schedule, record the epoch, write the checkpoint (and the
    best one by validation MSE), print the epoch's line; returns the checkpoint's meta."""
    cfg = loop.cfg
    val = validate(loop.model, loop.val_loader, loop.device, loop.d_high, loop.amp_dtype) if loop.val_loader is not None else {}
    train_loss = ep.loss_sum / max(ep.n_batches, 1)
    loop.sched.step(val.get("mse", train_loss))
    rec = {
        "epoch": epoch, "train_mse": train_loss, "val_mse": val.get("mse"),
        "val_r_shell": val.get("r_shell"), "val_r_all": val.get("r_all"),
        "val_r_shell_flat": val.get("r_shell_flat"),
        "lr": loop.opt.param_groups[0]["lr"], "seconds": ep.seconds, "samples_per_s": ep.seen / max(ep.seconds, 1e-9),
        "samples": ep.seen, "cpu_seconds": loop.prior_cpu + time.process_time() - loop.c_start,
    }
    loop.history.append(rec)
    meta = {
        **loop.info, "epoch": epoch, "epochs": cfg.epochs, "history": loop.history,
        "train_seconds": loop.prior_seconds + time.perf_counter() - loop.t_start, "stopped": ep.stopped,
        "cpu_seconds": loop.prior_cpu + time.process_time() - loop.c_start,
        "seed": cfg.seed, "d_high": loop.d_high,
    }
    save_checkpoint(loop.out, loop.model, loop.name, loop.hparams, meta, loop.opt, loop.sched, loop.scaler)
    vm = val.get("mse", math.inf)
    if vm is not None and vm < loop.best:
        loop.best = vm
        save_checkpoint(best_path(loop.out), loop.model, loop.name, loop.hparams, {**meta, "best_epoch": epoch})
    msg = f"epoch {epoch}: train MSE {train_loss:.5f}"
    if val:
        msg += (f"  val MSE {val['mse']:.5f}  R_shell {val['r_shell']:.4f} (fall-off alone "
                f"{val['r_shell_flat']:.4f})  R_all {val['r_all']:.3f}")
    msg += f"  lr {rec['lr']:.2g}  {ep.seconds:.0f} s  {rec['samples_per_s']:.1f} samples/s"
    (loop.progress.console.print if loop.progress is not None else loop.log)(msg)
    return meta


def _start_progress(loop: _Loop) -> None:
    """A progress bar on a terminal (rank 0, cfg.progress), else plain lines every cfg.log_every batches."""
    if loop.cfg.progress and loop.dist.main:
        import sys

        if sys.stdout.isatty():
            from ..progress import progress_bar

            loop.progress = progress_bar("loss {task.fields[loss]}")
            loop.progress.start()
        else:
            loop.lines = True


def _run_epochs(loop: _Loop, start_epoch: int) -> dict[str, Any]:
    """The epochs from `start_epoch` to cfg.epochs (or to a time limit); the last checkpoint's meta."""
    meta: dict[str, Any] = {}
    _start_progress(loop)
    try:
        for epoch in range(start_epoch, loop.cfg.epochs + 1):
            ep = _train_epoch(loop, epoch)
            if loop.dist.main:
                meta = _end_epoch(loop, epoch, ep)
            loop.dist.barrier()
            if ep.stopped:
                if loop.dist.main:
                    loop.log(f"stopped: {ep.stopped}; checkpoint {loop.out} (continue with --resume)")
                break
    finally:
        if loop.progress is not None:
            loop.progress.stop()
        loop.dist.close()
    return meta


def train(
    cfg: TrainConfig,
    registry: Registry | None = None,
    train_set: Dataset | None = None,
    val_set: Dataset | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train (or resume) a model; returns the final checkpoint's meta. Datasets default to cfg.data's splits.

    The steps: check the options, resume or start afresh (_start), build the model, the loaders (_loaders)
    and the optimiser (_optimiser), then the epochs (_run_epochs: _train_epoch, then _end_epoch validates
    and writes the checkpoint)."""
    log = log or _print_line
    if registry is None:
        from ..plugin_manager import registry as get_registry

        registry = get_registry()
    plugin = registry.get("model", cfg.model)
    name = canonical(plugin.name)
    dist_ = _Dist()
    device = dist_.setup(resolve_device(cfg.device))
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = _check_config(cfg)
    start = _start(cfg, plugin, name, out, log)
    ckpt = start.ckpt

    seed_everything(cfg.seed + dist_.rank + 1000 * (start.epoch - 1))
    model = plugin.build(**start.hparams)
    if ckpt is not None:
        model.load_state_dict(ckpt["state_dict"])
    model.to(device)
    n_params = count_parameters(model)

    from ..batch import layout_of

    layout = layout_of(model)
    if train_set is None:
        if not cfg.data:
            raise XrdplugError("no training data: pass --data DIR")
        train_set = open_split(cfg.data, "train", cfg.max_samples, layout)
        val_set = open_split(cfg.data, "val", cfg.val_samples, layout) if val_set is None else val_set
    d_high = dataset_d_high(train_set)
    gen = torch.Generator().manual_seed(cfg.seed + start.epoch)
    train_loader, val_loader, sampler = _loaders(cfg, train_set, val_set, dist_, gen, device)
    opt, sched, amp_dtype, scaler = _optimiser(cfg, model, device, ckpt)
    net: torch.nn.Module = model
    if dist_.enabled:
        from torch.nn.parallel import DistributedDataParallel as DDP

        net = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)

    info = {
        "model": name, "parameters": n_params, "device": str(device), "world_size": dist_.world,
        "torch_threads": torch.get_num_threads(), "amp": str(amp_dtype) if amp_dtype else None,
        "train_samples": len(train_set), "val_samples": len(val_set) if val_set is not None else 0,
        "input_layout": layout,
        "batch_size": cfg.batch_size, "lr": cfg.lr, "data": str(cfg.data) if cfg.data else None,
        "torch": torch.__version__,
    }
    if dist_.main:
        log(
            f"training {name} ({n_params:,} parameters, hparams {start.hparams}) on {device}"
            f"{f' x{dist_.world} (DDP)' if dist_.enabled else ''}, torch threads {torch.get_num_threads()}, "
            f"{len(train_set)} train / {info['val_samples']} val samples, epochs {start.epoch}..{cfg.epochs}"
        )
    prior = (ckpt or {}).get("meta", {}) if ckpt else {}
    loop = _Loop(
        cfg, name, start.hparams, out, model, net, device, dist_, train_loader, val_loader, sampler, gen, opt, sched,
        scaler, amp_dtype, d_high, info, start.history, log,
        prior_seconds=float(prior.get("train_seconds", 0.0)), prior_cpu=float(prior.get("cpu_seconds", 0.0)),
        best=min((h["val_mse"] for h in start.history if h.get("val_mse") is not None), default=math.inf),
        t_start=time.perf_counter(), c_start=time.process_time(),
    )
    return _run_epochs(loop, start.epoch)


def best_path(out: str | os.PathLike[str]) -> Path:
    out = Path(out)
    return out.with_name(out.stem + ".best" + (out.suffix or ".pt"))
