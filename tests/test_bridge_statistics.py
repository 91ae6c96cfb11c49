"""R factors and summaries of cctbx_bridge."""

from __future__ import annotations

import math

import pytest


def _structure_f(d_min: float, seed: int = 1):
    from cctbx import sgtbx
    from cctbx.array_family import flex
    from cctbx.development import random_structure

    import cctbx_bridge  # noqa: F401

    flex.set_random_seed(seed)
    import random

    random.seed(seed)
    xs = random_structure.xray_structure(sgtbx.space_group_info("P21/c"), elements=["C"] * 10 + ["O"] * 4)
    return xs.structure_factors(d_min=d_min).f_calc().amplitudes()


def test_r_factor_is_scale_free_and_zero_for_identical():
    from cctbx_bridge.statistics import r_factor

    f = _structure_f(1.0)
    assert r_factor(f, f) == pytest.approx(0.0, abs=1e-12)
    assert r_factor(f, f.customized_copy(data=f.data() * 7.5)) == pytest.approx(0.0, abs=1e-9)
    assert r_factor(f, f.customized_copy(data=f.data() * 7.5), fit_scale=False) > 0.5


def test_r_factor_by_hand_in_a_shell():
    from cctbx_bridge.statistics import r_factor

    f = _structure_f(0.8)
    g = _structure_f(0.8, seed=2)
    g = g.customized_copy(indices=f.indices(), data=g.data()[: f.size()]) if g.size() >= f.size() else g
    f, g = f.common_sets(g)
    a = f.resolution_filter(d_max=1.5, d_min=0.8).data().as_numpy_array()
    b = g.resolution_filter(d_max=1.5, d_min=0.8).data().as_numpy_array()
    k = (a * b).sum() / (b * b).sum()
    expected = abs(a - k * b).sum() / a.sum()
    assert r_factor(f, g, d_max=1.5, d_min=0.8) == pytest.approx(expected, rel=1e-9)


def test_r_table_rows_cover_the_shells():
    from cctbx_bridge.statistics import r_factor, r_table

    f = _structure_f(0.8)
    noisy = f.customized_copy(data=f.data() * 1.1 + 0.5)
    rows = r_table(f, noisy, [1.5, 1.2, 1.0, 0.8])
    assert [r[:2] for r in rows] == [(1.5, 1.2), (1.2, 1.0), (1.0, 0.8)]
    assert sum(r[2] for r in rows) == f.resolution_filter(d_max=1.5, d_min=0.8).size()
    assert all(0 < r[3] < 1 for r in rows)
    assert not math.isnan(r_factor(f, noisy, 1.5, 0.8))
