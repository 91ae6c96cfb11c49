"""`xrdplug train` / `xrdplug evaluate` end to end on a tiny simulated data set, resume, and a third-party
model registered at run time."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import xrdplug  # noqa: F401

torch = pytest.importorskip("torch")

from typer.testing import CliRunner  # noqa: E402

from xrdplug import hookimpl  # noqa: E402
from xrdplug.cli import app  # noqa: E402
from xrdplug.models.checkpoint import load_model  # noqa: E402
from xrdplug.plugin_api import ModelSpec  # noqa: E402
from xrdplug.plugin_manager import register, unregister  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim") / "tiny"
    cmd = [sys.executable, "-m", "xrdplug.cli", "simulate", "--kind", "random", "--n", "16", "--out", str(out), "--split", "50/25/25",
           "--atoms", "10-12", "--seed", "3"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        pytest.skip(f"simulator unavailable: {r.stderr.strip()[-200:]}")
    return out


def run(*args):
    r = CliRunner().invoke(app, [str(a) for a in args])
    if r.exception and not isinstance(r.exception, SystemExit):
        raise r.exception
    return r


def test_cli_train_resume_evaluate(tiny_data, tmp_path):
    ck = tmp_path / "u.pt"
    common = ["--model", "unet", "--data", tiny_data, "--batch-size", "4", "--hparams", "filters=[8,16,32]",
              "--out", ck, "--device", "cpu"]
    r = run("train", *common, "--epochs", "1")
    assert r.exit_code == 0, r.output
    assert "epoch 1: train MSE" in r.output and ck.exists()
    # without --resume an existing checkpoint is not overwritten
    with pytest.raises(xrdplug.XrdplugError, match="--resume"):
        run("train", *common, "--epochs", "2")
    r = run("train", *common, "--epochs", "2", "--resume")
    assert r.exit_code == 0, r.output
    assert "epoch 2:" in r.output and "epoch 1:" not in r.output
    _, meta = load_model("unet", checkpoint=ck)
    assert meta["epoch"] == 2 and len(meta["history"]) == 2
    plot, js = tmp_path / "r.png", tmp_path / "r.json"
    r = run("evaluate", "--model", "unet", "--checkpoint", ck, "--data", tiny_data, "--baseline-samples", "8",
            "--plot", plot, "--json", js)
    assert r.exit_code == 0, r.output
    assert "R_shell" in r.output and "wilson" in r.output and "oracle-iso" in r.output
    assert "sum|F_true - k F_pred|" in r.output
    res = json.loads(js.read_text())["results"]
    assert set(res) == {"unet (u.pt)", "wilson", "shell-mean", "oracle-iso", "oracle-aniso"}
    for s in res.values():
        assert s["samples"] == 4 and 0 <= s["r_all"] < s["r_shell"] < 1
    assert res["wilson"]["r_shell_over_wilson"] == pytest.approx(1.0)
    # the oracles fit the truth: never worse than the per-shell mean they refine
    assert res["oracle-aniso"]["r_shell"] <= res["oracle-iso"]["r_shell"] + 1e-9
    assert plot.stat().st_size > 1000
    # a checkpoint of another model is refused with one clear line
    with pytest.raises(xrdplug.XrdplugError, match="holds a 'unet' model"):
        run("evaluate", "--model", "fft-unet", "--checkpoint", ck, "--data", tiny_data)


def _build_tiny(width=4):
    from torch import nn

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()  # the contract of xrdplug.batch: 7 channels on the cell's own grid
            self.net = nn.Sequential(nn.Conv3d(7, width, 3, padding=1), nn.ReLU(), nn.Conv3d(width, 1, 1))

        def forward(self, x):
            return self.net(x)[:, 0]

    return Tiny()


class ExternalPlugin:
    @hookimpl
    def xrdplug_register_models(self):
        return [ModelSpec("ext-tiny", "a third party's model", {"width": 8}, _build_tiny)]


def test_external_model_trains_and_evaluates_by_name(tiny_data, tmp_path):
    register(ExternalPlugin(), name="ext-test")
    try:
        ck = tmp_path / "ext.pt"
        r = run("train", "--model", "EXT_TINY", "--data", tiny_data, "--epochs", "1", "--batch-size", "4",
                "--out", ck, "--hparams", '{"width": 8}')
        assert r.exit_code == 0, r.output
        model, meta = load_model("ext-tiny", checkpoint=ck)
        assert meta["model"] == "ext-tiny" and meta["hparams"]["width"] == 8
        r = run("evaluate", "--model", "ext-tiny", "--checkpoint", ck, "--data", tiny_data, "--baseline-samples", "4")
        assert r.exit_code == 0, r.output
        assert "ext-tiny" in r.output
    finally:
        unregister("ext-test")


def test_train_bad_input_is_one_clear_error(tmp_path):
    with pytest.raises(xrdplug.XrdplugError, match="no such data folder"):
        run("train", "--model", "unet", "--data", tmp_path / "nope", "--out", tmp_path / "m.pt")
    with pytest.raises(xrdplug.XrdplugError, match="no model plugin named"):
        run("train", "--model", "nonesuch", "--data", tmp_path, "--out", tmp_path / "m.pt")
    from xrdplug.models.training import parse_hparams

    with pytest.raises(xrdplug.XrdplugError, match="key=value"):
        parse_hparams(["oops"])
    assert parse_hparams(["filters=[1,2]", '{"a": 1}', "keys=known"]) == {"filters": [1, 2], "a": 1, "keys": "known"}


def test_training_never_imports_cctbx(tmp_path):
    code = (
        "import sys, xrdplug, torch\n"
        "from xrdplug.models import training, checkpoint, evaluation, bench, shipped\n"
        "from xrdplug.models.toydata import toy_dataset\n"
        "from xrdplug.plugin_manager import registry\n"
        "for n in ('unet','fft-unet','transformer'): registry().get('model', n)\n"
        "bad = [m for m in sys.modules if m.startswith(('cctbx', 'iotbx', 'boost_python'))]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_train_defaults_out_folder_shipped_size_and_piped_progress(tiny_data, tmp_path):
    """issue 11 item 11: --out in a new folder is created; the default size is the shipped one, not the
    5.6M reference; piped output gets a progress line every N batches; --no-progress silences them."""
    from xrdplug.models.recipes import shipped_hparams

    ck = tmp_path / "runs" / "deeper" / "x.pt"
    r = subprocess.run([sys.executable, "-m", "xrdplug.cli", "train", "--model", "unet", "--data", str(tiny_data),
                        "--epochs", "1", "--batch-size", "2", "--log-every", "1", "--out", str(ck), "--device", "cpu"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-500:]
    assert ck.exists()
    _, meta = load_model(ck)
    assert meta["hparams"]["filters"] == shipped_hparams("unet")["filters"] == [16, 32, 64]
    assert "epoch 1 batch 1/" in r.stdout and "samples/s" in r.stdout  # not a TTY: plain lines
    r2 = subprocess.run([sys.executable, "-m", "xrdplug.cli", "train", "--model", "unet", "--data", str(tiny_data),
                         "--epochs", "2", "--batch-size", "2", "--log-every", "1", "--out", str(ck), "--resume",
                         "--no-progress", "--device", "cpu"], capture_output=True, text=True, timeout=300)
    assert r2.returncode == 0, r2.stderr[-500:]
    assert "batch 1/" not in r2.stdout and "epoch 2: train MSE" in r2.stdout
    r3 = run("train", "--model", "unet", "--data", tiny_data, "--epochs", "1", "--batch-size", "4",
             "--size", "reference", "--hparams", "filters=[4,8,16]", "--out", tmp_path / "ref.pt")
    assert r3.exit_code == 0, r3.output
    with pytest.raises(xrdplug.XrdplugError, match="--size"):
        run("train", "--model", "unet", "--data", tiny_data, "--size", "huge", "--out", tmp_path / "h.pt")


def test_train_shipped_never_overwrites_without_ship_nor_with_a_worse_model(tiny_data, tmp_path, monkeypatch):
    """issue 11 item 7: retraining leaves the shipped weights alone unless --ship; with --ship a candidate that
    measures worse on the same test structures is refused (unless --allow-worse, which says so)."""
    from xrdplug.models import shipped
    from xrdplug.plugin_manager import registry

    tiny = {"hparams": {"filters": [4, 8, 16]}, "batch_size": 4, "lr": 1e-3, "minutes": 0.5, "epoch_samples": 8,
            "val_samples": 4, "epochs": 1}
    monkeypatch.setattr(registry().get("model", "unet"), "recipe", tiny)
    weights = tmp_path / "weights"
    weights.mkdir()
    shipped_file = weights / "unet.pt"
    shipped_file.write_bytes(b"the shipped weights")  # stands for weights a user relies on
    said: list[str] = []
    shipped.retrain(tiny_data, ["unet"], work=tmp_path / "w1", weights_dir=weights, device="cpu", log=said.append)
    assert shipped_file.read_bytes() == b"the shipped weights"
    assert (tmp_path / "w1" / "unet.candidate.pt").exists() and (tmp_path / "w1" / "unet.json").exists()
    assert any("pass --ship" in s for s in said)
    # --ship with nothing loadable there: ships, with its record and README
    shipped_file.unlink()
    shipped.retrain(tiny_data, ["unet"], work=tmp_path / "w2", weights_dir=weights, device="cpu", ship=True,
                    log=said.append)
    first = shipped_file.read_bytes()
    rec = json.loads((weights / "unet.json").read_text())
    assert {"model", "wilson", "shell-mean", "oracle-iso", "oracle-aniso"} <= set(rec["test"])
    assert "validation_curve" in rec["training"] and (weights / "README.md").exists()

    # a candidate that measures worse than the shipped weights on the same structures is refused
    real_score = shipped.score

    def worse(preds, cases, data):
        res = real_score(preds, cases, data)
        cand, now = res["unet (candidate)"], res["unet (shipped now)"]
        cand["r_shell_per_sample"] = [r + 0.1 for r in now["r_shell_per_sample"]]
        cand["labels"] = list(now["labels"])
        return res

    monkeypatch.setattr(shipped, "score", worse)
    said.clear()
    shipped.retrain(tiny_data, ["unet"], work=tmp_path / "w3", weights_dir=weights, device="cpu", ship=True,
                    log=said.append)
    assert shipped_file.read_bytes() == first
    assert any("NOT shipped" in s and "--allow-worse" in s for s in said), said
    said.clear()
    shipped.retrain(tiny_data, ["unet"], work=tmp_path / "w4", weights_dir=weights, device="cpu", ship=True,
                    allow_worse=True, log=said.append)
    assert shipped_file.read_bytes() != first
    assert any("WARNING" in s and "worse" in s for s in said)
    assert "shipped_worse_than_previous" in json.loads((weights / "unet.json").read_text())
    with pytest.raises(xrdplug.XrdplugError, match="--allow-worse only"):
        run("train-shipped", "--data", tiny_data, "--allow-worse")


def test_evaluate_real_structure_beside_baselines(thpp, tmp_path):
    """evaluate --structures: a real CIF (disordered thpp, H kept), calculated |F| with 2% noise on the measured
    part; every predictor scored on the same structure, the Wilson baseline fitted on the noisy data."""
    js = tmp_path / "real.json"
    r = run("evaluate", "--model", "unet", "--structures", thpp["cif"], "--noise", "0.02", "--json", js,
            "--no-progress")
    assert r.exit_code == 0, r.output
    res = json.loads(js.read_text())["results"]
    assert set(res) == {"unet", "wilson", "oracle-iso", "oracle-aniso"}  # no training set: no shell-mean
    for s in res.values():
        assert s["samples"] == 1 and 0.3 < s["r_shell"] < 0.9
        assert s["r_all"] > 0  # the noisy measured part counts in the reference-style R
    assert res["oracle-aniso"]["r_shell"] <= res["oracle-iso"]["r_shell"] + 1e-9
    with pytest.raises(xrdplug.XrdplugError, match="nothing to score"):
        run("evaluate", "--model", "unet")


def test_benchmark_case_uses_its_measured_mtz():
    """A benchmark case folder (structure.cif + data.mtz): the predictors are given the MTZ's noisy observed
    amplitudes to 1.5 A (lost reflections unmeasured), and scored against the structure's exact |F|."""
    from pathlib import Path

    import numpy as np

    from xrdplug.models.evaluation import structure_cases

    root = Path(__file__).resolve().parents[1] / "benchmarks" / "molecular" / "dev" / "case-010"
    (case,) = list(structure_cases([root / "structure.cif"]))
    assert case.f_measured is not None and case.wilson is not None
    k = case.known
    rel = np.abs(case.f_measured[k] - case.f[k]) / np.maximum(case.f[k], 1e-9)
    assert 0.005 < float(np.median(rel)) < 0.5  # counting noise, not the exact values
    d = 1 / np.sqrt(case.inv_d2)
    assert k.sum() < (d >= 1.5).sum()  # some reflections were lost (missing, beam stop)
    assert case.shell.sum() == (~k & (d < 1.5)).sum()
