"""A phased map -> a refined atomic model: peaks -> atoms, least squares, completion, elements.

`build_model(f_obs, f_calc, n_atoms, composition)` takes the amplitudes and the phases from charge flipping
(in the true space group), places the `n_atoms` strongest peaks of the F_obs map as atoms, refines their
positions and isotropic U against the data (cctbx.xray.minimization: L-BFGS on the amplitude least-squares
residual with a free scale), puts the formula's elements heaviest first on the highest peaks of the map
with the model's phases, refines again, and completes the model from difference maps (`complete`):
atoms that refined to a huge U out, difference-map peaks in, refinement, while R1 falls.

Why: peak positions of the flipped map are off by ~0.1 A (thpp: 0.09 A rms); least squares brings them to
the ~0.01 A a crystallographer expects, and difference maps find the light atoms a heavy-atom-dominated
flipped map missed. The R1 of the refined model is also the figure of merit that tells a solution (R1
~0.05-0.2 for a complete model without H) from a guess (`guess_r1`: random atoms refined the same way).
"""

from __future__ import annotations

from dataclasses import dataclass

import libtbx
import scitbx.lbfgs
from cctbx import maptbx, miller, xray
from cctbx.array_family import flex
from cctbx.eltbx import tiny_pse

U_START = 0.025  # A^2, the U_iso atoms start from
U_MIN, U_MAX = 0.002, 0.25  # A^2: refined U_iso are kept inside (U_MAX: a peak that is not an atom)
U_BAD = 0.12  # A^2: an atom refining above this is taken out before the next difference map
MIN_DISTANCE = 1.0  # A between placed atoms (no bond between non-H atoms is shorter)
MIN_BOND = 1.1  # A: a difference-map peak closer than this to a kept atom is a ripple, not a new atom


@dataclass
class Model:
    structure: xray.structure
    r1: float  # against the data, one free scale, all reflections
    macro_cycles: int = 0


def atomic_number(el: str) -> int:
    return tiny_pse.table(el).atomic_number()


def r1_factor(xs: xray.structure, f_obs: miller.array) -> float:
    """R1 = sum |F_obs - k F_calc| / sum F_obs, with the least-squares scale k."""
    if xs.scatterers().size() == 0:
        return 1.0
    f_calc = f_obs.structure_factors_from_scatterers(xs, algorithm=_algorithm(f_obs)).f_calc()
    return float(f_obs.r1_factor(f_calc.amplitudes(), scale_factor=libtbx.Auto, assume_index_matching=True))


def _algorithm(f_obs: miller.array) -> str:
    # direct summation is exact and, for a few hundred reflections, faster than setting up an FFT
    return "direct" if f_obs.size() < 1500 else "fft"


def map_peaks(
    coefficients: miller.array, n: int, min_distance: float = MIN_DISTANCE
) -> tuple[list[tuple[float, float, float]], list[float]]:
    """The `n` highest peaks (sites, sigma-scaled heights) of the map of `coefficients`, with the
    space group's symmetry (peaks closer than `min_distance` to a higher one are dropped)."""
    fft_map = coefficients.fft_map(resolution_factor=1 / 3, symmetry_flags=maptbx.use_space_group_symmetry)
    fft_map.apply_sigma_scaling()
    params = maptbx.peak_search_parameters(
        peak_search_level=3,
        interpolate=True,
        min_distance_sym_equiv=min_distance,
        min_cross_distance=min_distance,
        max_clusters=int(n * 2 + 10),
    )
    peaks = fft_map.peak_search(params, verify_symmetry=False).all(max_clusters=int(n * 2 + 10))
    sites, heights = list(peaks.sites())[:n], list(peaks.heights())[:n]
    return sites, heights


def atoms_at(
    f_obs: miller.array, sites: list[tuple[float, float, float]], elements: list[str] | None = None
) -> xray.structure:
    """Isotropic atoms (all C unless `elements`) at `sites`, in f_obs's symmetry."""
    xs = xray.structure(crystal_symmetry=f_obs.crystal_symmetry())
    scatterers = flex.xray_scatterer()
    counts: dict[str, int] = {}
    for i, site in enumerate(sites):
        el = elements[i] if elements and i < len(elements) else "C"
        counts[el] = counts.get(el, 0) + 1
        scatterers.append(
            xray.scatterer(label=f"{el}{counts[el]}", site=tuple(site), u=U_START, scattering_type=el)
        )
    xs.add_scatterers(scatterers)
    return xs


