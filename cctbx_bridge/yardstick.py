"""smtbx's own charge-flipping driver, run as it ships: the yardstick `xrdplug bench solve` compares with.

`smtbx_solve(f_obs, n_atoms, composition, seed)` runs `smtbx.ab_initio.charge_flipping.solving_iterator`
(weak-reflection-improved flipping on quasi-normalised amplitudes, its own delta guess, phase-transition
detector, polishing by low-density elimination and origin search) and places the strongest peaks of its
first accepted origin's map as atoms, heaviest elements on the highest peaks. No least squares.

Two settings differ from smtbx's defaults, both forced: `max_attempts_to_get_phase_transition=2`, because
cctbx-base 2025.11 multiplies max_solving_iterations by 1.5 on a third attempt and hands the float to
itertools.islice, which raises; and `min_cc_peak_height` is a parameter (smtbx: 0.9), because the
correlation of correct origins is often 0.7-0.9 (measured: see phasing.py).
"""

from __future__ import annotations

import io
import time
from typing import Any

from cctbx import xray
from cctbx.array_family import flex
from smtbx.ab_initio import charge_flipping as cf

from . import polish
from .phasing import describe_error, expected_atoms, parse_formula, prepare_amplitudes

SMTBX_MIN_CC = 0.9


def smtbx_solve(
    f_obs: Any,
    formula: str | dict[str, float] | None = None,
    n_atoms: int | None = None,
    seed: int = 0,
    min_cc_peak_height: float = SMTBX_MIN_CC,
) -> tuple[xray.structure, dict[str, Any]]:
    """See the module docstring. Returns the structure (empty when smtbx found no solution) and figures:
    phase_transition, correlation, seconds, error (a one-line reason when smtbx raised)."""
    t0 = time.process_time()
    f = prepare_amplitudes(f_obs)
    composition = parse_formula(formula) if isinstance(formula, str) else formula
    n = expected_atoms(f, composition, n_atoms)
    flex.set_random_seed(int(seed) % 2**31)
    figures: dict[str, Any] = {"phase_transition": False, "correlation": None, "error": None}
    empty = xray.structure(crystal_symmetry=f.crystal_symmetry())
    try:
        solving = cf.solving_iterator(
            cf.weak_reflection_improved_iterator(delta=None),
            f,
            normalisations_for=cf.amplitude_quasi_normalisations,
            max_attempts_to_get_phase_transition=2,
            min_cc_peak_height=min_cc_peak_height,
        )
        cf.loop(solving, verbose=False, out=io.StringIO())
    except Exception as exc:  # e.g. its normalisation's bare assert on few reflections
        figures["error"] = describe_error(exc)
        figures["seconds"] = time.process_time() - t0
        return empty, figures
    figures["phase_transition"] = bool(solving.had_phase_transition)
    if not solving.f_calc_solutions:
        figures["seconds"] = time.process_time() - t0
        return empty, figures
    f_calc, _shift, cc = solving.f_calc_solutions[0]
    figures["correlation"] = float(cc)
    model = polish.build_model(f, f_calc, n, composition, polish=False)
    figures["r1"] = model.r1
    figures["seconds"] = time.process_time() - t0
    return model.structure, figures
