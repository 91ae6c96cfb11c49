"""Which model (if any) extends data before phasing, and why: the policy behind `solve --model`.

The host favours no plugin: a model is chosen only where the measurement recorded with its weights shows
a solve-rate gain over the same data phased as given (see auto_model).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def models_with_weights() -> list[str]:
    """Model plugins that ship (or were given) trained weights, by name (not a ranking: `solve --model auto`
    ranks by the measurement recorded with the weights, see auto_model; the host favours no plugin)."""
    from .plugin_manager import registry

    reg = registry()
    out = []
    for name in reg.names("model"):
        obj = reg.entries["model"][name].obj
        try:
            w = obj.weights_path()
        except Exception:
            continue
        if w is not None and Path(w).exists():
            out.append(name)
    return out


AUTO_D_MIN = 1.2  # measured data to this resolution phase as given: no extension is needed


def solve_record(name: str) -> dict[str, Any] | None:
    """The solve-rate measurement recorded with a model's weights: the "solve" entry of the JSON record
    beside them (NAME.json next to NAME.pt), or None. Expected keys: n (structures), solved_extended,
    solved_unextended (the same structures phased as given), split (never "test": held-out structures
    are not used for choices), d_low, phaser, command."""
    import json

    from .plugin_manager import registry

    try:
        w = registry().get("model", name).weights_path()
    except Exception:
        return None
    if w is None:
        return None
    record = Path(w).with_suffix(".json")
    try:
        rec = json.loads(record.read_text())
    except (OSError, ValueError):
        return None
    solve = rec.get("solve") if isinstance(rec, dict) else None
    return solve if isinstance(solve, dict) else None


def auto_model(measured_d_min: float) -> tuple[str, str]:
    """What `solve --model auto` does, and why: a model only where its weights record a measured gain.

    Data measured to AUTO_D_MIN or better are phased as given. Otherwise the model whose record shows the
    largest gain in solve rate over the same data unextended (on a split other than the test split) is
    used; with no such record, none (the data are phased as given) and the reason says so.
    """
    if measured_d_min <= AUTO_D_MIN:
        return "none", f"data measured to {measured_d_min:.2f} A: phased as given (no extension needed)"
    gains: list[tuple[float, str, str]] = []
    without: list[str] = []
    for name in models_with_weights():
        rec = solve_record(name)
        try:
            n = int(rec["n"]) if rec else 0
            ext, base = int(rec["solved_extended"]), int(rec["solved_unextended"])  # type: ignore[index]
        except (KeyError, TypeError, ValueError):
            n = 0
        if not rec or n <= 0 or str(rec.get("split", "")).lower() == "test":
            without.append(name)
            continue
        gains.append(((ext - base) / n, name, f"{ext}/{n} solved extended against {base}/{n} as given"))
    best = max(gains, default=None)
    if best is not None and best[0] > 0:
        return best[1], (f"data stop at {measured_d_min:.2f} A: extended by '{best[1]}', whose weights record "
                         f"a solve-rate gain ({best[2]})")
    parts = []
    if gains:
        parts.append("; ".join(f"{name}: {what}" for _, name, what in gains))
    if without:
        parts.append(f"{', '.join(without)}: no solve-rate measurement recorded with the weights")
    if not gains and not without:
        parts.append("no model has trained weights")
    return "none", (f"data stop at {measured_d_min:.2f} A: phased as given, since no model's weights record a "
                    f"solve-rate gain over unextended data ({'; '.join(parts)})")


def solve_model(model: str, data: Any, phaser: Any) -> tuple[str, list[str]]:
    """What `solve --model MODEL` extends `data` (ReflectionData) with before `phaser` runs, and the notes
    that say why: 'none' phases the data as given. 'auto' means none for a phaser that works at the data's
    own resolution (needs_atomic_resolution False) and for data extended before, else auto_model's choice
    for the measured resolution; any other name is the model itself."""
    chosen = model.strip().lower()
    if chosen != "auto":
        return chosen, []
    if not getattr(phaser, "needs_atomic_resolution", True):
        return "none", [f"{phaser.name} works at the data's own resolution: phased as measured"]
    if data.n_predicted:
        return "none", [f"the data were extended before ({data.n_predicted} predicted): phased as given"]
    chosen, why = auto_model(float(data.measured_only().d_min()))
    return chosen, [f"--model auto: {why}"]


def extend_data(f_obs: Any, model: str, d_min: float = 0.8, **options: Any) -> Any:
    """Extend `f_obs` to `d_min` with the model plugin `model` (through xrdplug.pipeline): an ExtendResult,
    which run_one, phase and the writers take as it is (the flags travel with it)."""
    from .pipeline import extend

    return extend(f_obs, model=model, d_min=d_min, **options)
