"""Areas of interest: ``country:ISO3``, ``bbox:W,S,E,N`` or a polygon file, and the land mask.

Countries and land come from Natural Earth 1:10m admin-0 (public domain), shipped
simplified (about 1 km) as ``minescan/data/ne_admin0.parquet``.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import NamedTuple

import shapely
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from minescan.kernel.errors import MinescanError

NATURAL_EARTH = Path(__file__).resolve().parent.parent / "data" / "ne_admin0.parquet"
#: Widest bbox accepted, in degrees of longitude: wider is a typo (W and E swapped), not an area.
MAX_BBOX_WIDTH = 180


class AOI(NamedTuple):
    """An area of interest: a label for reports and a geometry in EPSG:4326."""

    name: str
    geometry: BaseGeometry


@functools.lru_cache(maxsize=1)
def countries():
    """The shipped admin-0 layer: columns ``iso3``, ``name``, ``continent``, ``geometry``."""
    import geopandas as gpd

    return gpd.read_parquet(NATURAL_EARTH)


@functools.lru_cache(maxsize=1)
def land() -> BaseGeometry:
    """All countries unioned: the land mask used for negatives and for the scan."""
    geom = shapely.union_all(countries().geometry.values)
    shapely.prepare(geom)
    return geom


def country(iso3: str) -> AOI:
    """One country by ISO 3166-1 alpha-3 code.

    Examples
    --------
    >>> country("gha").name
    'Ghana'
    """
    table = countries()
    row = table[table.iso3 == iso3.strip().upper()]
    if row.empty:
        raise MinescanError(
            f"unknown country code {iso3!r}; use an ISO 3166-1 alpha-3 code such as GHA"
        )
    return AOI(row.name.iloc[0], row.geometry.iloc[0])


def parse_bbox(text: str) -> BaseGeometry:
    """``W,S,E,N`` in degrees to a polygon; W > E crosses the antimeridian and gives two parts.

    A box wider than :data:`MAX_BBOX_WIDTH` degrees is refused: with W > E it is
    almost always W and E swapped, which would start a sweep around the globe.

    Examples
    --------
    >>> parse_bbox("-2,5,-1,6").bounds
    (-2.0, 5.0, -1.0, 6.0)
    >>> len(parse_bbox("179,0,-179,1").geoms)
    2
    """
    try:
        west, south, east, north = (float(v) for v in text.split(","))
    except ValueError:
        raise MinescanError(f"bad bbox {text!r}; expected bbox:W,S,E,N in degrees") from None
    if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south < north <= 90):
        raise MinescanError(f"bad bbox {text!r}; need -180<=W,E<=180 and -90<=S<N<=90")
    if west == east:
        raise MinescanError(f"bad bbox {text!r}; it has no width")
    width = east - west if west < east else east + 360 - west
    if width > MAX_BBOX_WIDTH:
        crossing = " (W > E reads as crossing the antimeridian: are W and E swapped?)"
        raise MinescanError(
            f"bad bbox {text!r}: {width:g} degrees wide{crossing if west > east else ''}; a "
            f"bbox is at most {MAX_BBOX_WIDTH} degrees wide, use a polygon file for more"
        )
    if west > east:
        return shapely.MultiPolygon([box(west, south, 180, north), box(-180, south, east, north)])
    return box(west, south, east, north)


def resolve_aoi(spec: str, assume_crs: str | None = None) -> AOI:
    """Turn ``country:ISO3``, ``bbox:W,S,E,N`` or a vector file path into an :class:`AOI`."""
    from minescan.kernel.io import read_vector

    spec = spec.strip()
    kind, _, value = spec.partition(":")
    if kind.lower() == "country" and value:
        aoi = country(value)
    elif kind.lower() == "bbox" and value:
        aoi = AOI(spec, parse_bbox(value))
    else:
        gdf = read_vector(spec, assume_crs=assume_crs, what="AOI file")
        geom = shapely.union_all(gdf.geometry.make_valid().values)
        aoi = AOI(Path(spec).stem, geom)
    if aoi.geometry.is_empty or aoi.geometry.area == 0:
        raise MinescanError(f"AOI {spec!r} is empty")
    return aoi
