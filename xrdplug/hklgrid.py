"""The dense hkl grids the models see, in pure numpy (training never loads cctbx).

Laue class 2/m with b unique: (h,k,l) ~ (-h,k,-l) ~ (h,-k,l) ~ (-h,-k,-l). Every reflection therefore has
a representative with k >= 0 and l >= 0, unique except on the l = 0 plane where (h,k,0) ~ (-h,k,0).
The grid holds h in [-H, H], k in [0, K], l in [0, L] at index [h + H, k, l]; on l = 0 both mates are
filled, so the grid is symmetric there and reading back either mate gives the same value. Anything
outside the grid is reported, never silently dropped.
"""

from __future__ import annotations

import numpy as np

H_MAX, K_MAX, L_MAX = 20, 20, 20
# the fixed grid of the first models (cells to 16 A at 0.8 A); grids are now sized per cell (grid_shape)
GRID_SHAPE: tuple[int, int, int] = (2 * H_MAX + 1, K_MAX + 1, L_MAX + 1)

# The cells `bench extend` and `bench train` time: an edge of 8, 16 and 28 A (monoclinic, b unique).
BENCH_CELLS: dict[str, tuple[float, ...]] = {
    "small (8 A)": (8.0, 6.0, 7.0, 90.0, 100.0, 90.0),
    "medium (16 A)": (16.0, 8.0, 12.0, 90.0, 100.0, 90.0),
    "large (28 A)": (28.0, 10.0, 20.0, 90.0, 100.0, 90.0),
}


def canonical_indices(hkl: np.ndarray) -> np.ndarray:
    """Map (N,3) integer indices to their 2/m representative with k >= 0 and l >= 0."""
    hkl = np.asarray(hkl, dtype=np.int64).reshape(-1, 3).copy()
    h, k, l = hkl[:, 0], hkl[:, 1], hkl[:, 2]
    # (h,k,l) -> (-h,k,-l) makes l >= 0; (h,k,l) -> (h,-k,l) makes k >= 0.
    flip_l = l < 0
    h[flip_l], l[flip_l] = -h[flip_l], -l[flip_l]
    k[:] = np.abs(k)
    return hkl


def fits(hkl: np.ndarray, shape: tuple[int, int, int] = GRID_SHAPE) -> np.ndarray:
    """Boolean per index: does its representative lie inside the grid?"""
    c = canonical_indices(hkl)
    hm = (shape[0] - 1) // 2
    return (np.abs(c[:, 0]) <= hm) & (c[:, 1] < shape[1]) & (c[:, 2] < shape[2])


def grid_positions(hkl: np.ndarray, shape: tuple[int, int, int] = GRID_SHAPE) -> tuple[np.ndarray, ...]:
    """Grid index tuple (ih, ik, il) of each reflection's representative; raises if any is outside."""
    c = canonical_indices(hkl)
    inside = fits(c, shape)
    if not inside.all():
        bad = c[~inside][0]
        raise ValueError(
            f"{int((~inside).sum())} reflections lie outside the model grid "
            f"(|h|<={(shape[0] - 1) // 2}, k<={shape[1] - 1}, l<={shape[2] - 1}), e.g. {tuple(int(x) for x in bad)}"
        )
    hm = (shape[0] - 1) // 2
    return c[:, 0] + hm, c[:, 1], c[:, 2]


