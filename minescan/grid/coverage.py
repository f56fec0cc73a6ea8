"""Exact area of polygons inside every cell of a unit grid, without a per-cell clip.

The polygons are given in *tile units* of one zoom (web-mercator x and y scaled so
that each tile is the unit square ``[x, x+1] x [y, y+1]``). Each polygon edge is
cut at every grid line it crosses; each piece then lies in one cell and adds its
trapezoid area, measured to the cell's right edge, to that cell, and its full
height to every cell further right. A running sum along each row turns these
contributions into the exact covered area of every cell, including cells deep
inside a polygon that no edge touches. This is the signed-area accumulation
used by font rasterisers, carried out with numpy over all edges at once; it is
exact for straight edges (the only error is floating point).

Polygons must not overlap each other (union them first): overlapping areas
would be counted twice.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import shapely

#: Areas below this (in tile units, i.e. a fraction of one cell) are floating-point noise.
AREA_EPS = 1e-9


class Coverage(NamedTuple):
    """Cells with a covered area: column ``x``, row ``y`` (int64) and ``area`` in cell units."""

    x: np.ndarray
    y: np.ndarray
    area: np.ndarray


def unique_sorted(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values of a 1-d array.

    A plain sort: numpy's hash-based ``np.unique`` is far slower on large int64 keys.
    """
    values = np.sort(np.asarray(values).ravel())
    return values[np.r_[True, values[1:] != values[:-1]]] if values.size else values


def member(values: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Elementwise ``value in table`` for int64 keys, through a hash table (pandas).

    Several times faster than ``searchsorted`` on a sorted table for millions of keys.
    """
    import pandas as pd

    values = np.asarray(values)
    if np.size(table) == 0:
        return np.zeros(values.shape, dtype=bool)
    return pd.Index(np.ravel(values)).isin(np.asarray(table)).reshape(values.shape)


def _edges(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """All ring edges of polygonal geometries, exteriors counter-clockwise and holes clockwise."""
    oriented = shapely.orient_polygons(geoms, exterior_cw=False)
    rings = shapely.get_rings(shapely.get_parts(oriented))
    coords, ring_index = shapely.get_coordinates(rings, return_index=True)
    # An edge joins consecutive vertices of the same ring (rings are closed).
    same_ring = ring_index[1:] == ring_index[:-1]
    start = coords[:-1][same_ring]
    end = coords[1:][same_ring]
    return start[:, 0], start[:, 1], end[:, 0], end[:, 1]


def _crossings(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edge index and parameter t where the segment a->b meets integer values."""
    low = np.ceil(np.minimum(a, b))
    high = np.floor(np.maximum(a, b))
    count = np.maximum(high - low + 1, 0).astype(np.int64)
    count[a == b] = 0  # an edge along a grid line needs no cut
    edge = np.repeat(np.arange(a.size), count)
    offset = np.arange(edge.size) - np.repeat(np.cumsum(count) - count, count)
    value = low[edge] + offset
    return edge, (value - a[edge]) / (b[edge] - a[edge])


def cell_coverage(geoms: np.ndarray) -> Coverage:
    """Exact covered area per unit cell of non-overlapping polygons in tile units.

    Parameters
    ----------
    geoms
        Polygons or multipolygons (shapely array) in tile units; they must not overlap.

    Returns
    -------
    Coverage
        One entry per cell whose covered area exceeds :data:`AREA_EPS`, sorted by row then column.

    Examples
    --------
    >>> from shapely import box
    >>> cov = cell_coverage(np.array([box(0.5, 0, 2, 1)]))
    >>> cov.x.tolist(), cov.y.tolist(), cov.area.round(6).tolist()
    ([0, 1], [0, 0], [0.5, 1.0])
    """
    geoms = np.asarray(geoms, dtype=object)
    empty = Coverage(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0))
    if geoms.size == 0:
        return empty
    x0, y0, x1, y1 = _edges(geoms)
    if x0.size == 0:
        return empty

    # Cut every edge at the vertical and horizontal grid lines it crosses.
    edge_x, t_x = _crossings(x0, x1)
    edge_y, t_y = _crossings(y0, y1)
    n_edges = x0.size
    edge = np.concatenate([np.arange(n_edges), np.arange(n_edges), edge_x, edge_y])
    t = np.concatenate([np.zeros(n_edges), np.ones(n_edges), t_x, t_y])
    # Order cut points along each edge. One float key sorts about four times faster than
    # lexsort; t values closer than ~1e-9 may swap, which moves at most ~1e-9 of area.
    order = np.argsort(edge + 0.5 * t)
    edge, t = edge[order], t[order]
    piece = edge[1:] == edge[:-1]  # consecutive cut points of one edge bound a piece
    e = edge[:-1][piece]
    ta, tb = t[:-1][piece], t[1:][piece]
    dx, dy = x1[e] - x0[e], y1[e] - y0[e]
    xa, xb = x0[e] + ta * dx, x0[e] + tb * dx
    ya, yb = y0[e] + ta * dy, y0[e] + tb * dy
    keep = yb != ya  # horizontal pieces add no area
    xa, xb, ya, yb = xa[keep], xb[keep], ya[keep], yb[keep]

    col = np.floor((xa + xb) / 2).astype(np.int64)
    row = np.floor((ya + yb) / 2).astype(np.int64)
    height = yb - ya
    x_mid = (xa + xb) / 2 - col
    col_min = int(col.min())
    span = int(col.max()) - col_min + 2
    key = row * span + (col - col_min)
    order = np.argsort(key)
    key = key[order]
    first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    key = key[first]
    # Per cell: the pieces' trapezoids up to the cell's right edge, and their full heights,
    # which cover every cell further right in the row.
    inside = np.add.reduceat((height * (1 - x_mid))[order], first)
    through = np.add.reduceat(height[order], first)
    row_of = key // span
    col_of = key % span + col_min

    # Heights of the pieces left of each cell in its row: a running sum restarted per row.
    total = np.cumsum(through)
    row_start = np.r_[True, row_of[1:] != row_of[:-1]]
    start_of_row = np.maximum.accumulate(np.where(row_start, np.arange(key.size), 0))
    left = (total - through) - (total - through)[start_of_row]
    # Orientation in tile units (y down) makes insides negative: take the sign once.
    covered = -(left + inside)
    after = -(left + through)  # what the cells right of this one, up to the next entry, hold

    # Cells between two entries of a row carry the running sum of the left entry.
    same_row = row_of[1:] == row_of[:-1]
    gap = np.where(same_row, col_of[1:] - col_of[:-1] - 1, 0)
    fill = same_row & (gap > 0) & (after[:-1] > AREA_EPS)
    gap = gap[fill]
    fill_row = np.repeat(row_of[:-1][fill], gap)
    fill_col = np.repeat(col_of[:-1][fill] + 1, gap) + (
        np.arange(gap.sum()) - np.repeat(np.cumsum(gap) - gap, gap)
    )
    fill_area = np.repeat(after[:-1][fill], gap)

    x = np.concatenate([col_of, fill_col])
    y = np.concatenate([row_of, fill_row])
    area = np.clip(np.concatenate([covered, fill_area]), 0.0, 1.0)
    keep = area > AREA_EPS
    x, y, area = x[keep], y[keep], area[keep]
    order = np.lexsort((x, y))
    return Coverage(x[order], y[order], area[order])
