"""Batched model -> structure factors -> cost, in torch: thousands of trial molecules per second.

A trial is one parameter vector: an orientation (a quaternion, normalised on use), a position (only along
the directions the space group does not leave free), the torsion angles and an overall B correction.
All trials of a batch are evaluated at once and differentiated by autograd, so each local search step
costs one vectorised sum over (trials x reflections x operators x atoms).

Structure factors use the reduced operator set of `cctbx_bridge.direct_space.reduced_operators`
(lattice translations and an origin inversion summed analytically, as cctbx does); they are checked
against cctbx's direct summation in the tests.

The cost is 1 - corr(I_obs, I_calc) over the reflections of the current stage (scale-free, so no scale
to fit), plus a packing term: contacts closer than allowed between the molecule and its symmetry mates,
and inside the molecule between atoms four or more bonds apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from xrdplug.molecule import Molecule
from xrdplug.packing import ACCEPTORS

# Closest contacts allowed in the packing term (A): well below the usual ~3.3-3.6 A between non-H atoms
# so H-bonded N/O pairs (2.6-2.9 A) are never pushed apart, but enough to stop molecules interpenetrating.
CONTACT_HEAVY = 2.9
CONTACT_POLAR = 2.45  # N/O...N/O (hydrogen bonds)
CONTACT_INTRA_HEAVY = 2.6  # atoms >= 4 bonds apart in the same molecule
CONTACT_INTRA_H = 1.8
U_HEAVY = 0.04  # A^2: a typical room/low-temperature organic U_iso; the overall B term absorbs the rest
U_H_FACTOR = 1.3
CONFORMER_START_FRACTION = 0.8  # starts whose torsions come from RDKit's low-energy conformers
LIKELIHOOD_BINS = 10  # resolution shells that normalise amplitudes for the likelihood
SELF_MATE_RADIUS = 1.5  # A: on a 2-fold or mirror, the symmetry mate whose centroid lies this close is itself


@dataclass
class Background:
    """A fixed part of the crystal (another molecule already placed, for Z' = 2): its structure factors in
    the engine's own sum (cosine and sine parts per reflection, up to the engine's common scale) and its
    non-H atoms (fractional) with whether each is N/O, for the contacts the moving molecule must avoid."""

    f_cos: np.ndarray  # (K,)
    f_sin: np.ndarray | None  # (K,); None when the group's sum is real
    heavy_sites: np.ndarray  # (M, 3)
    polar: np.ndarray  # (M,) bool


@dataclass
class Layout:
    """Where each kind of parameter sits in a trial vector."""

    n_trans: int
    n_tors: int

    @property
    def size(self) -> int:
        return 4 + self.n_trans + self.n_tors + 1

    @property
    def q(self) -> slice:
        return slice(0, 4)

    @property
    def t(self) -> slice:
        return slice(4, 4 + self.n_trans)

    @property
    def tors(self) -> slice:
        return slice(4 + self.n_trans, 4 + self.n_trans + self.n_tors)

    @property
    def b(self) -> int:
        return self.size - 1


def polar_heavy(mol: Molecule) -> np.ndarray:
    """(H,) bool: which of the molecule's non-H atoms are N or O (allowed closer: hydrogen bonds)."""
    return np.array([mol.elements[i] in ACCEPTORS for i in np.flatnonzero(mol.heavy)], dtype=bool)


def quaternion_matrix(q: torch.Tensor) -> torch.Tensor:
    """(T, 4) quaternions (any norm) -> (T, 3, 3) rotation matrices."""
    q = q / q.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    w, x, y, z = q.unbind(-1)
    return torch.stack(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
            2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
            2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
        ],
        dim=-1,
    ).reshape(*q.shape[:-1], 3, 3)


def random_quaternions(n: int, gen: torch.Generator) -> torch.Tensor:
    """Uniform random rotations (Shoemake)."""
    u = torch.rand(n, 3, generator=gen, dtype=torch.float64)
    a, b = torch.sqrt(1 - u[:, 0]), torch.sqrt(u[:, 0])
    t1, t2 = 2 * math.pi * u[:, 1], 2 * math.pi * u[:, 2]
    return torch.stack([a * torch.sin(t1), a * torch.cos(t1), b * torch.sin(t2), b * torch.cos(t2)], dim=1)


