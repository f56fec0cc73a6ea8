"""Compliance: concession x restricted class -> categories 1, 2, 3, and violations.

- **1** inside the lease and outside every restriction (compliant);
- **2** inside the lease but in a production forest or riparian zone (review);
- **3** outside every lease, or in a protected forest or conservation area
  (and in a synthetic no-go zone, which by definition forbids mining).

Each excavated pixel gets one zone and one category; where zones overlap the
most serious one wins, in the order of :data:`ZONES`. A violation is a
connected patch of excavated pixels of category 2 or 3 in one zone, with its
area (100 m2 per 10 m pixel), first date, severity and confidence.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from rasterio import features
from scipy import ndimage

from minescan.monitor.nogo import Zones

#: Square metres per 10 m pixel.
PIXEL_M2 = 100.0

#: zone -> category, most serious first (the order settles overlaps).
ZONES: dict[str, int] = {
    "protected forest": 3,
    "conservation": 3,
    "outside lease": 3,
    "forest": 3,
    "water": 3,
    "production forest": 2,
    "riparian": 2,
    "lease": 1,
}
ZONE_NAMES: tuple[str, ...] = tuple(ZONES)

#: A violation this large (m2) is severe in category 3 and notable in category 2.
LARGE_M2 = 10_000.0

VIOLATION_COLUMNS = [
    "mine_id",
    "zone",
    "category",
    "first_violation_date",
    "area_m2",
    "severity",
    "confidence",
]


def zone_map(zones: Zones, shape: tuple[int, int]) -> np.ndarray:
    """``(H, W)`` index into :data:`ZONE_NAMES`: the most serious zone of each pixel."""
    out = np.full(shape, ZONE_NAMES.index("lease"), dtype=np.int8)
    masks = dict(zones.zones)
    if zones.lease is not None:
        masks["outside lease"] = ~zones.lease
    for index in reversed(range(len(ZONE_NAMES) - 1)):
        mask = masks.get(ZONE_NAMES[index])
        if mask is not None:
            out[mask] = index
    return out


def category_map(zones: Zones, shape: tuple[int, int]) -> np.ndarray:
    """``(H, W)`` int8 category 1, 2 or 3 of mining at each pixel."""
    lookup = np.array([ZONES[z] for z in ZONE_NAMES], dtype=np.int8)
    return lookup[zone_map(zones, shape)]


def severity(category: int, area_m2: float) -> str:
    """``high``, ``medium`` or ``low`` from the category and the area.

    Examples
    --------
    >>> severity(3, 25_000), severity(3, 500), severity(2, 500)
    ('high', 'medium', 'low')
    """
    if category >= 3:
        return "high" if area_m2 >= LARGE_M2 else "medium"
    return "medium" if area_m2 >= LARGE_M2 else "low"


def violations(
    mine_id: str,
    first_index: np.ndarray,
    dates: np.ndarray,
    confidence: np.ndarray,
    zones: Zones,
    transform,
    crs: str,
):
    """GeoDataFrame (EPSG:4326) of violation patches, one row per connected patch per zone."""
    import geopandas as gpd
    from shapely.geometry import shape as to_shape

    excavated = first_index >= 0
    zmap = zone_map(zones, excavated.shape)
    rows, geoms = [], []
    for index, zone in enumerate(ZONE_NAMES):
        category = ZONES[zone]
        mask = excavated & (zmap == index)
        if category < 2 or not mask.any():
            continue
        labels, n = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
        for label in range(1, n + 1):
            patch = labels == label
            area = float(patch.sum() * PIXEL_M2)
            geom = [
                to_shape(g)
                for g, v in features.shapes(patch.astype(np.uint8), mask=patch, transform=transform)
                if v == 1
            ]
            rows.append(
                {
                    "mine_id": mine_id,
                    "zone": zone,
                    "category": category,
                    "first_violation_date": pd.Timestamp(dates[first_index[patch].min()]),
                    "area_m2": area,
                    "severity": severity(category, area),
                    "confidence": round(float(confidence[patch].mean()), 3),
                }
            )
            geoms.append(gpd.GeoSeries(geom, crs=crs).union_all())
    frame = pd.DataFrame(rows, columns=VIOLATION_COLUMNS)
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, crs=crs)).to_crs(4326)


def alerts(violation_table) -> pd.DataFrame:
    """One alert per (mine, zone, category): total area, first date, severity, mean confidence."""
    if len(violation_table) == 0:
        return pd.DataFrame(columns=VIOLATION_COLUMNS)
    grouped = violation_table.groupby(["mine_id", "zone", "category"], sort=True)
    out = grouped.agg(
        first_violation_date=("first_violation_date", "min"),
        area_m2=("area_m2", "sum"),
        confidence=("confidence", "mean"),
    ).reset_index()
    out["severity"] = [severity(c, a) for c, a in zip(out["category"], out["area_m2"], strict=True)]
    out["confidence"] = out["confidence"].round(3)
    out["first_violation_date"] = pd.to_datetime(out["first_violation_date"]).dt.date
    return out.sort_values(["category", "area_m2"], ascending=[False, False])[VIOLATION_COLUMNS]
