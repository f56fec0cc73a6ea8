"""Which tiles touch land: a coarse index of the shipped countries, cut finer near coasts.

Negatives and scans keep to land (the union of the shipped Natural Earth countries).
Testing each tile against the country polygons would cost a GEOS call per tile; instead
the zoom-10 cells are classified once by their exact land area (sea, coast or land), so
most tiles are decided by their ancestor, and only tiles in coastal cells are tested
against the land cut out of that cell.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from minescan.grid.coverage import cell_coverage, unique_sorted
from minescan.grid.tiles import tile_bounds, tile_boxes, to_units, wrap_longitudes

#: Land states of the cells of the land index.
SEA, COAST, LAND = 0, 1, 2


class LandIndex(NamedTuple):
    """Land cells at one coarse zoom, as a dense grid of states, and the country shapes."""

    zoom: int
    state: np.ndarray  # uint8 per cell key x * 2**zoom + y: SEA, COAST or LAND
    countries: np.ndarray
    tree: shapely.STRtree


@functools.lru_cache(maxsize=1)
def land_index(zoom: int = 10) -> LandIndex:
    """Classify the cells of ``zoom`` by their exact land area (countries of the shipped layer)."""
    from minescan.grid.aoi import countries

    geoms = wrap_longitudes(countries().geometry.values)
    cover = cell_coverage(to_units(geoms, zoom))
    state = np.full(4**zoom, SEA, dtype=np.uint8)
    state[cover.x * 2**zoom + cover.y] = np.where(cover.area >= 1 - 1e-6, LAND, COAST)
    return LandIndex(zoom, state, geoms, shapely.STRtree(geoms))


def land_tiles(tiles_xyz: np.ndarray) -> np.ndarray:
    """Which tiles (an ``(n, 3)`` array of x, y, z) share area with land.

    Land is the union of the shipped Natural Earth countries. Tiles are judged
    through their zoom-10 ancestor: wholly land or wholly sea decides at once; in
    coastal ancestors the tile is tested against the land cut out of the ancestor.
    Coarser tiles are land when any of their zoom-10 descendants is.

    Examples
    --------
    >>> land_tiles(np.array([[31, 31, 6], [26, 33, 6]])).tolist()  # Ghana's coast, mid-Atlantic
    [True, False]
    """
    index = land_index()
    xyz = np.asarray(tiles_xyz, dtype=np.int64).reshape(-1, 3)
    result = np.zeros(len(xyz), dtype=bool)
    for zoom in unique_sorted(xyz[:, 2]).tolist():
        rows = np.flatnonzero(xyz[:, 2] == zoom)
        x, y = xyz[rows, 0], xyz[rows, 1]
        if zoom <= index.zoom:
            shift = index.zoom - zoom
            grid = index.state.reshape(2**index.zoom, 2**index.zoom) > SEA
            side = 2**zoom
            any_land = grid.reshape(side, 2**shift, side, 2**shift).any(axis=(1, 3))
            result[rows] = any_land[x, y]
            continue
        shift = zoom - index.zoom
        parent = (x >> shift) * 2**index.zoom + (y >> shift)
        state = index.state[parent]
        answer = state == LAND
        coastal = state == COAST
        if coastal.any():
            parents = unique_sorted(parent[coastal])
            pieces = _coast_pieces(index, parents)[np.searchsorted(parents, parent[coastal])]
            answer[coastal] = shapely.intersects(pieces, tile_boxes(x[coastal], y[coastal], zoom))
        result[rows] = answer
    return result


def _coast_pieces(index: LandIndex, parents: np.ndarray) -> np.ndarray:
    """The land inside each coastal cell of ``index.zoom`` (prepared geometries, cached)."""
    n = 2**index.zoom
    out = []
    for key in parents.tolist():
        if key not in _COAST:
            piece = shapely.GeometryCollection(list(_land_parts(index.zoom, key // n, key % n)))
            shapely.prepare(piece)
            _COAST[key] = piece
        out.append(_COAST[key])
    return np.array(out, dtype=object)


@functools.lru_cache(maxsize=65536)
def _land_parts(zoom: int, x: int, y: int) -> tuple:
    """Land polygons clipped to one tile, cut from the parent three zooms up (so each cut is small)."""
    bounds = tuple(float(v[0]) for v in tile_bounds([x], [y], zoom))
    if zoom <= 4:
        index = land_index()
        source = index.countries[index.tree.query(shapely.box(*bounds), predicate="intersects")]
    else:
        up = min(3, zoom - 4)
        source = np.array(_land_parts(zoom - up, x >> up, y >> up), dtype=object)
    if source.size == 0:
        return ()
    parts = shapely.clip_by_rect(source, *bounds)
    return tuple(parts[~shapely.is_empty(parts)])


#: Land cut out of coastal cells of the land index: parent key -> prepared geometry.
_COAST: dict[int, BaseGeometry] = {}
