"""extend: measured reflections kept bit-for-bit, predictions flagged, data outside the models refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xrdplug.errors import XrdplugError

EXTERNAL_MODEL = '''
from xrdplug import hookimpl
from xrdplug.plugin_api import ModelSpec


def build(scale=1.0):
    import torch

    class MeanOfKnown(torch.nn.Module):
        """Predicts, everywhere, a learnable multiple of the mean known F_norm."""
        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.tensor(float(scale)))

        def forward(self, x):
            known = x[:, 1]
            mean = (x[:, 0] * known).sum(dim=(1, 2, 3)) / known.sum(dim=(1, 2, 3)).clamp(min=1)
            return self.scale * mean[:, None, None, None] * torch.ones_like(x[:, 0])

    return MeanOfKnown()


@hookimpl
def xrdplug_register_models():
    return [ModelSpec("mean-of-known", "test model from outside the package", {"scale": 1.0}, build)]
'''


def test_extend_keeps_measured_bit_for_bit_and_flags_predictions(thpp_15, tiny_checkpoint):
    from xrdplug.pipeline import extend

    res = extend(thpp_15, model="unet", checkpoint=str(tiny_checkpoint))
    ext, flag = res.f_extended, res.predicted
    assert ext.d_min() == pytest.approx(0.8, abs=0.01)
    assert ext.is_unique_set_under_symmetry() and ext.indices().all_eq(flag.indices())
    measured = {h: (f, s) for h, f, s in zip(thpp_15.indices(), thpp_15.data(), thpp_15.sigmas())}
    flags = dict(zip(flag.indices(), flag.data()))
    for h, f, s in zip(ext.indices(), ext.data(), ext.sigmas()):
        if h in measured:
            assert flags[h] == 0 and (f, s) == measured[h]  # exact, not approximate
        else:
            assert flags[h] == 1 and f >= 0 and s >= 0
    assert res.n_measured == thpp_15.size() and res.n_predicted == ext.size() - thpp_15.size()
    assert 0.75 < res.n_predicted / ext.size() < 0.9  # ~84% of the 0.8 A sphere lies beyond 1.5 A
    complete = ext.complete_set(d_min=0.8)
    assert ext.size() == complete.size()


def test_public_api_returns_the_flags_and_provenance(thpp_15, tiny_checkpoint):
    """xrdplug.extend() used to return a bare miller.array: the flags and notes were lost."""
    import hashlib

    import xrdplug

    res = xrdplug.extend(thpp_15, model="unet", d_min=0.8, checkpoint=str(tiny_checkpoint))
    ext = res.as_miller_array()
    assert ext is res.f_extended and ext.is_xray_amplitude_array() and ext.size() > thpp_15.size()
    assert res.predicted.indices().all_eq(ext.indices())
    assert res.predicted_selection().count(True) == res.n_predicted == 2010 - 302
    assert res.measured().size() == 302 and res.measured().indices().all_eq(
        ext.select(~res.predicted_selection()).indices())
    prov = res.provenance
    assert prov["model"] == "unet" and prov["weights"] == "tiny_unet.pt"
    assert prov["sha256"] == hashlib.sha256(tiny_checkpoint.read_bytes()).hexdigest()
    assert any("predicted SIGF" in n for n in res.notes)
    # solve takes the result as it is and says how many reflections were predicted
    solution = xrdplug.solve(res, phaser="charge-flipping", formula="C10H10F2N4", seed=1, max_attempts=1)
    assert solution.figures["n_predicted"] == res.n_predicted


def test_extend_keeps_every_measured_reflection_beyond_d_min(thpp, tiny_checkpoint):
    """thpp reaches 0.70 A: the 965 measured reflections beyond 0.8 A were dropped without a word."""
    import xrdplug
    from xrdplug.sources import read_reflections

    full = read_reflections(thpp["hkl"]).f_obs
    res = xrdplug.extend(full, model="unet", d_min=0.8, checkpoint=str(tiny_checkpoint))
    assert res.n_measured == full.size() == 2975
    measured = dict(zip(full.indices(), full.data()))
    kept = res.measured()
    assert dict(zip(kept.indices(), kept.data())) == measured  # every one, bit for bit
    assert res.f_extended.d_min() == pytest.approx(full.d_min())
    assert any("965 measured reflections beyond 0.8 A kept as measured" in n for n in res.notes)


def test_extend_cli_writes_mtz_with_flag_column(cli, thpp, tiny_checkpoint, tmp_path: Path):
    out = tmp_path / "ext.mtz"
    res = cli("extend", thpp["hkl"], "--cut", "1.5", "--model", "unet", "--checkpoint", tiny_checkpoint, "-o", out)
    assert res.returncode == 0, res.stderr
    import iotbx.mtz

    import cctbx_bridge  # noqa: F401

    mtz = iotbx.mtz.object(str(out))
    assert mtz.column_labels() == ["H", "K", "L", "F", "SIGF", "I", "SIGI", "PREDICTED"]
    flags = mtz.get_column("PREDICTED").extract_values().as_numpy_array()
    assert set(np.unique(flags)) == {0.0, 1.0}
    history = [line.strip() for line in mtz.history()]
    assert any(line.startswith("xrdplug model=unet") for line in history)
    assert any(line.startswith("xrdplug sha256=") and len(line) == len("xrdplug sha256=") + 64 for line in history)
    out_text = " ".join(res.stdout.split())
    assert "302 measured" in out_text and "1708 PREDICTED" in out_text


def test_extend_cli_keeps_measured_beyond_d_min(thpp, tiny_checkpoint, tmp_path: Path, capsys):
    from conftest import run_main

    from xrdplug.sources import read_reflections

    out = tmp_path / "full.mtz"
    code, stdout, err = run_main(["extend", thpp["hkl"], "-m", "unet", "--checkpoint", tiny_checkpoint, "-o", out],
                                 capsys)
    assert code == 0, err
    assert "965 measured reflections beyond 0.8 A kept as measured" in " ".join(stdout.split())
    back = read_reflections(out)
    assert back.f_obs.size() - back.n_predicted == 2975


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda f: f.resolution_filter(d_min=2.0), "reach only"),
        (lambda f: f.expand_to_p1(), "not monoclinic"),
        (lambda f: _with_cell(f, (18.5, 14.57, 9.72, 90, 90.6, 90)), "too large for the model grid"),
    ],
)
def test_data_outside_the_models_are_refused(thpp_15, tiny_checkpoint, mutate, message):
    from xrdplug.pipeline import extend

    with pytest.raises(XrdplugError, match=message):
        extend(mutate(thpp_15), model="unet", checkpoint=str(tiny_checkpoint))


def _with_cell(f, cell):
    from cctbx import crystal

    return f.customized_copy(crystal_symmetry=crystal.symmetry(cell, space_group_info=f.space_group_info()))


def test_checkpoint_of_another_model_is_refused(thpp_15, tiny_checkpoint):
    from xrdplug.pipeline import extend

    with pytest.raises(XrdplugError, match="holds a 'unet' model"):
        extend(thpp_15, model="fft-unet", checkpoint=str(tiny_checkpoint))


def test_model_registered_from_outside_the_package_extends(cli, thpp, tmp_path: Path):
    from xrdplug.models.checkpoint import save_checkpoint

    site = tmp_path / "site"
    site.mkdir()
    (site / "xp_mean.py").write_text(EXTERNAL_MODEL)
    info = site / "xp_mean-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: xp-mean\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[xrdplug]\nmean_of_known = xp_mean\n")
    import importlib
    import sys

    sys.path.insert(0, str(site))
    try:
        mod = importlib.import_module("xp_mean")
        ckpt = tmp_path / "mean.pt"
        save_checkpoint(ckpt, mod.build(), "mean-of-known", {"scale": 1.0})
    finally:
        sys.path.remove(str(site))
    res = cli("extend", thpp["hkl"], "--cut", "1.5", "--model", "mean_of_known", "--checkpoint", ckpt,
              "-o", tmp_path / "e.mtz", env={"PYTHONPATH": str(site)})
    assert res.returncode == 0, res.stderr
    assert "mean-of-known" in res.stdout


@pytest.fixture(scope="module")
def user_checkpoint(tmp_path_factory) -> Path:
    """A user's own `xrdplug train` checkpoint (any-cell layout) that records its validation history."""
    from xrdplug.models.checkpoint import save_checkpoint
    from xrdplug.plugin_manager import registry

    hp = {"filters": [4, 8, 16]}
    path = tmp_path_factory.mktemp("user") / "mine.pt"
    meta = {"history": [{"epoch": 1, "val_r_shell": 0.55}, {"epoch": 2, "val_r_shell": 0.42},
                        {"epoch": 3, "val_r_shell": 0.47}]}
    model = registry().get("model", "unet").build(**hp)
    with torch_no_grad():
        model.head.bias.fill_(1.0)  # predicts positive amplitudes, untrained as it is
    save_checkpoint(path, model, "unet", hp, meta=meta)
    return path


