"""`xrdplug bench extend`: time and peak memory of one extension per model and cell size, on one core.

Each (model, cell) is measured in a fresh process (so the peak resident memory is that extension's own):
a random P2_1/c structure of C/N/O atoms (18 A^3 per atom) in the given cell, its exact |F| cut to 1.5 A,
extended to 0.8 A by `xrdplug.pipeline.extend` with one torch thread; the extension's shell R is printed
beside the Wilson baseline's on the same structure. Models without weights can be timed untrained at their
shipped size (`--untrained`): time and memory do not depend on the weights.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from .hklgrid import BENCH_CELLS as CELLS


def probe(model: str, cell: tuple[float, ...], untrained: bool, repeat: int, seed: int = 1) -> dict[str, Any]:
    """Run in the child process: one extension, timed (CPU and wall) and its peak memory."""
    import resource
    import time

    import torch

    torch.set_num_threads(1)
    import xrdplug  # noqa: F401
    from cctbx_bridge import wilson as W
    from cctbx_bridge.structures import amplitudes, random_structure

    from .models.metrics import shell_r
    from .pipeline import extend

    vol = cell[0] * cell[1] * cell[2] * 0.985
    xs = random_structure("P 1 21/c 1", n_atoms=max(2, int(vol / 18.0 / 4)), volume_per_atom=18.0, seed=seed,
                          unit_cell=cell)
    f_true = amplitudes(xs, 0.8)
    f15 = f_true.resolution_filter(d_min=1.5)
    ckpt = None
    if untrained:
        import tempfile

        from .models.checkpoint import save_checkpoint
        from .models.recipes import shipped_hparams
        from .plugin_manager import registry

        hp = shipped_hparams(model)
        net = registry().get("model", model).build(**hp)
        ckpt = tempfile.mktemp(suffix=".pt")
        save_checkpoint(ckpt, net, model, hp, {})
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    res = extend(f15, model=model, checkpoint=ckpt)  # first call: builds and loads the model
    cpu, wall = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        res = extend(f15, model=model, checkpoint=ckpt)
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ext = res.f_extended
    t_c, e_c = f_true.common_sets(ext)
    pred = e_c.d_spacings().data().as_numpy_array() < 1.5
    r_model = shell_r(t_c.data().as_numpy_array()[pred], e_c.data().as_numpy_array()[pred])
    wil = W.extend_with_wilson(f15, W.unit_cell_content(xs), 0.8)
    t_w, w_c = f_true.common_sets(wil)
    pw = w_c.d_spacings().data().as_numpy_array() < 1.5
    r_wilson = shell_r(t_w.data().as_numpy_array()[pw], w_c.data().as_numpy_array()[pw])
    return {"reflections": int(ext.size()), "measured": int(res.n_measured), "cpu_s": min(cpu), "wall_s": min(wall),
            "peak_mib": peak / 1024.0, "extend_mib": max(0.0, (peak - rss0) / 1024.0), "r_shell": r_model,
            "wilson_r_shell": r_wilson, "atoms_per_cell": int(xs.scatterers().size() * 4)}


def run_probe(model: str, cell: tuple[float, ...], untrained: bool, repeat: int) -> dict[str, Any]:
    code = ("import json, sys; from xrdplug.bench_extend import probe; "
            f"print('JSON' + json.dumps(probe({model!r}, {tuple(cell)!r}, {untrained!r}, {repeat!r})))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=1800,
                       env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    for line in r.stdout.splitlines():
        if line.startswith("JSON"):
            return json.loads(line[4:])
    err = (r.stderr.strip().splitlines() or ["no output"])[-1]
    return {"error": err[:200]}


def bench_extend(models: list[str], untrained: bool = False, repeat: int = 2,
                 cells: dict[str, tuple[float, ...]] | None = None) -> list[dict[str, Any]]:
    from rich.console import Console
    from rich.table import Table

    from .hklgrid import grid_shape

    cells = cells or CELLS
    rows = []
    t = Table(title="extend 1.5 A -> 0.8 A, one core (torch 1 thread), each in a fresh process"
              + (" (untrained weights: time and memory only)" if untrained else ""))
    for col in ("model", "cell", "reflections", "grid", "CPU s", "wall s", "peak MiB", "+MiB extend",
                "R_shell", "Wilson R_shell"):
        t.add_column(col, justify="left" if col in ("model", "cell") else "right")
    for name in models:
        for label, cell in cells.items():
            res = run_probe(name, cell, untrained, repeat)
            g = grid_shape(cell, 0.8)  # type: ignore[arg-type]
            res.update(model=name, cell=label, cell_parameters=list(cell), grid=list(g))
            rows.append(res)
            if "error" in res:
                t.add_row(name, label, "-", "x".join(map(str, g)), "-", "-", "-", "-", res["error"][:40], "-")
                continue
            t.add_row(name, label, f"{res['reflections']:,}", "x".join(map(str, g)), f"{res['cpu_s']:.2f}",
                      f"{res['wall_s']:.2f}", f"{res['peak_mib']:.0f}", f"{res['extend_mib']:.0f}",
                      "-" if untrained else f"{res['r_shell']:.3f}", f"{res['wilson_r_shell']:.3f}")
    Console(width=160).print(t)
    return rows
