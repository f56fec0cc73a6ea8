"""Web-mercator tile maths on arrays: tile units, bounds, quadkeys, cell names and covers.

Everything here works on numpy arrays of tile indices, so a country's worth of
zoom-15 tiles is handled without a Python loop per tile. Tiles are mercantile's
XYZ tiles; "tile units" at zoom ``z`` are web-mercator coordinates scaled so
that tile ``(x, y)`` is the unit square ``[x, x+1] x [y, y+1]`` (y grows south).

Cell names
----------
A cell is named ``LAT_LON_Z_PCT`` (positive) or ``LAT_LON_Z_neg`` (negative):

- ``LAT``, ``LON``: the tile's centre, taken in web mercator (``mercantile.ul(x + 0.5,
  y + 0.5, z)``), in degrees times a factor, rounded to an integer; a leading ``0``
  replaces a minus sign (-29.5 becomes ``029500``). The factor is 1000 up to zoom 15
  and ``10 ** ceil(log10(2 ** z / 31))`` beyond (10,000 for zooms 16-18, 100,000 for
  19-20), so that neighbouring centres never round to the same value. Where a tile is
  still shorter than ``1 / factor`` degrees of latitude (zoom 15 beyond about 84.78
  degrees) ``LAT`` carries ten times the factor; its magnitude then exceeds
  ``85.0512 * factor``, which no ordinary ``LAT`` can, so the name stays decodable.
- ``Z``: the zoom.
- ``PCT``: the overlap in percent with one decimal (``37.5``), or ``neg``.

:func:`tile_from_name` inverts the name: it finds the tile holding the decoded
point and checks its neighbours for the one whose own name matches.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import mercantile
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


# -- cell names --------------------------------------------------------------------------------


class CellName(NamedTuple):
    """A parsed cell name: centre ``lat``, ``lon`` (as rounded in the name), ``z``, ``overlap``."""

    lat: float
    lon: float
    z: int
    overlap: float | None


def name_factor(zoom: int) -> int:
    """Integer scale of LAT and LON in names: 1000 up to zoom 15, more digits beyond.

    Examples
    --------
    >>> [name_factor(z) for z in (13, 15, 16, 18, 19, 20)]
    [1000, 1000, 10000, 10000, 100000, 100000]
    """
    if zoom <= 15:
        return 1000
    return 10 ** math.ceil(math.log10(2**zoom / 31))


_FACTORS = np.array([name_factor(z) for z in range(MAX_ZOOM + 1)], dtype=np.int64)


def _scaled_centres(x, y, z) -> tuple[np.ndarray, np.ndarray]:
    """Integer LAT and LON fields of tiles (vectorised over x, y, z)."""
    x, y, z = np.broadcast_arrays(*(np.asarray(v, dtype=np.int64) for v in (x, y, z)))
    factor = _FACTORS[z]
    lon, lat = tile_centres(x, y, z)
    _, north = units_to_lonlat(x, y, z)
    _, south = units_to_lonlat(x, y + 1, z)
    lat_factor = np.where((north - south) * factor < 1.0, 10 * factor, factor)
    return np.rint(lat * lat_factor).astype(np.int64), np.rint(lon * factor).astype(np.int64)


def _signed(values: np.ndarray):
    """Integers as text, a leading ``0`` in place of the minus sign (an arrow string array)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pc.cast(pa.array(np.abs(values)), pa.string())
    return pc.if_else(pa.array(values < 0), pc.binary_join_element_wise("0", text, ""), text)


def cell_names_array(x, y, z, overlap):
    """Names of many cells as an arrow string array; ``overlap`` is NaN for negatives."""
    import pyarrow as pa
    import pyarrow.compute as pc

    lat, lon = _scaled_centres(x, y, z)
    zoom = pc.cast(pa.array(np.broadcast_to(np.asarray(z, dtype=np.int64), lat.shape)), pa.string())
    overlap = np.broadcast_to(np.asarray(overlap, dtype=float), lat.shape)
    tenths = np.rint(np.nan_to_num(overlap) * 1000).astype(np.int64)  # percent, one decimal
    pct = pc.binary_join_element_wise(
        pc.cast(pa.array(tenths // 10), pa.string()),
        pc.cast(pa.array(tenths % 10), pa.string()),
        ".",
    )
    pct = pc.if_else(pa.array(np.isnan(overlap)), "neg", pct)
    return pc.binary_join_element_wise(_signed(lat), _signed(lon), zoom, pct, "_")


def cell_names(x, y, z, overlap) -> list[str]:
    """Names of many cells; ``overlap`` is a float array with NaN for negatives."""
    return cell_names_array(x, y, z, overlap).to_pylist()


def cell_name(tile, overlap: float | None) -> str:
    """The name of one cell: ``LAT_LON_Z_PCT``, or ``LAT_LON_Z_neg`` when ``overlap`` is None.

    Examples
    --------
    >>> cell_name(mercantile.Tile(16383, 16384, 15), 0.375)
    '05_05_15_37.5'
    >>> cell_name(mercantile.Tile(16383, 16384, 15), None)
    '05_05_15_neg'
    """
    x, y, z = tile
    return cell_names([x], [y], [z], [math.nan if overlap is None else overlap])[0]


def _parse_int(text: str) -> int:
    if not text or not text.isdigit():
        raise ValueError(text)
    return -int(text[1:]) if len(text) > 1 and text[0] == "0" else int(text)


def parse_cell_name(name: str) -> CellName:
    """Decode a cell name into its (rounded) centre, zoom and overlap.

    Examples
    --------
    >>> parse_cell_name("029500_1234_15_37.5")
    CellName(lat=-29.5, lon=1.234, z=15, overlap=0.375)
    """
    try:
        lat_text, lon_text, z_text, pct = name.split("_")
        z = int(z_text)
        if not 0 <= z <= MAX_ZOOM:
            raise ValueError(z_text)
        factor = name_factor(z)
        lat_int, lon_int = _parse_int(lat_text), _parse_int(lon_text)
        lat_factor = 10 * factor if abs(lat_int) > MAX_LAT * factor + 1 else factor
        overlap = None if pct == "neg" else float(pct) / 100
    except ValueError:
        raise MinescanError(
            f"bad cell name {name!r}; expected LAT_LON_Z_PCT or LAT_LON_Z_neg"
        ) from None
    return CellName(lat_int / lat_factor, lon_int / factor, z, overlap)


def tile_from_name(name: str) -> mercantile.Tile:
    """The tile a cell name was made from.

    Examples
    --------
    >>> tile_from_name("05_05_15_37.5")
    Tile(x=16383, y=16384, z=15)
    """
    parsed = parse_cell_name(name)
    lat_text, lon_text = name.split("_")[:2]
    guess = mercantile.tile(parsed.lon, parsed.lat, parsed.z)
    n = 2**parsed.z
    dx, dy = np.meshgrid([0, -1, 1], [0, -1, 1])
    xs = (guess.x + dx.ravel()) % n
    ys = guess.y + dy.ravel()
    ok = (ys >= 0) & (ys < n)
    xs, ys = xs[ok], ys[ok]
    lat, lon = _scaled_centres(xs, ys, parsed.z)
    match = np.flatnonzero(
        (np.array(_signed(lat).to_pylist()) == lat_text)
        & (np.array(_signed(lon).to_pylist()) == lon_text)
    )
    if match.size == 0:
        raise MinescanError(f"cell name {name!r} matches no tile at zoom {parsed.z}")
    return mercantile.Tile(int(xs[match[0]]), int(ys[match[0]]), parsed.z)
