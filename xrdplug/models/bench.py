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


def _batch(batch_size: int, data: Path | None, cell: tuple[float, ...] | None = None,
           layout: str = "cell-grid") -> tuple[torch.Tensor, torch.Tensor]:
    from .training import collate

    if data is not None:
        from .training import open_split

        ds = open_split(data, "train", batch_size, layout)
        b = collate([ds[i] for i in range(len(ds))])
    else:
        from .toydata import toy_dataset

        b = collate(toy_dataset(batch_size, seed=0, cell=cell, layout=layout))
    return b["x"], b["y"]


def bench_train(
    models: list[str] | None = None, batch_size: int = 8, steps: int = 3, hparams: list[str] | None = None,
    size: str = "shipped", data: Path | None = None, threads: int | None = None,
    cells: dict[str, tuple[float, ...]] | None = None,
) -> list[dict]:
    """Samples per second of forward + backward + Adam step, per model, cell size (toy structures in the
    cells of `bench extend`) or data set batch, and device."""
    from rich.console import Console
    from rich.table import Table

    from ..batch import layout_of
    from ..hklgrid import BENCH_CELLS as CELLS
    from .recipes import shipped_hparams

    if threads:
        torch.set_num_threads(threads)
    console = Console(width=160)
    reg = get_registry()
    names = [canonical(m) for m in models] if models else reg.names("model")
    overrides = parse_hparams(hparams)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    sources: dict[str, tuple[float, ...] | None] = {f"{data}": None} if data is not None else dict(cells or CELLS)
    console.print(
        f"torch {torch.__version__}: {torch.get_num_threads()} CPU threads (torch.get_num_threads()), "
        f"cctbx loaded: {'yes' if cctbx_loaded() else 'no'}, batch {batch_size}, {steps} timed steps after 1 "
        f"warm-up, {size} sizes"
    )
    table = Table(title="training throughput (forward + backward + Adam step)")
    for col in ("model", "params", "batch from", "reflections/sample", "device", "samples/s", "s/step"):
        table.add_column(col)
    rows = []
    for name in names:
        plugin = reg.get("model", name)
        hp = {**(shipped_hparams(name) if size == "shipped" else {}), **overrides}
        hp = {k: v for k, v in hp.items() if k in plugin.default_hparams}
        for label, cell in sources.items():
            model0 = plugin.build(**hp)
            x, y = _batch(batch_size, data, cell, layout_of(model0))
            ntok = float((x[:, 2] > 0.5).flatten(1).sum(1).float().mean())
            for dev in devices:
                model = plugin.build(**hp).to(dev).train()
                opt = torch.optim.Adam(model.parameters(), lr=1e-3)
                xd, yd = x.to(dev), y.to(dev)
                amp = dev == "cuda"
                times = []
                for i in range(steps + 1):
                    if dev == "cuda":
                        torch.cuda.synchronize()
                    t = time.process_time() if dev == "cpu" else time.perf_counter()
                    with torch.autocast(device_type=dev, dtype=torch.bfloat16, enabled=amp):
                        pred = model(xd)
                    loss = masked_mse(pred, yd, xd)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    if dev == "cuda":
                        torch.cuda.synchronize()
                    if i:
                        times.append((time.process_time() if dev == "cpu" else time.perf_counter()) - t)
                sec = float(np.median(times))
                n_par = sum(p.numel() for p in model.parameters())
                row = {"model": name, "device": dev, "params": n_par, "hparams": hp, "source": label,
                       "reflections": ntok, "samples_per_s": batch_size / sec, "seconds_per_step": sec,
                       "threads": torch.get_num_threads(), "clock": "CPU time" if dev == "cpu" else "wall"}
                rows.append(row)
                table.add_row(name, f"{n_par:,}", label, f"{ntok:.0f}", dev, f"{batch_size / sec:.2f}", f"{sec:.3f}")
    console.print(table)
    console.print("CPU rows are per CPU-second of this process (time.process_time), so a shared machine does not "
                  f"distort them; cctbx loaded after the run: {'yes' if cctbx_loaded() else 'no'}")
    return rows
