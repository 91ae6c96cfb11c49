"""One charge-flipping attempt in P1 (smtbx.ab_initio.charge_flipping), and the normalisation it works on.

`normalised_p1(f)` expands merged amplitudes to P1 and divides them by a smooth fall-off, so the flipped map
is sharp (quasi-E values). smtbx's own `amplitude_quasi_normalisations` bins 200 reflections per bin and
stops with a bare AssertionError when the data fill too few bins (the 1-3 atom structures of issue 12); here
the bins shrink with the data, and below `MIN_BINNED` reflections a Wilson line ln<F^2/eps> = a - 2B s^2 is
fitted to every reflection instead.

`flip(f_p1, seed)` runs the weak-reflection-improved iterator (Oszlanyi & Suto 2005) from random phases
drawn with `seed`: delta from the map's sigma once it is stable (SUPERFLIP's rule), then cycles until the
skewness of the map has risen (a phase transition) and levelled off, or `max_iterations`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from cctbx import miller
from cctbx.array_family import flex
from smtbx.ab_initio import charge_flipping as cf

from xrdplug.errors import XrdplugError

REFLECTIONS_PER_BIN = 200  # smtbx's choice for quasi-normalisation, kept when the data allow
MIN_BINS = 6  # fewer bins than this: the fall-off is fitted as a Wilson line instead
MIN_REFLECTIONS = 10  # in P1, below this nothing sensible can be flipped


@dataclass
class FlipRun:
    """One attempt: the phased P1 structure factors and how the flipping went."""

    seed: int
    f_calc: miller.array  # P1, on the normalised scale of the flipped amplitudes
    skewness: list[float] = field(default_factory=list)  # of the flipped map, per cycle
    r1: float = 1.0  # flipping R1: |F_obs| against the flipped map's |G|
    delta: float = 0.0
    delta_over_sigma: float = 0.0
    transition: bool = False
    seconds: float = 0.0

    @property
    def iterations(self) -> int:
        return len(self.skewness)

    @property
    def end_skewness(self) -> float:
        tail = self.skewness[-20:]
        return sum(tail) / len(tail) if tail else 0.0


def normalisations(f_p1: miller.array) -> miller.array:
    """N(h) with E(h) = F(h)/N(h): sqrt(<F^2/eps>) per resolution bin, interpolated; a Wilson-line fit
    when the data fill fewer than MIN_BINS bins of REFLECTIONS_PER_BIN (or the bins' interpolation fails)."""
    n = f_p1.size()
    if n < MIN_REFLECTIONS:
        raise XrdplugError(f"only {n} reflections in P1: too few to normalise and flip")
    if not f_p1.data().all_gt(0):
        raise XrdplugError("amplitudes must be positive to normalise")
    if n >= MIN_BINS * REFLECTIONS_PER_BIN:
        f = f_p1.deep_copy()
        f.setup_binner_counting_sorted(reflections_per_bin=REFLECTIONS_PER_BIN)
        try:
            return f.amplitude_quasi_normalisations()
        except AssertionError:  # its interpolation went <= 0 at an edge: the fitted line cannot
            pass
    return wilson_normalisations(f_p1)


def wilson_normalisations(f: miller.array) -> miller.array:
    """sqrt(k exp(-2 B s^2) eps) from a least-squares line through ln(F^2/eps) against s^2 = d*^2/4.

    ln(E^2) of random-atom data scatters widely but without trend, so every reflection can enter the fit;
    its constant bias (-0.58 for acentric E) is removed by scaling to <E^2> = 1."""
    s2 = f.d_star_sq().data() / 4.0
    eps = f.epsilons().data().as_double()
    y = flex.log(flex.pow2(f.data()) / eps)
    mx, my = flex.mean(s2), flex.mean(y)
    sxx = flex.sum(flex.pow2(s2 - mx))
    slope = flex.sum((s2 - mx) * (y - my)) / sxx if sxx > 0 else 0.0
    slope = min(slope, 0.0)  # a rising fall-off is noise on a handful of reflections
    intercept = my - slope * mx
    norm = flex.sqrt(flex.exp(intercept + slope * s2) * eps)
    norm *= math.sqrt(flex.mean(flex.pow2(f.data() / norm)))
    return f.customized_copy(data=norm, sigmas=None)


def normalised_p1(f: miller.array) -> tuple[miller.array, miller.array]:
    """Merged amplitudes in their space group -> (quasi-normalised amplitudes in P1, the normalisations).
    Systematic absences, centring absences included, stay out: flipping keeps them at zero, which is what
    they are."""
    f_p1 = f.expand_to_p1().merge_equivalents().array().discard_sigmas()
    norm = normalisations(f_p1)
    return f_p1.customized_copy(data=f_p1.data() / norm.data()), norm


def flip(
    f_p1: miller.array,
    seed: int,
    max_iterations: int = 1000,
    delta_over_sigma: float = 1.1,
    min_iterations: int = 40,
    normalisations: miller.array | None = None,
    polish_cycles: int = 5,
) -> FlipRun:
    """One attempt from random phases (flex's generator seeded with `seed`): see the module docstring.

    With `normalisations` (those f_p1 was divided by) the converged phases are polished as smtbx's
    solving_iterator does (Oszlanyi & Suto 2008): back to F, up to 10 more flipping cycles, then
    `polish_cycles` of low-density elimination (Shiono & Woolfson). Measured on random structures this
    lifts the origin-search correlation of correct solutions from 0.7-0.85 to 0.95-0.99."""
    t0 = time.process_time()
    flex.set_random_seed(int(seed) % 2**31)
    flipping = cf.weak_reflection_improved_iterator(delta=None)
    flipping.start(f_p1, (2 * math.pi) * flex.random_double(f_p1.size()))
    sigmas: list[float] = []
    for _ in range(10):  # delta from the map's sigma, once it is stable (smtbx's "sigma" method)
        sigmas.append(flipping.rho_map.sigma())
        flipping.delta = delta_over_sigma * sigmas[-1]
        tail = sigmas[-5:]
        if len(sigmas) >= 4 and (max(tail) - min(tail)) / max(tail) < 0.02:
            break
        next(flipping)
    skew: list[float] = []
    for i in range(max_iterations):
        next(flipping)
        skew.append(float(flipping.rho_map.skewness()))
        if i >= min_iterations and i % 10 == 0 and converged(skew):
            break
    f_calc, delta, r1 = flipping.f_calc, float(flipping.delta), float(flipping.r1_factor())
    if normalisations is not None and polish_cycles > 0:
        f_calc = _polish(flipping, normalisations, polish_cycles)
    run = FlipRun(
        seed=int(seed),
        f_calc=f_calc,
        skewness=skew,
        r1=r1,
        delta=delta,
        delta_over_sigma=delta_over_sigma,
        transition=transition(skew),
    )
    run.seconds = time.process_time() - t0
    return run


def _polish(flipping: cf.weak_reflection_improved_iterator, norm: miller.array, cycles: int) -> miller.array:
    flipping.denormalise(norm)
    skew: list[float] = []
    for _ in range(10):
        next(flipping)
        skew.append(float(flipping.rho_map.skewness()))
        if len(skew) >= 4 and max(skew[-3:]) - min(skew[-3:]) < 0.01:
            break
    lde = cf.low_density_elimination_iterator(constant_rho_c=flipping.delta)
    lde.start(f_obs=flipping.f_obs, phases=flipping.f_calc, f_000=0)
    for _ in range(cycles):
        next(lde)
    return lde.f_calc


def transition(skew: list[float]) -> bool:
    """A phase transition: the skewness of the flipped map rose to at least 1.25 and 1.6x its starting
    level (the mean of the first 5 cycles), and stayed there (the mean of the last 20 cycles).

    Measured on quasi-normalised exact data of random 20-atom P21/c structures: random phases start near
    0.6-0.9; solved maps end at 2.5-2.8 (0.8 A), 1.8-2.0 (1.0 A), 1.36-1.62 (1.2 A), while unsolved 1.5 A
    runs creep to 0.9-1.21 over 1000 cycles. A figure to report, not the judge: at 1.2 A some solved runs
    stay below it, and the model R1 decides (phasing.py).
    """
    if len(skew) < 25:
        return False
    start = sum(skew[:5]) / 5
    end = sum(skew[-20:]) / 20
    return end >= 1.25 and end >= 1.6 * start


def converged(skew: list[float], window: int = 20, tolerance: float = 0.02) -> bool:
    """After a transition the skewness has levelled off: the last `window` cycles average within
    `tolerance` (relative) of the `window` before, and no higher block came earlier in the rise."""
    if len(skew) < 3 * window or not transition(skew):
        return False
    last = sum(skew[-window:]) / window
    before = sum(skew[-2 * window : -window]) / window
    earlier = sum(skew[-3 * window : -2 * window]) / window
    return abs(last - before) < tolerance * last and abs(before - earlier) < 2 * tolerance * last
