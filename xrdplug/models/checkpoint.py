"""Checkpoints that rebuild their own model, and prediction with the known reflections pasted back.

A checkpoint is a plain dict saved with `torch.save` and read with `torch.load(weights_only=True)`::

    format      "xrdplug-checkpoint/1"
    model       canonical plugin name ("unet", "fft-unet", "transformer", or a third party's)
    hparams     the keyword arguments of the plugin's build(): the checkpoint alone rebuilds the model
    state_dict  the weights
    meta        plain data: epoch, metrics, history, data set, timings... (no objects)
    optimizer / scheduler / scaler   optional training state for --resume

This module imports torch at the top: import it only where torch is wanted (never from the CLI's top level).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import XrdplugError
from ..files import atomic_output
from ..plugin_manager import Registry, canonical

FORMAT = "xrdplug-checkpoint/1"


def _plain(obj: Any) -> Any:
    """Turn tuples, numpy scalars and paths into types torch.load(weights_only=True) accepts."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path) or (isinstance(obj, str) and type(obj) is not str):
        return str(obj)
    return obj


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The bare module inside DDP / torch.compile wrappers."""
    while True:
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if inner is None or not isinstance(inner, torch.nn.Module):
            return model
        model = inner


def save_checkpoint(
    path: str | os.PathLike[str],
    model: torch.nn.Module,
    name: str,
    hparams: dict[str, Any],
    meta: dict[str, Any] | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    scaler: Any = None,
) -> Path:
    """Write a checkpoint atomically (a crash never leaves a half-written file)."""
    state = {k: v.detach().cpu() for k, v in unwrap(model).state_dict().items()}
    ckpt: dict[str, Any] = {
        "format": FORMAT,
        "model": canonical(name),
        "hparams": _plain(hparams),
        "state_dict": state,
        "meta": _plain(meta or {}),
    }
    if optimizer is not None:
        ckpt["optimizer"] = optimizer.state_dict()
    if scheduler is not None:
        ckpt["scheduler"] = _plain(scheduler.state_dict())
    if scaler is not None:
        ckpt["scaler"] = scaler.state_dict()
    with atomic_output(path) as tmp:
        torch.save(ckpt, tmp)
    return Path(path)


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load and validate a checkpoint dict (safe loading: weights_only=True)."""
    p = Path(path)
    if not p.is_file():
        raise XrdplugError(f"{p}: no such checkpoint file")
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:
        text = str(exc).strip()
        if "WeightsUnpickler" in text or "weights_only" in text:
            why = "it holds Python objects that safe loading (torch.load weights_only=True) refuses"
        else:
            why = (text.splitlines()[0] if text else type(exc).__name__)[:160]
        raise XrdplugError(f"{p}: not a readable xrdplug checkpoint ({why})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise XrdplugError(f"{p}: not an xrdplug checkpoint (no '{FORMAT}' header); train one with `xrdplug train`")
    for key in ("model", "hparams", "state_dict"):
        if key not in ckpt:
            raise XrdplugError(f"{p}: checkpoint is missing '{key}'")
    return ckpt


def build_from_checkpoint(ckpt: dict[str, Any], registry: Registry, source: str = "checkpoint") -> torch.nn.Module:
    plugin = registry.get("model", ckpt["model"])
    try:
        model = plugin.build(**ckpt["hparams"])
    except XrdplugError:
        raise
    except Exception as exc:
        raise XrdplugError(f"{source}: model '{ckpt['model']}' cannot be rebuilt from its hyper-parameters: {exc}") from None
    try:
        model.load_state_dict(ckpt["state_dict"])
    except Exception as exc:
        first = str(exc).strip().splitlines()
        first = [ln for ln in first if ln.strip()]
        msg = first[0] if first else type(exc).__name__
        raise XrdplugError(f"{source}: weights do not fit model '{ckpt['model']}' ({msg[:200]})") from None
    return model


def load_model(
    name_or_path: str | os.PathLike[str],
    registry: Registry | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    device: str | torch.device = "cpu",
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild a trained model, in eval mode.

    - `load_model("transformer")`: the plugin's shipped weights.
    - `load_model("path/to/ckpt.pt")`: whatever model the checkpoint holds.
    - `load_model("transformer", checkpoint="ckpt.pt")`: the checkpoint, refused if it holds another model.

    Returns (model, meta) where meta holds "model", "hparams", "checkpoint" and the checkpoint's own meta.
    """
    if registry is None:
        from ..plugin_manager import registry as get_registry

        registry = get_registry()
    expect: str | None = None
    path: Path
    name = str(name_or_path)
    if checkpoint is not None:
        expect, path = name, Path(checkpoint)
    elif Path(name).suffix in (".pt", ".pth", ".ckpt") or os.sep in name or Path(name).is_file():
        path = Path(name)
    else:
        expect = name
        plugin = registry.get("model", name)
        wp = plugin.weights_path()
        if wp is None:
            raise XrdplugError(
                f"model '{name}' ships no weights: train it with `xrdplug train --model {name}` and pass --checkpoint"
            )
        path = Path(wp)
        if not path.is_file():
            raise XrdplugError(
                f"model '{name}': shipped weights {path} are missing; retrain them (`xrdplug train-shipped`) "
                f"or pass --checkpoint"
            )
    ckpt = read_checkpoint(path)
    if expect is not None:
        registry.get("model", expect)  # a clear error for an unknown name
        if canonical(expect) != canonical(ckpt["model"]):
            raise XrdplugError(
                f"{path}: this checkpoint holds a '{ckpt['model']}' model, not '{canonical(expect)}'; "
                f"use --model {ckpt['model']} or another checkpoint"
            )
    model = build_from_checkpoint(ckpt, registry, source=str(path)).to(device).eval()
    meta = dict(ckpt.get("meta") or {})
    meta.update(model=ckpt["model"], hparams=ckpt["hparams"], checkpoint=str(path))
    return model, meta


@torch.no_grad()
def predict(
    model: torch.nn.Module,
    x: np.ndarray,
    batch_size: int = 16,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Predict F_norm for x (B, C, *grid) -> (B, *grid) float32 (`xrdplug.batch`).

    Known reflections are pasted back exactly (channel 0 where channel 1 is 1), predictions are clipped at 0,
    and everything outside the target mask (channel 2) is 0.
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 4:
        x = x[None]
    if x.ndim != 5 or x.shape[1] < 3:
        raise XrdplugError(f"model input must be (B, C, *grid) with C >= 3, got {tuple(x.shape)}")
    if device is None:
        try:
            device = next(model.parameters()).device
        except StopIteration:
            device = "cpu"
    was_training = model.training
    model.eval()
    out = np.empty((x.shape[0], *x.shape[2:]), dtype=np.float32)
    for i in range(0, x.shape[0], batch_size):
        xb = torch.from_numpy(x[i : i + batch_size]).to(device)
        out[i : i + batch_size] = model(xb).float().cpu().numpy()
    model.train(was_training)
    return paste_known(x, out)


def paste_known(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    known = x[:, 1] > 0.5
    target = x[:, 2] > 0.5
    y = np.where(known, x[:, 0], np.maximum(y, 0.0))
    return np.where(target | known, y, 0.0).astype(np.float32)
