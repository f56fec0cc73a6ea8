"""Hashed lattice noise on a global pixel grid: the simulator's source of every texture.

Every value is a pure function of (seed, map coordinates): lattice corners are hashed
with a 32-bit integer mix, so the noise exists everywhere on Earth without any stored
state, and two reads of the same ground give bit-identical values.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from affine import Affine

from minescan.kernel.mercator import HALF_WORLD_M


class Grid(NamedTuple):
    """A regular grid of pixel centres in EPSG:3857, anchored on a global pixel index.

    Pixel ``(row, col)`` has its centre at ``x = -HALF_WORLD_M + (col0 + col + 0.5) * res``
    and ``y = HALF_WORLD_M - (row0 + row + 0.5) * res``. Computing coordinates from the
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
        return -HALF_WORLD_M + (np.arange(self.col0, self.col0 + self.width) + 0.5) * self.res

    @property
    def ys(self) -> np.ndarray:
        """Pixel-centre y in metres, shape ``(height,)`` float64."""
        return HALF_WORLD_M - (np.arange(self.row0, self.row0 + self.height) + 0.5) * self.res

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) of the pixel edges."""
        xmin = -HALF_WORLD_M + self.col0 * self.res
        ymax = HALF_WORLD_M - self.row0 * self.res
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


def grid_transform(grid: Grid) -> Affine:
    """The affine of ``grid`` (EPSG:3857, north up)."""
    xmin, _, _, ymax = grid.bounds
    return Affine(grid.res, 0.0, xmin, 0.0, -grid.res, ymax)


_U16, _U13, _U8 = np.uint32(16), np.uint32(13), np.uint32(8)
_M1, _M2 = np.uint32(0x85EBCA6B), np.uint32(0xC2B2AE35)
_GOLDEN, _STEP, _COLUMN = np.uint32(0x9E3779B9), np.uint32(0x9E3779B1), np.uint32(0x27D4EB2F)


def _finalise(h: np.ndarray) -> np.ndarray:
    """murmur3's 32-bit finaliser: every input bit flips each output bit with p ~ 1/2."""
    h = h ^ (h >> _U16)
    h = h * _M1
    h = h ^ (h >> _U13)
    h = h * _M2
    return h ^ (h >> _U16)


def mix32(*keys) -> np.ndarray:
    """Hash integer arrays (broadcast together) to uniform ``uint32``.

    Examples
    --------
    >>> int(mix32(1, 2)) == int(mix32(1, 2)) != int(mix32(2, 1))
    True
    """
    h = _GOLDEN
    with np.errstate(over="ignore"):
        for key in keys:
            v = np.asarray(key).astype(np.int64).astype(np.uint32)
            h = _finalise(h ^ v) * _STEP
        return _finalise(h)


def _seeded(seed: int) -> np.uint32:
    """:func:`mix32`'s state after its first key, ``seed`` (in plain integers)."""
    h = 0x9E3779B9 ^ (seed & 0xFFFFFFFF)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & 0xFFFFFFFF
    h ^= h >> 16
    return np.uint32((h * 0x9E3779B1) & 0xFFFFFFFF)


