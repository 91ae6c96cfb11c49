"""The cctbx side of extend: which reflections a model sees and asks for, and the merged result.

Measured reflections stay exactly as measured; only reflections that were not measured are added.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from cctbx import miller
from cctbx.array_family import flex

from .grid import target_set


@dataclass
class ModelView:
    targets: miller.set  # every reflection to d_min (asymmetric unit, no absences)
    hkl: np.ndarray  # (N, 3) indices of targets
    known: np.ndarray  # (N,) bool: measured inside the model's input sphere (d >= d_low)
    f_known: np.ndarray  # amplitudes of the known ones, in target order
    cell: tuple[float, ...]


def _pairs(matches: miller.match_indices, column: int) -> np.ndarray:
    return np.array(matches.pairs().column(column), dtype=np.int64)


def model_view(f_obs: miller.array, d_min: float, d_low: float) -> ModelView:
    """The target set to d_min and which of it the model is given (the measured reflections to d_low)."""
    targets = target_set(f_obs, d_min)
    hkl = np.array(targets.indices(), dtype=np.int64).reshape(-1, 3)
    low = f_obs.resolution_filter(d_min=d_low)
    low_t, low_m = targets.common_sets(low)
    matches = targets.match_indices(low_t)
    known = np.zeros(len(hkl), dtype=bool)
    known[_pairs(matches, 0)] = True
    f_all = np.zeros(len(hkl))
    f_all[_pairs(matches, 0)] = low_m.data().as_numpy_array()[_pairs(matches, 1)]
    return ModelView(targets, hkl, known, f_all[known], f_obs.unit_cell().parameters())


def merge_predictions(
    f_obs: miller.array, view: ModelView, f_pred: np.ndarray, d_min: float, sigma_fraction: float,
    sigma_pred: np.ndarray | None = None,
) -> tuple[miller.array, miller.array, list[str]]:
    """Every measured reflection as measured (those beyond d_min too), plus the unmeasured targets with their
    predictions.

    Returns (amplitudes with sigmas, int flag array on the same indices: 1 predicted, 0 measured, notes),
    sorted from low to high resolution. Predicted SIGF = `sigma_pred` (one per target, from a calibration) or
    else sigma_fraction * F_pred, floored at a tenth of the mean prediction (or of the measured F, when every
    prediction is 0) so that no predicted reflection has F = SIGF = 0 (MTZ readers take that as missing).
    """
    notes: list[str] = []
    measured = f_obs
    unmeasured = view.targets.lone_set(measured)
    sel = _pairs(view.targets.match_indices(unmeasured), 0)
    values = f_pred[sel]
    floor = 0.1 * float(values.mean()) if values.size else 0.0
    if floor <= 0:  # a model that predicts zeros everywhere: sigma from the measured scale, never 0
        floor = 0.01 * float(np.mean(f_obs.data().as_numpy_array()))
    sig = sigma_fraction * np.maximum(values, floor)
    if sigma_pred is not None:
        sig = np.maximum(np.asarray(sigma_pred, dtype=np.float64)[sel], sigma_fraction * floor)
    predicted = unmeasured.array(data=flex.double(values), sigmas=flex.double(sig))
    if measured.sigmas() is None:
        measured = measured.customized_copy(sigmas=flex.double(measured.size(), 0.0))
        notes.append("the input had no sigmas; measured reflections carry SIGF = 0")
    n_beyond = f_obs.size() - f_obs.resolution_filter(d_min=d_min).size()
    if n_beyond:
        notes.append(f"{n_beyond} measured reflections beyond {d_min} A kept as measured (nothing is predicted "
                     f"beyond {d_min} A)")
    f_ext = measured.concatenate(predicted).set_observation_type_xray_amplitude()
    flags = f_ext.customized_copy(data=flex.int([0] * measured.size() + [1] * predicted.size()), sigmas=None)
    order = flex.sort_permutation(f_ext.d_spacings().data(), reverse=True)
    return f_ext.select(order), flags.select(order), notes
