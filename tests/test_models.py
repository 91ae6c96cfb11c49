"""The three built-in models: sizes, contract, learning, checkpoints, prediction with known pasted back."""

from __future__ import annotations

import numpy as np
import pytest

import xrdplug  # noqa: F401  (runtime set-up before torch)

torch = pytest.importorskip("torch")

from xrdplug.errors import XrdplugError  # noqa: E402
from xrdplug.models.checkpoint import load_model, predict, save_checkpoint  # noqa: E402
from xrdplug.models.metrics import Scores, ShellMeanBaseline  # noqa: E402
from xrdplug.models.toydata import toy_dataset  # noqa: E402
from xrdplug.models.training import collate, masked_mse  # noqa: E402
from xrdplug.plugin_manager import registry  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = {
    "unet": {"filters": [8, 16, 32]},
    "fft-unet": {"filters": [8, 16, 32]},
    "transformer": {"embed_dim": 16, "depth": 1, "heads": 2, "mlp_ratio": 2.0, "dropout": 0.0},
}


@pytest.fixture(scope="module")
def batch():
    torch.manual_seed(0)
    return collate(toy_dataset(4, seed=1, cell_range=(6.0, 9.0)))


def test_builtin_models_registered_with_reference_sizes():
    reg = registry()
    expected = {"unet": 5.6e6, "fft-unet": 7.9e6, "transformer": 1.0e6}
    for name, n in expected.items():
        plugin = reg.get("model", name.replace("-", "_").upper())  # any spelling
        m = plugin.build()
        count = sum(p.numel() for p in m.parameters())
        assert abs(count - n) / n < 0.06, (name, count)


@pytest.mark.parametrize("name", list(TINY))
def test_model_trains_and_loss_falls(name, batch):
    torch.manual_seed(0)
    model = registry().get("model", name).build(**TINY[name])
    x, y = batch["x"], batch["y"]
    assert model(x).shape == y.shape
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(12):
        loss = masked_mse(model(x), y, x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert np.isfinite(losses).all()
    assert min(losses[-3:]) < 0.7 * losses[0], losses


@pytest.mark.parametrize("name", list(TINY))
def test_save_load_same_prediction(name, batch, tmp_path):
    torch.manual_seed(1)
    model = registry().get("model", name).build(**TINY[name]).eval()
    x = batch["x"].numpy()
    before = predict(model, x)
    path = tmp_path / "m.pt"
    save_checkpoint(path, model, name, TINY[name], {"note": "test"})
    loaded, meta = load_model(path)  # the checkpoint alone rebuilds the model
    assert meta["model"] == name and meta["hparams"]["note" if False else next(iter(TINY[name]))] is not None
    np.testing.assert_array_equal(predict(loaded, x), before)
    loaded2, _ = load_model(name.replace("-", "_"), checkpoint=path)
    np.testing.assert_array_equal(predict(loaded2, x), before)


def test_predict_pastes_known_bit_for_bit(batch):
    model = registry().get("model", "unet").build(**TINY["unet"])
    x = batch["x"].numpy()
    y = predict(model, x)
    known = x[:, 1] > 0.5
    assert known.any()
    assert np.array_equal(y[known], x[:, 0][known])
    assert (y >= 0).all()
    assert (y[(x[:, 2] < 0.5) & ~known] == 0).all()


def test_other_models_checkpoint_refused(tmp_path, batch):
    model = registry().get("model", "unet").build(**TINY["unet"])
    path = save_checkpoint(tmp_path / "unet.pt", model, "unet", TINY["unet"])
    with pytest.raises(XrdplugError, match="holds a 'unet' model, not 'transformer'"):
        load_model("transformer", checkpoint=path)
    # same name, weights of another shape
    ck = torch.load(path, weights_only=True)
    ck["hparams"] = {"filters": [12, 24, 48]}
    torch.save(ck, tmp_path / "bad.pt")
    with pytest.raises(XrdplugError, match="weights do not fit"):
        load_model(tmp_path / "bad.pt")


def test_corrupt_and_foreign_files_refused(tmp_path):
    bad = tmp_path / "corrupt.pt"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(XrdplugError, match="not a readable xrdplug checkpoint"):
        load_model(bad)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(XrdplugError, match="not an xrdplug checkpoint"):
        load_model("unet", checkpoint=foreign)
    with pytest.raises(XrdplugError, match="no such checkpoint"):
        load_model("unet", checkpoint=tmp_path / "missing.pt")


@pytest.mark.parametrize("keys", ["all", "known"])
def test_transformer_padding_does_not_leak(keys, batch):
    """A sample predicted alone or padded in a batch with larger ones gives the same output."""
    torch.manual_seed(0)
    model = registry().get("model", "transformer").build(**TINY["transformer"], keys=keys).eval()
    x = batch["x"]
    with torch.no_grad():
        together = model(x)
        alone = torch.cat([model(x[i : i + 1]) for i in range(len(x))])
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-5)
    assert (together[x[:, 2] < 0.5] == 0).all()


def test_metrics_perfect_and_baseline(batch):
    x, y = batch["x"].numpy(), batch["y"].numpy()
    w = batch["wilson"].numpy()
    s = Scores()
    s.add(x, y, y, w)
    out = s.summary()
    assert out["r_shell"] == 0 and out["r_all"] == 0 and out["mse"] == 0
    base = ShellMeanBaseline()
    base.fit_batch(x, y)
    s2 = Scores()
    s2.add(x, y, base.predict(x), w)
    out2 = s2.summary()
    assert 0.1 < out2["r_shell"] < 1.0
    assert out2["r_all"] < out2["r_shell"]  # the known part dilutes it
    assert sum(sh["n"] for sh in out2["shells"]) == int(((x[:, 2] > 0.5) & (x[:, 1] < 0.5)).sum())
