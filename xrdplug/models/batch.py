"""The model contract: how reflections become a model input and how predictions come back.

Every model (built-in or third-party) is a `torch.nn.Module` with ``forward(x) -> y`` where

    x: float32 (B, 4, *GRID_SHAPE) channels
         0  F_norm of the known (measured) reflections, 0 elsewhere
         1  known mask (1 where measured)
         2  target mask (1 where a reflection to d_high exists: inside the sphere, not absent)
         3  s2 * d_high^2 (1/d^2 scaled so the d_high sphere is at 1), 0 outside the target mask
    y: float32 (B, *GRID_SHAPE) predicted F_norm (values outside the target mask are ignored)

F_norm is the Wilson-normalised amplitude of `xrdplug.normalise`, fitted on the known reflections only.
Unknown is *not* encoded as zero alone: channel 1 says what is known, channel 2 what is asked, and
channel 3 gives each voxel its resolution in this cell, so the models see the cell's metric.
Known reflections are pasted back after prediction; losses and shell R use target & ~known.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import hklgrid, normalise

IN_CHANNELS = 4
GRID_SHAPE = hklgrid.GRID_SHAPE


@dataclass
class ModelInput:
    x: np.ndarray  # (4, *GRID_SHAPE) float32
    known: np.ndarray  # (*GRID_SHAPE) bool
    target: np.ndarray  # (*GRID_SHAPE) bool
    wilson: tuple[float, float]  # (a, b) of xrdplug.normalise
    inv_d2: np.ndarray  # (N,) 1/d^2 of hkl_target, in the order given


def make_input(
    hkl_target: np.ndarray,
    known: np.ndarray,
    f_known: np.ndarray,
    cell: tuple[float, float, float, float, float, float],
    d_high: float,
) -> ModelInput:
    """Build the model input from all target indices, which of them are known, and the known |F|.

    `f_known` has one value per True in `known` (same order as `hkl_target`).
    """
    hkl_target = np.asarray(hkl_target).reshape(-1, 3)
    known = np.asarray(known, dtype=bool)
    inv_d2 = hklgrid.inverse_d_squared(hkl_target, cell)
    a, b = normalise.fit_wilson(inv_d2[known], f_known)
    f_all = np.zeros(len(hkl_target), dtype=np.float32)
    f_all[known] = normalise.normalise(f_known, inv_d2[known], a, b)
    x = np.zeros((IN_CHANNELS, *GRID_SHAPE), dtype=np.float32)
    x[0], known_grid = hklgrid.to_grid(hkl_target[known], f_all[known])
    target_grid = hklgrid.to_grid(hkl_target, np.ones(len(hkl_target)))[1]
    x[1] = known_grid
    x[2] = target_grid
    x[3], _ = hklgrid.to_grid(hkl_target, inv_d2 * d_high**2)
    return ModelInput(x=x, known=known_grid, target=target_grid, wilson=(a, b), inv_d2=inv_d2)


def target_grid(hkl_target: np.ndarray, f_target: np.ndarray, model_input: ModelInput) -> np.ndarray:
    """The normalised target on the grid, with the input's own Wilson parameters."""
    fn = normalise.normalise(f_target, model_input.inv_d2, *model_input.wilson)
    return hklgrid.to_grid(hkl_target, fn)[0]


def prediction_to_amplitudes(y: np.ndarray, hkl_target: np.ndarray, model_input: ModelInput) -> np.ndarray:
    """Read a predicted grid back at the target indices, on the input's own amplitude scale (>= 0)."""
    fn = np.maximum(hklgrid.from_grid(y, hkl_target), 0.0)
    return normalise.denormalise(fn, model_input.inv_d2, *model_input.wilson)
