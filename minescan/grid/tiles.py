"""Web-mercator tile maths on arrays: tile units, bounds, quadkeys and covers.

Everything here works on numpy arrays of tile indices, so a country's worth of
zoom-15 tiles is handled without a Python loop per tile. Tiles are mercantile's
XYZ tiles; "tile units" at zoom ``z`` are web-mercator coordinates scaled so
that tile ``(x, y)`` is the unit square ``[x, x+1] x [y, y+1]`` (y grows south).

Cell names live in :mod:`.naming`, the land test of cells in :mod:`.land`.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
import shapely.affinity
from shapely.geometry.base import BaseGeometry

from minescan.grid.coverage import cell_coverage, unique_sorted
from minescan.kernel.errors import MinescanError
from minescan.kernel.mercator import MAX_LAT, lonlat_to_units, units_to_lonlat

MAX_ZOOM = 20


# -- coordinates -----------------------------------------------------------------------------


def tile_centres(x, y, zoom) -> tuple[np.ndarray, np.ndarray]:
    """Lon and lat of tile centres, the centre taken in web mercator."""
    return units_to_lonlat(np.asarray(x) + 0.5, np.asarray(y) + 0.5, zoom)


def tile_bounds(x, y, zoom) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """West, south, east, north of tiles, in degrees."""
    x, y = np.asarray(x), np.asarray(y)
    west, north = units_to_lonlat(x, y, zoom)
    east, south = units_to_lonlat(x + 1, y + 1, zoom)
    return west, south, east, north


def tile_boxes(x, y, zoom) -> np.ndarray:
    """Tile squares as shapely polygons in EPSG:4326."""
    return shapely.box(*tile_bounds(x, y, zoom))


def quadkeys(x, y, zoom) -> np.ndarray:
    """Quadkeys of many tiles of one zoom (as ``mercantile.quadkey``), an object array.

    Examples
    --------
    >>> quadkeys([3], [5], 3).tolist()
    ['213']
    """
    return quadkeys_array(x, y, zoom).to_numpy(zero_copy_only=False)


def quadkeys_array(x, y, zoom: int):
    """Quadkeys as an arrow string array, written digit by digit into one buffer."""
    import pyarrow as pa

    x, y = np.asarray(x, dtype=np.int64).ravel(), np.asarray(y, dtype=np.int64).ravel()
    chars = np.empty((x.size, zoom), dtype=np.uint8)
    for i in range(zoom):
        shift = zoom - 1 - i
        chars[:, i] = ord("0") + ((x >> shift) & 1) + 2 * ((y >> shift) & 1)
    offsets = np.arange(x.size + 1, dtype=np.int32) * zoom
    return pa.Array.from_buffers(
        pa.string(), x.size, [None, pa.py_buffer(offsets), pa.py_buffer(chars.tobytes())]
    )


# -- geometry to tile units ------------------------------------------------------------------


def wrap_longitudes(geoms: np.ndarray) -> np.ndarray:
    """Bring polygons into -180..180, cutting those that cross the antimeridian.

    A polygon given with longitudes beyond 180 (179..181) is cut at 180 and its far
    part shifted by 360. A polygon part wider than 180 degrees that does not reach
    both -180 and 180 (so not a cap around a pole) is read as drawn across the
    antimeridian the short way (no mine is half the Earth wide): its negative
    longitudes are moved east by 360 first.
    """
    geoms = np.asarray(geoms, dtype=object).copy()
    bounds = shapely.bounds(geoms)
    for i in np.flatnonzero((bounds[:, 2] - bounds[:, 0]) > 180):
        parts = shapely.get_parts(geoms[i])
        b = shapely.bounds(parts)
        short_way = ((b[:, 2] - b[:, 0]) > 180) & ~((b[:, 0] <= -179.999) & (b[:, 2] >= 179.999))
        if short_way.any():
            parts[short_way] = shapely.transform(parts[short_way], _shift_west_longitudes)
            geoms[i] = shapely.union_all(shapely.make_valid(parts))
    bounds = shapely.bounds(geoms)
    for i in np.flatnonzero((bounds[:, 0] < -180) | (bounds[:, 2] > 180)):
        pieces = [
            shapely.affinity.translate(
                shapely.clip_by_rect(geoms[i], -180 + shift, -90, 180 + shift, 90), -shift, 0
            )
            for shift in (-360, 0, 360)
        ]
        geoms[i] = shapely.union_all(shapely.make_valid(np.array(pieces, dtype=object)))
    return geoms


def _shift_west_longitudes(coords: np.ndarray) -> np.ndarray:
    lon = np.where(coords[:, 0] < 0, coords[:, 0] + 360, coords[:, 0])
    return np.column_stack([lon, coords[:, 1]])


def to_units(geoms: np.ndarray, zoom: int) -> np.ndarray:
    """Polygons in EPSG:4326 (already in -180..180) to tile units, clipped to :data:`MAX_LAT`."""
    geoms = np.asarray(geoms, dtype=object)
    bounds = shapely.bounds(geoms)
    polar = (bounds[:, 1] < -MAX_LAT) | (bounds[:, 3] > MAX_LAT)
    if polar.any():
        geoms = geoms.copy()
        geoms[polar] = shapely.clip_by_rect(geoms[polar], -180, -MAX_LAT, 180, MAX_LAT)

    def project(coords: np.ndarray) -> np.ndarray:
        return np.column_stack(lonlat_to_units(coords[:, 0], coords[:, 1], zoom))

    return shapely.transform(geoms, project)


# -- covers ------------------------------------------------------------------------------------


def tiles_covering(geometry: BaseGeometry, zoom: int) -> np.ndarray:
    """Tiles of ``zoom`` whose area meets the geometry (EPSG:4326), as an ``(n, 3)`` int64 array.

    For polygons a tile counts when it shares area with the geometry (touching along an
    edge is not enough); for points and lines, when it intersects them. Longitudes
    beyond 180 and parts on both sides of the antimeridian are handled.

    Examples
    --------
    >>> from shapely import box
    >>> tiles_covering(box(0.1, 0.1, 0.2, 0.2), 3).tolist()
    [[4, 3, 3]]
    """
    if not 0 <= zoom <= MAX_ZOOM:
        raise MinescanError(f"zoom {zoom} is out of range; zooms go from 0 to {MAX_ZOOM}")
    geometry = shapely.make_valid(geometry) if not geometry.is_valid else geometry
    (wrapped,) = wrap_longitudes(np.array([geometry], dtype=object))
    (units,) = to_units(np.array([wrapped], dtype=object), zoom)
    n = 2**zoom
    polygonal = shapely.union_all(
        [p for p in shapely.get_parts(units) if p.geom_type in ("Polygon", "MultiPolygon")]
    )
    if not polygonal.is_empty:
        cover = cell_coverage(np.array([polygonal], dtype=object))
        x, y = cover.x, cover.y
    else:
        x, y = _intersecting_in_bbox(units)
    keep = (y >= 0) & (y < n)
    xyz = np.column_stack([x[keep] % n, y[keep], np.full(keep.sum(), zoom)]).astype(np.int64)
    return np.unique(xyz, axis=0) if len(xyz) else xyz.reshape(0, 3)


def _intersecting_in_bbox(units: BaseGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Tiles of the geometry's bounding box that intersect it (points, lines)."""
    if units.is_empty:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    west, north, east, south = units.bounds
    xs = np.arange(math.floor(west), math.floor(east) + 1)
    ys = np.arange(math.floor(north), math.floor(south) + 1)
    x, y = (a.ravel() for a in np.meshgrid(xs, ys))
    shapely.prepare(units)
    hit = shapely.intersects(units, shapely.box(x, y, x + 1, y + 1))
    return x[hit], y[hit]


