"""`xrdplug bench train`: training throughput per model and device, with the torch thread count used."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

from ..plugin_manager import canonical
from ..plugin_manager import registry as get_registry
from .training import masked_mse, parse_hparams


def cctbx_loaded() -> bool:
    return any(m == "cctbx" or m.startswith("cctbx.") or m == "boost_python_meta_ext" for m in sys.modules)


def _batch(batch_size: int, data: Path | None) -> tuple[torch.Tensor, torch.Tensor]:
    if data is not None:
        from .training import collate, open_split

        ds = open_split(data, "train", batch_size)
        b = collate([ds[i] for i in range(len(ds))])
    else:
        from .toydata import toy_dataset
        from .training import collate

        b = collate(toy_dataset(batch_size, seed=0))
    return b["x"], b["y"]


def bench_train(
    models: list[str] | None = None, batch_size: int = 8, steps: int = 3, hparams: list[str] | None = None,
    shipped: bool = False, data: Path | None = None, threads: int | None = None,
) -> list[dict]:
    from rich.console import Console
    from rich.table import Table

    if threads:
        torch.set_num_threads(threads)
    console = Console()
    reg = get_registry()
    names = [canonical(m) for m in models] if models else reg.names("model")
    overrides = parse_hparams(hparams)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    x, y = _batch(batch_size, data)
    ntok = (x[:, 2] > 0.5).flatten(1).sum(1).float().mean().item()
    console.print(
        f"torch {torch.__version__}: {torch.get_num_threads()} CPU threads (torch.get_num_threads()), "
        f"cctbx loaded: {'yes' if cctbx_loaded() else 'no'}, batch {batch_size} from "
        f"{data or 'toy data'} ({ntok:.0f} target reflections per sample), {steps} timed steps after 1 warm-up"
    )
    table = Table(title="training throughput (forward + backward + Adam step)")
    for col in ("model", "params", "hparams", "device", "samples/s", "s/step"):
        table.add_column(col)
    rows = []
    for name in names:
        plugin = reg.get("model", name)
        hp = dict(overrides)
        if shipped:
            from .shipped import RECIPES

            hp = {**RECIPES.get(name, {}).get("hparams", {}), **hp}
        hp = {k: v for k, v in hp.items() if k in plugin.default_hparams}
        for dev in devices:
            model = plugin.build(**hp).to(dev).train()
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)
            xd, yd = x.to(dev), y.to(dev)
            amp = dev == "cuda"
            times = []
            for i in range(steps + 1):
                if dev == "cuda":
                    torch.cuda.synchronize()
                t = time.perf_counter()
                with torch.autocast(device_type=dev, dtype=torch.bfloat16, enabled=amp):
                    pred = model(xd)
                loss = masked_mse(pred, yd, xd)
                opt.zero_grad()
                loss.backward()
                opt.step()
                if dev == "cuda":
                    torch.cuda.synchronize()
                if i:
                    times.append(time.perf_counter() - t)
            sec = float(np.median(times))
            n_par = sum(p.numel() for p in model.parameters())
            row = {"model": name, "device": dev, "params": n_par, "hparams": hp, "samples_per_s": batch_size / sec,
                   "seconds_per_step": sec, "threads": torch.get_num_threads()}
            rows.append(row)
            table.add_row(name, f"{n_par:,}", str(hp or "default"), dev, f"{batch_size / sec:.1f}", f"{sec:.3f}")
    console.print(table)
    console.print(f"cctbx loaded after the run: {'yes' if cctbx_loaded() else 'no'}")
    return rows
