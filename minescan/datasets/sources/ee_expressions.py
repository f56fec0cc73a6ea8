"""The Earth Engine expressions behind a chip: scenes, cloud masks, composites, requests.

Pure functions of their inputs: they build ``ee`` objects and the ``computePixels``
request, and turn its answer into an array, without calling Earth Engine, so tests can
serialise them offline and check exactly what would be sent.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from minescan.datasets.sources.extent import Grid
from minescan.datasets.sources.settings import SourceSettings
from minescan.kernel.errors import MinescanError
from minescan.kernel.period import Period

CLOUD_SCORE_PLUS = "GOOGLE/CLOUD_SCORE_PLUS/V1/S2_HARMONIZED"
SCL_CLEAR = (4, 5, 6, 7, 11)
#: S2_SR_HARMONIZED stores reflectance x 10000 (harmonised: no -1000 offset).
REFLECTANCE_SCALE = 10000
#: What masked pixels are filled with before download (reflectance is never negative).
FILL = -1.0
CLEAR_COUNT = "clear_count"


def ee_band(band: str) -> str:
    """Earth Engine's name of an S2 band (no zero padding).

    Examples
    --------
    >>> ee_band("B02"), ee_band("B8A"), ee_band("B11")
    ('B2', 'B8A', 'B11')
    """
    return f"B{int(band[1:])}" if band[1:].isdigit() else band


def region(bounds_4326: tuple[float, float, float, float]):
    """A planar lon/lat rectangle (the chip's footprint) for ``filterBounds``."""
    import ee

    return ee.Geometry.Rectangle(list(bounds_4326), "EPSG:4326", False)


def scenes(collection: str, area, start: str, end: str):
    """Scenes of ``collection`` over ``area`` from ``start`` to ``end`` inclusive (ISO dates)."""
    import ee

    days = Period.parse(f"{start}/{end}")  # filterDate takes a half-open range
    found = ee.ImageCollection(collection).filterBounds(area)
    return found.filterDate(str(days.start), str(days.end))


def mask_cloud_score_plus(collection, threshold: float):
    """Each scene masked where Cloud Score+ ``cs_cdf`` < ``threshold`` (1 = clear)."""
    import ee

    linked = collection.linkCollection(ee.ImageCollection(CLOUD_SCORE_PLUS), ["cs_cdf"])
    return linked.map(lambda image: image.updateMask(image.select("cs_cdf").gte(threshold)))


def mask_scl(collection):
    """Each scene masked where its SCL class is not clear (4, 5, 6, 7, 11)."""
    keep = list(SCL_CLEAR)
    return collection.map(
        lambda image: image.updateMask(image.select("SCL").remap(keep, [1] * len(keep), 0))
    )


def clear_scenes(settings: SourceSettings, area, start: str, end: str):
    """Scenes with clouds masked by ``settings.cloud_mask`` (``cs_plus`` or ``scl``)."""
    found = scenes(settings.ee_collection, area, start, end)
    if settings.cloud_mask == "scl":
        return mask_scl(found)
    return mask_cloud_score_plus(found, settings.cs_cdf_threshold)


def to_reflectance(image, bands: tuple[str, ...]):
    """``bands`` (renamed to S2 names) / 10000, masked pixels filled with :data:`FILL`, float32."""
    selected = image.select([ee_band(b) for b in bands], list(bands))
    return selected.divide(REFLECTANCE_SCALE).unmask(FILL).toFloat()


def composite(collection, bands: tuple[str, ...]):
    """Per-pixel median of the clear scenes, plus ``clear_count`` (clear scenes per pixel)."""
    median = to_reflectance(collection.median(), bands)
    count = collection.select(ee_band(bands[0])).count().rename(CLEAR_COUNT).unmask(0).toFloat()
    return median.addBands(count)


def daily(collection, date: str, bands: tuple[str, ...]):
    """The scenes of one day (granules mosaicked) as reflectance."""
    day = Period.parse(date)
    return to_reflectance(collection.filterDate(str(day.start), str(day.end)).mosaic(), bands)


def pixels_request(image, grid: Grid) -> dict:
    """The ``ee.data.computePixels`` request for ``image`` on ``grid`` (EPSG:3857)."""
    t = grid.transform
    return {
        "expression": image,
        "fileFormat": "NUMPY_NDARRAY",
        "grid": {
            "dimensions": {"width": grid.width, "height": grid.height},
            "affineTransform": {
                "scaleX": t.a,
                "shearX": t.b,
                "translateX": t.c,
                "shearY": t.d,
                "scaleY": t.e,
                "translateY": t.f,
            },
            "crsCode": "EPSG:3857",
        },
    }


def to_array(pixels: np.ndarray, names: Iterable[str], grid: Grid) -> np.ndarray:
    """A NUMPY_NDARRAY result (structured, one field per band) to float32 ``(bands, H, W)``."""
    names = list(names)
    missing = [n for n in names if n not in (pixels.dtype.names or ())]
    if missing:
        raise MinescanError(f"Earth Engine returned no band {missing[0]}")
    if pixels.shape != (grid.height, grid.width):
        raise MinescanError(
            f"Earth Engine returned {pixels.shape} pixels, asked for {(grid.height, grid.width)}"
        )
    out = np.stack([pixels[n] for n in names]).astype(np.float32)
    out[out == FILL] = np.nan
    return out
