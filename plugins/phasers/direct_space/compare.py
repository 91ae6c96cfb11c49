"""Are two trial models the same crystal structure? (Symmetry, origin choice and atom order aside.)

The search counts how many independent starts reached its best minimum and how far the best *different*
minimum lies above it. Costs alone cannot say "different": at the right answer, variants with a methyl
group turned cost a few percent more, while two genuinely different false minima can cost the same.
So models are compared in direct space: every image of model b under the group's operators, inversion and
permissible origin shifts (aligned along free polar directions) is laid over model a, and each heavy atom
of a is paired with the nearest heavy atom of the same element (so a flipped phenyl ring matches itself).
Two models are the same when they would count as the same solve: at least 80 % of the heavy atoms within
0.5 A of each other in the best overlay; different when under half are.
"""

from __future__ import annotations

import numpy as np

TOLERANCE = 0.5  # A: the solve criterion's own tolerance ...
SAME_FRACTION = 0.8  # ... and its fraction of atoms
DIFFERENT_FRACTION = 0.5  # under half the atoms in place: a different structure, not a variant


def overlay_fraction(xa: np.ndarray, xb: np.ndarray, elements: np.ndarray, data: object,
                     tolerance: float = TOLERANCE, elements_b: np.ndarray | None = None) -> float:
    """Largest fraction of the heavy atoms of model a that lie within `tolerance` (A) of an atom of the
    same element of model b (fractional, (N, 3) and (M, 3)), over the group's operators, origin shifts
    and free polar shifts; `elements` (N,) element codes or symbols of a, `elements_b` those of b when
    its atoms are not in a's order (another stereoisomer's model; the polar slide then uses the centroid)."""
    d = data
    rot = np.asarray(d.all_rotations)  # type: ignore[attr-defined]
    tr = np.asarray(d.all_translations)  # type: ignore[attr-defined]
    shifts = np.asarray(d.origin_shifts)  # type: ignore[attr-defined]
    free = np.asarray(d.free_origin).reshape(-1, 3)  # type: ignore[attr-defined]
    orth = np.asarray(d.orthogonalisation)  # type: ignore[attr-defined]
    el_b = elements if elements_b is None else np.asarray(elements_b)
    same_el = np.asarray(elements)[:, None] == el_b[None, :]
    best = 0.0
    # b inverted too: |F| cannot tell a structure from its inverse (Friedel), so in a group without a
    # centre of symmetry an achiral molecule fits its inverted image exactly as well (the solve rule
    # allows inversion for the same reason)
    images = [(r, t, s) for r, t in zip(rot, tr) for s in (1.0, -1.0)]
    for r, t, sign in images:
        yb0 = sign * xb @ r.T + t
        for sh in shifts:
            yb = yb0 + sh
            if len(free):  # slide along each free direction to the mean offset (index correspondence)
                diff = yb - xa if elements_b is None else (yb.mean(0) - xa.mean(0))[None, :]
                diff -= np.round(diff)
                for f in free:
                    yb = yb - np.outer(diff @ f / (f @ f), f)
            delta = yb[None, :, :] - xa[:, None, :]
            delta -= np.round(delta)
            dist = np.linalg.norm(delta @ orth.T, axis=-1)
            dist = np.where(same_el, dist, np.inf)
            best = max(best, float(np.mean(dist.min(axis=1) < tolerance)))
    return best

