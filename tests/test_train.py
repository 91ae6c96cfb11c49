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
from xrdplug.models.plugin import ModelSpec  # noqa: E402
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
    assert "R_shell" in r.output and "shell-mean baseline" in r.output and "sum|F_pred - F_true|" in r.output
    res = json.loads(js.read_text())["results"]
    assert set(res) == {"unet (u.pt)", "shell-mean baseline"}
    assert 0 <= res["shell-mean baseline"]["r_all"] < res["shell-mean baseline"]["r_shell"]
    assert plot.stat().st_size > 1000
    # a checkpoint of another model is refused with one clear line
    with pytest.raises(xrdplug.XrdplugError, match="holds a 'unet' model"):
        run("evaluate", "--model", "fft-unet", "--checkpoint", ck, "--data", tiny_data)


def _build_tiny(width=4):
    from torch import nn

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Conv3d(4, width, 3, padding=1), nn.ReLU(), nn.Conv3d(width, 1, 1))

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
