"""miller.array <-> the models' dense hkl grid (monoclinic, b unique); exact round trip.

The index arithmetic lives in `xrdplug.hklgrid` (pure numpy, so training needs no cctbx); this module
adds what needs cctbx: the symmetry check and the complete set of indices a model must fill.
"""

from __future__ import annotations

import numpy as np
from cctbx import miller
from cctbx.array_family import flex

from xrdplug import hklgrid
from xrdplug.errors import XrdplugError


def check_monoclinic_b(array: miller.array) -> None:
    """The grid assumes Laue class 2/m with b unique."""
    laue = str(array.space_group().laue_group_type())
    sym = array.space_group_info().type().lookup_symbol()
    if laue != "2/m":
        raise XrdplugError(
            f"space group {sym} is not monoclinic (Laue class {laue}); "
            "the models cover monoclinic groups (P2_1/c, P2_1, C2, ...) with b unique"
        )
    # b-unique settings are written 'X 1 y 1' in full Hermann-Mauguin symbols
    parts = sym.split()
    if len(parts) != 4 or parts[1] != "1" or parts[3] != "1":
        raise XrdplugError(
            f"space group {sym} is monoclinic but not b-unique; reindex to a b-unique setting first"
        )


def indices_array(array: miller.array) -> np.ndarray:
    return np.array(array.indices(), dtype=np.int64).reshape(-1, 3)


def to_grid(array: miller.array) -> tuple[np.ndarray, np.ndarray]:
    """Scatter an (asymmetric-unit) amplitude array onto the grid: (values, mask)."""
    check_monoclinic_b(array)
    try:
        return hklgrid.to_grid(indices_array(array), array.data().as_numpy_array())
    except ValueError as exc:
        raise XrdplugError(str(exc)) from None


def from_grid(grid: np.ndarray, miller_set: miller.set) -> miller.array:
    """Read grid values at the indices of `miller_set` into a miller array."""
    values = hklgrid.from_grid(grid, indices_array(miller_set)).astype(np.float64)
    return miller_set.array(data=flex.double(values))


def target_set(symmetry_source: miller.array, d_min: float) -> miller.set:
    """Every reflection to d_min (asymmetric unit, no systematic absences) for this crystal."""
    return miller.build_set(
        crystal_symmetry=symmetry_source.crystal_symmetry(), anomalous_flag=False, d_min=d_min
    ).map_to_asu()
