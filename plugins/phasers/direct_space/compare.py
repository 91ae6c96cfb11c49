"""Are two trial models the same crystal structure? (Symmetry, origin choice and atom order aside.)

The search counts how many independent starts reached its best minimum and how far the best *different*
minimum lies above it. Costs alone cannot say "different": at the right answer, variants with a methyl
group turned cost a few percent more, while two genuinely different false minima can cost the same.
So models are compared in direct space: every image of model b under the group's operators and
permissible origin shifts (aligned along free polar directions) is laid over model a, and each heavy atom
of a is paired with the nearest heavy atom of the same element (so a flipped phenyl ring matches itself).
"""

from __future__ import annotations

import numpy as np

SAME_STRUCTURE_RMS = 0.5  # A: the solve criterion's own tolerance


def pose_distance(xa: np.ndarray, xb: np.ndarray, elements: np.ndarray, data: object) -> float:
    """Smallest rms distance (A) between heavy-atom models a and b (fractional, (N, 3) each) over the
    group's operators, origin shifts and free polar shifts; `elements` (N,) integer element codes."""
    d = data
    rot = np.asarray(d.all_rotations)  # type: ignore[attr-defined]
    tr = np.asarray(d.all_translations)  # type: ignore[attr-defined]
    shifts = np.asarray(d.origin_shifts)  # type: ignore[attr-defined]
    free = np.asarray(d.free_origin).reshape(-1, 3)  # type: ignore[attr-defined]
    orth = np.asarray(d.orthogonalisation)  # type: ignore[attr-defined]
    same_el = elements[:, None] == elements[None, :]
    best = np.inf
    for r, t in zip(rot, tr):
        yb0 = xb @ r.T + t
        for sh in shifts:
            yb = yb0 + sh
            if len(free):  # slide along each free direction to the mean offset (index correspondence)
                diff = yb - xa
                diff -= np.round(diff)
                for f in free:
                    yb = yb - np.outer(diff @ f / (f @ f), f)
            delta = yb[None, :, :] - xa[:, None, :]
            delta -= np.round(delta)
            dist = np.linalg.norm(delta @ orth.T, axis=-1)
            dist = np.where(same_el, dist, np.inf)
            rms = float(np.sqrt(np.mean(dist.min(axis=1) ** 2)))
            best = min(best, rms)
    return best


def same_structure(xa: np.ndarray, xb: np.ndarray, elements: np.ndarray, data: object,
                   tolerance: float = SAME_STRUCTURE_RMS) -> bool:
    return pose_distance(xa, xb, elements, data) < tolerance
