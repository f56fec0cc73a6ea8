"""Cell names: ``LAT_LON_Z_PCT`` for positives, ``LAT_LON_Z_neg`` for negatives.

The fields, separated by ``_``:

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

import math
from typing import NamedTuple

import mercantile
import numpy as np

from minescan.grid.tiles import MAX_ZOOM, tile_centres
from minescan.kernel.errors import MinescanError
from minescan.kernel.mercator import MAX_LAT, units_to_lonlat


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
