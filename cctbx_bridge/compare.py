"""Compare a solution with a known structure (cctbx emma), in the true space group.

`match_structures(reference, solution, tolerance=0.5)` matches the solution's sites to the reference's non-H
sites allowing every origin shift of the space group (its Euclidean normaliser) and inversion (the
enantiomorph), and returns the fraction of reference atoms matched within `tolerance` A and their rms
distance. Elements are ignored (a C placed on an N site counts as found). Matching is done in the
reference's space group, never in P1 (emma with many sites in P1 can run for minutes).

Reference sites closer than 0.3 A to one another (disorder modelled as two atoms on one site, e.g. thpp's
N3/C3) count once; minor disorder components (occupancy below 0.5, e.g. thpp's C7B) are left out.
A structure is "solved" when at least 80% of its non-H atoms are matched.
"""

from __future__ import annotations

from dataclasses import dataclass

from cctbx import crystal, xray
from cctbx import euclidean_model_matching as emma

from xrdplug.errors import XrdplugError

SOLVED_FRACTION = 0.8
TOLERANCE = 0.5


@dataclass
class Match:
    n_reference: int  # distinct non-H sites in the reference
    n_solution: int  # sites in the solution
    n_matched: int  # reference sites with a solution site within the tolerance
    rms: float | None  # rms distance of the matched pairs (A)
    inverted: bool  # the match needed inversion (the solution is the other enantiomorph)
    shift: tuple[float, float, float]  # fractional origin shift applied to the solution
    tolerance: float

    @property
    def fraction(self) -> float:
        return self.n_matched / self.n_reference if self.n_reference else 0.0

    @property
    def solved(self) -> bool:
        return self.fraction >= SOLVED_FRACTION


def distinct_non_h_sites(
    structure: xray.structure, min_separation: float = 0.3, min_occupancy: float = 0.5
) -> list[tuple[str, tuple]]:
    types = structure.scattering_types()
    sites: list[tuple[str, tuple]] = []
    uc = structure.unit_cell()
    asu_mappings = structure.asu_mappings(buffer_thickness=min_separation + 0.1)
    pair_asu = crystal.pair_asu_table(asu_mappings=asu_mappings)
    pair_asu.add_all_pairs(distance_cutoff=min_separation)
    pairs = pair_asu.extract_pair_sym_table()
    close_to_earlier: set[int] = set()
    for i, row in enumerate(pairs):
        for j in row.keys():
            if j != i:
                close_to_earlier.add(max(i, j))
    del uc
    for i, sc in enumerate(structure.scatterers()):
        if types[i] in ("H", "D") or i in close_to_earlier or sc.occupancy < min_occupancy:
            continue
        sites.append((sc.label or f"A{i + 1}", sc.site))
    return sites


def match_structures(
    reference: xray.structure, solution: xray.structure, tolerance: float = TOLERANCE
) -> Match:
    """Match `solution` against `reference` (see the module docstring)."""
    ref_sites = distinct_non_h_sites(reference)
    if not ref_sites:
        raise XrdplugError("the reference structure has no non-hydrogen atoms")
    if reference.space_group().type().number() != solution.space_group().type().number():
        raise XrdplugError(
            f"space groups differ: reference {reference.space_group_info()}, "
            f"solution {solution.space_group_info()}"
        )
    if not reference.unit_cell().is_similar_to(
        solution.unit_cell(), relative_length_tolerance=0.05, absolute_angle_tolerance=3
    ):
        raise XrdplugError(
            f"unit cells differ: reference {reference.unit_cell()}, solution {solution.unit_cell()}"
        )
    # the solution's fractional sites are put in the reference's setting (same space group and cell)
    sps = reference.special_position_settings()
    if (
        reference.space_group_info().type().lookup_symbol()
        != solution.space_group_info().type().lookup_symbol()
    ):
        raise XrdplugError(
            f"space group settings differ: reference {reference.space_group_info()}, "
            f"solution {solution.space_group_info()}; transform one to the other's setting first"
        )
    m1 = emma.model(sps, positions=[emma.position(lbl, site) for lbl, site in ref_sites])
    sol_types = solution.scattering_types()
    sol_positions = [
        emma.position(sc.label or f"Q{i + 1}", sc.site)
        for i, sc in enumerate(solution.scatterers())
        if sol_types[i] not in ("H", "D")
    ]
    if not sol_positions:
        return Match(len(ref_sites), 0, 0, None, False, (0.0, 0.0, 0.0), tolerance)
    m2 = emma.model(sps, positions=sol_positions)
    matches = emma.model_matches(
        m1,
        m2,
        tolerance=tolerance,
        models_are_diffraction_index_equivalent=False,
        break_if_match_with_no_singles=True,
    ).refined_matches
    if not matches:
        return Match(len(ref_sites), len(sol_positions), 0, None, False, (0.0, 0.0, 0.0), tolerance)
    best = max(matches, key=lambda m: (len(m.pairs), -m.rms))
    r = best.rt.r
    inverted = r.determinant() < 0
    return Match(
        n_reference=len(ref_sites),
        n_solution=len(sol_positions),
        n_matched=len(best.pairs),
        rms=float(best.rms) if best.pairs else None,
        inverted=bool(inverted),
        shift=tuple(float(x) for x in best.rt.t),
        tolerance=tolerance,
    )
