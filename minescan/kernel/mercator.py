"""Web mercator (EPSG:3857) and the pixel grids on it: the one place their maths lives.

Three units describe the same projection of a sphere of radius :data:`EARTH_RADIUS_M`:

- degrees: EPSG:4326 longitude and latitude (latitude limited to :data:`MAX_LAT`);
- map metres: EPSG:3857 ``x, y``, the world a square from ``-HALF_WORLD_M`` to
  ``HALF_WORLD_M`` on both axes;
- tile units at a zoom: tile ``(x, y)`` is the unit square ``[x, x+1] x [y, y+1]``,
  ``y`` growing south (mercantile's XYZ tiles).

Two kinds of pixel grid sit on it, both north-up:

- a tile's chip grid, ``size_px`` square plus a margin (:func:`tile_transform`);
- the global *lattice* of square pixels of one size, indexed from the world's
  north-west corner (:func:`lattice_window`). Reads that place their pixels by
  lattice index, never by a tile's corner, agree bit for bit with their neighbours.

Degrees to metres is done here by formula, not through pyproj: every source and the
simulator then put the same ground on the same pixels.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from affine import Affine

from minescan.kernel.errors import MinescanError

#: Radius of web mercator's sphere (the WGS84 semi-major axis), in metres.
EARTH_RADIUS_M = 6378137.0
#: Half the width of the web-mercator square, in map metres.
HALF_WORLD_M = math.pi * EARTH_RADIUS_M
#: Latitude of the square's north edge (``atan(sinh(pi))``), in degrees.
MAX_LAT = 85.0511287798066


# -- degrees and map metres ------------------------------------------------------------------


def lonlat_to_xy(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Degrees to map metres (vectorised), latitude clamped to :data:`MAX_LAT`.

    Examples
    --------
    >>> x, y = lonlat_to_xy([0.0, 180.0], [0.0, 90.0])
    >>> x.tolist(), bool(np.isclose(y[1], HALF_WORLD_M))
    ([0.0, 20037508.342789244], True)
    """
    lat = np.clip(np.asarray(lat, float), -MAX_LAT, MAX_LAT)
    x = np.radians(np.asarray(lon, float)) * EARTH_RADIUS_M
    y = np.log(np.tan(np.pi / 4 + np.radians(lat) / 2)) * EARTH_RADIUS_M
    return x, y


def xy_to_lonlat(x, y) -> tuple[np.ndarray, np.ndarray]:
    """Map metres to degrees (vectorised).

    Examples
    --------
    >>> lon, lat = xy_to_lonlat(HALF_WORLD_M, HALF_WORLD_M)
    >>> round(float(lon), 10), round(float(lat), 10)
    (180.0, 85.0511287798)
    """
    lon = np.degrees(np.asarray(x, float) / EARTH_RADIUS_M)
    lat = np.degrees(np.arctan(np.sinh(np.asarray(y, float) / EARTH_RADIUS_M)))
    return lon, lat


def wrap_lon(lon) -> np.ndarray:
    """Longitudes beyond the antimeridian brought back into -180..180 (vectorised).

    A grid whose margin runs past the world's edge then has a west longitude greater
    than its east one: a box across the antimeridian, as catalogue searches expect.
    The world's own edges, which :func:`xy_to_lonlat` puts a rounding error beyond
    180 degrees, stay at -180 and 180.

    Examples
    --------
    >>> wrap_lon([-225.0, -180.00000000000003, 179.5, 180.0, 180.5]).tolist()
    [135.0, -180.0, 179.5, 180.0, -179.5]
    """
    lon = np.asarray(lon, float)
    wrapped = lon - 360.0 * np.round(lon / 360.0)
    return np.where(np.abs(lon) > 180.0 + 1e-9, wrapped, np.clip(lon, -180.0, 180.0))


def to_mercator(geometry):
    """A shapely geometry (or array of them) from degrees to map metres."""
    return shapely.transform(geometry, lambda c: np.column_stack(lonlat_to_xy(c[:, 0], c[:, 1])))