def lattice_hash(seed: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """:func:`uniform`-style floats in [0, 1) on the lattice ``rows x cols`` (1-D int arrays).

    Rows and columns are hashed once each (rows as ``mix32(seed, row)``), then combined
    and finalised on the grid: the cost is a handful of passes over the small lattice.
    Array arithmetic wraps silently; only the seed is mixed in Python integers.
    """
    r = _finalise(_finalise(_seeded(seed) ^ rows.astype(np.uint32)) * _STEP)
    c = _finalise(cols.astype(np.uint32) * _COLUMN)
    h = _finalise(r[:, None] ^ c[None, :])
    return (h >> _U8).astype(np.float32) * np.float32(1.0 / (1 << 24))


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


#: Octaves with at most this many lattice rows are combined by one matrix product;
#: finer ones (many rows, two weights per pixel) are cheaper as two row gathers.
DENSE_ROWS = 48


def fbm(grid: Grid, spacing: float, octaves: int, seed: int, average: int = 1) -> np.ndarray:
    """Fractal value noise: ``octaves`` octaves from ``spacing`` metres down by halves, about [-1, 1].

    Octaves much finer than the grid's pixels (lattice under half a pixel) are left out:
    their average over a pixel is about zero. Each octave is smooth value noise on a
    hashed lattice. It is separable: interpolate the lattice along x (a small
    ``(lattice rows, W)`` array), then along y, either with a sparse
    ``(H, lattice rows)`` weight matrix (coarse octaves, all in one matrix product) or by
    gathering rows per pixel row (fine octaves).

    With ``average > 1`` each pixel is the mean of the field over its ``average x average``
    sub-pixels (``grid.refine(average)`` block-averaged), at the cost of one pixel: the
    mean of the interpolation weights over a pixel's sub-columns (sub-rows) weighs a few
    lattice columns (rows) per pixel.
    """
    if average > 1:
        return _fbm_mean(grid, spacing, octaves, seed, average)
    return fbm_many(grid, [(spacing, octaves, seed)])[0]


#: Octaves with at most this many lattice rows share their hashing and interpolation
#: along x with the others of a :func:`fbm_many` call (padded to this many rows).
SMALL_ROWS = 8


def fbm_many(grid: Grid, specs) -> list[np.ndarray]:
    """:func:`fbm` of several fields ``(spacing, octaves, seed)`` on one grid.

    The same values as one :func:`fbm` call per field, but the axis weights, lattice
    hashes and x interpolation of all the small octaves (most of them: their lattice has
    a few rows over a tile) are done together, in a few passes over stacked arrays.
    """
    steps, seeds, amps, owner = [], [], [], []
    for field, (spacing, octaves, seed) in enumerate(specs):
        total = sum(0.5**k for k in range(octaves))
        for k in range(octaves):
            step = spacing / 2**k
            if step < grid.res / 2:
                break  # this and finer octaves average to about zero over a pixel
            steps.append(step)
            seeds.append(_seeded(seed * 131 + k))
            amps.append(0.5**k / total)
            owner.append(field)
    if not steps:
        return [np.zeros((grid.height, grid.width), np.float32) for _ in specs]
    y_first, y_idx, y_w = _axes_weights(grid.ys, steps)
    x_first, x_idx, x_w = _axes_weights(grid.xs, steps)
    ny, nx = y_idx.max(axis=1) + 2, x_idx.max(axis=1) + 2
    seeds = np.array(seeds, np.uint32)
    scale = np.array([2 * a for a in amps], np.float32)
    shift = np.array(amps, np.float32)
    rows: list = [None] * len(steps)
    small = np.flatnonzero(ny <= SMALL_ROWS)
    if len(small):
        lattice = _lattices(seeds[small], y_first[small], SMALL_ROWS, x_first[small], nx[small])
        lattice = lattice * scale[small, None, None] - shift[small, None, None]
        picked = x_idx[small][:, None, :]
        left = np.take_along_axis(lattice, picked, axis=2)
        interpolated = (
            left + (np.take_along_axis(lattice, picked + 1, axis=2) - left) * x_w[small][:, None, :]
        )
        for i, octave in enumerate(small):
            rows[octave] = interpolated[i, : ny[octave]]
    for octave in np.flatnonzero(ny > SMALL_ROWS):
        lattice = _lattices(
            seeds[[octave]], y_first[[octave]], ny[octave], x_first[[octave]], nx[[octave]]
        )[0]
        lattice = lattice * scale[octave] - shift[octave]
        left = lattice[:, x_idx[octave]]
        rows[octave] = left + (lattice[:, x_idx[octave] + 1] - left) * x_w[octave]
    owner = np.array(owner)
    return [
        _combine(grid, np.flatnonzero(owner == field), rows, ny, y_idx, y_w)
        for field in range(len(specs))
    ]


def _combine(grid: Grid, octaves: np.ndarray, rows: list, ny, y_idx, y_w) -> np.ndarray:
    """One field from its octaves' x-interpolated lattice rows: interpolate along y."""
    out = None
    dense = [k for k in octaves if ny[k] <= DENSE_ROWS]
    for k in octaves:
        if ny[k] <= DENSE_ROWS:
            continue
        slope = rows[k][1:] - rows[k][:-1]
        fine = np.take(slope, y_idx[k], axis=0, mode="clip")
        fine *= y_w[k][:, None]
        fine += np.take(rows[k], y_idx[k], axis=0, mode="clip")
        out = fine if out is None else np.add(out, fine, out=out)
    if not dense:
        return np.zeros((grid.height, grid.width), np.float32) if out is None else out
    offsets = np.cumsum([0] + [int(ny[k]) for k in dense])
    weights = np.zeros((grid.height, int(offsets[-1])), np.float32)
    pixel = np.arange(grid.height)
    for k, offset in zip(dense, offsets[:-1], strict=False):
        weights[pixel, offset + y_idx[k]] = np.float32(1) - y_w[k]
        weights[pixel, offset + y_idx[k] + 1] = y_w[k]
    # column-major, as x interpolation by fancy indexing leaves it: the same BLAS kernel,
    # so the same bits, whichever way the rows were made
    product = weights @ np.asfortranarray(np.concatenate([rows[k] for k in dense], axis=0))
    return product if out is None else np.add(out, product, out=out)


def _axes_weights(coords: np.ndarray, steps: list[float]):
    """:func:`_axis_weights` for several lattice spacings: ``(n,)``, ``(n, len)`` twice."""
    u = coords[None, :] / np.asarray(steps)[:, None]
    cell = np.floor(u)
    t = (u - cell).astype(np.float32)
    cell = cell.astype(np.int64)
    first = cell.min(axis=1)
    return first, cell - first[:, None], t * t * (np.float32(3) - np.float32(2) * t)


def _lattices(seeded, y_first, ny: int, x_first, nx) -> np.ndarray:
    """:func:`lattice_hash` of several lattices at once, ``(n, ny, max(nx))`` (seeds
    already through :func:`_seeded`; rows and columns past a lattice's own are spare)."""
    rows = (y_first[:, None] + np.arange(ny)).astype(np.uint32)
    cols = (x_first[:, None] + np.arange(int(np.max(nx)))).astype(np.uint32)
    r = _finalise(_finalise(seeded[:, None] ^ rows) * _STEP)
    c = _finalise(cols * _COLUMN)
    h = _finalise(r[:, :, None] ^ c[:, None, :])
    return (h >> _U8).astype(np.float32) * np.float32(1.0 / (1 << 24))


def _finish(grid: Grid, out, weights: list, rows: list) -> np.ndarray:
    """Add the dense octaves (one matrix product) to the gathered ones."""
    if weights:
        dense = np.concatenate(weights, axis=1) @ np.concatenate(rows, axis=0)
        out = dense if out is None else np.add(out, dense, out=out)
    return np.zeros((grid.height, grid.width), np.float32) if out is None else out


def _mean_weights(coords: np.ndarray, spacing: float, factor: int):
    """Interpolation weights along one axis, averaged over runs of ``factor`` coordinates.

    Returns the first lattice index, each run's first lattice point (relative to it)
    and ``(runs, span)`` float32 weights on that point and the next ``span - 1``.
    """
    first, idx, t = _axis_weights(coords, spacing)
    idx, t = idx.reshape(-1, factor), t.reshape(-1, factor)
    start = idx.min(axis=1)
    rel = idx - start[:, None]
    weights = np.zeros((len(start), int(rel.max()) + 2), np.float32)
    run = np.arange(len(start))
    scale = np.float32(1 / factor)
    for s in range(factor):
        weights[run, rel[:, s]] += (np.float32(1) - t[:, s]) * scale
        weights[run, rel[:, s] + 1] += t[:, s] * scale
    return first, start, weights


def _fbm_mean(grid: Grid, spacing: float, octaves: int, seed: int, factor: int) -> np.ndarray:
    """:func:`fbm` averaged over ``factor x factor`` sub-pixels of each pixel."""
    fine = grid.refine(factor)
    total = sum(0.5**k for k in range(octaves))
    weights, rows = [], []
    out = None
    for k in range(octaves):
        step = spacing / 2**k
        if step < fine.res / 2:
            break  # this and finer octaves average to about zero over a sub-pixel
        y_first, y_start, y_w = _mean_weights(fine.ys, step, factor)
        x_first, x_start, x_w = _mean_weights(fine.xs, step, factor)
        ny = int(y_start.max()) + y_w.shape[1]
        nx = int(x_start.max()) + x_w.shape[1]
        amp = 0.5**k / total
        lattice = lattice_hash(
            seed * 131 + k, np.arange(y_first, y_first + ny), np.arange(x_first, x_first + nx)
        )
        lattice = lattice * np.float32(2 * amp) - np.float32(amp)
        lattice_rows = lattice[:, x_start] * x_w[:, 0]
        for m in range(1, x_w.shape[1]):
            lattice_rows += lattice[:, x_start + m] * x_w[:, m]
        if ny <= DENSE_ROWS:
            w = np.zeros((grid.height, ny), np.float32)
            for m in range(y_w.shape[1]):
                w[np.arange(grid.height), y_start + m] = y_w[:, m]
            weights.append(w)
            rows.append(lattice_rows)
            continue
        for m in range(y_w.shape[1]):
            part = np.take(lattice_rows, y_start + m, axis=0, mode="clip")
            part *= y_w[:, m, None]
            out = part if out is None else np.add(out, part, out=out)
    return _finish(grid, out, weights, rows)


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
            _point_hash(sub, iy + dy, ix + dx) * (2 * amp) - amp for dy in (0, 1) for dx in (0, 1)
        ]
        top = corner[0] + (corner[1] - corner[0]) * tx
        bottom = corner[2] + (corner[3] - corner[2]) * tx
        out += top + (bottom - top) * ty
    return out


def _point_hash(seed: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """:func:`lattice_hash` at paired ``(rows[i], cols[i])`` lattice points."""
    with np.errstate(over="ignore"):
        r = mix32(seed, rows)
        c = _finalise(np.asarray(cols).astype(np.int64).astype(np.uint32) * np.uint32(0x27D4EB2F))
        h = _finalise(r ^ c)
    return (h >> np.uint32(8)).astype(np.float32) * np.float32(1.0 / (1 << 24))
