"""Z' = 2: two copies of the molecule, placed one after the other, as molecular replacement does.

Searching both copies at once doubles the parameters, and a random start must then land both in their
wells. Instead the first copy is searched alone, scored as a partial model by the log-likelihood gain
(the intensity correlation of half the scattering favours wrong placements); its best distinct minima
are kept, and for each the second copy is searched with the first fixed: its structure factors added to
every trial's and its atoms kept clear of. A last joint descent on all reflections lets each copy settle against the other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from xrdplug.molecule import Molecule, copies

from .compare import DIFFERENT_FRACTION, overlay_fraction
from .engine import Background, Engine, polar_heavy
from .search import Candidate, SearchOptions, SearchResult, descend, heavy_sites, search

FIRST_SHARE = 0.4  # of the budget, for the first copy alone
FIRST_SIGMA_A = 0.65  # the first copy is half the scattering: sigma_A ~ sqrt(1/2), less for model error
BRANCHES = 3  # distinct placements of the first copy tried for the second
POLISH_STEPS = 80


class PairEngine:
    """The geometry of both copies from one parameter vector [first copy | second copy], for figures,
    comparison and refinement; `make(background=, origin_fixed=, partial_sigma_a=)` builds the engines the
    search runs on (the first copy fixes the origin and is scored as a partial model; the second then moves
    along every direction, scored with the first as the rest of the crystal)."""

    def __init__(self, make: Callable[..., Engine]) -> None:
        self.make = make
        self.first = make(background=None, origin_fixed=False, partial_sigma_a=FIRST_SIGMA_A)
        # the second copy's parameterisation, without a background
        self.geometry = make(background=None, origin_fixed=True, partial_sigma_a=None)
        self.data = self.first.data
        self.dtype = self.first.dtype
        self.mol: Molecule = copies(self.first.mol, 2)
        self.split = self.first.layout.size

    def fractional(self, params: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.first.fractional(params[:, : self.split]),
                          self.geometry.fractional(params[:, self.split :])], dim=1)

    def cartesian_local(self, params: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.first.cartesian_local(params[:, : self.split]),
                          self.geometry.cartesian_local(params[:, self.split :])], dim=1)

    def second_given(self, p_first: np.ndarray) -> Engine:
        """An engine for the second copy with the first, at `p_first`, fixed."""
        return self.make(background=background(self.first, p_first), origin_fixed=True, partial_sigma_a=None)

    def first_given(self, p_second: np.ndarray) -> Engine:
        """An engine for the first copy with the second, at `p_second`, fixed."""
        return self.make(background=background(self.geometry, p_second), origin_fixed=False,
                         partial_sigma_a=None)


def background(engine: Engine, params: np.ndarray) -> Background:
    """A placed copy as the fixed part of the crystal for the other."""
    p = torch.tensor(params[None], dtype=engine.dtype)
    with torch.no_grad():
        a, b = engine.parts(p)
        xf = engine.fractional(p)[0].double().numpy()
    return Background(a[0].double().numpy(), None if b is None else b[0].double().numpy(), xf[engine.mol.heavy],
                      polar_heavy(engine.mol))


@dataclass
class Branch:
    second: SearchResult
    params: np.ndarray  # both copies after the joint polish
    cost: float
    pack: float


def distinct_minima(engine: Engine, result: SearchResult, n: int) -> list[Candidate]:
    """The best `n` minima of a search that are different structures from one another."""
    cands = result.candidates[:200]
    if not cands:
        return []
    xf, codes = heavy_sites(engine, [c.params for c in cands])
    picked: list[int] = []
    for i in range(len(cands)):
        if all(overlay_fraction(xf[i], xf[j], codes, engine.data) < DIFFERENT_FRACTION for j in picked):
            picked.append(i)
        if len(picked) == n:
            break
    return [cands[i] for i in picked]


def search_two(pair: PairEngine, options: SearchOptions, progress: Any = None) -> tuple[SearchResult, dict[str, Any]]:
    """The best placement of both copies (a `SearchResult` over [first | second] parameters, its
    `found_by` and `second` from the second copy's search of the winning branch and from the other
    branches) and figures of the two stages."""
    def report(lo: float, hi: float, label: str) -> Callable[[float, str], None]:
        return lambda f, msg: progress(lo + (hi - lo) * f, f"{label}: {msg}") if progress else None

    first_opt = replace(options, budget=options.budget * FIRST_SHARE, agree=10**9)
    first = search(pair.first, first_opt, progress=report(0.0, FIRST_SHARE, "first copy"))
    starts, rounds, seconds = first.starts, first.rounds, first.seconds
    branches: list[Branch] = []
    roots = distinct_minima(pair.first, first, 1 if first.interrupted else BRANCHES)
    share = (1 - FIRST_SHARE) / max(1, len(roots))
    for k, root in enumerate(roots):
        second_engine = pair.second_given(root.params)
        opt2 = replace(options, budget=options.budget * share, seed=options.seed + 31 * (k + 1))
        if first.interrupted:  # Ctrl-C: one round for the second copy, then the best so far
            opt2 = replace(opt2, max_rounds=1)
        lo = FIRST_SHARE + share * k
        res = search(second_engine, opt2, progress=report(lo, lo + share, f"second copy ({k + 1}/{len(roots)})"))
        starts, rounds, seconds = starts + res.starts, rounds + res.rounds, seconds + res.seconds
        p_first, p_second, cost, pack = _polish(pair, root.params, res.best.params, options)
        both = np.concatenate([p_first, p_second])
        branches.append(Branch(res, both, cost, pack + _pack_first(pair, p_first)))
        if res.interrupted:
            break
    branches.sort(key=lambda b: b.cost + options.pack_weight * b.pack)
    win = branches[0]
    # a rival: the second copy's next different minimum, or another branch that is a different crystal
    seconds_cost = [win.second.second] if win.second.second is not None else []
    xa, codes = heavy_sites(pair, [win.params])  # type: ignore[arg-type]
    for b in branches[1:]:
        xb, _ = heavy_sites(pair, [b.params])  # type: ignore[arg-type]
        if overlay_fraction(xa[0], xb[0], codes, pair.data) < DIFFERENT_FRACTION:
            seconds_cost.append(b.cost)
    best = Candidate(win.params, win.cost, win.pack, win.second.best.round, win.second.best.root)
    result = SearchResult(
        best=best, candidates=[best], found_by=win.second.found_by, second=min(seconds_cost, default=None),
        starts=starts, rounds=rounds, seconds=seconds, interrupted=first.interrupted or win.second.interrupted,
    )
    figures = {"first_copy_cost": round(first.best.cost, 5), "branches": len(branches),
               "branch_costs": [round(b.cost, 5) for b in branches]}
    return result, figures


def _pack_first(pair: PairEngine, p_first: np.ndarray) -> float:
    with torch.no_grad():
        return float(pair.first.packing_cost(torch.tensor(p_first[None], dtype=pair.dtype))[0])


def _polish(pair: PairEngine, p_first: np.ndarray, p_second: np.ndarray, options: SearchOptions
            ) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Each copy descended on all reflections against the other, once each way: both copies' parameters,
    and the joint fit cost and the second copy's packing cost at the end."""
    lr = options.learning_rate * 0.2
    p1, _, _ = descend(pair.first_given(p_second), torch.tensor(p_first[None], dtype=pair.dtype), None,
                       POLISH_STEPS, options.pack_weight, lr)
    p_first = p1[0].double().numpy()
    p2, fit, pack = descend(pair.second_given(p_first), torch.tensor(p_second[None], dtype=pair.dtype), None,
                            POLISH_STEPS, options.pack_weight, lr)
    return p_first, p2[0].double().numpy(), float(fit[0]), float(pack[0])
