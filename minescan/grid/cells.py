"""Positive and negative cells from mine polygons: cover, exact overlaps, negatives.

Overlap rule
------------
A cell's overlap is the share of its area covered by the union of the polygons,
with both areas measured in web mercator (EPSG:3857) and polygon edges taken as
straight lines there. Every cell of one zoom has the same mercator area, and
within a cell of zoom 13 or finer the mercator scale changes by well under 0.1 %,
so this is the cell's true ground fraction to that precision. Overlaps are exact
(no rasterising) and computed once, at the finest zoom asked for; a parent's
overlap is then the mean of its four children's, since area adds up.

Each zoom's positives then get their negatives (:mod:`.negatives`); :mod:`.cells_table`
turns the cells into the table and files the stage writes.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from shapely.geometry.base import BaseGeometry

from minescan.grid import land, tiles
from minescan.grid.coverage import Coverage, cell_coverage
from minescan.grid.negatives import draw_negatives, negative_filter
from minescan.kernel.errors import MinescanError
from minescan.kernel.mercator import MAX_LAT


@dataclass(frozen=True)
class Polygons:
    """Mine polygons made ready for the grid: valid, polygonal, within -180..180, in the AOI."""

    geometry: np.ndarray
    read: int
    repaired: int
    dropped: int


@dataclass(frozen=True)
class ZoomCells:
    """The cells of one zoom: covered cells (``x``, ``y``, ``overlap``) and the drawn pairs."""

    zoom: int
    x: np.ndarray
    y: np.ndarray
    overlap: np.ndarray
    positive: np.ndarray
    negative_x: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    negative_y: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    negative_of: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))


def prepare_polygons(geoms: np.ndarray, aoi: BaseGeometry | None = None) -> Polygons:
    """Repair invalid geometries, keep polygonal parts, wrap longitudes and clip to the AOI.

    Raises :class:`MinescanError` when no polygon area is left (none in the AOI).
    """
    geoms = np.asarray(geoms, dtype=object)
    read = geoms.size
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    geoms = geoms[present]
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        geoms = geoms.copy()
        geoms[invalid] = shapely.make_valid(geoms[invalid])
    geoms = _polygonal(geoms)
    geoms = tiles.wrap_longitudes(geoms)
    bounds = shapely.bounds(geoms)
    polar = (bounds[:, 1] < -MAX_LAT) | (bounds[:, 3] > MAX_LAT)
    if polar.any():  # no tile exists beyond web mercator's latitudes: cut those parts off
        geoms = geoms.copy()
        geoms[polar] = shapely.clip_by_rect(geoms[polar], -1e9, -MAX_LAT, 1e9, MAX_LAT)
    if aoi is not None:
        geoms = _clip(geoms, aoi)
    keep = shapely.area(geoms) > 0
    if not keep.any():
        where = " in the AOI" if aoi is not None else ""
        raise MinescanError(
            f"no polygon area{where} within web mercator's latitudes (-85.05..85.05): "
            "nothing to grid"
        )
    return Polygons(geoms[keep], read, int(invalid.sum()), int(read - keep.sum()))


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Keep only the polygon parts of each geometry (repairs can leave lines and points)."""
    kinds = shapely.get_type_id(geoms)
    mixed = ~np.isin(kinds, [3, 6])  # Polygon, MultiPolygon
    if mixed.any():
        geoms = geoms.copy()
        for i in np.flatnonzero(mixed):
            parts = shapely.get_parts(geoms[i])
            parts = parts[np.isin(shapely.get_type_id(parts), [3, 6])]
            geoms[i] = shapely.union_all(parts) if parts.size else shapely.Polygon()
    return geoms


def _clip(geoms: np.ndarray, aoi: BaseGeometry) -> np.ndarray:
    """Intersect with the AOI; polygons wholly inside it are kept as they are."""
    shapely.prepare(aoi)
    inside = shapely.contains_properly(aoi, geoms)
    out = np.where(inside, geoms, None).astype(object)
    rest = np.flatnonzero(~inside & shapely.intersects(aoi, geoms))
    out[rest] = shapely.intersection(geoms[rest], aoi)
    return np.array([g if g is not None else shapely.Polygon() for g in out], dtype=object)


