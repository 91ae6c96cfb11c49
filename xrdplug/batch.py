"""The model contract: how reflections become a model input and how predictions come back.

Every model (built-in or third-party) is a `torch.nn.Module` with ``forward(x) -> y`` on a dense hkl grid
sized for the cell (layout "cell-grid", the default):

    x: float32 (B, 7, D, H, W)  channels, on the grid of `xrdplug.hklgrid` (index [h + Hmax, k, l])
         0  F_norm of the known (measured) reflections, 0 elsewhere
         1  known mask (1 where measured)
         2  target mask (1 where a reflection to d_high exists: inside the sphere, not absent)
         3  s2 * d_high^2 (1/d^2 scaled so that the d_high sphere is at 1), at every grid point
         4-6  s_x, s_y, s_z * d_high: the Cartesian reciprocal-space position of every grid point (A^-1,
              scaled so that the d_high sphere has radius 1; `hklgrid.reciprocal_cartesian`)
    y: float32 (B, D, H, W) predicted F_norm (values outside the target mask are ignored)

The grid of one structure is (2*Hmax+1, Kmax+1, Lmax+1) with Hmax = floor(a / d_high) etc. (`hklgrid.
grid_shape`): 41 x 21 x 21 for 16 A edges at 0.8 A, 75 x 38 x 38 for 30 A. A batch is padded at the high
end of each axis to its largest member (padding has every channel 0, so no target); the data loader groups
structures of similar grid size (`BucketBatchSampler`) so that little is padding. Channels 4-6 give the model
the cell's metric: the same hkl in two cells sits at different s, and a model can tell how far apart two
grid points are in reciprocal space.

F_norm is the normalised amplitude of `xrdplug.normalise`, fitted on the known reflections only; the one
inverse is `normalise.denormalise` (`prediction_to_amplitudes`). Unknown is not encoded as zero alone:
channel 1 says what is known, channel 2 what is asked. Known reflections are pasted back after prediction;
losses use target & ~known.

The first shipped models used layout "grid41": 4 channels (0-3 above, channel 3 only on the target mask)
on one fixed 41 x 21 x 21 grid, so cells to 16 A at 0.8 A. A model says which layout it takes with an
attribute `input_layout`; without one, "cell-grid" is assumed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import hklgrid, normalise

IN_CHANNELS = 7
LAYOUT = "cell-grid"
LEGACY_LAYOUT = "grid41"
LEGACY_CHANNELS = 4
GRID_SHAPE = hklgrid.GRID_SHAPE  # the legacy fixed grid


@dataclass
class ModelInput:
    x: np.ndarray  # (C, *shape) float32
    known: np.ndarray  # (*shape) bool
    target: np.ndarray  # (*shape) bool
    wilson: tuple[float, float]  # (a, b) of xrdplug.normalise
    inv_d2: np.ndarray  # (N,) 1/d^2 of hkl_target, in the order given
    layout: str = LAYOUT


def layout_of(model: object) -> str:
    return str(getattr(model, "input_layout", LAYOUT))


def input_shape(cell: tuple[float, ...], d_high: float, layout: str = LAYOUT) -> tuple[int, int, int]:
    if layout == LEGACY_LAYOUT:
        return GRID_SHAPE
    return hklgrid.grid_shape(cell, d_high)  # type: ignore[arg-type]


def accepts(cell: tuple[float, ...], d_high: float, layout: str = LAYOUT) -> bool:
    """Can a model of this layout take the cell? (the legacy grid holds cells to 16 A at 0.8 A)"""
    if layout == LEGACY_LAYOUT:
        return hklgrid.cell_fits(cell, d_high)  # type: ignore[arg-type]
    return True


def make_input(
    hkl_target: np.ndarray,
    known: np.ndarray,
    f_known: np.ndarray,
    cell: tuple[float, float, float, float, float, float],
    d_high: float,
    layout: str = LAYOUT,
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
    shape = input_shape(cell, d_high, layout)
    legacy = layout == LEGACY_LAYOUT
    x = np.zeros((LEGACY_CHANNELS if legacy else IN_CHANNELS, *shape), dtype=np.float32)
    x[0], known_grid = hklgrid.to_grid(hkl_target[known], f_all[known], shape)
    target_grid = hklgrid.to_grid(hkl_target, np.ones(len(hkl_target)), shape)[1]
    x[1] = known_grid
    x[2] = target_grid
    if legacy:
        x[3], _ = hklgrid.to_grid(hkl_target, inv_d2 * d_high**2, shape)
    else:
        s = hklgrid.grid_reciprocal_cartesian(cell, shape) * d_high
        x[3] = (s**2).sum(0)
        x[4:7] = s
    return ModelInput(x=x, known=known_grid, target=target_grid, wilson=(a, b), inv_d2=inv_d2, layout=layout)


def target_grid(hkl_target: np.ndarray, f_target: np.ndarray, model_input: ModelInput) -> np.ndarray:
    """The normalised target on the grid, with the input's own normalisation."""
    fn = normalise.normalise(f_target, model_input.inv_d2, *model_input.wilson)
    return hklgrid.to_grid(hkl_target, fn, model_input.x.shape[1:])[0]


def prediction_to_amplitudes(y: np.ndarray, hkl_target: np.ndarray, model_input: ModelInput) -> np.ndarray:
    """Read a predicted grid back at the target indices, on the input's own amplitude scale (>= 0)."""
    fn = np.maximum(hklgrid.from_grid(y, hkl_target), 0.0)
    return normalise.denormalise(fn, model_input.inv_d2, *model_input.wilson)


def pad_stack(arrays: list[np.ndarray]) -> np.ndarray:
    """Stack arrays whose last three axes differ, zero-padding each at the high end to the largest."""
    shape = tuple(max(a.shape[i] for a in arrays) for i in range(arrays[0].ndim))
    out = np.zeros((len(arrays), *shape), dtype=arrays[0].dtype)
    for j, a in enumerate(arrays):
        out[(j,) + tuple(slice(0, s) for s in a.shape)] = a
    return out
