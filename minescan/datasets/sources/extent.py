"""Where a real source reads: tile grids and series grids.

Every source returns pixels on the same EPSG:3857 grids as the simulator: a
tile's own grid for ``read`` and a ~10 m ground grid around a geometry for
``series``. These helpers compute those grids; the dates a catalogue is searched
over come from :class:`minescan.kernel.period.Period`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import mercantile
import numpy as np
from affine import Affine

from minescan.kernel.mercator import (
    lonlat_to_xy,
    pixel_grid,
    tile_transform,
    wrap_lon,
    xy_to_lonlat,
)


class Grid(NamedTuple):
    """A north-up EPSG:3857 pixel grid."""

    transform: Affine
    width: int
    height: int

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) in EPSG:3857."""
        t = self.transform
        return t.c, t.f + t.e * self.height, t.c + t.a * self.width, t.f

    def bounds_4326(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) in degrees; west > east across the antimeridian."""
        xmin, ymin, xmax, ymax = self.bounds
        lon, (south, north) = xy_to_lonlat([xmin, xmax], [ymin, ymax])
        west, east = wrap_lon(lon)
        return float(west), float(south), float(east), float(north)

    def centre_lat(self) -> float:
        _, south, _, north = self.bounds_4326()
        return (south + north) / 2

    def nan_stack(self, *lead: int) -> np.ndarray:
        """A float32 ``(*lead, height, width)`` array of NaN: nothing observed yet.

        Examples
        --------
        >>> Grid(Affine.identity(), 4, 3).nan_stack(2, 5).shape
        (2, 5, 3, 4)
        """
        return np.full((*lead, self.height, self.width), np.nan, np.float32)

    def ground_resolution_m(self) -> float:
        """Pixel size on the ground (web-mercator metres shrink by cos(latitude))."""
        return self.transform.a * math.cos(math.radians(self.centre_lat()))


def tile_grid(tile: mercantile.Tile, size_px: int, margin_px: int = 0) -> Grid:
    """The chip grid of ``tile``: ``size_px`` square plus ``margin_px`` each side."""
    n = size_px + 2 * margin_px
    return Grid(tile_transform(tile, size_px, margin_px), n, n)


def series_grid(geometry, buffer_m: float = 100.0, ground_res_m: float = 10.0) -> Grid:
    """A ~``ground_res_m`` ground grid in EPSG:3857 over ``geometry``'s bounds plus ``buffer_m``.

    Examples
    --------
    >>> from shapely.geometry import Point
    >>> g = series_grid(Point(0, 0).buffer(0.001))
    >>> g.width, round(g.transform.a, 3)
    (43, 10.0)
    """
    west, south, east, north = geometry.bounds
    lat = (south + north) / 2
    scale = 1.0 / math.cos(math.radians(lat))
    (xmin, xmax), (ymin, ymax) = lonlat_to_xy([west, east], [south, north])
    bounds = float(xmin), float(ymin), float(xmax), float(ymax)
    return Grid(*pixel_grid(bounds, ground_res_m * scale, pad=buffer_m * scale))
