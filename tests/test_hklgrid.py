"""The dense hkl grid: exact round trips (property tests) and agreement with cctbx."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xrdplug import hklgrid

cells = st.tuples(
    st.floats(4, 16), st.floats(4, 16), st.floats(4, 16), st.just(90.0), st.floats(90, 125), st.just(90.0)
)
groups = st.sampled_from(["P21/c", "P21", "C2", "P21/n", "C2/c", "Cc", "P2/m"])


@settings(max_examples=40, deadline=None)
@given(cell=cells, sg=groups, d_min=st.floats(0.8, 2.0), seed=st.integers(0, 2**31))
def test_miller_array_grid_round_trip_is_exact(cell, sg, d_min, seed):
    from cctbx import crystal, miller
    from cctbx.array_family import flex

    import cctbx_bridge  # noqa: F401
    from cctbx_bridge.grid import from_grid, to_grid

    cs = crystal.symmetry(cell, sg)
    ms = miller.build_set(cs, anomalous_flag=False, d_min=d_min)
    values = np.random.default_rng(seed).random(ms.size()).astype(np.float32)
    arr = ms.array(data=flex.double(values.astype(np.float64)))
    grid, mask = to_grid(arr)
    back = from_grid(grid, ms)
    assert np.array_equal(back.data().as_numpy_array().astype(np.float32), values)
    # every symmetry mate inside the grid reads the same value
    mates = arr.expand_to_p1().indices()
    expanded = arr.expand_to_p1()
    inside = hklgrid.fits(np.array(mates))
    got = hklgrid.from_grid(grid, np.array(mates)[inside])
    assert np.allclose(got, expanded.data().as_numpy_array()[inside].astype(np.float32))
    # nothing but the reflections (and their l=0 mates) is marked
    assert mask.sum() >= ms.size()


@settings(max_examples=40, deadline=None)
@given(cell=cells)
def test_inverse_d_squared_matches_cctbx(cell):
    from cctbx import crystal, miller

    import cctbx_bridge  # noqa: F401

    ms = miller.build_set(crystal.symmetry(cell, "P21/c"), anomalous_flag=False, d_min=1.0)
    d2 = hklgrid.inverse_d_squared(np.array(ms.indices()), cell)
    assert np.allclose(1 / np.sqrt(d2), ms.d_spacings().data().as_numpy_array(), rtol=1e-10)
    assert hklgrid.cell_fits(cell, 0.8) == all(
        m <= 20 for m in np.abs(np.array(miller.build_set(crystal.symmetry(cell, "P1"), False,
                                                        d_min=0.8).indices())).max(axis=0)
    )


def test_outside_the_grid_is_an_error_not_a_silent_drop():
    with pytest.raises(ValueError, match="outside the model grid"):
        hklgrid.to_grid(np.array([[21, 0, 0]]), np.array([1.0]))
