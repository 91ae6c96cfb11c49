"""The three built-in models: sizes, contract, learning, checkpoints, prediction with known pasted back."""

from __future__ import annotations

import numpy as np
import pytest

import xrdplug  # noqa: F401  (runtime set-up before torch)

torch = pytest.importorskip("torch")

from xrdplug.errors import XrdplugError  # noqa: E402
from xrdplug.models.checkpoint import load_model, predict, save_checkpoint  # noqa: E402
from xrdplug.models.metrics import Scores, shell_r  # noqa: E402
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
    # reference widths; the transformer adds its global latent read/write attention (1.0M -> 1.67M)
    expected = {"unet": 5.6e6, "fft-unet": 7.9e6, "transformer": 1.67e6}
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
    assert meta["model"] == name and meta["hparams"] == TINY[name] and meta["note"] == "test"
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


def test_transformer_padding_does_not_leak():
    """A structure predicted alone or padded in a batch with larger cells gives the same output: windows and
    latents never see padding."""
    torch.manual_seed(0)
    model = registry().get("model", "transformer").build(**TINY["transformer"], window=8).eval()
    items = toy_dataset(4, seed=1, cell_range=(6.0, 12.0))
    x = collate(items)["x"]
    with torch.no_grad():
        together = model(x)
        for i, it in enumerate(items):
            alone = model(torch.from_numpy(it["x"])[None])[0]
            d, h, w = alone.shape
            torch.testing.assert_close(together[i, :d, :h, :w], alone, rtol=1e-4, atol=1e-5)
    assert (together[x[:, 2] < 0.5] == 0).all()


def test_transformer_cost_grows_about_linearly():
    """Twice the reflections, about twice the attention work: windowed + latent attention, never n^2."""
    import time

    model = registry().get("model", "transformer").build(embed_dim=32, depth=2, heads=2, dropout=0.0).eval()
    times = {}
    for n_cells in (10.0, 20.0):  # 8x the reflections
        it = toy_dataset(1, seed=2, cell_range=(n_cells, n_cells + 0.01))[0]
        x = torch.from_numpy(it["x"])[None]
        with torch.no_grad():
            model(x)
            t = time.process_time()
            for _ in range(3):
                model(x)
        times[n_cells] = ((time.process_time() - t) / 3, int(it["x"][2].sum()))
    (t1, n1), (t2, n2) = times[10.0], times[20.0]
    assert n2 > 6 * n1
    assert t2 / t1 < 2.0 * n2 / n1, times  # quadratic attention would be ~(n2/n1)^2 = 60x


def test_legacy_checkpoints_still_load_and_predict():
    """The first shipped weights (4 channels on the fixed 41x21x21 grid) rebuild as legacy-layout models."""
    from xrdplug.batch import LEGACY_LAYOUT, layout_of

    for name, hp in {"unet": {"filters": [8, 16, 32], "in_channels": 4},
                     "transformer": {"embed_dim": 16, "depth": 1, "heads": 2, "grid_shape": [41, 21, 21],
                                     "keys": "known"}}.items():
        m = registry().get("model", name).build(**hp)
        assert layout_of(m) == LEGACY_LAYOUT
        it = toy_dataset(1, seed=0, cell_range=(6.0, 9.0), layout=LEGACY_LAYOUT)[0]
        assert it["x"].shape == (4, 41, 21, 21)
        assert predict(m, it["x"][None]).shape == (1, 41, 21, 21)


