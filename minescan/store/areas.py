"""Equal-area geometry for the store: every hectare it reports is measured here.

Stored geometries are EPSG:4326; areas, border splits and "new ground" are
computed in EPSG:6933 (the global equal-area cylindrical projection), so a
hectare is a hectare at every latitude, and a mine split at a border gives
two parts whose areas add up to the whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np
import shapely

#: The equal-area CRS every area is measured in.
EQUAL_AREA = "EPSG:6933"
M2_PER_HA = 10_000.0


@cache
def _transformers():
    from pyproj import Transformer

    forward = Transformer.from_crs(4326, EQUAL_AREA, always_xy=True)
    back = Transformer.from_crs(EQUAL_AREA, 4326, always_xy=True)
    return forward, back


def to_equal_area(geometries: Sequence) -> np.ndarray:
    """EPSG:4326 geometries projected to EPSG:6933 (``None`` stays ``None``)."""
    forward, _ = _transformers()
    array = np.asarray(geometries, dtype=object)
    return shapely.transform(array, lambda xy: np.column_stack(forward.transform(*xy.T)))


def to_lonlat(geometries: Sequence) -> np.ndarray:
    """EPSG:6933 geometries back to EPSG:4326."""
    _, back = _transformers()
    array = np.asarray(geometries, dtype=object)
    return shapely.transform(array, lambda xy: np.column_stack(back.transform(*xy.T)))


def area_ha(geometries: Sequence) -> np.ndarray:
    """Equal-area hectares of EPSG:4326 geometries.

    Examples
    --------
    >>> float(area_ha([shapely.box(0, 0, 0.01, 0.01)])[0].round(1))  # ~1.1 km at the equator
    123.1
    """
    if len(geometries) == 0:
        return np.zeros(0)
    return shapely.area(to_equal_area(geometries)) / M2_PER_HA


def clean(geometries: Sequence) -> np.ndarray:
    """Valid polygonal geometries: invalid ones repaired, lines and points left by repair dropped.

    A self-touching ring (common in digitised mine maps) must not fail an
    overlay, and a repair that leaves a sliver line must not count as area.
    """
    array = shapely.make_valid(np.asarray(geometries, dtype=object))
    return np.array([_polygonal(g) for g in array], dtype=object)


def _polygonal(geometry):
    if geometry is None or geometry.geom_type in ("Polygon", "MultiPolygon"):
        return geometry
    parts = [g for g in getattr(geometry, "geoms", [geometry]) if g.geom_type.endswith("Polygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def increments(geometries: Sequence, targets: Sequence[int] | None = None) -> list:
    """What each geometry adds to all those before it in the sequence.

    The ground of geometry ``i`` not covered by any geometry ``j < i``; the
    areas of the increments add up to the area of the union, so summing them
    never counts ground twice. Works in whatever CRS it is given. With
    ``targets``, only those indices are computed (the others are returned
    as they are), so a store refreshes just what an ingest changed.

    Examples
    --------
    >>> parts = increments([shapely.box(0, 0, 2, 1), shapely.box(1, 0, 3, 1)])
    >>> [p.area for p in parts]
    [2.0, 1.0]
    """
    array = np.asarray(geometries, dtype=object)
    out = list(array)
    if len(array) == 0:
        return out
    wanted = np.arange(len(array)) if targets is None else np.asarray(targets, dtype=int)
    hits, earlier = shapely.STRtree(array).query(array[wanted], predicate="intersects")
    later = wanted[hits]
    keep = earlier < later
    order = np.argsort(later[keep], kind="stable")
    pairs_later, pairs_earlier = later[keep][order], earlier[keep][order]
    bounds = np.searchsorted(pairs_later, np.arange(len(array) + 1))
    for i in np.flatnonzero(np.diff(bounds)):
        cover = shapely.union_all(array[pairs_earlier[bounds[i] : bounds[i + 1]]])
        out[i] = shapely.difference(array[i], cover)
    return out
