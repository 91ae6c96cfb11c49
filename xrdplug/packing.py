"""Pack one rigid molecule into a monoclinic cell: random orientation, then compress the cell to contact.

Pure numpy. The molecule (Cartesian, centred) is placed with its centre at fractional position p; the
space group's operators (R_k, t_k) and lattice translations n make the other molecules. Because every
molecule of a Z' = 1 (or Z' = 1/2) crystal is a symmetry image of molecule 0, the crystal is free of
clashes when molecule 0 is free of clashes with every image. With b unique and the cctbx orthogonalisation
(a along x, b along y), every monoclinic point operation is a cell-independent Cartesian matrix W_k, so the
vector from atom i of molecule 0 to atom j of image (k, n) is

    d_ij = (W_k y_j - y_i) + O(cell) s_kn,     s_kn = R_k p + t_k + n - p,

and O(cell) s = a s1 x + b s2 y + c s3 (cos beta, 0, sin beta) is linear in each edge. |d_ij|^2 is then a
quadratic in the edge being compressed, so the edge at which the first contact appears is found exactly,
for all atom pairs of all nearby images at once (one numpy pass per edge, no bisection steps). Beta is
scanned on a grid (its terms are trigonometric). Rounds over a, b, c and beta in random order repeat until
the volume stops shrinking; then small random turns and shifts of the molecule, each followed by an exact
uniform expansion to clear the clashes it made and a new compression, are kept when the volume drops
(a greedy search; real crystals pack their molecules far better than a random orientation does).

A contact is a clash when d < threshold_ij (`contact_thresholds`: a fraction of the sum of van der Waals
radii, with shorter limits for hydrogen bonds).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Bondi (1964) van der Waals radii; H 1.10 A (Rowland & Taylor 1996, from crystal contacts)
VDW_RADII = {"H": 1.10, "D": 1.10, "C": 1.70, "N": 1.55, "O": 1.52, "F": 1.47, "S": 1.80, "Cl": 1.75,
             "Br": 1.85, "I": 1.98, "P": 1.80, "Si": 2.10, "B": 1.92}
ACCEPTORS = ("N", "O")


@dataclass(frozen=True)
class ContactRule:
    """Closest allowed intermolecular contacts.

    Measured on real structures shipped with cctbx-base (intermolecular minima, xrdplug's
    `scripts/measure_contacts.py`): non-H pairs 0.96-0.98, C-H 0.94-0.98, H-H 1.04 of the Bondi sums (H 1.10);
    hydrogen bonds H...O 1.84 A, H...N 1.99 A, O...O 2.72 A, N...O 2.77 A. The default fraction 0.93, a
    little below those minima, puts C...C at 3.16 A and H...H at 2.05 A (the ~3.0/2.0 A rule of thumb).
    """

    vdw_fraction: float = 0.93
    hbond_h: float = 1.75  # donor H ... acceptor (N, O)
    hbond_heavy: float = 2.55  # donor (N-H, O-H) ... acceptor heavy atoms


def contact_thresholds(
    elements: list[str], donor_h: np.ndarray, donor: np.ndarray, rule: ContactRule = ContactRule()
) -> np.ndarray:
    """(N, N) closest allowed distance between atom i of one molecule and atom j of another."""
    r = np.array([VDW_RADII.get(e, 1.8) for e in elements])
    thr = rule.vdw_fraction * (r[:, None] + r[None, :])
    acc = np.array([e in ACCEPTORS for e in elements])
    dh, dn = np.asarray(donor_h, bool), np.asarray(donor, bool)
    hb_h = (dh[:, None] & acc[None, :]) | (acc[:, None] & dh[None, :])
    hb_x = (dn[:, None] & acc[None, :]) | (acc[:, None] & dn[None, :])
    thr = np.where(hb_x, np.minimum(thr, rule.hbond_heavy), thr)
    thr = np.where(hb_h, np.minimum(thr, rule.hbond_h), thr)
    return thr


def orthogonalisation(cell: np.ndarray) -> np.ndarray:
    """cctbx's orthogonalisation matrix for a monoclinic (b unique) cell (a, b, c, beta in degrees)."""
    a, b, c, beta = (float(x) for x in cell[:4])
    cb, sb = np.cos(np.radians(beta)), np.sin(np.radians(beta))
    return np.array([[a, 0.0, c * cb], [0.0, b, 0.0], [0.0, 0.0, c * sb]])