def refine(xs: xray.structure, f_obs: miller.array, iterations: int = 25, u_iso: bool = True) -> None:
    """Least-squares refinement of sites (and U_iso) of `xs` in place against |F_obs| (unit weights, one
    scale): first the sites alone (so U does not absorb a misplaced atom), then both."""
    n = xs.scatterers().size()
    if n == 0:
        return
    everything = flex.size_t_range(n)
    for with_u in [False, True] if u_iso else [False]:
        sc = xs.scatterers()  # the minimiser replaces the scatterer array: fetch it for every stage
        sc.flags_set_grads(state=False)
        sc.flags_set_grad_site(iselection=everything)
        if with_u:
            sc.flags_set_grad_u_iso(iselection=everything)
        target = xray.target_functors.unified_least_squares_residual(f_obs)
        try:
            xray.minimization.lbfgs(
                target_functor=target,
                xray_structure=xs,
                lbfgs_termination_params=scitbx.lbfgs.termination_parameters(max_iterations=iterations),
                structure_factor_algorithm=_algorithm(f_obs),
            )
        except RuntimeError:  # an L-BFGS line search that cannot proceed: the last good step is kept
            pass
        xs.tidy_us(u_min=U_MIN, u_max=U_MAX)
    xs.scatterers().flags_set_grads(state=False)


def elements_for(composition: dict[str, float] | None, n: int) -> list[str]:
    """`n` element symbols, heaviest first, in the formula's proportions (non-H); C without a formula."""
    if not composition:
        return ["C"] * n
    heavy = {k: v for k, v in composition.items() if k not in ("H", "D")}
    total = sum(heavy.values())
    out: list[str] = []
    if total > 0:
        for el in sorted(heavy, key=atomic_number, reverse=True):
            out += [el] * int(round(heavy[el] * n / total))
    out = out[:n]
    if len(out) < n:
        fill = min(heavy, key=lambda e: abs(atomic_number(e) - 6)) if heavy else "C"
        out += [fill] * (n - len(out))
    return out


def heights_at(coefficients: miller.array, xs: xray.structure) -> list[float]:
    """Sigma-scaled density of the map of `coefficients` at each atom of `xs`."""
    fft_map = coefficients.fft_map(resolution_factor=1 / 3, symmetry_flags=maptbx.use_space_group_symmetry)
    fft_map.apply_sigma_scaling()
    m = fft_map.real_map_unpadded()
    return [float(m.eight_point_interpolation(sc.site)) for sc in xs.scatterers()]


def model_phases(xs: xray.structure, f_obs: miller.array) -> miller.array:
    """F_obs with the phases of the model (map coefficients)."""
    f_calc = f_obs.structure_factors_from_scatterers(xs, algorithm=_algorithm(f_obs)).f_calc()
    return f_obs.phase_transfer(f_calc)


def assign_elements(xs: xray.structure, f_obs: miller.array, composition: dict[str, float] | None) -> None:
    """Heaviest elements of the formula onto the atoms with the highest density (F_obs map with the
    refined model's phases), in place; U_iso is reset where the element changes."""
    n = xs.scatterers().size()
    if n == 0:
        return
    heights = heights_at(model_phases(xs, f_obs), xs)
    order = sorted(range(n), key=lambda i: -heights[i])
    elements = elements_for(composition, n)
    counts: dict[str, int] = {}
    new_el = [""] * n
    for rank, i in enumerate(order):
        new_el[i] = elements[rank]
    for i, sc in enumerate(xs.scatterers()):
        el = new_el[i]
        counts[el] = counts.get(el, 0) + 1
        if sc.scattering_type != el:
            sc.scattering_type = el
            sc.u_iso = U_START
        sc.label = f"{el}{counts[el]}"
    xs.discard_scattering_type_registry()


def difference_coefficients(xs: xray.structure, f_obs: miller.array) -> miller.array:
    """F_obs - k|F_calc| with the model's phases (k the least-squares scale): a map of what the model
    lacks (positive) and has wrongly (negative); the model's own series-termination ripples cancel."""
    f_calc = f_obs.structure_factors_from_scatterers(xs, algorithm=_algorithm(f_obs)).f_calc()
    fc = f_calc.amplitudes().data()
    denom = flex.sum(fc * fc)
    k = flex.sum(f_obs.data() * fc) / denom if denom > 0 else 1.0
    return f_obs.customized_copy(data=f_obs.data() - k * fc).phase_transfer(f_calc)


def complete(xs: xray.structure, f_obs: miller.array, n_atoms: int, cycles: int = 4) -> Model:
    """Difference-map completion of a refined model, as a crystallographer does it: atoms whose U_iso ran
    above U_BAD are taken out, the highest peaks of the difference map that are at least MIN_BOND from
    the kept atoms are added up to `n_atoms`, and all is refined again; the best R1 is kept. Measured on
    a P21 dibromide at 0.8 A (dev case-006), the flipped map placed both Br and few light atoms, which
    refined to U ~0.25: the difference map with the Br phases finds the rest."""
    best = Model(xs, r1_factor(xs, f_obs), 0)
    current = xs
    for cycle in range(1, cycles + 1):
        u = current.extract_u_iso_or_u_equiv()
        kept = current.select(u <= U_BAD)
        missing = n_atoms - kept.scatterers().size()
        if kept.scatterers().size() == 0 or missing <= 0:
            break
        sites, _ = map_peaks(difference_coefficients(kept, f_obs), 2 * missing + 10)
        if sites:
            dist = kept.closest_distances(flex.vec3_double(sites), distance_cutoff=MIN_BOND).smallest_distances
            sites = [s for s, d in zip(sites, dist) if d < 0 or d >= MIN_BOND][:missing]
        if not sites:
            break
        trial = kept.deep_copy_scatterers()
        trial.add_scatterers(atoms_at(f_obs, sites).scatterers())
        refine(trial, f_obs)
        r1 = r1_factor(trial, f_obs)
        if r1 >= best.r1 - 0.002:
            break
        best = Model(trial, r1, cycle)
        current = trial
    return best


