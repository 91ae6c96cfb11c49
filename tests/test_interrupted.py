"""Interrupted work resumes: a killed `simulate` or `train` leaves nothing corrupt and a rerun finishes
with the same result as an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from xrdplug.data import shards


def _start(args: list[str], **kw) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "xrdplug.cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env, **kw)


def _wait_for(pred, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise AssertionError("timed out waiting")
        time.sleep(0.01)


def test_killed_simulate_reruns_to_the_same_data(tmp_path: Path):
    args = ["simulate", "--kind", "random", "--n", "100", "--shard-size", "20", "--workers", "1", "--seed", "11", "--no-progress"]
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    proc = _start([*args, "--out", killed])
    _wait_for(lambda: shards.shard_path(killed, 0).exists() or proc.poll() is not None)
    proc.send_signal(signal.SIGKILL)  # mid-way through shard 1
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    done = [k for k in range(5) if shards.shard_path(killed, k).exists()]
    assert done and len(done) < 5, "the kill should land before the run ends"
    for k in done:  # whatever is on disk after a kill is a whole, readable shard
        shards.read_shard(shards.shard_path(killed, k))
    rerun = subprocess.run([sys.executable, "-m", "xrdplug.cli", *args, "--out", str(killed)],
                           capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    subprocess.run([sys.executable, "-m", "xrdplug.cli", *args, "--out", str(clean)], check=True,
                   capture_output=True, timeout=300)
    for k in range(5):
        a = shards.read_shard(shards.shard_path(killed, k))
        b = shards.read_shard(shards.shard_path(clean, k))
        for key in ("hkl", "f", "seed", "split"):
            assert np.array_equal(a[key], b[key])
    assert not [p for p in killed.rglob("*") if p.name.endswith(".tmp")]


def test_killed_train_resumes_to_the_uninterrupted_result(tmp_path: Path):
    import torch

    from xrdplug.models.checkpoint import read_checkpoint

    data = tmp_path / "tiny"
    subprocess.run([sys.executable, "-m", "xrdplug.cli", "simulate", "--kind", "random", "--n", "24", "--out", str(data), "--split",
                    "70/15/15", "--atoms", "10-12", "--seed", "5", "--no-progress"], check=True, capture_output=True,
                   timeout=300)
    common = ["train", "--model", "unet", "--data", data, "--batch-size", "2", "--hparams", "filters=[4,8,16]",
              "--device", "cpu", "--seed", "3", "--epochs", "3", "--threads", "1"]
    straight, killed = tmp_path / "straight.pt", tmp_path / "killed.pt"
    r = subprocess.run([sys.executable, "-m", "xrdplug.cli", *map(str, common), "--out", str(straight)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr

    proc = _start([*common, "--out", killed])
    lines = []
    for line in proc.stdout:  # kill as soon as epoch 1's checkpoint is written: mid-way through epoch 2
        lines.append(line)
        if line.startswith("epoch 1:"):
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "".join(lines)
    assert read_checkpoint(killed)["meta"]["epoch"] == 1
    r = subprocess.run([sys.executable, "-m", "xrdplug.cli", *map(str, common), "--out", str(killed), "--resume"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    a, b = read_checkpoint(straight), read_checkpoint(killed)
    assert a["meta"]["epoch"] == b["meta"]["epoch"] == 3
    for key, value in a["state_dict"].items():
        assert torch.allclose(value, b["state_dict"][key], rtol=1e-4, atol=1e-6), key
    assert abs(a["meta"]["history"][-1]["val_mse"] - b["meta"]["history"][-1]["val_mse"]) < 1e-5