def to_lonlat(geometry):
    """A shapely geometry (or array of them) from map metres to degrees."""
    return shapely.transform(geometry, lambda c: np.column_stack(xy_to_lonlat(c[:, 0], c[:, 1])))


def ground_scale(y: float) -> float:
    """Ground metres per map metre at map ``y``: the cosine of its latitude.

    Examples
    --------
    >>> ground_scale(0.0), round(ground_scale(lonlat_to_xy(0.0, 60.0)[1]), 12)
    (1.0, 0.5)
    """
    return 1.0 / math.cosh(y / EARTH_RADIUS_M)


# -- degrees and tile units ------------------------------------------------------------------


def lonlat_to_units(lon, lat, zoom: int) -> tuple[np.ndarray, np.ndarray]:
    """Degrees to fractional tile units at ``zoom`` (latitude clipped to :data:`MAX_LAT`).

    Examples
    --------
    >>> [v.tolist() for v in lonlat_to_units([0.0, 180.0], [0.0, 0.0], 1)]
    [[1.0, 2.0], [1.0, 1.0]]
    """
    n = 2.0**zoom
    lon = np.asarray(lon, dtype=float)
    lat = np.radians(np.clip(np.asarray(lat, dtype=float), -MAX_LAT, MAX_LAT))
    x = (lon + 180.0) / 360.0 * n
    y = (0.5 - np.arctanh(np.sin(lat)) / (2 * np.pi)) * n
    return x, y


def units_to_lonlat(x, y, zoom) -> tuple[np.ndarray, np.ndarray]:
    """Fractional tile units at ``zoom`` (scalar or array) to degrees, as ``mercantile.ul``.

    Examples
    --------
    >>> [float(v) for v in units_to_lonlat(1.0, 1.0, 1)]
    [0.0, 0.0]
    """
    n = 2.0 ** np.asarray(zoom, dtype=float)
    lon = np.asarray(x, dtype=float) / n * 360.0 - 180.0
    lat = np.degrees(np.arctan(np.sinh(np.pi * (1 - 2 * np.asarray(y, dtype=float) / n))))
    return lon, lat


# -- tiles -----------------------------------------------------------------------------------


def tile_index(tile, max_zoom: int) -> tuple[int, int, int]:
    """``(x, y, z)`` of ``tile`` as ints, or a :class:`MinescanError` if no such tile exists.

    Examples
    --------
    >>> tile_index((3, 5, 4), max_zoom=22)
    (3, 5, 4)
    >>> tile_index((16, 0, 4), max_zoom=22)
    Traceback (most recent call last):
    ...
    minescan.kernel.errors.MinescanError: tile 16/0/4 is outside the web-mercator range
    """
    try:
        x, y, z = (int(v) for v in tile)
    except (TypeError, ValueError):
        raise MinescanError(f"bad tile {tile!r}; expected (x, y, z)") from None
    if not 0 <= z <= max_zoom or not (0 <= x < 2**z and 0 <= y < 2**z):
        raise MinescanError(f"tile {x}/{y}/{z} is outside the web-mercator range")
    return x, y, z


def tile_bounds_m(tile) -> tuple[float, float, float, float]:
    """``(xmin, ymin, xmax, ymax)`` of an ``(x, y, z)`` tile in map metres.

    The same floats as ``mercantile.xy_bounds``.

    Examples
    --------
    >>> tile_bounds_m((0, 0, 1)) == (-HALF_WORLD_M, 0.0, 0.0, HALF_WORLD_M)
    True
    """
    x, y, z = tile
    size = 2 * HALF_WORLD_M / 2.0**z
    left, top = x * size - HALF_WORLD_M, HALF_WORLD_M - y * size
    return left, top - size, left + size, top


def tile_transform(tile, size_px: int, margin_px: int = 0) -> Affine:
    """Affine of a ``size_px`` grid on ``tile`` in EPSG:3857, grown by ``margin_px`` each side.

    Examples
    --------
    >>> t = tile_transform((0, 0, 0), 256)
    >>> round(t.a, 3), round(t.c, 1)
    (156543.034, -20037508.3)
    """
    left, _, right, top = tile_bounds_m(tile)
    res = (right - left) / size_px
    return Affine(res, 0.0, left - margin_px * res, 0.0, -res, top + margin_px * res)