class Engine:
    """One molecule (Z' = 1), a half molecule on an inversion centre, or a whole molecule on a 2-fold axis
    or mirror plane (both Z' = 1/2) in one crystal."""

    def __init__(
        self,
        data: object,
        molecule: Molecule,
        form_factor_table: np.ndarray,
        element_index: np.ndarray,
        anchor: np.ndarray | None = None,
        dtype: torch.dtype = torch.float32,
        special_sites: list[tuple[np.ndarray, np.ndarray]] | None = None,
        origin_fixed: bool = False,
        background: Background | None = None,
        partial_sigma_a: float | None = None,
    ) -> None:
        """`data` is a `cctbx_bridge.direct_space.SearchData`; `form_factor_table` (K, E) its form factors
        per element and `element_index` (N,) each atom's column. With `anchor` (fractional), `molecule` is
        the half of a centrosymmetric molecule with coordinates relative to its inversion centre, which sits
        on the crystal's inversion centre `anchor` (Z' = 1/2): only the orientation and torsions move.

        With `special_sites` (Wyckoff projectors (R, t) of 2-fold axes and mirrors), the whole molecule
        is modelled and may overlap its own symmetry mate: on the element, the molecule and its image
        coincide, which is a molecule there at Z' = 1/2 (the half occupancy is one overall scale, which
        the scale-free cost does not see). Starts are put on the elements; the fit pulls them into line.

        `origin_fixed`: another molecule has fixed the origin, so this one moves along every direction,
        the polar ones too. `background`: that molecule's fixed contribution (see `Background`), added to
        every trial's structure factors and kept clear of by the packing term.

        `partial_sigma_a`: the molecule is only part of the crystal (the first copy of Z' = 2), so the
        fit is the log-likelihood gain of normalised amplitudes (Read's Rice/Gaussian model with this
        sigma_A, as molecular replacement scores partial models), per reflection and negated; the
        intensity correlation favours wrong placements there (a right copy alone: 1 - CC 0.55-0.66 at
        1.5 A on the dev Z' = 2 cases, while descents reach 0.40 elsewhere)."""
        self.data = data
        self.mol = molecule
        self.dtype = dtype
        self.anchor = None if anchor is None else torch.tensor(np.asarray(anchor, dtype=float), dtype=dtype)
        self.special_sites = special_sites
        d = data  # type: ignore[assignment]
        self.frac = torch.tensor(d.fractionalisation, dtype=dtype)  # type: ignore[attr-defined]
        self.orth = torch.tensor(d.orthogonalisation, dtype=dtype)  # type: ignore[attr-defined]
        hkl = torch.tensor(d.hkl, dtype=torch.float64)  # type: ignore[attr-defined]
        rot = torch.tensor(d.rotations, dtype=torch.float64)  # type: ignore[attr-defined]
        tr = torch.tensor(d.translations, dtype=torch.float64)  # type: ignore[attr-defined]
        self.hr = torch.einsum("kc,scd->ksd", hkl, rot).to(dtype)  # h . (R x) = (h R) . x
        self.ht = (2 * math.pi * torch.einsum("kc,sc->ks", hkl, tr)).to(dtype)
        self.real_sum = bool(d.real_sum)  # type: ignore[attr-defined]
        self.s2 = torch.tensor(d.s2, dtype=dtype)  # type: ignore[attr-defined]
        i_obs = torch.tensor(np.asarray(d.f_obs) ** 2, dtype=torch.float64)  # type: ignore[attr-defined]
        self.i_obs = i_obs.to(dtype)
        heavy = molecule.heavy
        u = np.where(heavy, U_HEAVY, U_HEAVY * U_H_FACTOR)
        ff = np.asarray(form_factor_table)[:, np.asarray(element_index)]  # (K, N)
        ff = ff * np.exp(-8 * math.pi**2 * u[None, :] * np.asarray(d.s2)[:, None] / 4)  # type: ignore[attr-defined]
        self.ff = torch.tensor(ff, dtype=dtype)
        free = np.asarray(d.free_origin).reshape(-1, 3)  # type: ignore[attr-defined]
        self.trans_basis = torch.tensor(np.eye(3) if origin_fixed else _complement(free), dtype=dtype)
        if self.anchor is not None:
            self.trans_basis = self.trans_basis[:, :0]
        self.local = torch.tensor(molecule.centred(), dtype=dtype)  # (N, 3) Cartesian about the centroid
        if anchor is not None:
            self.local = torch.tensor(molecule.coords, dtype=dtype)
        self.layout = Layout(self.trans_basis.shape[1], len(molecule.torsions))
        self._torsion_index = [
            (t.a, t.b, torch.as_tensor(t.moving, dtype=torch.long)) for t in molecule.torsions
        ]
        self._pack_setup(molecule)
        self._background_setup(background)
        self.partial_sigma_a = partial_sigma_a
        if partial_sigma_a is not None:
            self._likelihood_setup(np.asarray(d.f_obs, dtype=float), np.asarray(d.s2, dtype=float),  # type: ignore[attr-defined]
                                   d.epsilon, d.centric)  # type: ignore[attr-defined]

    # ----------------------------------------------------------------------------- geometry

    def cartesian_local(self, params: torch.Tensor) -> torch.Tensor:
        """(T, N, 3) molecule coordinates after the torsions, before orientation and position."""
        x = self.local.expand(params.shape[0], -1, -1)
        lay = self.layout
        for i, (a, b, moving) in enumerate(self._torsion_index):
            angle = params[:, lay.tors][:, i]
            axis = x[:, b] - x[:, a]
            axis = axis / axis.norm(dim=-1, keepdim=True)
            origin = x[:, b : b + 1]
            v = x[:, moving] - origin
            k = axis[:, None, :]
            c, s = torch.cos(angle)[:, None, None], torch.sin(angle)[:, None, None]
            rotated = v * c + torch.cross(k.expand_as(v), v, dim=-1) * s + k * (v * k).sum(-1, keepdim=True) * (1 - c)
            new = x.clone()
            new[:, moving] = rotated + origin
            x = new
        return x

    def fractional(self, params: torch.Tensor) -> torch.Tensor:
        """(T, N, 3) fractional coordinates of every atom of the molecule."""
        x = self.cartesian_local(params)
        rot = quaternion_matrix(params[:, self.layout.q])
        xc = torch.einsum("tij,tnj->tni", rot, x)
        xf = torch.einsum("ij,tnj->tni", self.frac, xc)
        if self.anchor is not None:
            return xf + self.anchor
        shift = params[:, self.layout.t] @ self.trans_basis.T  # (T, 3)
        return xf + shift[:, None, :]

    # ----------------------------------------------------------------------------- diffraction

    def parts(self, params: torch.Tensor, keep: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(T, K') cosine and sine parts of F_calc (the sine part None when the sum is real) at the
        reflections `keep` (all if None), up to a constant scale; the background's included."""
        xf = self.fractional(params)
        hr, ht, ff = self.hr, self.ht, self.ff
        if keep is not None:
            hr, ht, ff = hr[keep], ht[keep], ff[keep]
        phase = 2 * math.pi * torch.einsum("ksd,tnd->tksn", hr, xf) + ht[None, :, :, None]
        a = (torch.cos(phase).sum(2) * ff).sum(-1)
        b = None if self.real_sum else (torch.sin(phase).sum(2) * ff).sum(-1)
        if self._bg_cos is not None:
            a = a + (self._bg_cos if keep is None else self._bg_cos[keep])
            if b is not None and self._bg_sin is not None:
                b = b + (self._bg_sin if keep is None else self._bg_sin[keep])
        return a, b

    def intensities(self, params: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """(T, K') |F_calc|^2 (up to a constant scale) at the reflections `keep` (all if None)."""
        a, b = self.parts(params, keep)
        return a * a if b is None else a * a + b * b

    def _likelihood_setup(self, f_obs: np.ndarray, s2: np.ndarray, epsilon: np.ndarray | None,
                          centric: np.ndarray | None) -> None:
        k = len(f_obs)
        eps = np.ones(k) if epsilon is None else np.asarray(epsilon, dtype=float)
        n_bins = max(1, min(LIKELIHOOD_BINS, k // 30))
        bins = np.zeros(k, dtype=np.int64)
        for b, chunk in enumerate(np.array_split(np.argsort(s2), n_bins)):
            bins[chunk] = b
        i_eps = f_obs**2 / eps
        mean = np.bincount(bins, weights=i_eps, minlength=n_bins) / np.maximum(np.bincount(bins, minlength=n_bins), 1)
        self._eo = torch.tensor(np.sqrt(i_eps / mean[bins]), dtype=self.dtype)
        self._eps = torch.tensor(eps, dtype=self.dtype)
        self._centric = torch.as_tensor(np.zeros(k, dtype=bool) if centric is None else np.asarray(centric, dtype=bool))
        self._bins = torch.as_tensor(bins)
        self._n_bins = n_bins

    def likelihood_cost(self, params: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """(T,) minus the log-likelihood gain per reflection of the model as part of the crystal."""
        ic = self.intensities(params, keep) / (self._eps if keep is None else self._eps[keep])
        bins = self._bins if keep is None else self._bins[keep]
        eo = self._eo if keep is None else self._eo[keep]
        centric = self._centric if keep is None else self._centric[keep]
        sums = torch.zeros(ic.shape[0], self._n_bins, dtype=ic.dtype).index_add_(1, bins, ic)
        counts = torch.bincount(bins, minlength=self._n_bins).clamp_min(1).to(ic.dtype)
        ec2 = ic / (sums / counts)[:, bins].clamp_min(1e-12)
        ec = torch.sqrt(ec2.clamp_min(1e-10))
        sa = float(self.partial_sigma_a or 0.0)
        v = 1 - sa * sa
        x = 2 * sa * eo * ec / v
        acentric = torch.log(torch.special.i0e(x)) + x - sa * sa * ec2 / v
        xc = sa * eo * ec / v
        centric_term = xc + torch.log1p(torch.exp(-2 * xc)) - math.log(2.0) - sa * sa * ec2 / (2 * v)
        llg = torch.where(centric, centric_term, acentric)
        return -llg.mean(-1)

    def fit_cost(self, params: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """(T,) 1 - corr(I_obs, I_calc exp(-dB s^2 / 2)) over the reflections `keep` (for a partial model,
        `likelihood_cost`)."""
        if self.partial_sigma_a is not None:
            return self.likelihood_cost(params, keep)
        ic = self.intensities(params, keep)
        s2 = self.s2 if keep is None else self.s2[keep]
        io = self.i_obs if keep is None else self.i_obs[keep]
        ic = ic * torch.exp(-params[:, self.layout.b : self.layout.b + 1] * s2[None, :] / 2)
        icm = ic - ic.mean(-1, keepdim=True)
        iom = io - io.mean()
        num = (icm * iom).sum(-1)
        den = torch.sqrt((icm * icm).sum(-1) * (iom * iom).sum() + 1e-30)
        return 1 - num / den

    # ----------------------------------------------------------------------------- packing

    def _pack_setup(self, mol: Molecule) -> None:
        heavy = np.flatnonzero(mol.heavy)
        self._heavy = torch.as_tensor(heavy, dtype=torch.long)
        polar = polar_heavy(mol)
        if self.anchor is not None:  # the packing sees the whole molecule: the half and its inverted image
            polar = np.concatenate([polar, polar])
        limit = np.where(polar[:, None] & polar[None, :], CONTACT_POLAR, CONTACT_HEAVY)
        self._inter_limit_sq = torch.tensor(limit**2, dtype=self.dtype)
        self._inter_half_inv = torch.tensor(0.5 / limit, dtype=self.dtype)
        d = self.data
        rot = np.asarray(d.rotations, dtype=float)  # type: ignore[attr-defined]
        tr = np.asarray(d.translations, dtype=float)  # type: ignore[attr-defined]
        if self.data.real_sum:  # type: ignore[attr-defined]
            rot, tr = np.concatenate([rot, -rot]), np.concatenate([tr, -tr])
        # operators that map the molecule onto itself, and the lattice shift with which they do: the
        # identity (no shift) and, on an inversion centre c, the inversion through c
        centre = np.zeros(3) if self.anchor is None else self.anchor.double().numpy()
        self_shift = centre[None, :] - (np.einsum("sij,j->si", rot, centre) + tr)
        is_self = np.all(np.abs(self_shift - np.round(self_shift)) < 1e-6, axis=1)
        if self.anchor is None:
            is_self &= np.all(np.abs(rot - np.eye(3)).reshape(len(rot), -1) < 1e-9, axis=1)
        self._sym_r = torch.tensor(rot, dtype=self.dtype)
        self._sym_t = torch.tensor(tr, dtype=self.dtype)
        self._self_op = torch.as_tensor(is_self)
        self._self_lattice = torch.tensor(-np.round(self_shift), dtype=self.dtype)
        pairs = mol.non_bonded_pairs(4) if mol.torsions else np.zeros((0, 2), dtype=np.int64)
        if len(pairs):
            hh = ~mol.heavy[pairs[:, 0]] | ~mol.heavy[pairs[:, 1]]
            lim = np.where(hh, CONTACT_INTRA_H, CONTACT_INTRA_HEAVY)
        else:
            lim = np.zeros(0)
        self._intra_pairs = torch.as_tensor(pairs, dtype=torch.long)
        self._intra_limit = torch.tensor(lim, dtype=self.dtype)

    def _background_setup(self, bg: Background | None) -> None:
        self._bg_cos = self._bg_sin = None
        self._bg_mates = None
        if bg is None:
            return
        if self.anchor is not None or self.special_sites is not None:
            raise ValueError("a background goes with a whole molecule on a general position")
        self._bg_cos = torch.tensor(bg.f_cos, dtype=self.dtype)
        self._bg_sin = None if bg.f_sin is None else torch.tensor(bg.f_sin, dtype=self.dtype)
        r, t = self._sym_r.double().numpy(), self._sym_t.double().numpy()
        mates = np.einsum("sij,mj->smi", r, bg.heavy_sites) + t[:, None, :]  # every image of the fixed atoms
        self._bg_mates = torch.tensor(mates.reshape(-1, 3), dtype=self.dtype)
        polar_mine = polar_heavy(self.mol)
        polar_bg = np.tile(np.asarray(bg.polar, dtype=bool), len(r))
        limit = np.where(polar_mine[:, None] & polar_bg[None, :], CONTACT_POLAR, CONTACT_HEAVY)
        self._bg_limit_sq = torch.tensor(limit**2, dtype=self.dtype)
        self._bg_half_inv = torch.tensor(0.5 / limit, dtype=self.dtype)

    def packing_cost(self, params: torch.Tensor) -> torch.Tensor:
        """(T,) sum of squared overlaps (A^2) of too-close contacts, per heavy atom."""
        xf = self.fractional(params)
        h = xf[:, self._heavy]  # (T, H, 3)
        if self.anchor is not None:
            h = torch.cat([h, 2 * self.anchor - h], dim=1)
        # every symmetry mate of every heavy atom, nearest lattice image to each heavy atom
        mates = torch.einsum("sij,tnj->tsni", self._sym_r, h) + self._sym_t[None, :, None, :]
        diff = mates[:, :, None, :, :] - h[:, None, :, None, :]  # (T, S, H, H, 3)
        lattice = torch.round(diff)
        diff = diff - lattice
        # a mate that is the molecule itself is no contact
        same = (lattice - self._self_lattice[None, :, None, None, :]).abs().sum(-1) < 0.5
        self_image = self._self_op[None, :, None, None] & same
        d2 = (diff @ self.orth.T).square().sum(-1)
        # (limit^2 - d^2) / (2 limit) ~ limit - d near contact, without a square root to differentiate
        overlap = torch.relu(self._inter_limit_sq - d2) * self._inter_half_inv
        if self.special_sites is not None:  # the mate (operator, lattice) that is the molecule itself
            c = h.mean(1)
            dc = torch.einsum("sij,tj->tsi", self._sym_r, c) + self._sym_t[None] - c[:, None, :]
            lat_c = torch.round(dc)
            near = ((dc - lat_c) @ self.orth.T).norm(dim=-1) < SELF_MATE_RADIUS  # (T, S)
            same_c = (lattice - lat_c[:, :, None, None, :]).abs().sum(-1) < 0.5
            self_image = self_image | (near[:, :, None, None] & same_c)
        overlap = overlap.masked_fill(self_image, 0.0)
        cost = overlap.square().sum((1, 2, 3))
        if self._bg_mates is not None:  # contacts with the fixed molecule and its images
            diff = self._bg_mates[None, None, :, :] - h[:, :, None, :]  # (T, H, M', 3)
            diff = diff - torch.round(diff)
            d2 = (diff @ self.orth.T).square().sum(-1)
            cost = cost + (torch.relu(self._bg_limit_sq - d2) * self._bg_half_inv).square().sum((1, 2))
        if len(self._intra_pairs):
            x = self.cartesian_local(params)
            dd = (x[:, self._intra_pairs[:, 0]] - x[:, self._intra_pairs[:, 1]]).norm(dim=-1)
            ov = torch.relu(self._intra_limit - dd)
            cost = cost + (ov * ov).sum(-1)
        return cost / max(1, h.shape[1])

    # ----------------------------------------------------------------------------- starts

    def random_params(self, n: int, gen: torch.Generator) -> torch.Tensor:
        lay = self.layout
        p = torch.zeros(n, lay.size, dtype=torch.float64)
        p[:, lay.q] = random_quaternions(n, gen)
        if lay.n_trans:
            # uniform over the cell along the constrained directions
            p[:, lay.t] = torch.rand(n, lay.n_trans, generator=gen, dtype=torch.float64)
            if self.special_sites:  # a random point of a random 2-fold axis or mirror plane
                u = torch.rand(n, 3, generator=gen, dtype=torch.float64)
                pick = torch.randint(len(self.special_sites), (n,), generator=gen)
                r = torch.tensor(np.array([rt[0] for rt in self.special_sites]), dtype=torch.float64)[pick]
                t = torch.tensor(np.array([rt[1] for rt in self.special_sites]), dtype=torch.float64)[pick]
                x = torch.einsum("nij,nj->ni", r, u) + t
                p[:, lay.t] = x @ self.trans_basis.double()
        if lay.n_tors:
            p[:, lay.tors] = (torch.rand(n, lay.n_tors, generator=gen, dtype=torch.float64) * 2 - 1) * math.pi
            samples = self.mol.torsion_samples
            if samples is not None and len(samples) and samples.shape[1] == lay.n_tors:
                # most starts from low-energy conformers (with 15 deg of noise); the rest stay uniform
                pick = torch.randint(len(samples), (n,), generator=gen)
                from_conf = torch.rand(n, generator=gen) < CONFORMER_START_FRACTION
                guided = torch.tensor(samples, dtype=torch.float64)[pick]
                guided = guided + torch.randn(n, lay.n_tors, generator=gen, dtype=torch.float64) * math.radians(15)
                p[from_conf, lay.tors] = guided[from_conf]
        return p.to(self.dtype)


def _complement(free: np.ndarray) -> np.ndarray:
    """(3, 3 - F) orthonormal basis of fractional translations not along the free origin directions.

    For axis-aligned free directions (every monoclinic and orthorhombic group) the basis vectors are
    unit cell axes, so a parameter is a plain fractional coordinate.
    """
    if free.size == 0:
        return np.eye(3)
    keep = [i for i in range(3) if not any(abs(v[i]) > 1e-9 for v in free)]
    if len(keep) + len(free) == 3:
        return np.eye(3)[:, keep]
    u, _, _ = np.linalg.svd(free.T)
    return u[:, len(free):]
