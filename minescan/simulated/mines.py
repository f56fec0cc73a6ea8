"""Mines of the simulated world: what a mine is, and how it is excavated over time.

A mine is a final footprint (EPSG:3857) plus a schedule. Given polygons are excavated
part by part from each part's date; drawn mines grow outwards from their centre, from
a third of their radius on the start date to the full outline a few years later. Each
mine is cut into components (pit, benches, dumps, tailings, ponds, a haul road), each with
its own spectra, so a pixel's look depends on the component and the commodity.

This module holds what a mine is (:class:`Mine`) and how it grows (:func:`footprint_at`);
:mod:`.catalogue` says where mines are, :mod:`.components` what they are made of and
:mod:`.mine_layer` rasterises them onto a grid.
"""

from __future__ import annotations

import zlib
from typing import NamedTuple

import numpy as np
import shapely
from shapely.geometry import Point, Polygon
from shapely.geometry.base import BaseGeometry

from minescan.kernel.mercator import ground_scale

#: Day number (since 1970-01-01) used for parts with no date: excavated since always.
ALWAYS = -(2**30)
#: Day number of "never": pixels outside every mine.
NEVER = np.iinfo(np.int32).max
NO_MINE = 255

#: Drawn mines start at this share of their radius and reach the outline after 2-8 years.
START_RADIUS = 0.3
#: Furthest a haul road runs beyond its mine's edge, in ground metres.
ROAD_OUTSIDE_M = 700.0


class Mine(NamedTuple):
    """One mine in map coordinates (EPSG:3857).

    ``parts`` are ``(polygon, day)`` pairs for given polygons; None for drawn mines,
    which grow radially from ``centre`` over ``growth_days``, from
    ``START_RADIUS * radius`` to ``radius`` (the outline's furthest point).
    """

    mine_id: str
    commodity: str
    artisanal: bool
    start: int
    footprint: BaseGeometry
    centre: tuple[float, float]
    radius: float
    growth_days: int
    parts: tuple | None = None

    @property
    def reach(self) -> float:
        """How far from ``centre`` the mine and its haul road extend (map metres)."""
        return self.radius + ROAD_OUTSIDE_M / ground_scale(self.centre[1])


def mine_key(text: str) -> int:
    """A stable number for a mine id: it seeds the mine's layout and, for given mines,
    its commodity, the same in every process."""
    return zlib.crc32(text.encode())


def footprint_at(mine: Mine, day: int | None) -> BaseGeometry:
    """The ground excavated by ``day`` (None: the final footprint); empty before the start."""
    if day is None:
        return mine.footprint
    if day < mine.start:
        return Polygon()
    if mine.parts is not None:
        return shapely.union_all([g for g, d in mine.parts if d <= day])
    frac = min(1.0, (day - mine.start) / mine.growth_days)
    if frac >= 1.0:
        return mine.footprint
    radius = mine.radius * (START_RADIUS + (1 - START_RADIUS) * frac)
    return mine.footprint.intersection(Point(mine.centre).buffer(radius, 128))