def torch_no_grad():
    import torch

    return torch.no_grad()


def test_checkpoint_alone_names_its_model_and_sets_sigf_from_its_own_score(thpp_15, user_checkpoint):
    """issue 11 item 12: `extend --checkpoint x.pt` without --model reads the model from the checkpoint, and the
    predicted SIGF follows the checkpoint's recorded score (best validation shell R), not a fixed default."""
    from xrdplug.pipeline import extend

    res = extend(thpp_15, checkpoint=str(user_checkpoint))
    assert res.model == "unet"
    assert any("0.42 x F_pred" in n and "validation shell R" in n for n in res.notes), res.notes
    f, flags = res.f_extended, res.predicted.data().as_numpy_array()
    pred = flags == 1
    ratio = f.sigmas().as_numpy_array()[pred] / np.maximum(f.data().as_numpy_array()[pred], 1e-12)
    assert np.median(ratio) == pytest.approx(0.42)


def test_extend_cli_checkpoint_without_model(cli, thpp, user_checkpoint, tmp_path: Path):
    res = cli("extend", thpp["hkl"], "--cut", "1.5", "--checkpoint", user_checkpoint, "-o", tmp_path / "u.mtz")
    assert res.returncode == 0, res.stderr
    assert "unet (mine.pt, sha256 " in res.stdout


def test_any_cell_model_takes_a_28_A_cell(thpp_15, user_checkpoint):
    """issue 13: a cell-grid model extends a cell the fixed grid refused (edge 28 A)."""
    from xrdplug.pipeline import extend

    big = _with_cell(thpp_15, (28.0, 14.57, 9.72, 90, 90.6, 90))
    res = extend(big, checkpoint=str(user_checkpoint))
    assert res.n_predicted > 5 * res.n_measured


def test_any_cell_model_refuses_beyond_its_measured_limit(thpp_15, user_checkpoint):
    from xrdplug.pipeline import extend

    huge = _with_cell(thpp_15, (48.0, 30.0, 30.0, 90, 90.6, 90))
    with pytest.raises(XrdplugError, match="at most 50000"):
        extend(huge, checkpoint=str(user_checkpoint))
