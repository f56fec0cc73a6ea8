"""Hashed lattice noise on a global pixel grid: the simulator's source of every texture.

Every value is a pure function of (seed, map coordinates): lattice corners are hashed
with a 32-bit integer mix, so the noise exists everywhere on Earth without any stored
state, and two reads of the same ground give bit-identical values.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

#: Half the width of the web-mercator square, in metres.
HALF_WORLD = 20037508.342789244


class Grid(NamedTuple):
    """A regular grid of pixel centres in EPSG:3857, anchored on a global pixel index.

    Pixel ``(row, col)`` has its centre at ``x = -HALF_WORLD + (col0 + col + 0.5) * res``
    and ``y = HALF_WORLD - (row0 + row + 0.5) * res``. Computing coordinates from the
    global index (never from a tile's corner) makes neighbouring reads agree bit for bit.
    """

    col0: int
    row0: int
    width: int
    height: int
    res: float

    @property
    def xs(self) -> np.ndarray:
        """Pixel-centre x in metres, shape ``(width,)`` float64."""
        return -HALF_WORLD + (np.arange(self.col0, self.col0 + self.width) + 0.5) * self.res

    @property
    def ys(self) -> np.ndarray:
        """Pixel-centre y in metres, shape ``(height,)`` float64."""
        return HALF_WORLD - (np.arange(self.row0, self.row0 + self.height) + 0.5) * self.res

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) of the pixel edges."""
        xmin = -HALF_WORLD + self.col0 * self.res
        ymax = HALF_WORLD - self.row0 * self.res
        return xmin, ymax - self.height * self.res, xmin + self.width * self.res, ymax

    def refine(self, factor: int) -> Grid:
        """The same ground cut into ``factor x factor`` sub-pixels."""
        return Grid(
            self.col0 * factor,
            self.row0 * factor,
            self.width * factor,
            self.height * factor,
            self.res / factor,
        )


def mix32(*keys) -> np.ndarray:
    """Hash integer arrays (broadcast together) to uniform ``uint32`` (murmur3 finaliser).

    Examples
    --------
    >>> int(mix32(1, 2)) == int(mix32(1, 2)) != int(mix32(2, 1))
    True
    """
    h = np.uint32(0x9E3779B9)
    primes = (0x85EBCA6B, 0xC2B2AE35, 0x27D4EB2F, 0x165667B1, 0xD3A2646C, 0xFD7046C5)
    with np.errstate(over="ignore"):
        for k, key in enumerate(keys):
            v = np.asarray(key).astype(np.int64).astype(np.uint32)
            h = (h ^ (v * np.uint32(primes[k % len(primes)]))) * np.uint32(0x9E3779B1)
            h = h ^ (h >> np.uint32(15))
        h = h ^ (h >> np.uint32(16))
        h = h * np.uint32(0x85EBCA6B)
        h = h ^ (h >> np.uint32(13))
        h = h * np.uint32(0xC2B2AE35)
        h = h ^ (h >> np.uint32(16))
    return h


def uniform(*keys) -> np.ndarray:
    """Hash keys to float32 in [0, 1)."""
    return (mix32(*keys) >> np.uint32(8)).astype(np.float32) * np.float32(1.0 / (1 << 24))


def _axis_weights(coords: np.ndarray, spacing: float):
    """Lattice index (relative to the first), and smoothstep weight along one axis."""
    u = coords / spacing
    cell = np.floor(u)
    t = (u - cell).astype(np.float32)
    cell = cell.astype(np.int64)
    first = int(cell.min())
    return first, cell - first, t * t * (np.float32(3) - np.float32(2) * t)


def _lattice_rows(xs: np.ndarray, y_first: int, ny: int, spacing: float, seed: int, amp: float):
    """Hashed lattice rows ``y_first..y_first+ny`` interpolated along x: ``(ny, len(xs))``."""
    x_first, x_idx, x_w = _axis_weights(xs, spacing)
    nx = int(x_idx[-1] if xs[-1] >= xs[0] else x_idx.max()) + 2
    lattice = uniform(
        seed, np.arange(y_first, y_first + ny)[:, None], np.arange(x_first, x_first + nx)[None, :]
    )
    lattice = lattice * np.float32(2 * amp) - np.float32(amp)
    left = lattice[:, x_idx]
    return left + (lattice[:, x_idx + 1] - left) * x_w


def fbm(grid: Grid, spacing: float, octaves: int, seed: int) -> np.ndarray:
    """Fractal value noise: ``octaves`` octaves from ``spacing`` metres down by halves, about [-1, 1].

    Each octave is smooth value noise on a hashed lattice. It is separable: interpolate
    the lattice along x (a small ``(lattice rows, W)`` array), then along y with a sparse
    ``(H, lattice rows)`` weight matrix; all octaves' y steps are one matrix product.
    """
    xs, ys = grid.xs, grid.ys
    total = sum(0.5**k for k in range(octaves))
    weights, rows = [], []
    for k in range(octaves):
        step = spacing / 2**k
        y_first, y_idx, y_w = _axis_weights(ys, step)
        ny = int(y_idx.max()) + 2
        rows.append(_lattice_rows(xs, y_first, ny, step, seed * 131 + k, 0.5**k / total))
        w = np.zeros((grid.height, ny), np.float32)
        w[np.arange(grid.height), y_idx] = np.float32(1) - y_w
        w[np.arange(grid.height), y_idx + 1] = y_w
        weights.append(w)
    if octaves == 1:
        return weights[0] @ rows[0]
    return np.concatenate(weights, axis=1) @ np.concatenate(rows, axis=0)


def fbm_points(xs: np.ndarray, ys: np.ndarray, spacing: float, octaves: int, seed: int):
    """:func:`fbm` at scattered points ``(xs, ys)`` (same field, to float rounding)."""
    xs, ys = np.asarray(xs, float), np.asarray(ys, float)
    total = sum(0.5**k for k in range(octaves))
    out = np.zeros(xs.shape, np.float32)
    for k in range(octaves):
        step, amp, sub = spacing / 2**k, np.float32(0.5**k / total), seed * 131 + k
        u, v = xs / step, ys / step
        ix, iy = np.floor(u), np.floor(v)
        tx, ty = (u - ix).astype(np.float32), (v - iy).astype(np.float32)
        tx, ty = tx * tx * (3 - 2 * tx), ty * ty * (3 - 2 * ty)
        ix, iy = ix.astype(np.int64), iy.astype(np.int64)
        corner = [
            uniform(sub, iy + dy, ix + dx) * (2 * amp) - amp for dy in (0, 1) for dx in (0, 1)
        ]
        top = corner[0] + (corner[1] - corner[0]) * tx
        bottom = corner[2] + (corner[3] - corner[2]) * tx
        out += top + (bottom - top) * ty
    return out