def tiles_intersecting(geometry: BaseGeometry, xyz: np.ndarray, coarse_zoom: int = 7) -> np.ndarray:
    """Which tiles (an ``(n, 3)`` array) intersect a prepared-able geometry in EPSG:4326.

    Tiles are first judged through their ancestors at ``coarse_zoom``: an ancestor
    inside the geometry or apart from it decides all its descendants at once, so
    only tiles near the geometry's boundary are tested one by one.
    """
    xyz = np.asarray(xyz, dtype=np.int64).reshape(-1, 3)
    result = np.zeros(len(xyz), dtype=bool)
    shapely.prepare(geometry)
    for zoom in unique_sorted(xyz[:, 2]).tolist():
        rows = np.flatnonzero(xyz[:, 2] == zoom)
        level = min(int(zoom), coarse_zoom)
        shift = int(zoom) - level
        parents, inverse = np.unique(xyz[rows, :2] >> shift, axis=0, return_inverse=True)
        inverse = inverse.ravel()
        parent_boxes = tile_boxes(parents[:, 0], parents[:, 1], level)
        inside = shapely.contains_properly(geometry, parent_boxes)
        touching = shapely.intersects(geometry, parent_boxes) & ~inside
        answer = inside[inverse]
        check = touching[inverse]
        if check.any():
            sub = rows[check]
            answer[check] = shapely.intersects(
                geometry, tile_boxes(xyz[sub, 0], xyz[sub, 1], int(zoom))
            )
        result[rows] = answer
    return result
