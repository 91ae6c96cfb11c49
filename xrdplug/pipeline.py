"""extend: measured amplitudes to 1.5 A -> a model -> amplitudes to 0.8 A on the input's own scale.

Measured reflections are kept exactly as measured (values and sigmas); only reflections that were not
measured are predicted, and a flag array says which is which.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import XrdplugError
from .hklgrid import GRID_SHAPE, cell_fits, max_indices
from .runtime import load_torch_first

if TYPE_CHECKING:  # pragma: no cover
    from cctbx import miller

    from .protocols import ReflectionData

D_LOW = 1.5  # the models' input sphere: what they were trained to see
D_HIGH = 0.8  # the models' target sphere
PREDICTED_SIGMA_FRACTION = 0.35  # sigma(F_pred) = fraction * F_pred when a model records no shell R


@dataclass
class ExtendResult:
    """What extend returns: the extended amplitudes, which of them are predicted, and from where.

    For a cctbx script: `result.f_extended` (or `result.as_miller_array()`) is the miller.array of measured +
    predicted |F| with sigmas; `result.predicted` the int flags on the same indices (1 predicted, 0 measured);
    `result.measured()` the measured reflections alone; `result.provenance` what wrote the predictions
    (model, weights file, its sha256); `xrdplug.solve(result)` phases it and counts the predictions.
    """

    f_extended: miller.array  # measured + predicted amplitudes, with sigmas
    predicted: miller.array  # int flag on the same indices: 1 predicted, 0 measured
    model: str
    checkpoint: str
    n_measured: int
    n_predicted: int
    seconds: float
    notes: list[str] = field(default_factory=list)
    weights_sha256: str = ""
    d_min: float = D_HIGH

    def as_miller_array(self) -> miller.array:
        """The extended amplitudes (measured + predicted): flags travel separately, in `predicted`."""
        return self.f_extended

    def predicted_selection(self) -> Any:
        """flex.bool over f_extended: True where the amplitude is predicted (for `f_extended.select(...)`)."""
        return self.predicted.data() == 1

    def measured(self) -> miller.array:
        """The measured amplitudes alone, exactly as given."""
        return self.f_extended.select(self.predicted.data() == 0)

    @property
    def provenance(self) -> dict[str, str]:
        from . import __version__

        return {
            "predicted": f"{self.n_predicted} of {self.n_measured + self.n_predicted} reflections (flag 1)",
            "model": self.model,
            "weights": Path(self.checkpoint).name if self.checkpoint else "",
            "sha256": self.weights_sha256,
            "d_min": f"{self.d_min:g}",
            "xrdplug": __version__,
        }

    def as_reflection_data(self) -> ReflectionData:
        """The result as the readers' currency, so that `xrdplug.sources.write_reflections` writes the flags."""
        from .protocols import ReflectionData

        return ReflectionData(self.f_extended, "extend", ["F", "SIGF", "PREDICTED"], "amplitudes",
                              list(self.notes), predicted=self.predicted, provenance=self.provenance)


