"""The recipes of the built-in models' shipped weights, and `xrdplug train-shipped`, which retrains them.

The shipped weights are SMALL configurations trained on CPU in minutes (the reference hyper-parameters stay
each plugin's default_hparams; a shipped checkpoint stores its own). Each retrain writes, beside the weights,
NAME.json (data set, size, epochs, time, hardware, test figures from `xrdplug evaluate`) and README.md.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import torch

from ..files import atomic_output
from ..plugin_manager import canonical
from .checkpoint import read_checkpoint, save_checkpoint
from .evaluation import BASELINE, R_FORMULA, evaluate, fit_baseline
from .training import TrainConfig, best_path, open_split, train

WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "plugins" / "models" / "weights"

RECIPES: dict[str, dict[str, Any]] = {
    "unet": {
        "hparams": {"filters": [16, 32, 64]},
        "batch_size": 8, "lr": 1e-3, "minutes": 13.0, "epoch_samples": 1500, "val_samples": 256, "epochs": 40,
    },
    "fft-unet": {
        "hparams": {"filters": [12, 24, 48]},
        "batch_size": 8, "lr": 1e-3, "minutes": 13.0, "epoch_samples": 1500, "val_samples": 256, "epochs": 40,
    },
    "transformer": {
        "hparams": {"embed_dim": 64, "depth": 3, "heads": 4, "mlp_ratio": 4.0, "dropout": 0.0, "keys": "known"},
        "batch_size": 8, "lr": 1e-3, "minutes": 13.0, "epoch_samples": 1000, "val_samples": 256, "epochs": 40,
    },
}
# Full-size recipe for a GPU: the reference hyper-parameters (each plugin's default_hparams), whole epochs.
REFERENCE_RECIPE: dict[str, Any] = {
    "hparams": {}, "batch_size": 32, "lr": 1e-3, "minutes": None, "epoch_samples": None, "val_samples": 1000,
    "epochs": 30,
}

REFERENCE_R = {"unet": 0.393, "fft-unet": 0.336, "transformer": 0.358}
REFERENCE_MSE = {"unet": 1.39e-3, "fft-unet": 1.20e-3, "transformer": 1.31e-3}


def hardware(device: str) -> str:
    cpu = platform.processor() or "cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    text = f"{cpu}, {os.cpu_count()} cores visible, torch {torch.__version__} with {torch.get_num_threads()} threads"
    if device.startswith("cuda") and torch.cuda.is_available():
        text = f"{torch.cuda.get_device_name()} (CUDA); host {text}"
    return text


def retrain(
    data: Path, models: list[str] | None = None, minutes: float | None = None, device: str = "auto",
    work: Path = Path("runs/shipped"), eval_samples: int | None = None, weights_dir: Path = WEIGHTS_DIR,
    threads: int | None = None, resume: bool = False, recipe: str = "cpu",
) -> None:
    names = [canonical(m) for m in (models or list(RECIPES))]
    for n in names:
        if n not in RECIPES:
            from ..errors import XrdplugError

            raise XrdplugError(f"no shipped recipe for '{n}' (recipes: {', '.join(RECIPES)})")
    work.mkdir(parents=True, exist_ok=True)
    weights_dir.mkdir(parents=True, exist_ok=True)
    if recipe not in ("cpu", "reference"):
        from ..errors import XrdplugError

        raise XrdplugError(f"--recipe {recipe}: expected cpu (small, minutes on CPU) or reference (full size, for a GPU)")
    for name in names:
        r = RECIPES[name] if recipe == "cpu" else dict(REFERENCE_RECIPE)
        out = work / f"{name.replace('-', '_')}.pt"
        cfg = TrainConfig(
            model=name, data=str(data), out=str(out), epochs=r["epochs"], batch_size=r["batch_size"], lr=r["lr"],
            device=device, overwrite=not (resume and out.exists()), resume=resume and out.exists(), epoch_samples=r["epoch_samples"], val_samples=r["val_samples"],
            hparams=dict(r["hparams"]), time_limit_min=minutes or r["minutes"], threads=threads,
            workers=0 if device == "cpu" or not torch.cuda.is_available() else 4,
        )
        t0 = time.time()
        meta = train(cfg)
        wall = time.time() - t0
        best = best_path(out)
        ck = read_checkpoint(best if best.exists() else out)
        from ..plugin_manager import registry

        reg = registry()
        model = reg.get("model", name).build(**ck["hparams"])
        model.load_state_dict(ck["state_dict"])
        bm = ck["meta"]
        samples_seen = sum(h["samples"] for h in meta["history"])
        shipped_meta = {
            "recipe": r, "best_epoch": bm.get("best_epoch", bm.get("epoch")), "epochs_run": meta["epoch"],
            "train_seconds": meta["train_seconds"], "samples_seen": samples_seen, "data": str(data),
            "train_samples": meta["train_samples"], "history": meta["history"], "torch": torch.__version__,
        }
        wpath = weights_dir / f"{name.replace('-', '_')}.pt"
        save_checkpoint(wpath, model, name, ck["hparams"], shipped_meta)
        # ---- test figures with the shipped file itself
        from .checkpoint import load_model

        m2, _ = load_model(name, reg, checkpoint=wpath)
        test = open_split(data, "test", eval_samples)
        base = fit_baseline(open_split(data, "train"), 2000)
        res = evaluate([(name, m2)], test, base, batch_size=16)
        # the shipped file carries its own test figures (extend derives predicted sigmas from r_shell)
        shipped_meta["test"] = {k: res[name][k] for k in ("samples", "mse", "r_shell", "r_all")}
        save_checkpoint(wpath, model, name, ck["hparams"], shipped_meta)
        try:
            dmeta = json.loads((Path(data) / "meta.json").read_text())
        except (OSError, ValueError):
            dmeta = {}
        record = {
            "model": name,
            "file": wpath.name,
            "file_bytes": wpath.stat().st_size,
            "parameters": sum(p.numel() for p in model.parameters()),
            "hparams": ck["hparams"],
            "data_set": {
                "path": str(data), "mode": dmeta.get("mode"), "n": dmeta.get("n"), "seed": dmeta.get("seed"),
                "d_low": dmeta.get("d_low"), "d_high": dmeta.get("d_high"),
                "space_groups": dmeta.get("params", {}).get("space_groups"),
                "atoms": dmeta.get("params", {}).get("atoms"),
                "train_samples": meta["train_samples"], "test_samples": len(test),
            },
            "training": {
                "epochs_run": meta["epoch"], "best_epoch": shipped_meta["best_epoch"],
                "samples_per_epoch": r["epoch_samples"], "samples_seen": samples_seen,
                "batch_size": r["batch_size"], "lr": r["lr"], "time_limit_min": cfg.time_limit_min,
                "train_seconds": round(meta["train_seconds"], 1), "wall_seconds_incl_eval": round(wall, 1),
                "stopped": meta.get("stopped"), "device": meta["device"], "torch_threads": meta["torch_threads"],
                "hardware": hardware(meta["device"]),
            },
            "test": res[name],
            "baseline_test": res[BASELINE],
            "r_formula": R_FORMULA.format(d_low=dmeta.get("d_low", 1.5), d_high=dmeta.get("d_high", 0.8)),
            "command": f"xrdplug train-shipped --data {data} --model {name}"
            + (" (then again with --resume: see training.epochs_run and history)" if resume else ""),
        }
        with atomic_output(weights_dir / f"{name.replace('-', '_')}.json") as tmp:
            Path(tmp).write_text(json.dumps(record, indent=1))
        print(
            f"{name}: shipped {wpath} ({record['file_bytes'] / 2**20:.2f} MiB); test MSE {res[name]['mse']:.4f} "
            f"R_shell {res[name]['r_shell']:.3f} R_all {res[name]['r_all']:.3f}  (baseline R_shell "
            f"{res[BASELINE]['r_shell']:.3f} R_all {res[BASELINE]['r_all']:.3f})"
        )
        write_readme(weights_dir)


def write_readme(weights_dir: Path = WEIGHTS_DIR) -> Path:
    recs = []
    for name in RECIPES:
        p = weights_dir / f"{name.replace('-', '_')}.json"
        if p.exists():
            recs.append(json.loads(p.read_text()))
    lines = [
        "# Shipped weights",
        "",
        "Small configurations of the three built-in models, trained on CPU by `xrdplug train-shipped` "
        "(one command retrains all three: `xrdplug train-shipped --data data/sim`; `--model NAME` for one).",
        "The plugins' default_hparams stay the reference sizes; each checkpoint stores its own hyper-parameters.",
        "Each NAME.json beside this file is the full record (data set, recipe, per-epoch history, hardware, "
        "test figures).",
        "",
        "| model | params | file | train data | samples seen (epochs) | train time | hardware "
        "| test MSE | test R_shell | R_shell - baseline | test R_all (ref-style) | reference R (CSD) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in recs:
        t, d = r["training"], r["data_set"]
        lines.append(
            f"| {r['model']} | {r['parameters']:,} | {r['file']} ({r['file_bytes'] / 2**20:.2f} MiB) | "
            f"{d['train_samples']} train of {d['n']} ({d['mode']}) | {t['samples_seen']} ({t['epochs_run']} x "
            f"{t['samples_per_epoch']}) | {t['train_seconds'] / 60:.1f} min | {t['device']}, {t['torch_threads']} "
            f"thread(s) | {r['test']['mse']:.4f} | {r['test']['r_shell']:.3f} | "
            f"{r['test']['r_shell'] - r['baseline_test']['r_shell']:+.3f} | {r['test']['r_all']:.3f} | "
            f"{REFERENCE_R.get(r['model'], float('nan')):.3f} |"
        )
    if recs:
        b = recs[-1]["baseline_test"]
        lines.append(
            f"| shell-mean baseline | 0 | - | 2000 train samples | - | - | - | {b['mse']:.4f} | {b['r_shell']:.3f} "
            f"| 0 | {b['r_all']:.3f} | - |"
        )
        gains = [r["baseline_test"]["r_shell"] - r["test"]["r_shell"] for r in recs]
        if max(gains) < 0.03:
            lines += ["", "**Caveat:** none of these CPU-trained weights is clearly better than the per-shell mean "
                      f"baseline (best gain in R_shell {max(gains):.3f}). They saw a few thousand samples in minutes of CPU "
                      "time; the reference trained on 600k samples on GPUs. They are real trained weights that run the "
                      "whole pipeline, but they do not extend data usefully: retrain on a GPU with "
                      "`xrdplug train-shipped --recipe reference --device cuda` (reference sizes, whole epochs)."
                      ]
        lines += ["", f"Test set: {recs[-1]['data_set']['test_samples']} samples of the test split.", "",
                  recs[-1]["r_formula"],
                  "", "The reference R values are on its CSD test set (a different data set: compare with care). "
                  "Hardware: " + recs[-1]["training"]["hardware"] + "."]
    path = weights_dir / "README.md"
    with atomic_output(path) as tmp:
        Path(tmp).write_text("\n".join(lines) + "\n")
    for f in [path, *weights_dir.glob("*.json"), *weights_dir.glob("*.pt")]:
        f.chmod(0o644)  # mkstemp makes 0600 files: shipped data must be world-readable
    return path