def tile_span(bounds, zoom: int) -> tuple[int, int, int, int]:
    """First and last column and row ``(x0, y0, x1, y1)`` of the ``zoom`` tiles that meet
    map ``bounds``, clamped to the world.

    A point on a tile edge belongs to the tile east or south of it, so bounds that end on
    an edge also take the next tile there: the span errs on the side of more tiles.

    Examples
    --------
    >>> tile_span((-1.0, -1.0, 1.0, 1.0), 1), tile_span((0.0, 0.0, 0.0, 0.0), 1)
    ((0, 0, 1, 1), (1, 1, 1, 1))
    >>> tile_span((-1e9, 1.0, -1e9, 2.0), 3)
    (0, 3, 0, 3)
    """
    xmin, ymin, xmax, ymax = (min(max(v, -HALF_WORLD_M), HALF_WORLD_M) for v in bounds)
    n = 2**zoom
    size = 2 * HALF_WORLD_M / n
    x0 = int(max(0, math.floor((xmin + HALF_WORLD_M) / size)))
    x1 = int(min(n - 1, math.floor((xmax + HALF_WORLD_M) / size)))
    y0 = int(max(0, math.floor((HALF_WORLD_M - ymax) / size)))
    y1 = int(min(n - 1, math.floor((HALF_WORLD_M - ymin) / size)))
    return x0, y0, x1, y1


# -- pixel grids -----------------------------------------------------------------------------


def lattice_res(zoom: int, size_px: int) -> float:
    """Pixel size in map metres of ``size_px`` chips of ``zoom`` tiles (the lattice's step).

    Examples
    --------
    >>> round(lattice_res(14, 256), 4), lattice_res(0, 1) == 2 * HALF_WORLD_M
    (9.5546, True)
    """
    return 2 * HALF_WORLD_M / (2**zoom * size_px)


def lattice_window(bounds, res: float, pad: float = 0.0) -> tuple[int, int, int, int]:
    """``(col0, row0, width, height)`` of the lattice pixels of size ``res`` that cover map
    ``bounds`` grown by ``pad`` metres each side (at least one pixel).

    Examples
    --------
    >>> lattice_window((-HALF_WORLD_M, HALF_WORLD_M - 25.0, 0.5 - HALF_WORLD_M, HALF_WORLD_M), 10.0)
    (0, 0, 1, 3)
    >>> lattice_window((-HALF_WORLD_M, HALF_WORLD_M) * 2, 10.0)  # a corner point
    (0, 0, 1, 1)
    """
    xmin, ymin, xmax, ymax = bounds
    col0 = math.floor((xmin - pad + HALF_WORLD_M) / res)
    row0 = math.floor((HALF_WORLD_M - ymax - pad) / res)
    col1 = math.ceil((xmax + pad + HALF_WORLD_M) / res)
    row1 = math.ceil((HALF_WORLD_M - ymin + pad) / res)
    return col0, row0, max(1, col1 - col0), max(1, row1 - row0)


def pixel_grid(bounds, res: float, pad: float = 0.0) -> tuple[Affine, int, int]:
    """Affine, width and height of a grid of ``res`` pixels from the north-west corner of map
    ``bounds`` grown by ``pad`` metres each side, covering them (at least one pixel).

    Unlike :func:`lattice_window` the grid starts exactly at the corner.

    Examples
    --------
    >>> transform, width, height = pixel_grid((0.0, 0.0, 25.0, 10.0), 10.0, pad=1.0)
    >>> (transform.c, transform.f), width, height
    ((-1.0, 11.0), 3, 2)
    """
    xmin, ymin, xmax, ymax = bounds
    xmin, ymin, xmax, ymax = xmin - pad, ymin - pad, xmax + pad, ymax + pad
    width = max(1, math.ceil((xmax - xmin) / res))
    height = max(1, math.ceil((ymax - ymin) / res))
    return Affine(res, 0.0, xmin, 0.0, -res, ymax), width, height
