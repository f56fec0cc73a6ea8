"""The mine layer of a grid: which pixels a mine covers, with which component, from when.

:func:`render` rasterises the mines near a grid (pixel-centre rule) into a
:class:`MineLayer`: per pixel the component's class code, the first day it is dug and
whether it lies inside a final footprint. The world draws dug pixels over the land cover.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import shapely
from affine import Affine
from rasterio.features import rasterize

from minescan.simulated.catalogue import Catalogue
from minescan.simulated.components import BURN_ORDER
from minescan.simulated.mines import ALWAYS, NEVER, NO_MINE, START_RADIUS, Mine
from minescan.simulated.noise import Grid, grid_transform
from minescan.simulated.spectra import COMMODITIES, mine_code


class MineLayer(NamedTuple):
    """Per-pixel mine raster of one grid.

    ``codes``: class code of the component drawn there (255 none); ``day``: first day the
    pixel is dug (the earliest over overlapping mines); ``inside``: within a final footprint
    (haul roads leading out of a mine are dug but lie outside).
    """

    codes: np.ndarray
    day: np.ndarray
    inside: np.ndarray
    #: (rows, cols) slices of the grid that hold every mine pixel (outside: no mine)
    window: tuple[slice, slice] = (slice(None), slice(None))

    def at(self, day: int) -> np.ndarray:
        """Pixels dug by ``day``."""
        return self.day <= day


def _window(grid: Grid, bounds) -> tuple[slice, slice, Affine] | None:
    """Rows, columns and affine of the part of ``grid`` under map ``bounds``."""
    gx0, _, _, gy1 = grid.bounds
    xmin, ymin, xmax, ymax = bounds
    c0 = max(0, math.floor((xmin - gx0) / grid.res))
    c1 = min(grid.width, math.ceil((xmax - gx0) / grid.res))
    r0 = max(0, math.floor((gy1 - ymax) / grid.res))
    r1 = min(grid.height, math.ceil((gy1 - ymin) / grid.res))
    if c0 >= c1 or r0 >= r1:
        return None
    transform = Affine(grid.res, 0.0, gx0 + c0 * grid.res, 0.0, -grid.res, gy1 - r0 * grid.res)
    return slice(r0, r1), slice(c0, c1), transform


def _dig_days(mine: Mine, grid: Grid, rows: slice, cols: slice, transform: Affine):
    """First dig day of each pixel of a window for one mine (NEVER outside its footprint)."""
    shape = (rows.stop - rows.start, cols.stop - cols.start)
    if mine.parts is not None:
        parts = sorted(mine.parts, key=lambda gd: -gd[1])  # earliest part burnt last, so it wins
        return rasterize(
            [(g, max(d, ALWAYS)) for g, d in parts],
            shape,
            fill=NEVER,
            transform=transform,
            dtype="int32",
        ).astype(np.int64)
    day = np.full(shape, NEVER, np.int64)
    inside = rasterize([(mine.footprint, 1)], shape, fill=0, transform=transform, dtype="uint8")
    r, c = np.nonzero(inside)
    if len(r):
        dist = (
            np.hypot(grid.xs[cols][c] - mine.centre[0], grid.ys[rows][r] - mine.centre[1])
            / mine.radius
        )
        frac = np.clip((dist - START_RADIUS) / (1 - START_RADIUS), 0, 1)
        day[r, c] = mine.start + np.round(frac * mine.growth_days).astype(np.int64)
    return day


def render(catalogue: Catalogue, grid: Grid) -> MineLayer | None:
    """Rasterise the mines near ``grid`` (pixel-centre rule); None when no mine touches it.

    The work is done on the part of the grid the mines cover (``MineLayer.window``), then
    pasted into full-size arrays.
    """
    mines = catalogue.near(grid.bounds)
    if not mines:
        return None
    placed = []
    for mine in mines:
        layout = catalogue.components(mine)
        road = [g for name, g in layout if name == "road"]
        bounds = shapely.bounds([mine.footprint, *road])
        window = _window(grid, (*bounds[:, :2].min(axis=0), *bounds[:, 2:].max(axis=0)))
        if window is not None:
            placed.append((mine, layout, road, window))
    if not placed:
        return None
    r0 = min(w[0].start for *_, w in placed)
    r1 = max(w[0].stop for *_, w in placed)
    c0 = min(w[1].start for *_, w in placed)
    c1 = max(w[1].stop for *_, w in placed)
    part = Grid(grid.col0 + c0, grid.row0 + r0, c1 - c0, r1 - r0, grid.res)
    shape = (part.height, part.width)
    day = np.full(shape, NEVER, np.int64)
    inside = np.zeros(shape, bool)
    base, shapes = [], []
    for mine, layout, road, (rows, cols, transform) in placed:
        rows, cols = slice(rows.start - r0, rows.stop - r0), slice(cols.start - c0, cols.stop - c0)
        dug = _dig_days(mine, part, rows, cols, transform)
        inside[rows, cols] |= dug != NEVER
        if road:
            on_road = rasterize(road, dug.shape, fill=0, transform=transform, dtype="uint8")
            dug[on_road == 1] = mine.start
        np.minimum(day[rows, cols], dug, out=day[rows, cols])
        ground = "dump" if mine.artisanal else "bench"
        base.append((mine.footprint, mine_code(mine.commodity, ground)))
        shapes.extend((g, mine_code(mine.commodity, name)) for name, g in layout)
    if not inside.any() and (day == NEVER).all():
        return None
    # footprints first (so no dug pixel lacks a look), then components in burn order
    ordered = base + sorted(shapes, key=lambda gc: _BURN_RANK[gc[1]])
    codes = rasterize(ordered, shape, fill=NO_MINE, transform=grid_transform(part), dtype="uint8")
    day[codes == NO_MINE] = NEVER
    window = (slice(r0, r1), slice(c0, c1))
    full = (grid.height, grid.width)
    layer = MineLayer(
        np.full(full, NO_MINE, np.uint8),
        np.full(full, NEVER, np.int32),
        np.zeros(full, bool),
        window,
    )
    layer.codes[window], layer.day[window], layer.inside[window] = codes, day, inside
    return layer


_BURN_RANK = {
    mine_code(commodity, name): rank
    for commodity in COMMODITIES
    for rank, name in enumerate(BURN_ORDER)
}
