"""extend: measured amplitudes to 1.5 A -> a model -> amplitudes to 0.8 A on the input's own scale.

Measured reflections are kept exactly as measured (values and sigmas); only reflections that were not
measured are predicted, and a flag array says which is which.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .errors import XrdplugError
from .hklgrid import GRID_SHAPE, cell_fits, max_indices

if TYPE_CHECKING:  # pragma: no cover
    from cctbx import miller

D_LOW = 1.5  # the models' input sphere: what they were trained to see
D_HIGH = 0.8  # the models' target sphere
PREDICTED_SIGMA_FRACTION = 0.35  # sigma(F_pred) = fraction * F_pred when a model records no shell R


@dataclass
class ExtendResult:
    f_extended: miller.array  # measured + predicted amplitudes, with sigmas
    predicted: miller.array  # int flag on the same indices: 1 predicted, 0 measured
    model: str
    checkpoint: str
    n_measured: int
    n_predicted: int
    seconds: float
    notes: list[str] = field(default_factory=list)


def check_fits_model(f_obs: miller.array, d_min: float) -> list[str]:
    """Refuse data the models do not cover, saying what is outside and what to do. Returns notes."""
    from cctbx_bridge.grid import check_monoclinic_b

    notes: list[str] = []
    check_monoclinic_b(f_obs)
    if d_min < D_HIGH - 1e-6:
        raise XrdplugError(f"--d-min {d_min} is beyond what the models predict ({D_HIGH} A); use --d-min {D_HIGH}")
    if d_min >= D_LOW:
        raise XrdplugError(f"--d-min {d_min} A is not beyond the models' input resolution {D_LOW} A")
    cell = f_obs.unit_cell().parameters()
    if not cell_fits(cell, d_min):
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
            f"data reach {d_min_obs:.2f} A: the model sees the reflections to {D_LOW} A it was trained on; "
            "all measured reflections are kept as measured"
        )
    low = f_obs.resolution_filter(d_min=D_LOW)
    completeness = low.completeness(d_max=d_max_obs)
    if completeness < 0.9:
        notes.append(
            f"only {100 * completeness:.0f}% of the reflections to {D_LOW} A were measured; the missing ones "
            "are predicted too (flagged), but the models were trained on complete data"
        )
    return notes


def load_torch_first() -> None:
    """torch before cctbx keeps torch's thread pool (see xrdplug.runtime); harmless if already loaded."""
    if "torch" not in sys.modules and "boost_python_meta_ext" not in sys.modules:
        import torch  # noqa: F401


def extend(
    f_obs: miller.array,
    model: str = "transformer",
    d_min: float = D_HIGH,
    checkpoint: str | None = None,
    device: str = "cpu",
) -> ExtendResult:
    """Predict the unmeasured amplitudes of `f_obs` out to `d_min` with a model plugin."""
    load_torch_first()
    from cctbx.array_family import flex

    import cctbx_bridge  # noqa: F401
    from cctbx_bridge.grid import target_set

    from .models.batch import make_input, prediction_to_amplitudes
    from .models.checkpoint import load_model, predict

    t0 = time.perf_counter()
    if not f_obs.is_xray_amplitude_array():
        raise XrdplugError("extend needs amplitudes (a miller array of |F|); convert intensities first")
    if f_obs.anomalous_flag() or not f_obs.is_unique_set_under_symmetry():
        raise XrdplugError("extend needs merged, non-anomalous amplitudes (merge_equivalents first)")
    f_obs = f_obs.map_to_asu()
    notes = check_fits_model(f_obs, d_min)
    net, meta = load_model(model, checkpoint=checkpoint, device=device)

    targets = target_set(f_obs, d_min)
    hkl_t = np.array(targets.indices(), dtype=np.int64).reshape(-1, 3)
    low = f_obs.resolution_filter(d_min=D_LOW)
    low_t, low_m = targets.common_sets(low)  # measured reflections in the model's input sphere
    model_in_known = np.zeros(len(hkl_t), dtype=bool)
    lookup = targets.match_indices(low_t)
    model_in_known[np.array(lookup.pairs().column(0), dtype=np.int64)] = True
    f_known_by_target = np.zeros(len(hkl_t))
    f_known_by_target[np.array(lookup.pairs().column(0), dtype=np.int64)] = low_m.data().as_numpy_array()[
        np.array(lookup.pairs().column(1), dtype=np.int64)
    ]
    cell = f_obs.unit_cell().parameters()
    mi = make_input(hkl_t, model_in_known, f_known_by_target[model_in_known], cell, d_min)
    y = predict(net, mi.x[None], device=device)[0]
    f_pred = prediction_to_amplitudes(y, hkl_t, mi)

    # measured reflections stay exactly as measured; only unmeasured target reflections are added
    measured = f_obs.resolution_filter(d_min=d_min)
    unmeasured = targets.lone_set(measured)
    pm = targets.match_indices(unmeasured)
    pred_values = f_pred[np.array(pm.pairs().column(0), dtype=np.int64)]
    shell_r = (meta.get("test") or {}).get("r_shell") if isinstance(meta.get("test"), dict) else None
    sigma_fraction = float(shell_r) if shell_r else PREDICTED_SIGMA_FRACTION
    # a floor keeps SIGF > 0 where a prediction is 0 (MTZ readers take F = SIGF = 0 as missing)
    floor = 0.1 * float(pred_values.mean()) if pred_values.size else 0.0
    pred_sigmas = sigma_fraction * np.maximum(pred_values, floor)
    predicted = unmeasured.array(data=flex.double(pred_values), sigmas=flex.double(pred_sigmas))
    if measured.sigmas() is None:
        measured = measured.customized_copy(sigmas=flex.double(measured.size(), 0.0))
        notes.append("the input had no sigmas; measured reflections carry SIGF = 0")
    beyond = f_obs.resolution_filter(d_max=d_min - 1e-9) if f_obs.d_min() < d_min else None
    if beyond is not None and beyond.size():
        notes.append(f"{beyond.size()} measured reflections beyond {d_min} A were left out")
    f_ext = measured.concatenate(predicted).set_observation_type_xray_amplitude()
    flags = flex.int([0] * measured.size() + [1] * predicted.size())
    flag_array = f_ext.customized_copy(data=flags, sigmas=None)
    order = flex.sort_permutation(f_ext.d_spacings().data(), reverse=True)
    f_ext = f_ext.select(order)
    flag_array = flag_array.select(order)
    basis = "the model's test shell R" if shell_r else "a default"
    notes.append(f"predicted SIGF = {sigma_fraction:.2f} x F_pred ({basis})")
    return ExtendResult(
        f_extended=f_ext,
        predicted=flag_array,
        model=str(meta.get("model", model)),
        checkpoint=str(meta.get("checkpoint", "")),
        n_measured=measured.size(),
        n_predicted=predicted.size(),
        seconds=time.perf_counter() - t0,
        notes=notes,
    )

