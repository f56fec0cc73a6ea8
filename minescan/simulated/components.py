"""The components of a mine: pit, benches, dumps, tailings, ponds and a haul road.

Each component has its own spectra (:func:`.spectra.mine_code`), so a pixel's look depends
on the component under it and on the mine's commodity. An industrial mine is a pit ringed
by benches, with tailings to one side and dumps opposite; an artisanal one is dug ground
pocked with ponds. Both get a haul road out into the country.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from shapely.geometry import LineString, Point, Polygon
from shapely.geometry.base import BaseGeometry

from minescan.kernel.mercator import ground_scale
from minescan.simulated.mines import ROAD_OUTSIDE_M, Mine, mine_key

#: Burn order (last wins) of components on the raster.
BURN_ORDER = ("bench", "dump", "pit", "tailings", "pond", "road")


def layout(mine: Mine, seed: int) -> list[tuple[str, BaseGeometry]]:
    """Cut a mine's final footprint into components, in burn order (see :data:`BURN_ORDER`)."""
    shape = mine.footprint
    rng = np.random.default_rng([seed & 0xFFFFFFFF, mine_key(mine.mine_id)])
    centre = Point(mine.centre)
    if not shape.contains(centre):
        centre = shape.representative_point()
    cx, cy = centre.x, centre.y
    k = ground_scale(cy)
    radius = math.sqrt(shape.area / math.pi)
    turn = rng.uniform(0, 2 * np.pi)
    parts: dict[str, BaseGeometry] = {}
    if mine.artisanal:
        parts["dump"] = shape
        n = int(np.clip(shape.area * k * k / 1e4 * 1.5, 3, 80))
        xmin, ymin, xmax, ymax = shape.bounds
        pts = shapely.points(rng.uniform(xmin, xmax, 4 * n), rng.uniform(ymin, ymax, 4 * n))
        pts = pts[shapely.contains(shape, pts)][:n]
        radii = rng.uniform(8, 25, len(pts)) / k
        ponds = shapely.buffer(pts, radii, quad_segs=4)
        parts["pond"] = shapely.intersection(shapely.union_all(ponds), shape)
    else:
        pit = shape.buffer(-0.3 * radius)
        if pit.area < 0.1 * shape.area:
            pit = shape.buffer(-0.12 * radius)
        tail_centre = (cx + 0.7 * radius * math.cos(turn), cy + 0.7 * radius * math.sin(turn))
        tailings = Point(tail_centre).buffer(0.3 * radius, 16).intersection(shape).difference(pit)
        away = turn + math.pi
        wedge = Polygon(
            [(cx, cy)]
            + [
                (cx + 4 * radius * math.cos(a), cy + 4 * radius * math.sin(a))
                for a in np.linspace(away - 0.9, away + 0.9, 8)
            ]
        )
        dump = shape.intersection(wedge).difference(pit).difference(tailings)
        parts["bench"] = shape.difference(pit).difference(tailings).difference(dump)
        parts["dump"] = dump
        parts["pit"] = pit
        parts["tailings"] = tailings
    parts["road"] = _haul_road(shape, cx, cy, turn + rng.uniform(0.8, 2.2), rng, k)
    return [
        (name, parts[name]) for name in BURN_ORDER if name in parts and not parts[name].is_empty
    ]


def _haul_road(shape, cx: float, cy: float, angle: float, rng, k: float) -> BaseGeometry:
    """A 10 m road from inside the mine out through its edge, 200-600 m into the country."""
    direction = np.array([math.cos(angle), math.sin(angle)])
    far = float(shapely.hausdorff_distance(Point(cx, cy), shape)) * 2 + 1.0
    ray = LineString([(cx, cy), (cx + far * direction[0], cy + far * direction[1])])
    hits = shapely.get_coordinates(ray.intersection(shape.boundary))
    edge = float(np.hypot(*(hits - (cx, cy)).T).max()) if len(hits) else 0.0
    start = np.array([cx, cy]) + 0.6 * edge * direction
    end = np.array([cx, cy]) + (edge + rng.uniform(200, ROAD_OUTSIDE_M - 100) / k) * direction
    return LineString([start, end]).buffer(5.0 / k, 2)