def to_grid(
    hkl: np.ndarray, values: np.ndarray, shape: tuple[int, int, int] = GRID_SHAPE, fill: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Scatter values onto the grid. Returns (grid, mask), mask True where a reflection sits."""
    ih, ik, il = grid_positions(hkl, shape)
    grid = np.full(shape, fill, dtype=np.float32)
    mask = np.zeros(shape, dtype=bool)
    values = np.asarray(values, dtype=np.float32)
    grid[ih, ik, il] = values
    mask[ih, ik, il] = True
    # l = 0 plane: (h,k,0) and (-h,k,0) are the same reflection.
    hm = (shape[0] - 1) // 2
    zero = il == 0
    grid[2 * hm - ih[zero], ik[zero], 0] = values[zero]
    mask[2 * hm - ih[zero], ik[zero], 0] = True
    return grid, mask


def from_grid(grid: np.ndarray, hkl: np.ndarray) -> np.ndarray:
    """Read the grid back at the given indices (any symmetry mate)."""
    ih, ik, il = grid_positions(hkl, grid.shape[-3:])  # type: ignore[arg-type]
    return np.asarray(grid)[..., ih, ik, il]


def inverse_d_squared(hkl: np.ndarray, cell: tuple[float, float, float, float, float, float]) -> np.ndarray:
    """1/d^2 for monoclinic (b unique) indices, from the direct cell (a, b, c, alpha, beta, gamma)."""
    a, b, c, _, beta, _ = cell
    hkl = np.asarray(hkl, dtype=np.float64).reshape(-1, 3)
    h, k, l = hkl[:, 0], hkl[:, 1], hkl[:, 2]
    sb, cb = np.sin(np.radians(beta)), np.cos(np.radians(beta))
    return (h**2 / a**2 + l**2 / c**2 - 2 * h * l * cb / (a * c)) / sb**2 + k**2 / b**2


def max_indices(cell: tuple[float, float, float, float, float, float], d_min: float) -> tuple[int, int, int]:
    """Largest |h|, |k|, |l| a reflection with d >= d_min can have in this monoclinic cell."""
    # min over l of 1/d^2 at fixed h is h^2/a^2 (and likewise for l), so |h| <= a/d_min exactly.
    a, b, c = cell[:3]
    return int(a / d_min + 1e-9), int(b / d_min + 1e-9), int(c / d_min + 1e-9)


def cell_fits(cell: tuple[float, float, float, float, float, float], d_min: float,
              shape: tuple[int, int, int] = GRID_SHAPE) -> bool:
    """Does every reflection to d_min of this cell land inside the grid?"""
    hmax, kmax, lmax = max_indices(cell, d_min)
    return hmax <= (shape[0] - 1) // 2 and kmax < shape[1] and lmax < shape[2]


def grid_shape(cell: tuple[float, float, float, float, float, float], d_min: float) -> tuple[int, int, int]:
    """The smallest grid that holds every reflection of this cell to d_min: (2H+1, K+1, L+1)."""
    hmax, kmax, lmax = max_indices(cell, d_min)
    return 2 * hmax + 1, kmax + 1, lmax + 1


def reciprocal_basis(cell: tuple[float, float, float, float, float, float]) -> np.ndarray:
    """(3, 3) matrix whose rows are a*, b*, c* in Cartesian A^-1 (any cell; s = hkl @ basis)."""
    a, b, c, al, be, ga = cell
    al, be, ga = np.radians([al, be, ga])
    ca, cb, cg, sg = np.cos(al), np.cos(be), np.cos(ga), np.sin(ga)
    v = a * b * c * np.sqrt(1 - ca**2 - cb**2 - cg**2 + 2 * ca * cb * cg)
    # orthogonalisation (x along a, y in the a,b plane); reciprocal rows = inverse transposed
    m = np.array([[a, b * cg, c * cb], [0.0, b * sg, c * (ca - cb * cg) / sg], [0.0, 0.0, v / (a * b * sg)]])
    return np.linalg.inv(m)


def reciprocal_cartesian(hkl: np.ndarray, cell: tuple[float, float, float, float, float, float]) -> np.ndarray:
    """(N, 3) Cartesian reciprocal-space vectors s (A^-1) of the indices; |s|^2 = 1/d^2."""
    return np.asarray(hkl, dtype=np.float64).reshape(-1, 3) @ reciprocal_basis(cell)


def grid_reciprocal_cartesian(
    cell: tuple[float, float, float, float, float, float], shape: tuple[int, int, int]
) -> np.ndarray:
    """(3, *shape) Cartesian s of every grid point (h = i - H, k = j, l = k) for this cell."""
    hm = (shape[0] - 1) // 2
    h, k, l = np.meshgrid(np.arange(-hm, shape[0] - hm), np.arange(shape[1]), np.arange(shape[2]), indexing="ij")
    hkl = np.stack([h.ravel(), k.ravel(), l.ravel()], axis=1)
    return reciprocal_cartesian(hkl, cell).T.reshape(3, *shape)