def dissolve_overlaps(geoms: np.ndarray) -> np.ndarray:
    """Union the polygons that touch or overlap, so that the result never counts area twice."""
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    pair = left < right
    if not pair.any():
        return geoms
    n = geoms.size
    graph = coo_matrix((np.ones(pair.sum()), (left[pair], right[pair])), shape=(n, n))
    _, group = connected_components(graph, directed=False)
    order = np.argsort(group, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(group[order]) != 0])
    sizes = np.diff(np.r_[starts, n])
    single = order[starts[sizes == 1]]
    merged = [
        shapely.union_all(geoms[order[s : s + k]])
        for s, k in zip(starts, sizes, strict=True)
        if k > 1
    ]
    return np.concatenate([geoms[single], np.array(merged, dtype=object)])


def overlaps_by_zoom(geoms: np.ndarray, zooms: list[int]) -> dict[int, Coverage]:
    """Exact overlap of every covered cell at each zoom (polygons in EPSG:4326, -180..180).

    Fractions are computed at the finest zoom only; each coarser zoom sums them.
    """
    finest = max(zooms)
    units = dissolve_overlaps(tiles.to_units(geoms, finest))
    fine = cell_coverage(units)
    n = 2**finest
    fine = Coverage(fine.x % n, fine.y, fine.area)
    return {z: _aggregate(fine, finest - z) for z in zooms}


def _aggregate(fine: Coverage, levels: int) -> Coverage:
    """Parent cells ``levels`` zooms up: the mean of their descendants' overlaps."""
    if levels == 0:
        return fine
    x, y = fine.x >> levels, fine.y >> levels
    key = (y << 32) | x
    unique, inverse = np.unique(key, return_inverse=True)
    area = np.bincount(inverse.ravel(), weights=fine.area) / 4.0**levels
    return Coverage(unique & 0xFFFFFFFF, unique >> 32, np.minimum(area, 1.0))


def morton(x: np.ndarray, y: np.ndarray, zoom: int) -> np.ndarray:
    """Quadkey order as an integer (bits of y and x interleaved)."""
    code = np.zeros(np.shape(x), dtype=np.int64)
    for bit in range(zoom):
        code |= ((np.asarray(x) >> bit) & 1) << (2 * bit)
        code |= ((np.asarray(y) >> bit) & 1) << (2 * bit + 1)
    return code


def grid_cells(
    polygons: Polygons,
    zooms: list[int],
    min_overlap: float = 0.001,
    negatives: bool = True,
    land_negatives: bool = True,
    aoi: BaseGeometry | None = None,
    search_radius: int = 32,
    progress: Callable[[str], None] = lambda step: None,
) -> list[ZoomCells]:
    """Positives (overlap at least ``min_overlap``) and their negatives, per zoom.

    ``progress(step)`` is called as each step starts, for progress bars and timings.
    Zooms draw their negatives in parallel threads (numpy, pandas and shapely release
    the GIL for the heavy parts).
    """
    progress("overlaps")
    covers = overlaps_by_zoom(polygons.geometry, zooms)
    allowed = negative_filter(land_negatives, aoi)
    if negatives and land_negatives:
        land.land_index()  # build once, before the threads need it

    def one_zoom(zoom: int) -> ZoomCells:
        cover = covers[zoom]
        order = np.argsort(morton(cover.x, cover.y, zoom), kind="stable")
        x, y, overlap = cover.x[order], cover.y[order], cover.area[order]
        positive = overlap >= min_overlap - 1e-12
        if not (negatives and positive.any()):
            return ZoomCells(zoom, x, y, overlap, positive)
        nx, ny, found = draw_negatives(
            x[positive], y[positive], zoom, x * 2**zoom + y, allowed, search_radius
        )
        return ZoomCells(zoom, x, y, overlap, positive, nx[found], ny[found], np.flatnonzero(found))

    progress("negatives" if negatives else "positives")
    # The finest zoom has the most cells: start it first.
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = dict(zip(zooms[::-1], pool.map(one_zoom, zooms[::-1]), strict=True))
    return [done[z] for z in zooms]