def build_model(
    f_obs: miller.array,
    f_calc: miller.array,
    n_atoms: int,
    composition: dict[str, float] | None = None,
    macro_cycles: int = 4,
    polish: bool = True,
    iterations: int = 25,
) -> Model:
    """See the module docstring. `f_calc`: phases in f_obs's space group (any indices; common ones used).
    macro_cycles: difference-map completion cycles (`complete`); 0 refines the peaks as they are.
    polish=False: the peaks as atoms, elements by peak height, no refinement (the plain peak pick).
    iterations: L-BFGS iterations per refinement stage (fewer: a quicker, rougher model to rank by)."""
    a, b = f_obs.common_sets(f_calc)
    coefficients = a.phase_transfer(b)
    sites, _ = map_peaks(coefficients, n_atoms)
    if not polish:
        xs = atoms_at(f_obs, sites, elements_for(composition, len(sites)))
        return Model(xs, r1_factor(xs, f_obs), 0)
    xs = atoms_at(f_obs, sites)
    refine(xs, f_obs, iterations)
    if composition:  # before completion: a Br refined as C leaves a hole the light atoms fall into
        assign_elements(xs, f_obs, composition)
        refine(xs, f_obs, iterations)
    model = Model(xs, r1_factor(xs, f_obs), 0)
    return finish(model, f_obs, n_atoms, composition, macro_cycles) if macro_cycles else model


def finish(
    model: Model, f_obs: miller.array, n_atoms: int, composition: dict[str, float] | None, cycles: int = 4
) -> Model:
    """`complete` a refined model, then elements again (the new atoms came in as C) and a last refinement;
    the input model when that does not lower R1."""
    xs = model.structure.deep_copy_scatterers()
    refine(xs, f_obs)
    start = Model(xs, r1_factor(xs, f_obs), 0)
    if start.r1 < model.r1:
        model = start
    best = complete(xs, f_obs, n_atoms, cycles)
    if best.macro_cycles == 0:
        return model
    xs = best.structure
    if composition:
        assign_elements(xs, f_obs, composition)
        refine(xs, f_obs)
    r1 = r1_factor(xs, f_obs)
    return Model(xs, r1, best.macro_cycles) if r1 < model.r1 else model


def map_skewness(coefficients: miller.array) -> float:
    """Skewness of the map of `coefficients` (an atomic map is strongly positively skewed)."""
    fft_map = coefficients.fft_map(resolution_factor=1 / 3, symmetry_flags=maptbx.use_space_group_symmetry)
    x = fft_map.real_map_unpadded().as_1d()
    d = x - flex.mean(x)
    var = flex.mean(d * d)
    return float(flex.mean(d * d * d) / var**1.5) if var > 0 else 0.0


HEAVY_Z = 10  # elements above neon (P, S, Cl, Br, ...) dominate a light-atom structure's scattering


def guess_r1(
    f_obs: miller.array,
    n_atoms: int,
    composition: dict[str, float] | None,
    seed: int = 0,
    keep: xray.structure | None = None,
) -> float:
    """R1 that random atoms (the same number and elements) reach after the same refinement: what a guess
    scores on these data, the yardstick a solution's R1 must clearly beat when few reflections per
    parameter let any model refine to a lowish R1.

    keep: a model whose heavy atoms (Z > HEAVY_Z) stay where they are and only the light atoms are random:
    with a Br or two in the right place R1 is low whatever the light atoms do (a P21 dibromide at 1.6 A:
    R1 0.13 with half the light atoms wrong), so a solution must beat that, not a wholly random model."""
    import random

    from cctbx import sgtbx
    from cctbx.development import random_structure

    state = random.getstate()
    random.seed(seed)
    flex.set_random_seed(seed)
    try:
        xs = random_structure.xray_structure(
            space_group_info=sgtbx.space_group_info(group=f_obs.space_group()),
            unit_cell=f_obs.unit_cell(),
            elements=elements_for(composition, n_atoms),
            min_distance=1.2,
            general_positions_only=False,
            use_u_iso=True,
            u_iso=U_START,
        )
    finally:
        random.setstate(state)
    if keep is not None:
        heavy = flex.bool([atomic_number(t) > HEAVY_Z for t in keep.scattering_types()])
        n_heavy = heavy.count(True)
        if n_heavy == 0:
            return 1.0  # nothing to keep: the plain guess applies
        light = flex.bool([atomic_number(t) <= HEAVY_Z for t in xs.scattering_types()])
        mixed = keep.select(heavy).deep_copy_scatterers()
        mixed.add_scatterers(xs.select(light).scatterers()[: max(0, n_atoms - n_heavy)])
        xs = mixed
    refine(xs, f_obs)
    return r1_factor(xs, f_obs)