def test_metrics_perfect_scaled_and_baselines():
    """R is 0 for the truth, unchanged by an overall scale (fitted), and the baselines land between."""
    from xrdplug.models import baselines

    rng = np.random.default_rng(0)
    it = toy_dataset(1, seed=3, cell_range=(9.0, 11.0))[0]
    hkl, f, cell = it["hkl"], it["f"], it["cell"]
    from xrdplug import hklgrid

    inv_d2 = hklgrid.inverse_d_squared(hkl, cell)
    known = inv_d2 <= 1 / 1.5**2
    s = Scores()
    s.add(f, f, known, inv_d2, cell)
    out = s.summary()
    assert out["r_shell"] == 0 and out["r_all"] == 0 and out["mse"] < 1e-12
    noisy = f * np.exp(0.3 * rng.standard_normal(len(f)))
    assert shell_r(f[~known], 3.7 * noisy[~known]) == pytest.approx(shell_r(f[~known], noisy[~known]))
    case = baselines.Case("toy", hkl, f, known, cell, "P 1 21 1", 0.8)
    iso = baselines.oracle_iso(case)
    aniso = baselines.oracle_aniso(case)
    assert np.array_equal(iso[known], f[known])
    r_iso, r_aniso = shell_r(f[~known], iso[~known]), shell_r(f[~known], aniso[~known])
    assert 0.2 < r_aniso <= r_iso + 1e-9 < 1.0  # more freedom fitted to the truth never does worse
    s2 = Scores()
    s2.add(f, iso, known, inv_d2, cell)
    out2 = s2.summary()
    assert out2["r_shell"] == pytest.approx(r_iso)
    assert out2["r_all"] < out2["r_shell"]  # the measured part dilutes it
    assert sum(sh["n"] for sh in out2["shells"]) == int((~known).sum())


@pytest.mark.parametrize("layout", ["cell-grid", "grid41"])
def test_model_path_round_trip_is_exact(layout):
    """F -> F_norm on the grid -> model -> back to F uses the one inverse (normalise.denormalise): a model that
    outputs the true normalised grid gives back the true amplitudes and an R of 0 (the old inverse of a
    fitted Wilson line over-weighted the 0.8 A reflections ~5x relative to 1.5 A)."""
    from xrdplug import hklgrid
    from xrdplug.batch import make_input, target_grid
    from xrdplug.models import baselines
    from xrdplug.models.evaluation import ModelPredictor

    it = toy_dataset(1, seed=5, cell_range=(8.0, 12.0))[0]
    hkl, f, cell = it["hkl"], it["f"], it["cell"]
    known = hklgrid.inverse_d_squared(hkl, cell) <= 1 / 1.5**2
    mi = make_input(hkl, known, f[known], cell, 0.8, layout)
    truth = torch.from_numpy(target_grid(hkl, f, mi))

    class Oracle(torch.nn.Module):
        input_layout = layout

        def forward(self, x):
            return truth[None].expand(x.shape[0], *truth.shape).clone()

    case = baselines.Case("toy", hkl, f, known, cell, "P 1 21 1", 0.8)
    back = ModelPredictor(Oracle())(case)
    np.testing.assert_allclose(back, f, rtol=2e-6, atol=1e-9)
    s = Scores()
    s.add(f, back, known, case.inv_d2, cell)
    assert s.summary()["r_shell"] < 1e-5


def test_calibrated_sigmas_cover_the_errors():
    """A calibration fitted on some structures puts about 68% of other structures' errors within 1 SIGF, and
    weak predictions get relatively larger sigmas than strong ones when that is how the errors behave."""
    from xrdplug import hklgrid
    from xrdplug.models import calibration

    rng = np.random.default_rng(0)

    def samples(seed, n):
        out = []
        for it in toy_dataset(n, seed=seed, cell_range=(8.0, 11.0)):
            hkl, f, cell = it["hkl"], it["f"], it["cell"]
            inv_d2 = hklgrid.inverse_d_squared(hkl, cell)
            pred = inv_d2 > 1 / 1.5**2
            ft = f[pred]
            fp = np.abs(ft + rng.normal(0, 0.3 * ft.mean(), ft.size))  # errors of constant absolute size
            out.append((ft, fp, inv_d2[pred]))
        return out

    table = calibration.fit(samples(1, 12))
    cov = calibration.coverage(table, samples(2, 12))
    assert 0.58 < cov["within_1_sigma"] < 0.78 and cov["within_2_sigma"] > 0.88, cov
    s = np.asarray(table["sigma_rel"])
    assert (s[:, 0] > s[:, -1]).all()  # constant absolute error: weak predictions are relatively worse
