"""No-go zones on a mine's grid: synthetic ones (forest and water read from the baseline) or the user's layers.

Synthetic zones stand in when no layer is given: forest is the top 10 % of
first-year mean NDVI, water the bottom 10 % of both B8 and B11, each buffered
by about 50 m (5 pixels). They describe the land *before* mining (the first
year of the series), so a pit dug into forest still lands in the forest zone.

User layers: ``--lease`` (concessions: inside or outside) and ``--restricted``
with a class column holding one of :data:`RESTRICTED_CLASSES` per polygon.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from affine import Affine
from rasterio import features
from scipy import ndimage

from minescan.kernel.errors import MinescanError
from minescan.kernel.io import read_vector
from minescan.monitor.preprocess import Series

#: The classes of a restricted-area layer, as the compliance categories read them.
RESTRICTED_CLASSES: tuple[str, ...] = (
    "protected forest",
    "conservation",
    "production forest",
    "riparian",
)


@dataclass(frozen=True)
class Layers:
    """The user's vector layers in EPSG:4326, or None where not given.

    ``restricted`` has a ``zone`` column holding a normalised class name.
    """

    lease: object | None = None
    restricted: object | None = None


@dataclass(frozen=True)
class Zones:
    """Layers rasterised on a mine's grid.

    ``lease`` is ``(H, W)`` bool inside any concession, or None when no lease
    layer was given (then all land counts as inside). ``zones`` maps a zone name
    (a restricted class or a synthetic zone) to its ``(H, W)`` mask.
    """

    lease: np.ndarray | None
    zones: dict[str, np.ndarray]

    def nogo(self) -> np.ndarray:
        """``(H, W)`` bool: inside any zone."""
        masks = list(self.zones.values())
        return np.logical_or.reduce(masks) if masks else np.zeros((0, 0), bool)


def normalise_class(value) -> str:
    """``"Protected_Forest"`` -> ``"protected forest"``.

    Examples
    --------
    >>> normalise_class(" Production-Forest ")
    'production forest'
    """
    return " ".join(str(value).strip().lower().replace("_", " ").replace("-", " ").split())


def _read_layer(path, what: str):
    try:
        return read_vector(path, what=what)
    except MinescanError as exc:
        if "has no CRS" in str(exc):
            raise MinescanError(
                f"{what} {path} has no CRS; assign one first "
                "(e.g. ogr2ogr -a_srs EPSG:4326 fixed.gpkg input.gpkg)"
            ) from None
        raise


def read_layers(lease=None, restricted=None, class_column: str | None = None) -> Layers:
    """Read and check the user's layers; one-line errors for every problem."""
    lease_gdf = _read_layer(lease, "lease layer") if lease else None
    restricted_gdf = None
    if restricted:
        if not class_column:
            raise MinescanError("--restricted needs --restricted-class-column COL")
        restricted_gdf = _read_layer(restricted, "restricted layer")
        if class_column not in restricted_gdf.columns:
            have = ", ".join(c for c in restricted_gdf.columns if c != "geometry")
            raise MinescanError(
                f"restricted layer {restricted} has no column {class_column!r} (columns: {have})"
            )
        zone = restricted_gdf[class_column].map(normalise_class)
        unknown = sorted(set(zone) - set(RESTRICTED_CLASSES))
        if unknown:
            raise MinescanError(
                f"restricted layer class {unknown[0]!r} is not one of "
                f"{', '.join(RESTRICTED_CLASSES)}"
            )
        restricted_gdf = restricted_gdf.assign(zone=zone)[["zone", "geometry"]]
    elif class_column:
        raise MinescanError("--restricted-class-column needs --restricted FILE")
    return Layers(lease_gdf, restricted_gdf)


def rasterise(geometries, shape: tuple[int, int], transform: Affine, crs: str) -> np.ndarray:
    """``(H, W)`` bool: pixel centres inside any of ``geometries`` (a GeoSeries in EPSG:4326)."""
    geoms = [g for g in geometries.to_crs(crs) if g is not None and not g.is_empty]
    if not geoms:
        return np.zeros(shape, dtype=bool)
    return features.geometry_mask(geoms, out_shape=shape, transform=transform, invert=True)


def buffer(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Grow ``mask`` by a disc of ``pixels`` radius."""
    if pixels <= 0 or not mask.any():
        return mask
    yy, xx = np.mgrid[-pixels : pixels + 1, -pixels : pixels + 1]
    return ndimage.binary_dilation(mask, structure=yy**2 + xx**2 <= pixels**2)


def synthetic_zones(series: Series, settings) -> dict[str, np.ndarray]:
    """Forest (top NDVI) and water (bottom B8 and B11) of the first year, buffered."""
    first_year = series.dates < series.dates[0] + np.timedelta64(365, "D")
    f = series.features
    with np.errstate(all="ignore"):
        ndvi = np.nanmean(f["NDVI"][first_year], axis=0)
        nir = np.nanmean(f["B08"][first_year], axis=0)
        swir = np.nanmean(f["B11"][first_year], axis=0)
    zones = {}
    for name, mask in (
        ("forest", ndvi >= np.nanquantile(ndvi, settings.forest_quantile)),
        (
            "water",
            (nir <= np.nanquantile(nir, settings.water_quantile))
            & (swir <= np.nanquantile(swir, settings.water_quantile)),
        ),
    ):
        zones[name] = buffer(mask & np.isfinite(ndvi), settings.nogo_buffer_px)
    return zones


def zones_for(series: Series, layers: Layers, settings) -> Zones:
    """Rasterise ``layers`` on the series grid; synthetic zones when no restricted layer."""
    shape, transform, crs = series.shape, series.transform, series.crs
    lease = (
        None if layers.lease is None else rasterise(layers.lease.geometry, shape, transform, crs)
    )
    if layers.restricted is None:
        zones = synthetic_zones(series, settings)
    else:
        zones = {}
        for name in RESTRICTED_CLASSES:
            part = layers.restricted[layers.restricted["zone"] == name]
            if len(part):
                zones[name] = rasterise(part.geometry, shape, transform, crs)
    return Zones(lease, zones)
