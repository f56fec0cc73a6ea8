"""Negative cells: for each positive, the nearest free cell of its zoom.

For each positive, at each zoom, the nearest cell (by centre, in mercator) that
shares no area with any polygon, is not already taken, lies in the AOI and, when
asked, touches land. Positives are served in quadkey order; among positives that
want the same cell, the nearer one (then the earlier one) gets it. A positive
with no free cell within ``search_radius`` cells keeps no negative; the count is
reported.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
from shapely.geometry.base import BaseGeometry

from minescan.grid import land, tiles
from minescan.grid.coverage import member, unique_sorted


def search_offsets(radius: int) -> np.ndarray:
    """Cell offsets ``(dx, dy)`` within ``radius`` cells, nearest first (ties: by dy, then dx)."""
    d = np.arange(-radius, radius + 1)
    dx, dy = (a.ravel() for a in np.meshgrid(d, d))
    dist = dx * dx + dy * dy
    keep = (dist > 0) & (dist <= radius * radius)
    dx, dy, dist = dx[keep], dy[keep], dist[keep]
    order = np.lexsort((dx, dy, dist))
    return np.column_stack([dx[order], dy[order]])


def draw_negatives(
    x: np.ndarray,
    y: np.ndarray,
    zoom: int,
    occupied: np.ndarray,
    allowed: Callable[[np.ndarray], np.ndarray],
    radius: int = 32,
    budget: int = 4_000_000,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One free cell near each positive ``(x[i], y[i])``.

    Parameters
    ----------
    x, y
        Positives of one zoom, in the order they are served.
    occupied
        Keys ``x * 2**zoom + y`` of cells that share area with a polygon.
    allowed
        Takes an ``(n, 3)`` array of tiles and says which may be negatives (land, AOI).
    radius
        Search radius in cells.
    budget
        Most candidate cells looked at in one step (bounds memory).

    Returns
    -------
    negative_x, negative_y, found
        Per positive; where ``found`` is False the coordinates are -1.
    """
    n = 2**zoom
    neg = np.full(x.size, -1, dtype=np.int64)
    taken = np.empty(0, dtype=np.int64)
    offsets = search_offsets(radius)
    pending = np.arange(x.size)
    start, width = 0, 8
    while pending.size and start < len(offsets):
        width = int(np.clip(min(width, budget // pending.size), 8, len(offsets) - start))
        chunk = offsets[start : start + width]
        cy = y[pending, None] + chunk[None, :, 1]
        key = ((x[pending, None] + chunk[None, :, 0]) % n) * n + cy
        free = (cy >= 0) & (cy < n)
        free[free] = ~member(key[free], np.concatenate([occupied, taken]))
        # Distinct candidate cells of the chunk, and per (positive, offset) the cell's index.
        cells, inverse = _unique_inverse(key[free])
        cell_id = np.full(key.shape, -1, dtype=np.int64)
        cell_id[free] = inverse
        checked = np.zeros(cells.size, dtype=bool)
        ok = np.zeros(cells.size, dtype=bool)
        won = np.zeros(cells.size, dtype=bool)
        rows = np.flatnonzero(free.any(axis=1))
        coastal = rows[:0]
        while rows.size:
            rank = np.argmax(free[rows], axis=1)
            want = cell_id[rows, rank]
            # Land and AOI tests are the costly ones: only on proposed cells, once each;
            # but a row refused once (near a coast) has all its cells tested at once.
            check = want[~checked[want]]
            if coastal.size:
                check = np.concatenate([check, cell_id[coastal][free[coastal]]])
            unknown = unique_sorted(check[~checked[check]])
            if unknown.size:
                xyz = np.column_stack([cells[unknown] // n, cells[unknown] % n])
                ok[unknown] = allowed(np.column_stack([xyz, np.full(unknown.size, zoom)]))
                checked[unknown] = True
                free[rows] &= ok[np.maximum(cell_id[rows], 0)] | ~checked[cell_id[rows]]
                rank = np.argmax(free[rows], axis=1)
                want = cell_id[rows, rank]
            coastal = rows[~checked[want]]
            refused = (checked[want] & ~ok[want]) | won[want]
            free[rows[refused], rank[refused]] = False
            live = np.flatnonzero(checked[want] & ok[want] & ~won[want])
            # The nearest proposer, then the earliest, gets a contested cell.
            order = live[np.lexsort((rows[live], rank[live], want[live]))]
            first = np.r_[True, want[order][1:] != want[order][:-1]] if order.size else order
            winners = order[first]
            neg[pending[rows[winners]]] = cells[want[winners]]
            won[want[winners]] = True
            free[rows[winners]] = False
            rows = rows[free[rows].any(axis=1)]
        taken = np.concatenate([taken, cells[won]])
        pending = np.flatnonzero(neg < 0)
        start += width
        width *= 2
    found = neg >= 0
    return np.where(found, neg // n, -1), np.where(found, neg % n, -1), found


def _unique_inverse(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values (in order of appearance) and, per input, the index of its value."""
    import pandas as pd

    codes, uniques = pd.factorize(values)
    return np.asarray(uniques, dtype=values.dtype), codes.astype(np.int64)


def negative_filter(
    land_only: bool, aoi: BaseGeometry | None
) -> Callable[[np.ndarray], np.ndarray]:
    """Which candidate tiles may be negatives: on land (when asked) and in the AOI."""

    lock = threading.Lock()  # prepared GEOS geometries and the land caches are not thread-safe

    def allowed(xyz: np.ndarray) -> np.ndarray:
        with lock:
            return _allowed(xyz)

    def _allowed(xyz: np.ndarray) -> np.ndarray:
        ok = land.land_tiles(xyz) if land_only else np.ones(len(xyz), dtype=bool)
        if aoi is not None and ok.any():
            ok[ok] = tiles.tiles_intersecting(aoi, xyz[ok])
        return ok

    return allowed