def sha256_of(path: str | Path) -> str:
    """The file's SHA-256 (hex): names the exact weights that made a prediction."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# Unique reflections to d_min that a cell-grid model takes: measured (`bench extend`, one core) a 40x25x25 A
# cell with 50,344 reflections extends in under 1 CPU-s and 0.6 GB for every built-in model; beyond that the
# grid indices approach the 127 that the transformer's Z-curve keys and the data sets' int8 indices hold.
MAX_REFLECTIONS = 50000
TRAINED_MAX_EDGE = 30.0  # A: the shipped models saw cells with edges up to this


def check_fits_model(f_obs: miller.array, d_min: float, layout: str = "cell-grid") -> list[str]:
    """Refuse data the models do not cover, saying what is outside and what to do. Returns notes."""
    from cctbx_bridge.grid import check_monoclinic_b

    notes: list[str] = []
    check_monoclinic_b(f_obs)
    if d_min < D_HIGH - 1e-6:
        raise XrdplugError(f"--d-min {d_min} is beyond what the models predict ({D_HIGH} A); use --d-min {D_HIGH}")
    if d_min >= D_LOW:
        raise XrdplugError(f"--d-min {d_min} A is not beyond the models' input resolution {D_LOW} A")
    cell = f_obs.unit_cell().parameters()
    if layout != "grid41":
        from cctbx_bridge.grid import target_set

        n = target_set(f_obs, d_min).size()
        if n > MAX_REFLECTIONS:
            edges = ", ".join(f"{n_}={v:.2f}" for n_, v in zip("abc", cell[:3]))
            raise XrdplugError(
                f"the cell ({edges} A, volume {f_obs.unit_cell().volume():.0f} A^3) has {n} unique reflections to "
                f"{d_min} A; the models take at most {MAX_REFLECTIONS} (cells to about "
                f"{MAX_REFLECTIONS / 2.05:.0f} A^3 at 0.8 A); use a larger --d-min"
            )
        if max(cell[:3]) > TRAINED_MAX_EDGE:
            notes.append(f"a cell edge of {max(cell[:3]):.1f} A: the shipped models were trained on edges up to "
                         f"{TRAINED_MAX_EDGE:g} A, so this is an extrapolation")
    elif not cell_fits(cell, d_min):
        edges = ", ".join(f"{n}={v:.2f}" for n, v in zip("abc", cell[:3]))
        h = max_indices(cell, d_min)
        limit = (GRID_SHAPE[1] - 1) * d_min
        raise XrdplugError(
            f"the cell ({edges} A) is too large for the model grid at {d_min} A: indices up to {h} but the grid "
            f"holds |h|,k,l <= {GRID_SHAPE[1] - 1} (cell edges <= {limit:.1f} A); use a larger --d-min"
        )
    d_max_obs, d_min_obs = f_obs.d_max_min()
    if d_min_obs > D_LOW + 0.02:
        raise XrdplugError(
            f"the data reach only {d_min_obs:.2f} A; the models need measured data to {D_LOW} A "
            "(the whole input sphere)"
        )
    if d_min_obs < D_LOW - 0.02:
        notes.append(
            f"data reach {d_min_obs:.2f} A: the model sees the measured reflections to {D_LOW} A it was trained "
            f"on and predicts only reflections to {d_min} A that were not measured; every measured reflection "
            "is kept as measured"
        )
    low = f_obs.resolution_filter(d_min=D_LOW)
    completeness = low.completeness(d_max=d_max_obs)
    if completeness < 0.9:
        notes.append(
            f"only {100 * completeness:.0f}% of the reflections to {D_LOW} A were measured; the missing ones "
            "are predicted too (flagged), but the models were trained on complete data"
        )
    return notes


def measured_amplitudes(data: Any) -> tuple[miller.array, list[str]]:
    """The measured amplitudes of a miller.array, a ReflectionData or an ExtendResult: reflections that a
    model predicted before are never fed to a model as if measured."""
    notes: list[str] = []
    if isinstance(data, ExtendResult):
        notes.append(f"the input was extended before: its {data.n_predicted} predicted reflections are set aside")
        return data.measured(), notes
    if hasattr(data, "measured_only") and hasattr(data, "f_obs"):
        n = getattr(data, "n_predicted", 0)
        if n:
            notes.append(f"the input holds {n} predicted reflections (PREDICTED = 1): set aside, the "
                         f"{data.f_obs.size() - n} measured ones are extended")
        return data.measured_only(), notes
    return data, notes


DEFAULT_MODEL = "transformer"


def recorded_shell_r(meta: dict) -> tuple[float | None, str]:
    """The shell R a checkpoint records for itself: its test figure (shipped weights), else the best validation
    figure of its training history (a user's own `xrdplug train` checkpoint)."""
    test = meta.get("test") if isinstance(meta.get("test"), dict) else {}
    if test.get("r_shell"):
        return float(test["r_shell"]), "the model's test shell R"
    vals = [h.get("val_r_shell") for h in meta.get("history") or [] if isinstance(h, dict)]
    vals = [float(v) for v in vals if isinstance(v, (int, float)) and v > 0]
    if vals:
        return min(vals), "the checkpoint's best validation shell R"
    return None, "a default"


def extend(
    f_obs: Any,
    model: str | None = None,
    d_min: float = D_HIGH,
    checkpoint: str | None = None,
    device: str = "auto",
) -> ExtendResult:
    """Predict the unmeasured amplitudes of `f_obs` out to `d_min` with a model plugin.

    `f_obs`: a cctbx miller.array of merged amplitudes, or what a reader or an earlier extend returned
    (their predicted reflections are set aside). Every measured reflection is kept exactly as measured,
    those beyond `d_min` included. `model` names a plugin (its shipped weights, or `checkpoint` checked to
    hold that model); with only a `checkpoint`, the model is the one the checkpoint records. `device`: auto
    (CUDA when torch sees one), cpu or cuda.
    """
    load_torch_first()
    import cctbx_bridge  # noqa: F401  (before anything else of cctbx: see xrdplug.runtime)
    from cctbx_bridge.extension import merge_predictions, model_view

    from .batch import layout_of, make_input, prediction_to_amplitudes
    from .models.checkpoint import load_model, predict
    from .models.training import resolve_device

    t0 = time.perf_counter()
    f_obs, notes = measured_amplitudes(f_obs)
    if not hasattr(f_obs, "is_xray_amplitude_array"):
        raise XrdplugError(f"extend takes a cctbx miller.array of amplitudes, not {type(f_obs).__name__}")
    if not f_obs.is_xray_amplitude_array():
        raise XrdplugError("extend needs amplitudes (a miller array of |F|); convert intensities first")
    if f_obs.anomalous_flag() or not f_obs.is_unique_set_under_symmetry():
        raise XrdplugError("extend needs merged, non-anomalous amplitudes (merge_equivalents first)")
    f_obs = f_obs.map_to_asu()
    dev = resolve_device(device)
    if model is None and checkpoint is not None:
        net, meta = load_model(checkpoint, device=dev)
    else:
        net, meta = load_model(model or DEFAULT_MODEL, checkpoint=checkpoint, device=dev)
    layout = layout_of(net)
    notes += check_fits_model(f_obs, d_min, layout)

    view = model_view(f_obs, d_min, D_LOW)
    mi = make_input(view.hkl, view.known, view.f_known, view.cell, d_min, layout)
    y = predict(net, mi.x[None], device=dev)[0]
    f_pred = prediction_to_amplitudes(y, view.hkl, mi)

    shell_r, basis = recorded_shell_r(meta)
    sigma_fraction = float(shell_r) if shell_r else PREDICTED_SIGMA_FRACTION
    table = meta.get("calibration") if isinstance(meta.get("calibration"), dict) else None
    sigma_pred = None
    if table:
        from .models.calibration import sigmas

        sigma_pred = sigmas(table, f_pred, mi.inv_d2)
    f_ext, flags, merge_notes = merge_predictions(f_obs, view, f_pred, d_min, sigma_fraction, sigma_pred)
    notes += merge_notes
    if table:
        notes.append(f"predicted SIGF from the model's calibration by shell and intensity on "
                     f"{table.get('structures', '?')} held-out structures (xrdplug/models/calibration.py)")
    else:
        notes.append(f"predicted SIGF = {sigma_fraction:.2f} x F_pred ({basis})")
    n_predicted = int(flags.data().count(1))
    ckpt = str(meta.get("checkpoint", ""))
    return ExtendResult(
        f_extended=f_ext,
        predicted=flags,
        model=str(meta.get("model", model or DEFAULT_MODEL)),
        checkpoint=ckpt,
        n_measured=f_ext.size() - n_predicted,
        n_predicted=n_predicted,
        seconds=time.perf_counter() - t0,
        notes=notes,
        weights_sha256=sha256_of(ckpt) if ckpt and Path(ckpt).is_file() else "",
        d_min=d_min,
    )
