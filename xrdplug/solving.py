"""Host side of phasing one data set: pick a phaser plugin, phase, match against a known structure.

    from xrdplug.solving import phase, match
    result = phase(f_obs, phaser="charge-flipping", formula="C10H10F2N4")   # a PhasingResult
    m = match(result.structure, "known.cif")                                # fraction matched, rms

Which model extends the data first is xrdplug.model_choice's job; the printed report is
xrdplug.solve_report's; the benchmarks are xrdplug.bench_solve and xrdplug.bench_phasers.
Nothing here imports cctbx at module level; cctbx_bridge functions are imported where they are used.
A structure counts as solved when at least 80% of its non-H atoms are matched within 0.5 A (emma, in the
true space group, origin shifts and inversion allowed).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import PluginError, XrdplugError
from .protocols import PhasingResult

if TYPE_CHECKING:  # pragma: no cover
    from cctbx import miller, xray

    from cctbx_bridge.compare import Match

DEFAULT_PHASER = "charge-flipping"
SOLVED_FRACTION = 0.8
TOLERANCE = 0.5


def get_phaser(name: str = DEFAULT_PHASER) -> Any:
    """The phaser plugin `name`, usable now (else a one-line XrdplugError naming the alternative)."""
    from .plugin_manager import registry

    phaser = registry().get("phaser", name)
    try:
        ok, why = phaser.available()
    except Exception as exc:
        raise PluginError(f"phaser '{name}': available() raised {exc!r}") from None
    if not ok:
        others = [n for n in registry().names("phaser") if n != phaser.name]
        hint = "" if ("--phaser" in why or not others) else f" (or use --phaser {others[0]})"
        raise PluginError(f"phaser '{phaser.name}' is not usable: {why}{hint}")
    return phaser


def unwrap(data: Any) -> tuple[miller.array, int, dict[str, str]]:
    """(amplitudes, how many are predicted, provenance) of a miller.array, an ExtendResult or ReflectionData."""
    if hasattr(data, "f_extended") and hasattr(data, "predicted"):  # xrdplug.pipeline.ExtendResult
        return data.f_extended, int(data.n_predicted), dict(data.provenance)
    if hasattr(data, "f_obs") and hasattr(data, "n_predicted"):  # xrdplug.protocols.ReflectionData
        return data.f_obs, int(data.n_predicted), dict(data.provenance)
    return data, 0, {}


def phase(f_obs: Any, phaser: str = DEFAULT_PHASER, **options: Any) -> PhasingResult:
    """Phase amplitudes with the named phaser plugin: a miller.array with its crystal symmetry, or what
    `xrdplug.extend` (an ExtendResult) or a reader (ReflectionData) returned.

    Options go to the phaser (charge-flipping: formula, n_atoms, seed, max_attempts, ...; shelxt: formula,
    timeout). Returns the PhasingResult: the structure in the true space group, figures, log; the figures
    also say how many of the reflections phased were predicted (`n_predicted`).
    """
    f_obs, n_predicted, _ = unwrap(f_obs)
    if not hasattr(f_obs, "indices") or not hasattr(f_obs, "crystal_symmetry"):
        raise XrdplugError(f"phase() takes a cctbx miller.array of amplitudes, not {type(f_obs).__name__}")
    if f_obs.size() == 0:
        raise XrdplugError("no reflections to phase")
    p = get_phaser(phaser)
    t0 = time.perf_counter()
    result = p.solve(f_obs, **{k: v for k, v in options.items() if v is not None})
    if not isinstance(result, PhasingResult):
        raise PluginError(f"phaser '{p.name}' returned {type(result).__name__}, not a PhasingResult")
    if not result.seconds:
        result.seconds = time.perf_counter() - t0
    result.figures.setdefault("n_reflections", int(f_obs.size()))
    result.figures.setdefault("n_predicted", n_predicted)
    return result


def read_reference(path: str | Path) -> xray.structure:
    """A known structure (CIF or SHELX .res/.ins) to compare solutions with."""
    from cctbx_bridge.structures import read_structure

    return read_structure(path)


def match(
    solution: xray.structure, reference: xray.structure | str | Path, tolerance: float = TOLERANCE
) -> Match:
    """Match a solution to a known structure (emma in the true space group; origin shifts, inversion)."""
    from cctbx_bridge.compare import match_structures

    ref = read_reference(reference) if isinstance(reference, (str, Path)) else reference
    return match_structures(ref, solution, tolerance=tolerance)



@dataclass
class SolveRun:
    """One phasing run: which data, the result, and (with a reference) how it matched."""

    label: str
    d_min: float
    n_reflections: int
    result: PhasingResult | None
    match: Match | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    n_predicted: int = 0
    measured_d_min: float | None = None  # of the measured reflections alone (d_min counts predicted ones)

    @property
    def solved(self) -> bool | None:
        if self.match is None:
            return None
        return self.match.fraction >= SOLVED_FRACTION


def run_one(
    label: str,
    f_obs: Any,
    reference: xray.structure | None,
    phaser: str = DEFAULT_PHASER,
    **options: Any,
) -> SolveRun:
    """Phase `f_obs` (a miller.array or an ExtendResult); match with `reference` when given. Phasing errors
    are kept in the run, not raised."""
    f, n_predicted, _ = unwrap(f_obs)
    measured = f.select(_measured_selection(f_obs)) if n_predicted else f
    run = SolveRun(label, float(f.d_min()), int(f.size()), None, n_predicted=n_predicted,
                   measured_d_min=float(measured.d_min()) if measured.size() else None)
    try:
        run.result = phase(f_obs, phaser=phaser, **options)
    except PluginError:
        raise
    except XrdplugError as exc:
        run.error = str(exc)
        return run
    if reference is not None and run.result.structure.scatterers().size():
        try:
            run.match = match(run.result.structure, reference)
        except XrdplugError as exc:
            run.error = f"matching failed: {exc}"
    elif reference is not None:
        from cctbx_bridge.compare import Match

        run.match = Match(_n_ref(reference), 0, 0, None, False, (0.0, 0.0, 0.0), TOLERANCE)
    return run


def _measured_selection(data: Any) -> Any:
    flags = data.predicted if hasattr(data, "predicted") else None
    return flags.data() == 0


def _n_ref(reference: xray.structure) -> int:
    from cctbx_bridge.compare import distinct_non_h_sites

    return len(distinct_non_h_sites(reference))
