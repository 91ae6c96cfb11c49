"""`xrdplug train-shipped`: retrain a model plugin's shipped weights with the recipe on its ModelSpec.

Any model plugin whose spec has a `recipe` and a `weights` path gets this, built-in or not: the shipped
weights are SMALL configurations trained on CPU in minutes (the reference hyper-parameters stay the
plugin's default_hparams; a shipped checkpoint stores its own). Shipping writes, beside the plugin's own
weights file, NAME.json (data set, size, epochs, time, hardware, test figures beside the baselines, the
calibration of its predicted SIGF) and README.md.
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
from .evaluation import R_FORMULA
from .recipes import REFERENCE_RECIPE, shipped_models
from .training import TrainConfig, best_path, train


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


def test_cases(data: Path, eval_samples: int | None = None) -> list:
    from .evaluation import dataset_cases

    return list(dataset_cases(data, "test", eval_samples))


def score(model_preds: dict[str, Any], cases: list, data: Path) -> dict[str, dict[str, Any]]:
    """Models beside every baseline and oracle on the same test cases."""
    from .evaluation import baseline_predictors, evaluate, fit_shell_mean, train_cases

    preds = dict(model_preds)
    preds.update(baseline_predictors(fit_shell_mean(train_cases(data, 1000))))
    return evaluate(preds, cases)


def curve_note(history: list[dict[str, Any]]) -> str:
    """How the validation curve was still moving when training stopped (last epochs' change in val R)."""
    rs = [h["val_r_shell"] for h in history if h.get("val_r_shell") is not None]
    if len(rs) < 2:
        return "one epoch: no curve"
    k = min(4, len(rs) - 1)
    per_epoch = (rs[-1] - rs[-1 - k]) / k
    best = min(rs)
    return (f"val R_shell {rs[-1 - k]:.4f} -> {rs[-1]:.4f} over the last {k} epochs ({per_epoch:+.4f}/epoch); "
            f"best {best:.4f} at epoch {1 + rs.index(best)} of {len(rs)}")


def retrain(
    data: Path, models: list[str] | None = None, minutes: float | None = None, device: str = "auto",
    work: Path = Path("runs/shipped"), eval_samples: int | None = None, weights_dir: Path | None = None,
    threads: int | None = None, resume: bool = False, recipe: str = "cpu", ship: bool = False,
    allow_worse: bool = False, log: Any = print, calibration_samples: int = 200,
) -> list[dict[str, Any]]:
    """Train each model's recipe into `work`, score it beside the shipped weights and the baselines on the
    test split, and write WORK/NAME.json. The shipped weights are replaced only with `ship`, and then only by
    a candidate that measures at least as well on the same test structures, unless `allow_worse` (said).
    The weights go where each plugin's spec says (`weights_dir` overrides the folder, for tests)."""
    from ..errors import XrdplugError

    specs = shipped_models()
    names = [canonical(m) for m in (models or list(specs))]
    for n in names:
        if n not in specs:
            raise XrdplugError(f"no shipped recipe for '{n}' (model plugins with a recipe and a weights path: "
                               f"{', '.join(specs) or 'none'})")
    if recipe not in ("cpu", "reference"):
        raise XrdplugError(f"--recipe {recipe}: expected cpu (small, minutes on CPU) or reference (full size, for a GPU)")
    work.mkdir(parents=True, exist_ok=True)
    from ..plugin_manager import registry

    reg = registry()
    cases = None
    records = []
    for name in names:
        r = dict(specs[name].recipe) if recipe == "cpu" else dict(REFERENCE_RECIPE)
        shipped_at = Path(specs[name].weights_path())
        stem = shipped_at.stem
        wdir = weights_dir if weights_dir is not None else shipped_at.parent
        out = work / f"{stem}.pt"
        cfg = TrainConfig(
            model=name, data=str(data), out=str(out), epochs=r["epochs"], batch_size=r["batch_size"], lr=r["lr"],
            device=device, overwrite=not (resume and out.exists()), resume=resume and out.exists(),
            epoch_samples=r["epoch_samples"], val_samples=r["val_samples"], hparams=dict(r["hparams"]),
            cpu_limit_min=(minutes or r["minutes"]) if device == "cpu" or not torch.cuda.is_available() else None,
            time_limit_min=(minutes or r["minutes"]) if device != "cpu" and torch.cuda.is_available() else None,
            threads=threads,
            workers=0 if device == "cpu" or not torch.cuda.is_available() else 4,
        )
        t0 = time.time()
        meta = train(cfg, log=log)
        wall = time.time() - t0
        best = best_path(out)
        ck = read_checkpoint(best if best.exists() else out)
        model = reg.get("model", name).build(**ck["hparams"])
        model.load_state_dict(ck["state_dict"])
        model.eval()
        bm = ck["meta"]
        samples_seen = sum(h["samples"] for h in meta["history"])
        if cases is None:
            cases = test_cases(data, eval_samples)
        from .checkpoint import load_model
        from .evaluation import ModelPredictor, compact

        preds: dict[str, Any] = {f"{name} (candidate)": ModelPredictor(model)}
        wpath = wdir / f"{stem}.pt"
        current = None
        if wpath.is_file():
            try:
                current, _ = load_model(name, reg, checkpoint=wpath)
                preds[f"{name} (shipped now)"] = ModelPredictor(current)
            except XrdplugError as exc:
                log(f"note: the shipped {name} weights cannot be scored ({exc})")
        res = score(preds, cases, data)
        cand = res[f"{name} (candidate)"]
        # per-reflection uncertainty: calibrated on the validation split, its coverage checked on the test split
        from . import calibration
        from .evaluation import dataset_cases

        val_cases = list(dataset_cases(data, "val", calibration_samples, wilson=False))
        table = calibration.fit(calibration.model_samples(preds[f"{name} (candidate)"], val_cases))
        table["coverage_test"] = calibration.coverage(table, calibration.model_samples(
            preds[f"{name} (candidate)"], cases))
        now = res.get(f"{name} (shipped now)")
        shipped_meta = {
            "recipe": r, "best_epoch": bm.get("best_epoch", bm.get("epoch")), "epochs_run": meta["epoch"],
            "train_seconds": meta["train_seconds"], "samples_seen": samples_seen, "data": str(data),
            "train_samples": meta["train_samples"], "history": meta["history"], "torch": torch.__version__,
            "test": {k: cand[k] for k in ("samples", "mse", "r_shell", "r_all")},
            "calibration": table,
        }
        try:
            dmeta = json.loads((Path(data) / "meta.json").read_text())
        except (OSError, ValueError):
            dmeta = {}
        record = {
            "model": name, "file": wpath.name,
            "parameters": sum(p.numel() for p in model.parameters()), "hparams": ck["hparams"],
            "data_set": {
                "path": str(data), "mode": dmeta.get("mode"), "n": dmeta.get("n"), "seed": dmeta.get("seed"),
                "d_low": dmeta.get("d_low"), "d_high": dmeta.get("d_high"),
                "train_samples": meta["train_samples"], "test_samples": len(cases),
            },
            "training": {
                "epochs_run": meta["epoch"], "best_epoch": shipped_meta["best_epoch"],
                "samples_per_epoch": r["epoch_samples"], "samples_seen": samples_seen,
                "batch_size": r["batch_size"], "lr": r["lr"], "time_limit_min": cfg.time_limit_min,
                "cpu_limit_min": cfg.cpu_limit_min, "cpu_seconds": round(meta.get("cpu_seconds", 0.0), 1),
                "train_seconds": round(meta["train_seconds"], 1), "wall_seconds_incl_eval": round(wall, 1),
                "stopped": meta.get("stopped"), "device": meta["device"], "torch_threads": meta["torch_threads"],
                "hardware": hardware(meta["device"]), "validation_curve": curve_note(meta["history"]),
            },
            "calibration": {k: table[k] for k in ("structures", "coverage_test", "sigma_rel", "d_edges")},
            "test": {("model" if lb.endswith("(candidate)") else "previous_shipped" if lb.endswith("(shipped now)")
                      else lb): v for lb, v in compact(res).items()},
            "r_formula": R_FORMULA.format(d_low=dmeta.get("d_low", 1.5), d_high=dmeta.get("d_high", 0.8)),
            "command": f"xrdplug train-shipped --data {data} --model {name}" + (" --resume" if resume else ""),
        }
        cand_path = work / f"{stem}.candidate.pt"
        save_checkpoint(cand_path, model, name, ck["hparams"], shipped_meta)
        with atomic_output(work / f"{stem}.json") as tmp:
            Path(tmp).write_text(json.dumps(record, indent=1))
        w = res.get("wilson", {})
        line = (f"{name}: candidate test R_shell {cand['r_shell']:.3f} (Wilson {w.get('r_shell', float('nan')):.3f}, "
                f"oracle-iso {res['oracle-iso']['r_shell']:.3f})")
        if now is not None:
            line += (f"; shipped now {now['r_shell']:.3f} ({now['samples']} scored of the same {len(cases)} test "
                     "structures)")
        log(line)
        if now is not None:  # on the structures both scored (older weights may refuse large cells)
            mine = dict(zip(cand["labels"], cand["r_shell_per_sample"]))
            theirs = dict(zip(now["labels"], now["r_shell_per_sample"]))
            common = [lb for lb in mine if lb in theirs]
            if common:
                cand_c = float(sum(mine[lb] for lb in common) / len(common))
                now_c = float(sum(theirs[lb] for lb in common) / len(common))
                log(f"{name}: on the {len(common)} test structures both score: candidate {cand_c:.4f}, shipped now "
                    f"{now_c:.4f}" + (f" (the shipped weights refuse {now['refused']})" if now["refused"] else ""))
                record["against_previous"] = {"structures": len(common), "candidate_r_shell": cand_c,
                                              "previous_r_shell": now_c, "previous_refused": now["refused"]}
                now = {**now, "r_shell": now_c}
                cand = {**cand, "r_shell": cand_c}
        worse = now is not None and cand["r_shell"] > now["r_shell"]
        if not ship:
            log(f"{name}: candidate kept in {cand_path} (record {work / (stem + '.json')}); the shipped weights "
                "are unchanged: pass --ship to replace them")
        elif worse and not allow_worse:
            log(f"{name}: NOT shipped: the candidate measures worse than the shipped weights "
                f"(R_shell {cand['r_shell']:.3f} > {now['r_shell']:.3f}); pass --allow-worse to ship it anyway")
        else:
            if worse:
                log(f"{name}: WARNING: shipping a candidate that measures worse than the weights it replaces "
                    f"(R_shell {cand['r_shell']:.3f} > {now['r_shell']:.3f}), as --allow-worse asked")
                record["shipped_worse_than_previous"] = {"previous_r_shell": now["r_shell"]}
            wdir.mkdir(parents=True, exist_ok=True)
            save_checkpoint(wpath, model, name, ck["hparams"], shipped_meta)
            record["file_bytes"] = wpath.stat().st_size
            with atomic_output(wdir / f"{stem}.json") as tmp:
                Path(tmp).write_text(json.dumps(record, indent=1))
            write_readme(wdir)
            log(f"{name}: shipped {wpath} ({record['file_bytes'] / 2**20:.2f} MiB)")
        records.append(record)
    return records


def write_readme(weights_dir: Path) -> Path:
    """weights/README.md: one row per shipped model in that folder beside the baselines on its test split."""
    recs = []
    for spec in shipped_models().values():
        p = weights_dir / Path(spec.weights_path()).with_suffix(".json").name
        if p.exists():
            rec = json.loads(p.read_text())
            if isinstance(rec.get("test"), dict) and "model" in rec["test"]:
                recs.append(rec)
    lines = [
        "# Shipped weights",
        "",
        "Small configurations of the models in this folder, trained on CPU by `xrdplug train-shipped --ship` "
        "(`--model NAME` for one). Without `--ship` a retrain leaves these files alone; with it, a candidate that "
        "measures worse than the weights it would replace is refused unless `--allow-worse` is given.",
        "Each checkpoint stores its own hyper-parameters; each NAME.json beside it is the full record (data set, "
        "recipe, per-epoch history, how the validation curve was moving, hardware, test figures beside the "
        "baselines).",
        "",
        "| model | params | file | train data | samples seen (epochs) | train time | test R_shell | / Wilson "
        "| Wilson | shell-mean | oracle-iso | oracle-aniso | R_all (ref-style) | validation curve at the end |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in recs:
        t, d, te = r["training"], r["data_set"], r["test"]
        m = te["model"]

        def rs(key: str, te: dict[str, Any] = te) -> str:
            v = te.get(key, {}).get("r_shell")
            return f"{v:.3f}" if v is not None else "-"

        ratio = m.get("r_shell_over_wilson")
        lines.append(
            f"| {r['model']} | {r['parameters']:,} | {r['file']} ({r.get('file_bytes', 0) / 2**20:.2f} MiB) | "
            f"{d['train_samples']} train of {d['n']} ({d['mode']}) | {t['samples_seen']} ({t['epochs_run']}) | "
            f"{t['train_seconds'] / 60:.1f} CPU-min | {m['r_shell']:.3f} | "
            f"{f'{ratio:.3f}' if ratio is not None else '-'} | {rs('wilson')} | {rs('shell-mean')} | "
            f"{rs('oracle-iso')} | {rs('oracle-aniso')} | {m['r_all']:.3f} | {t.get('validation_curve', '-')} |"
        )
    if recs:
        lines += ["", f"Test set: {recs[-1]['data_set']['test_samples']} structures of the test split of "
                  f"{recs[-1]['data_set']['path']}.", "", recs[-1]["r_formula"], "",
                  "Hardware: " + recs[-1]["training"]["hardware"] + "."]
    path = weights_dir / "README.md"
    with atomic_output(path) as tmp:
        Path(tmp).write_text("\n".join(lines) + "\n")
    for f in [path, *weights_dir.glob("*.json"), *weights_dir.glob("*.pt")]:
        f.chmod(0o644)  # mkstemp makes 0600 files: shipped data must be world-readable
    return path