def volume(cell: np.ndarray) -> float:
    return float(cell[0] * cell[1] * cell[2] * np.sin(np.radians(cell[3])))


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random rotation matrix (from a normalised Gaussian quaternion)."""
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    w, x, y, z = q
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def small_rotation(rng: np.random.Generator, sigma: float) -> np.ndarray:
    """A rotation by a Gaussian angle (sigma, radians) about a random axis."""
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    ang = rng.normal(0.0, sigma)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(ang) * k + (1 - np.cos(ang)) * (k @ k)


def cartesian_operators(rotations: np.ndarray) -> np.ndarray:
    """W_k = O R_k O^-1, the same for every monoclinic b-unique cell (checked on two cells)."""
    o1 = orthogonalisation(np.array([7.0, 9.0, 11.0, 103.0]))
    o2 = orthogonalisation(np.array([13.0, 5.0, 8.0, 117.0]))
    w1 = np.einsum("ij,kjl,lm->kim", o1, rotations, np.linalg.inv(o1))
    w2 = np.einsum("ij,kjl,lm->kim", o2, rotations, np.linalg.inv(o2))
    if not np.allclose(w1, w2, atol=1e-9):
        raise ValueError("operators are not those of a b-unique monoclinic group")
    return np.rint(w1 * 1e9) / 1e9


@dataclass
class Packing:
    """A packed crystal: cell (a, b, c, beta), molecule coordinates y (Cartesian, centred), centre p."""

    cell: np.ndarray
    y: np.ndarray
    p: np.ndarray
    ops: np.ndarray  # indices of the operators that make distinct molecules
    min_ratio: float  # smallest d / threshold over all intermolecular contacts (>= 1: no clash)
    rounds: int
    moves_accepted: int

    @property
    def volume(self) -> float:
        return volume(self.cell)

    def fractional(self) -> np.ndarray:
        """Fractional coordinates of molecule 0's atoms."""
        return self.y @ np.linalg.inv(orthogonalisation(self.cell)).T + self.p


