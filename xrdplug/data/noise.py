"""What a diffractometer does to exact |F|: counting noise, lost reflections, French-Wilson amplitudes.

Pure numpy, deterministic from a per-sample noise seed, so a data set stores only the exact |F| and six
numbers per sample (`NOISE_FIELDS`); the observed data are redrawn identically whenever they are needed
(training input, benchmark MTZ files).

Model, per structure:

- I = |F|^2; counts k I on top of a background of k b counts, with k (the exposure) set so that the median
  I/sigma(I) of the outermost shell (d_high to 1.06 d_high) equals a drawn target (2-5: typical 0.8 A data);
  b = beta <I>_outer with beta ~ U(0.3, 1.5);
- sigma^2(I) = (I + 2 b) / k + (rho I)^2, rho ~ U(0.01, 0.03) (scaling / absorption errors);
- I_obs = I + sigma(I) N(0, 1);
- a fraction ~ U(0.01, 0.05) of the reflections is missing at random, and with probability 1/2 a beam stop
  removes every reflection with d > d_stop, d_stop ~ U(12, 25) A (the few lowest-angle ones);
- amplitudes as French & Wilson (1978) make them: the posterior mean and sd of |F| given I_obs, sigma and
  a Wilson prior (acentric or centric, mean intensity from resolution shells of the observed data); for
  I_obs > 3 sigma this is sqrt(I_obs) and sigma / (2 sqrt(I_obs)) within a fraction of sigma(F).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import hklgrid

NOISE_FIELDS = ("exposure", "background", "rho", "missing", "beam_stop", "seed")
I_SIGMA_OUTER = (2.0, 5.0)
BACKGROUND = (0.3, 1.5)
RHO = (0.01, 0.03)
MISSING = (0.01, 0.05)
BEAM_STOP = (12.0, 25.0)
OUTER_SHELL = 1.06


@dataclass
class Observed:
    i_obs: np.ndarray
    sig_i: np.ndarray
    f_obs: np.ndarray
    sig_f: np.ndarray
    observed: np.ndarray  # bool: measured (not missing, not behind the beam stop)


def draw_params(f: np.ndarray, inv_d2: np.ndarray, d_high: float, rng: np.random.Generator) -> np.ndarray:
    """The six noise numbers of one sample (see NOISE_FIELDS), from its exact |F| and its generator."""
    intensity = np.asarray(f, dtype=np.float64) ** 2
    outer = inv_d2 >= 1.0 / (OUTER_SHELL * d_high) ** 2
    if outer.sum() < 10:
        outer = inv_d2 >= np.quantile(inv_d2, 0.9)
    target = rng.uniform(*I_SIGMA_OUTER)
    b = rng.uniform(*BACKGROUND) * float(intensity[outer].mean())
    rho = rng.uniform(*RHO)
    missing = rng.uniform(*MISSING)
    beam_stop = rng.uniform(*BEAM_STOP) if rng.random() < 0.5 else 0.0
    seed = int(rng.integers(2**31 - 1))
    io = intensity[outer]
    lo, hi = -20.0, 20.0  # bisection on ln k: the median I/sigma rises with k
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        k = np.exp(mid)
        ratio = np.median(io / np.sqrt((io + 2 * b) / k + (rho * io) ** 2))
        lo, hi = (mid, hi) if ratio < target else (lo, mid)
    return np.array([np.exp(0.5 * (lo + hi)), b, rho, missing, beam_stop, seed], dtype=np.float64)


def centric_flags(hkl: np.ndarray, space_group: str) -> np.ndarray:
    """Centric reflections of a b-unique monoclinic group: all (2/m), h0l (point group 2) or 0k0 (m)."""
    hkl = np.asarray(hkl).reshape(-1, 3)
    middle = str(space_group).split()[2] if len(str(space_group).split()) == 4 else str(space_group)
    if "/" in middle:
        return np.ones(len(hkl), dtype=bool)
    if middle[:1].isdigit():
        return hkl[:, 1] == 0
    return (hkl[:, 0] == 0) & (hkl[:, 2] == 0)


def observe(hkl: np.ndarray, f: np.ndarray, cell: tuple[float, ...], space_group: str, params: np.ndarray,
            centric: np.ndarray | None = None, inv_d2: np.ndarray | None = None) -> Observed:
    """The observed data of one sample (deterministic from params' seed). For a group that is not b-unique
    monoclinic, give the reflections' `centric` flags and `inv_d2` (1/d^2) from cctbx: `centric_flags` and
    `hklgrid.inverse_d_squared` know only monoclinic cells."""
    exposure, b, rho, missing, beam_stop, seed = (float(x) for x in params)
    rng = np.random.default_rng(int(seed))
    intensity = np.asarray(f, dtype=np.float64) ** 2
    sig_i = np.sqrt((intensity + 2 * b) / exposure + (rho * intensity) ** 2)
    i_obs = intensity + sig_i * rng.standard_normal(len(intensity))
    observed = rng.random(len(intensity)) >= missing
    if inv_d2 is None:
        inv_d2 = hklgrid.inverse_d_squared(hkl, cell)  # type: ignore[arg-type]
    if beam_stop > 0:
        observed &= inv_d2 > 1.0 / beam_stop**2
    if centric is None:
        centric = centric_flags(hkl, space_group)
    f_obs, sig_f = french_wilson(i_obs, sig_i, inv_d2, centric, observed)
    return Observed(i_obs=i_obs, sig_i=sig_i, f_obs=f_obs, sig_f=sig_f, observed=observed)


def french_wilson(i_obs: np.ndarray, sig_i: np.ndarray, inv_d2: np.ndarray, centric: np.ndarray,
                  use: np.ndarray | None = None, n_shells: int = 20, nodes: int = 64
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and sd of |F| given I_obs, sigma(I) and a Wilson prior (numerical quadrature)."""
    use = np.ones(len(i_obs), dtype=bool) if use is None else use
    # mean intensity by shells of equal count (of the used reflections), floored at a tenth of <sigma>
    floor = 0.1 * float(np.mean(sig_i[use])) if use.any() else 1e-6
    if use.sum() > 2 * n_shells:
        edges = np.quantile(inv_d2[use], np.linspace(0.0, 1.0, n_shells + 1))
        shell = np.clip(np.searchsorted(edges, inv_d2, side="right") - 1, 0, n_shells - 1)
        sums = np.bincount(shell[use], weights=i_obs[use], minlength=n_shells)
        counts = np.bincount(shell[use], minlength=n_shells)
        sigma_w = np.maximum((sums / np.maximum(counts, 1))[shell], floor)
    else:
        sigma_w = np.full(len(i_obs), max(float(np.mean(i_obs[use])) if use.any() else 1.0, floor))
    f = np.sqrt(np.maximum(i_obs, 0.0))
    sf = sig_i / (2.0 * np.maximum(f, 1e-12))
    weak = i_obs < 3.0 * sig_i
    if weak.any():
        io, si, sw, cen = i_obs[weak], sig_i[weak], sigma_w[weak], centric[weak]
        f_max = np.sqrt(np.maximum(io, 0.0) + 6.0 * si + 4.0 * sw)
        u = (np.arange(nodes) + 0.5) / nodes
        fg = f_max[:, None] * u[None, :]  # (W, nodes)
        log_like = -0.5 * ((fg**2 - io[:, None]) / si[:, None]) ** 2
        log_prior = np.where(cen[:, None], -fg**2 / (2 * sw[:, None]),
                             np.log(np.maximum(fg, 1e-300)) - fg**2 / sw[:, None])
        lw = log_like + log_prior
        wgt = np.exp(lw - lw.max(axis=1, keepdims=True))
        z = wgt.sum(axis=1)
        mean = (wgt * fg).sum(axis=1) / z
        var = np.maximum((wgt * fg**2).sum(axis=1) / z - mean**2, 0.0)
        f[weak], sf[weak] = mean, np.sqrt(var)
    return f, sf
