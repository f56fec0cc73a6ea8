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

Negatives
---------
For each positive, at each zoom, the nearest cell (by centre, in mercator) that
shares no area with any polygon, is not already taken, lies in the AOI and, when
asked, touches land. Positives are served in quadkey order; among positives that
want the same cell, the nearer one (then the earlier one) gets it. A positive
with no free cell within ``search_radius`` cells keeps no negative; the count is
reported.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from shapely.geometry.base import BaseGeometry

from minescan.grid import tiles
from minescan.grid.coverage import Coverage, cell_coverage, member, unique_sorted
from minescan.kernel.errors import MinescanError
from minescan.kernel.mercator import MAX_LAT

#: Names of the columns of cells.parquet, in order.
COLUMNS = ["name", "z", "x", "y", "quadkey", "label", "overlap", "pair", "geometry"]


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
        ok = tiles.land_tiles(xyz) if land_only else np.ones(len(xyz), dtype=bool)
        if aoi is not None and ok.any():
            ok[ok] = tiles.tiles_intersecting(aoi, xyz[ok])
        return ok

    return allowed


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
        tiles.land_index()  # build once, before the threads need it

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


def cells_arrow(zoom_cells: list[ZoomCells]):
    """The cells as an arrow table with :data:`COLUMNS` (geometry as WKB), positives then negatives.

    Built column by column from the index arrays, with no Python object per cell.
    """
    import pyarrow as pa

    parts = []
    for cells in zoom_cells:
        z = cells.zoom
        px, py = cells.x[cells.positive], cells.y[cells.positive]
        nx, ny = cells.negative_x, cells.negative_y
        x, y = np.concatenate([px, nx]), np.concatenate([py, ny])
        overlap = np.concatenate([cells.overlap[cells.positive], np.full(nx.size, np.nan)])
        names = tiles.cell_names_array(x, y, z, overlap)
        pair = pa.concat_arrays(
            [pa.nulls(px.size, pa.string()), names.take(pa.array(cells.negative_of, pa.int64()))]
        )
        parts.append(
            pa.table(
                {
                    "name": names,
                    "z": pa.array(np.full(x.size, z, dtype=np.int64)),
                    "x": pa.array(x.astype(np.int64)),
                    "y": pa.array(y.astype(np.int64)),
                    "quadkey": tiles.quadkeys_array(x, y, z),
                    "label": pa.DictionaryArray.from_arrays(
                        pa.array(np.repeat(np.int8([0, 1]), [px.size, nx.size])), ["pos", "neg"]
                    ).cast(pa.string()),
                    "overlap": pa.array(np.nan_to_num(overlap)),
                    "pair": pair,
                    "geometry": box_wkb(*tiles.tile_bounds(x, y, z)),
                }
            )
        )
    if not parts:
        return cells_arrow([ZoomCells(0, *(np.empty(0, np.int64),) * 3, np.empty(0, bool))])
    return pa.concat_tables(parts)


_WKB_POLYGON = np.dtype(
    [("order", "u1"), ("kind", "<u4"), ("rings", "<u4"), ("points", "<u4"), ("xy", "<f8", (10,))]
)


def box_wkb(west, south, east, north):
    """Rectangles as little-endian WKB polygons (counter-clockwise), an arrow binary array."""
    import pyarrow as pa

    n = np.size(west)
    rec = np.empty(n, dtype=_WKB_POLYGON)
    rec["order"], rec["kind"], rec["rings"], rec["points"] = 1, 3, 1, 5
    rec["xy"] = np.column_stack([west, south, east, south, east, north, west, north, west, south])
    offsets = np.arange(n + 1, dtype=np.int32) * _WKB_POLYGON.itemsize
    return pa.Array.from_buffers(
        pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(rec.tobytes())]
    )


def write_cells_parquet(table, path) -> None:
    """Atomically write the cells table as GeoParquet (WKB, EPSG:4326)."""
    import pyarrow.parquet as pq
    from pyproj import CRS

    from minescan.kernel.io import atomic_path

    x, y, z = (table[c].to_numpy() for c in ("x", "y", "z"))
    west, south, east, north = tiles.tile_bounds(x, y, z)
    bbox = [float(v.min()) if len(v) else 0.0 for v in (west, south)] + [
        float(v.max()) if len(v) else 0.0 for v in (east, north)
    ]
    geo = {
        "version": "1.0.0",
        "primary_column": "geometry",
        "columns": {
            "geometry": {
                "encoding": "WKB",
                "geometry_types": ["Polygon"],
                "crs": CRS.from_epsg(4326).to_json_dict(),
                "bbox": bbox,
            }
        },
    }
    meta = dict(table.schema.metadata or {}) | {b"geo": json.dumps(geo).encode()}
    with atomic_path(path) as tmp:
        pq.write_table(table.replace_schema_metadata(meta), tmp)


def write_cells_csv(table, path) -> None:
    """Atomically write the neat table: the cells without geometry, plus bounds and centre."""
    import pyarrow as pa
    import pyarrow.csv

    from minescan.kernel.io import atomic_path

    x, y, z = (table[c].to_numpy() for c in ("x", "y", "z"))
    west, south, east, north = tiles.tile_bounds(x, y, z)
    lon, lat = tiles.tile_centres(x, y, z)
    neat = table.drop_columns(["geometry"])
    for name, values in zip(
        ("west", "south", "east", "north", "lon", "lat"),
        (west, south, east, north, lon, lat),
        strict=True,
    ):
        neat = neat.append_column(name, pa.array(values, pa.float64()))
    with atomic_path(path) as tmp:
        pyarrow.csv.write_csv(neat, tmp, pyarrow.csv.WriteOptions(quoting_style="needed"))


def to_geodataframe(table):
    """An arrow cells table as a GeoDataFrame."""
    import geopandas as gpd

    frame = table.drop_columns(["geometry"]).to_pandas()
    geometry = shapely.from_wkb(table["geometry"].to_numpy(zero_copy_only=False))
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=4326)[COLUMNS]