class Packer:
    """Compress-to-contact packing of one molecule in one space group (see the module docstring)."""

    def __init__(
        self,
        rotations: np.ndarray,
        translations: np.ndarray,
        thresholds: np.ndarray,
        beta_range: tuple[float, float] = (90.0, 120.0),
        min_edge: float = 3.6,
        max_edge: float = 30.0,
        beta_moves: bool = True,
    ) -> None:
        self.R = np.asarray(rotations, dtype=np.float64).reshape(-1, 3, 3)
        self.t = np.asarray(translations, dtype=np.float64).reshape(-1, 3)
        self.W = cartesian_operators(self.R)
        self.thr = np.asarray(thresholds, dtype=np.float64)
        self.thr2 = self.thr**2
        self.reach = float(self.thr.max())
        self.beta_range = beta_range
        self.min_edge = min_edge
        self.max_edge = max_edge
        self.beta_moves = beta_moves

    # ----------------------------------------------------------------------------------------- images

    def distinct_ops(self, p: np.ndarray) -> np.ndarray:
        """Operators giving distinct molecule centres (all of them for a general position; half of them
        for a centre on an inversion centre)."""
        pos = (np.einsum("kij,j->ki", self.R, p) + self.t) % 1.0
        keep: list[int] = []
        for k in range(len(pos)):
            if not any(np.allclose(_wrap(pos[k] - pos[j]), 0.0, atol=1e-6) for j in keep):
                keep.append(k)
        return np.array(keep, dtype=np.int64)

    def _shifts(self, p: np.ndarray, ops: np.ndarray, lo: np.ndarray, hi: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
        """(s_kn (M,3), k (M,)) for operators `ops` and lattice translations lo..hi, molecule 0 excluded."""
        grids = np.meshgrid(*[np.arange(int(lo[i]), int(hi[i]) + 1) for i in range(3)], indexing="ij")
        n = np.stack([g.ravel() for g in grids], axis=1).astype(np.float64)
        base = np.einsum("kij,j->ki", self.R[ops], p) + self.t[ops] - p  # (K,3)
        s = (base[:, None, :] + n[None, :, :]).reshape(-1, 3)
        k = np.repeat(ops, len(n))
        self_image = np.all(np.abs(s) < 1e-6, axis=1)
        return s[~self_image], k[~self_image]

    def _n_range(self, p: np.ndarray, ops: np.ndarray, cell_min: np.ndarray, radius: float
                 ) -> tuple[np.ndarray, np.ndarray]:
        """Lattice translations that can bring an image within reach of molecule 0 for edges >= cell_min."""
        base = np.einsum("kij,j->ki", self.R[ops], p) + self.t[ops] - p
        sb = np.sin(np.radians(self.beta_range[1]))
        span = (2 * radius + self.reach) / (cell_min[:3] * np.array([sb, 1.0, sb]))
        lo = np.floor(-span - base.max(axis=0)) - 1
        hi = np.ceil(span - base.min(axis=0)) + 1
        return lo, hi

    def _geometry(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A[k] (N*N, 3) = W_k y_j - y_i for every operator k, and G[k] = |A[k]|^2 (per orientation)."""
        wy = np.einsum("kab,jb->kja", self.W, y)  # (K, N, 3)
        n = len(y)
        a = (wy[:, None, :, :] - y[None, :, None, :]).reshape(len(self.W), n * n, 3)
        return a, np.einsum("kpx,kpx->kp", a, a)

    def _dot_images(self, geo: tuple[np.ndarray, np.ndarray], k: np.ndarray, vecs: list[np.ndarray]
                    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """For images m (operator k[m]): |A|^2 (N*N, M) and A . v_m (N*N, M) for each vector list v."""
        a, g = geo
        order = np.argsort(k, kind="stable")
        ks = k[order]
        gs = np.empty((a.shape[1], len(k)))
        outs = [np.empty((a.shape[1], len(k))) for _ in vecs]
        for op in np.unique(ks):
            sel = np.flatnonzero(ks == op)
            gs[:, sel] = g[op][:, None]
            for out, v in zip(outs, vecs):
                out[:, sel] = a[op] @ v[order[sel]].T
        inv = np.empty_like(order)
        inv[order] = np.arange(len(order))
        return gs[:, inv], [o[:, inv] for o in outs]

    # ----------------------------------------------------------------------------------------- checks

    def min_ratio(self, cell: np.ndarray, y: np.ndarray, p: np.ndarray, ops: np.ndarray,
                  geo: tuple[np.ndarray, np.ndarray] | None = None) -> float:
        """Smallest d_ij / threshold_ij over all intermolecular pairs (>= 1 means clash-free)."""
        radius = float(np.linalg.norm(y, axis=1).max())
        lo, hi = self._n_range(p, ops, np.asarray(cell, dtype=np.float64), radius)
        s, k = self._shifts(p, ops, lo, hi)
        v = s @ orthogonalisation(cell).T
        near = np.linalg.norm(v, axis=1) <= 2 * radius + self.reach
        if not near.any():
            return np.inf
        geo = geo if geo is not None else self._geometry(y)
        vn = v[near]
        g, (av,) = self._dot_images(geo, k[near], [vn])
        d2 = g + 2 * av + np.einsum("mx,mx->m", vn, vn)[None, :]
        return float(np.sqrt((d2 / self.thr2.reshape(-1)[:, None]).min()))

    # ----------------------------------------------------------------------------------------- moves

    def _axis_vectors(self, cell: np.ndarray, s: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
        """O s split as v_rest + x * w for edge `axis` (0 a, 1 b, 2 c)."""
        cb, sb = np.cos(np.radians(cell[3])), np.sin(np.radians(cell[3]))
        cols = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [cb, 0.0, sb]])  # unit edge directions
        w = s[:, axis, None] * cols[axis][None, :]
        v_rest = s @ (cols * np.asarray(cell[:3])[:, None]) - cell[axis] * w
        return v_rest, w

    def compress_edge(self, cell: np.ndarray, y: np.ndarray, p: np.ndarray, ops: np.ndarray, axis: int,
                      radius: float, geo: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """The cell with edge `axis` shortened to the first contact (exact, from the pair quadratics)."""
        x0 = float(cell[axis])
        thr2 = self.thr2.reshape(-1)[:, None]
        while True:
            x_lb = max(self.min_edge, 0.75 * x0)
            if x_lb >= x0:
                return cell
            cmin = cell.copy()
            cmin[axis] = x_lb
            lo, hi = self._n_range(p, ops, cmin, radius)
            s, k = self._shifts(p, ops, lo, hi)
            v_rest, w = self._axis_vectors(cell, s, axis)
            # keep images whose centre comes within reach somewhere on x in [x_lb, x0]
            ww = np.einsum("mx,mx->m", w, w)
            moving = ww > 1e-12
            xs = np.where(moving, -np.einsum("mx,mx->m", v_rest, w) / np.where(moving, ww, 1.0), x0)
            xs = np.clip(xs, x_lb, x0)
            closest = np.linalg.norm(v_rest + xs[:, None] * w, axis=1)
            near = moving & (closest <= 2 * radius + self.reach)
            if not near.any():
                x_new = x_lb
            else:
                vr, wn = v_rest[near], w[near]
                g, (av, aw) = self._dot_images(geo, k[near], [vr, wn])
                qa = ww[near][None, :]
                qb = 2.0 * (aw + np.einsum("mx,mx->m", vr, wn)[None, :])
                qc = g + 2.0 * av + np.einsum("mx,mx->m", vr, vr)[None, :] - thr2
                disc = qb * qb - 4.0 * qa * qc
                ok = disc > 0
                x_hi = (-qb[ok] + np.sqrt(disc[ok])) / (2.0 * np.broadcast_to(qa, qb.shape)[ok])
                x_hi = x_hi[x_hi <= x0 * (1 + 1e-9)]
                x_new = max(float(x_hi.max()) if x_hi.size else -np.inf, x_lb)
            out = cell.copy()
            out[axis] = min(x0, x_new * (1.0 + 1e-6))
            if x_new > x_lb or out[axis] <= self.min_edge * (1 + 1e-6):
                return out
            cell, x0 = out, float(out[axis])  # reached the search floor without contact: go on below it

    def compress_beta(self, cell: np.ndarray, y: np.ndarray, p: np.ndarray, ops: np.ndarray,
                      radius: float, geo: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """The cell with beta opened up to the first contact (volume shrinks as sin beta), exactly.

        With P = A + a s1 x + b s2 y, |d|^2 = |P|^2 + 2 c s3 (P_x cos beta + P_z sin beta) + c^2 s3^2, so
        each pair clashes on an arc of beta; the first arc above the current beta stops it.
        """
        b0, b_max = float(cell[3]), self.beta_range[1]
        if b0 >= b_max - 1e-6:
            return cell
        lo, hi = self._n_range(p, ops, cell, radius)
        s, k = self._shifts(p, ops, lo, hi)
        betas = np.radians(np.linspace(b0, b_max, 7))
        u = np.stack([np.cos(betas), np.zeros_like(betas), np.sin(betas)], axis=1)  # (7, 3)
        vab = s[:, :2] * np.asarray(cell[:2])[None, :]
        vab = np.stack([vab[:, 0], vab[:, 1], np.zeros(len(s))], axis=1)
        cs3 = cell[2] * s[:, 2]
        pts = vab[:, None, :] + cs3[:, None, None] * u[None, :, :]
        sag = np.abs(cs3) * (betas[1] - betas[0]) ** 2 / 8 + 1e-6
        near = np.linalg.norm(pts, axis=2).min(axis=1) <= 2 * radius + self.reach + sag + \
            np.abs(cs3) * (betas[1] - betas[0])
        if not near.any():
            out = cell.copy()
            out[3] = b_max
            return out
        vn, cn = vab[near], cs3[near]
        ex, ez = np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.0, 1.0])
        g, (ax, az, av) = self._dot_images(geo, k[near], [np.tile(ex, (len(vn), 1)),
                                                         np.tile(ez, (len(vn), 1)), vn])
        px = ax + vn[None, :, 0]
        pz = az + vn[None, :, 2]
        p2 = g + 2 * av + np.einsum("mx,mx->m", vn, vn)[None, :]
        kappa = self.thr2.reshape(-1)[:, None] - p2 - (cn**2)[None, :]
        gam = 2 * cn[None, :] * np.hypot(px, pz)
        phi = np.arctan2(pz, px) + np.where(gam < 0, np.pi, 0.0)
        gam = np.abs(gam)
        ratio = np.where(gam > 1e-12, kappa / np.where(gam > 1e-12, gam, 1.0), np.inf)
        arc = (ratio > -1.0) & (ratio < 1.0)
        start = phi[arc] + np.arccos(ratio[arc])  # clash arc: (start, phi + 2 pi - arccos)
        b0r = np.radians(b0)
        first = start + 2 * np.pi * np.ceil((b0r - start) / (2 * np.pi))
        b_new = min(float(np.degrees(first.min())) if first.size else b_max, b_max)
        out = cell.copy()
        out[3] = max(b0, b_new - 1e-5)
        return out

    def compress_uniform(self, cell: np.ndarray, y: np.ndarray, p: np.ndarray, ops: np.ndarray,
                         radius: float, geo: tuple[np.ndarray, np.ndarray], lam_min: float = 0.25) -> np.ndarray:
        """The cell scaled down (all edges alike) to the first contact, exactly; as far as lam_min."""
        lo, hi = self._n_range(p, ops, cell * np.array([lam_min, lam_min, lam_min, 1.0]), radius)
        s, k = self._shifts(p, ops, lo, hi)
        v0 = s @ orthogonalisation(cell).T
        near = np.linalg.norm(v0, axis=1) * lam_min <= 2 * radius + self.reach
        if not near.any():
            out = cell.copy()
            out[:3] *= lam_min
            return out
        vn = v0[near]
        g, (av,) = self._dot_images(geo, k[near], [vn])
        qa = np.einsum("mx,mx->m", vn, vn)[None, :]
        qb = 2.0 * av
        qc = g - self.thr2.reshape(-1)[:, None]
        disc = qb * qb - 4.0 * qa * qc
        ok = disc > 0
        lam_hi = (-qb[ok] + np.sqrt(disc[ok])) / (2 * np.broadcast_to(qa, qb.shape)[ok])
        lam_hi = lam_hi[lam_hi <= 1.0 + 1e-9]
        lam = max(float(lam_hi.max()) if lam_hi.size else lam_min, lam_min)
        out = cell.copy()
        out[:3] *= min(1.0, lam * (1 + 1e-6))
        return out

    def expand_uniform(self, cell: np.ndarray, y: np.ndarray, p: np.ndarray, ops: np.ndarray,
                       radius: float, geo: tuple[np.ndarray, np.ndarray], lam_max: float = 3.0
                       ) -> np.ndarray | None:
        """The cell scaled by the smallest factor >= 1 that clears every clash (exact), or None."""
        lo, hi = self._n_range(p, ops, cell, radius)
        s, k = self._shifts(p, ops, lo, hi)
        v0 = s @ orthogonalisation(cell).T
        near = np.linalg.norm(v0, axis=1) <= 2 * radius + self.reach
        if not near.any():
            return cell
        vn = v0[near]
        g, (av,) = self._dot_images(geo, k[near], [vn])
        qa = np.einsum("mx,mx->m", vn, vn)[None, :]
        qb = 2.0 * av
        qc = g - self.thr2.reshape(-1)[:, None]
        disc = qb * qb - 4.0 * qa * qc
        ok = disc > 0
        root = np.sqrt(disc[ok])
        qa_ok = np.broadcast_to(qa, qb.shape)[ok]
        lam_lo = (-qb[ok] - root) / (2 * qa_ok)
        lam_hi = (-qb[ok] + root) / (2 * qa_ok)
        keep = lam_hi > 1.0
        lam_lo, lam_hi = lam_lo[keep], lam_hi[keep]
        if lam_lo.size == 0:
            return cell
        lam = 1.0
        order = np.argsort(lam_lo)
        for lo_, hi_ in zip(lam_lo[order], lam_hi[order]):  # sweep the merged clash intervals
            if lo_ > lam:
                break
            lam = max(lam, hi_ * (1 + 1e-6))
        if lam > lam_max:
            return None
        out = cell.copy()
        out[:3] *= lam
        return out

    # ----------------------------------------------------------------------------------------- driver

    def pack(
        self,
        coords: np.ndarray,
        rng: np.random.Generator,
        site: np.ndarray | None = None,
        moves: int = 12,
        rounds: int = 6,
        beta: float = 100.0,
        turn_sigma: float = 0.12,
        shift_sigma: float = 0.03,
    ) -> Packing | None:
        """Pack `coords` (Cartesian, centred on the molecule's centre) with a random orientation.

        site: fixed fractional centre (an inversion centre for Z' = 1/2); else p is random.
        Returns None when no clash-free start is found (the caller checks the edges).
        """
        y = np.asarray(coords, dtype=np.float64) @ random_rotation(rng).T
        radius = float(np.linalg.norm(y, axis=1).max())
        fixed = site is not None
        for _ in range(20):
            p = np.array(site, dtype=np.float64) if fixed else rng.random(3)
            ops = self.distinct_ops(p)
            edge = 2 * (2 * radius + self.reach)
            cell = np.array([edge, edge, edge, beta])
            if self.min_ratio(cell, y, p, ops) >= 1.0:
                break
            if fixed:
                y = np.asarray(coords, dtype=np.float64) @ random_rotation(rng).T
        else:
            return None
        geo = self._geometry(y)
        cell = self.compress_uniform(cell, y, p, ops, radius, geo)
        cell, n_rounds = self._compress(cell, y, p, ops, radius, rng, rounds, geo)
        accepted = 0
        for _ in range(moves):
            y2 = y @ small_rotation(rng, turn_sigma).T
            p2 = p if fixed else (p + rng.normal(0.0, shift_sigma, 3)) % 1.0
            ops2 = ops if fixed else self.distinct_ops(p2)
            geo2 = self._geometry(y2)
            start = self.expand_uniform(cell, y2, p2, ops2, radius, geo2)
            if start is None:
                continue
            trial, r = self._compress(start, y2, p2, ops2, radius, rng, 2, geo2)
            n_rounds += r
            if volume(trial) < volume(cell) * (1 - 1e-4):
                cell, y, p, ops, geo = trial, y2, p2, ops2, geo2
                accepted += 1
        ratio = self.min_ratio(cell, y, p, ops)
        if ratio < 1.0 - 1e-4:
            raise RuntimeError(f"packing left a clash (d/threshold {ratio:.3f})")  # a bug, never data
        return Packing(cell=cell, y=y, p=p, ops=ops, min_ratio=ratio, rounds=n_rounds, moves_accepted=accepted)

    def _compress(self, cell: np.ndarray, y: np.ndarray, p: np.ndarray, ops: np.ndarray, radius: float,
                  rng: np.random.Generator, rounds: int, geo: tuple[np.ndarray, np.ndarray]
                  ) -> tuple[np.ndarray, int]:
        done = 0
        for _ in range(rounds):
            v_before = volume(cell)
            for move in rng.permutation(4 if self.beta_moves else 3):
                if move < 3:
                    cell = self.compress_edge(cell, y, p, ops, int(move), radius, geo)
                else:
                    cell = self.compress_beta(cell, y, p, ops, radius, geo)
            done += 1
            if volume(cell) > v_before * 0.99:
                break
        return cell, done


def _wrap(x: np.ndarray) -> np.ndarray:
    return x - np.rint(x)


# --------------------------------------------------------------------------------------------- soft relaxation


class SoftRelaxer:
    """Dense packing by relaxation under pressure with soft contacts (FIRE), then an exact clean-up.

    The hard compress-to-contact search jams early: every turn of the molecule needs room first. Here the
    contacts are soft, E = P V + sum (threshold^2/d^2 - 1)^2 over overlapping pairs, so molecules slide
    along each other while the pressure shrinks the cell; cell edges, beta, the molecule's orientation and its
    position all move by FIRE (Bitzek et al. 2006) on the analytic gradient. The few remaining small
    overlaps are then removed by the exact uniform expansion of `Packer`, so the result is clash-free.
    """

    def __init__(self, packer: Packer, pressure: float = 1e-2, steps: int = 300, rebuild_max: int = 50,
                 skin: float = 1.5, max_move: float = 0.1, squeeze: float = 0.7, release: float = 0.02) -> None:
        self.pk = packer
        self.pressure = pressure
        self.steps = steps
        self.rebuild_max = rebuild_max
        self.skin = skin
        self.max_move = max_move
        self.squeeze = squeeze
        self.beta_pressure = 0.0
        self.kicks = False
        self.ramp = 0.0
        self.kick_every = 100
        self.kick_turn = 0.1
        self.kick_shift = 0.01
        self._krng = np.random.default_rng(0)
        self.release = release

    def _neighbours(self, cell: np.ndarray, y: np.ndarray, p: np.ndarray, ops: np.ndarray, radius: float):
        pk = self.pk
        lo, hi = pk._n_range(p, ops, cell, radius)
        s, k = pk._shifts(p, ops, lo, hi)
        v = s @ orthogonalisation(cell).T
        near = np.linalg.norm(v, axis=1) <= 2 * radius + pk.reach + self.skin
        s, k, v = s[near], k[near], v[near]
        if not len(s):
            return None
        from scipy.spatial import cKDTree

        n = len(y)
        wy = np.einsum("kab,jb->kja", pk.W, y)  # (K, N, 3)
        img = (wy[k] + v[:, None, :]).reshape(-1, 3)  # (M*N, 3)
        found = cKDTree(y).sparse_distance_matrix(cKDTree(img), pk.reach + self.skin, output_type="ndarray")
        i, flat = found["i"].astype(np.int64), found["j"].astype(np.int64)
        m, j = flat // n, flat % n
        keep = found["v"] < pk.thr[i, j] + self.skin
        i, m, j = i[keep], m[keep], j[keep]
        tn = s[m] - np.einsum("mab,b->ma", pk.R[k[m]] - np.eye(3)[None], p)  # t_k + n, so s follows p
        return tn, k[m], i, j

    def energy_grad(self, cell, y, p, nb, fixed):
        """E and gradients wrt (a, b, c, beta), the molecule's Cartesian coordinates y, and p."""
        tn, k, i, j = nb
        pk = self.pk
        n = len(y)
        kj = k * n + j  # index of the image atom in the (K, N) table W_k y
        s = np.einsum("mab,b->ma", pk.R[k] - np.eye(3)[None], p) + tn if not fixed else tn + self._rp[k]
        cb, sb = np.cos(np.radians(cell[3])), np.sin(np.radians(cell[3]))
        o = orthogonalisation(cell)
        wy = np.einsum("kab,jb->kja", pk.W, y).reshape(-1, 3)
        d_vec = wy[kj] - y[i] + s @ o.T
        d = np.sqrt(np.einsum("mx,mx->m", d_vec, d_vec))
        thr = pk.thr[i, j]
        dd = np.maximum(d, 1e-3)
        over = np.clip(thr**2 / dd**2 - 1.0, 0.0, None)  # diverges as d -> 0: atoms cannot pass through
        vol = cell[0] * cell[1] * cell[2] * sb
        e = self.pressure * vol + float(np.sum(over**2))
        gd = (-4.0 * over * thr**2 / dd**4)[:, None] * d_vec  # dE/dD per pair
        size = len(pk.W) * n
        g_wy = np.stack([np.bincount(kj, weights=gd[:, x], minlength=size) for x in range(3)], axis=1)
        g_y = np.einsum("kba,kjb->ja", pk.W, g_wy.reshape(len(pk.W), n, 3))
        g_y -= np.stack([np.bincount(i, weights=gd[:, x], minlength=n) for x in range(3)], axis=1)
        g_cell = np.array([
            np.dot(gd[:, 0], s[:, 0]) + self.pressure * cell[1] * cell[2] * sb,
            np.dot(gd[:, 1], s[:, 1]) + self.pressure * cell[0] * cell[2] * sb,
            np.dot(gd[:, 0] * cb + gd[:, 2] * sb, s[:, 2]) + self.pressure * cell[0] * cell[1] * sb,
            # no pressure on beta: shearing at fixed edges always shrinks V, so it would drive beta to a bound;
            # beta moves only where contacts push it (its start is drawn from a realistic distribution)
            np.radians(1.0) * (np.dot(cell[2] * s[:, 2], -gd[:, 0] * sb + gd[:, 2] * cb)
                               + self.beta_pressure * self.pressure * cell[0] * cell[1] * cell[2] * cb),
        ])
        if fixed:
            g_p = np.zeros(3)
        else:
            # dE/dp = sum_m gd_m . O (R_k - I): gather per operator first (few operators, many pairs)
            go = gd @ o  # (M, 3): gd^T O per pair
            acc = np.stack([np.bincount(k, weights=go[:, x], minlength=len(pk.W)) for x in range(3)], axis=1)
            g_p = np.einsum("ka,kab->b", acc, pk.R - np.eye(3)[None])
        return e, g_cell, g_y, g_p, float(over.max(initial=0.0))

    def relax(self, cell: np.ndarray, y: np.ndarray, p: np.ndarray, ops: np.ndarray, fixed: bool,
              flex: Flexibility | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """FIRE on (cell, orientation, position[, torsions]); returns (cell, y, p), maybe with small overlaps.

        flex: free torsions of the molecule (turned by the contact forces against a harmonic restraint
        towards their start, with intramolecular contacts kept apart), so that the molecule can adapt its
        conformation to the packing as real flexible molecules do.
        """
        pk = self.pk
        radius = float(np.linalg.norm(y, axis=1).max())
        cell, y, p = cell.copy(), y.copy(), p.copy()
        n_t = len(flex.torsions) if flex is not None else 0
        # generalised coordinates in A: edges, c*beta, radius*rotation, edge*p, lever*torsion
        vel = np.zeros(10 + n_t)
        phi = np.zeros(n_t)
        lever = np.ones(n_t)
        if n_t:
            for t, (a, b, mov) in enumerate(flex.torsions):
                u = y[b] - y[a]
                u /= np.linalg.norm(u)
                r = y[mov] - y[b]
                lever[t] = max(1.0, float(np.linalg.norm(r - np.outer(r @ u, u), axis=1).max()))
        dt, dt_max, alpha, n_pos = 0.05, 0.4, 0.1, 0
        nb = None
        travel, built = 0.0, 0
        self._rp = np.einsum("kab,b->ka", pk.R - np.eye(3)[None], p)
        pressure = self.pressure
        for step in range(self.steps):
            if step == int(self.squeeze * self.steps):  # then let the overlaps out at almost no pressure
                self.pressure, vel[:], dt, alpha, n_pos = pressure * self.release, 0.0, 0.05, 0.1, 0
            elif step < self.squeeze * self.steps and self.ramp:
                self.pressure = pressure * (self.ramp + (1 - self.ramp) * step / (self.squeeze * self.steps))
            if self.kicks and step and step % self.kick_every == 0 and step < self.squeeze * self.steps - self.kick_every:
                # a shake under pressure: the soft walls push the overlaps out, and the packing can leave a
                # local minimum (annealing by kicks)
                krng = self._krng
                y = y @ small_rotation(krng, self.kick_turn).T
                if not fixed:
                    p = (p + krng.normal(0.0, self.kick_shift, 3)) % 1.0
                    self._rp = np.einsum("kab,b->ka", pk.R - np.eye(3)[None], p)
                vel[:] = 0.0
                nb = None
            if nb is None or travel > self.skin / 2 or step - built >= self.rebuild_max:
                # rebuild the pair list once two atoms may have closed in by a skin since the last one
                nb = self._neighbours(cell, y, p, ops, radius + (1.0 if n_t else 0.0))
                travel, built = 0.0, step
                if nb is None:  # nothing in reach yet: plain compression
                    cell[:3] *= 0.9
                    continue
            _, g_cell, g_y, g_p, _ = self.energy_grad(cell, y, p, nb, fixed)
            g_phi = np.zeros(n_t)
            if n_t:
                g_y = g_y + _intramolecular_grad(y, flex.pairs, flex.thr2)
            yxg = _cross(y, g_y)
            torque = yxg.sum(axis=0)
            if n_t:
                # dE/dphi_t = u_t . sum_{a moving} (y_a - y_b) x g_a, for all torsions at once
                u = y[flex.b] - y[flex.a]
                u /= np.sqrt(np.einsum("tx,tx->t", u, u))[:, None]
                s1 = flex.member @ yxg
                g1 = flex.member @ g_y
                g_phi = np.einsum("tx,tx->t", u, s1 - _cross(y[flex.b], g1)) + 2.0 * flex.stiffness * phi
            lengths = np.array([cell[0], cell[1], cell[2]])
            force = -np.concatenate([
                g_cell[:3],
                [g_cell[3] / (cell[2] * np.radians(1.0))],  # per A of c*beta
                torque / radius,
                np.zeros(3) if fixed else g_p / lengths,
                g_phi / lever,
            ])
            power = float(force @ vel)
            fn = np.linalg.norm(force)
            if power > 0:
                vel = (1 - alpha) * vel + alpha * fn * vel / max(np.linalg.norm(vel), 1e-12) if fn > 0 else vel
                n_pos += 1
                if n_pos > 5:
                    dt, alpha = min(dt * 1.1, dt_max), alpha * 0.99
            else:
                vel[:] = 0.0
                dt, alpha, n_pos = dt * 0.5, 0.1, 0
            vel = vel + dt * force
            move = dt * vel
            big = np.abs(move).max()
            if big > self.max_move:
                move *= self.max_move / big
            # how far an atom of molecule 0 or of a neighbour (at most ~2 cells away) can have moved
            travel += 2.0 * float(np.abs(move[:4]).sum()) + float(np.sqrt(move[4:7] @ move[4:7])) + \
                float(np.sqrt(move[7:10] @ move[7:10])) + float(np.abs(move[10:]).sum())
            cell[:3] = np.maximum(cell[:3] + move[:3], pk.min_edge)
            beta = cell[3] + np.degrees(move[3] / cell[2])
            cell[3] = float(np.clip(beta, *pk.beta_range))
            rot = move[4:7] / radius
            ang = float(np.sqrt(rot @ rot))
            if ang > 0:
                y = y @ _rodrigues(rot / ang, ang).T
            if not fixed:
                p = (p + move[7:10] / lengths) % 1.0
                self._rp = np.einsum("kab,b->ka", pk.R - np.eye(3)[None], p)
            if n_t:
                dphi = move[10:] / lever
                phi += dphi
                for t in np.flatnonzero(dphi):
                    a, b, mov = flex.torsions[t]
                    u = y[b] - y[a]
                    u /= np.sqrt(u @ u)
                    y[mov] = (y[mov] - y[b]) @ _rodrigues(u, dphi[t]).T + y[b]
        self.pressure = pressure
        return cell, y, p


@dataclass
class Flexibility:
    """Free torsions for `SoftRelaxer.relax`: (a, b, moving atoms) each, intramolecular pairs to keep apart
    (more than 3 bonds apart) with their squared thresholds, and the torsion restraint constant."""

    torsions: list[tuple[int, int, np.ndarray]]
    pairs: np.ndarray  # (P, 2)
    thr2: np.ndarray  # (P,)
    stiffness: float = 2.0
    n_atoms: int = 0

    def __post_init__(self) -> None:
        n = self.n_atoms or (1 + max(int(m.max()) for _, _, m in self.torsions) if self.torsions else 0)
        self.a = np.array([t[0] for t in self.torsions], dtype=np.int64)
        self.b = np.array([t[1] for t in self.torsions], dtype=np.int64)
        self.member = np.zeros((len(self.torsions), n))
        for t, (_, _, mov) in enumerate(self.torsions):
            self.member[t, mov] = 1.0


def _cross(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Row-wise cross product (numpy's np.cross costs ~10x more on small arrays)."""
    return np.stack([u[:, 1] * v[:, 2] - u[:, 2] * v[:, 1], u[:, 2] * v[:, 0] - u[:, 0] * v[:, 2],
                     u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0]], axis=1)


def _rodrigues(axis: np.ndarray, ang: float) -> np.ndarray:
    x, y, z = (float(v) for v in axis)
    c, s = np.cos(ang), np.sin(ang)
    t = 1.0 - c
    return np.array([[c + x * x * t, x * y * t - z * s, x * z * t + y * s],
                     [y * x * t + z * s, c + y * y * t, y * z * t - x * s],
                     [z * x * t - y * s, z * y * t + x * s, c + z * z * t]])


def _intramolecular_grad(y: np.ndarray, pairs: np.ndarray, thr2: np.ndarray) -> np.ndarray:
    """Gradient of sum (thr^2/d^2 - 1)^2 over overlapping intramolecular pairs."""
    g = np.zeros_like(y)
    if not len(pairs):
        return g
    dv = y[pairs[:, 0]] - y[pairs[:, 1]]
    d2 = np.maximum(np.einsum("px,px->p", dv, dv), 1e-6)
    over = np.clip(thr2 / d2 - 1.0, 0.0, None)
    hit = over > 0
    if not hit.any():
        return g
    gv = (-4.0 * over[hit] * thr2[hit] / d2[hit] ** 2)[:, None] * dv[hit]
    n = len(y)
    for x in range(3):
        g[:, x] += np.bincount(pairs[hit, 0], weights=gv[:, x], minlength=n)
        g[:, x] -= np.bincount(pairs[hit, 1], weights=gv[:, x], minlength=n)
    return g
