"""Resampling a window read onto tile grids in memory, without a per-pixel reprojection.

Over a tile, the map between two conformal projections (web mercator, UTM) is affine to far
below a pixel: :func:`affine_pixel_map` fits it, and OpenCV's ``warpAffine``
(:func:`resample`) interpolates the stored values through it, renormalising over the
pixels that hold data (:func:`valid_mask`, :func:`zeroed`) as GDAL does with nodata.
:func:`~minescan.datasets.sources.windows.warp_window` falls back to GDAL where the fit
is off.
"""

from __future__ import annotations

import functools

import numpy as np
from pyproj import Transformer

from minescan.datasets.sources.extent import Grid

#: Largest error (source pixels) of one affine map from a tile's pixels to the file's; beyond
#: it (a tile far from the file CRS's sweet spot) GDAL warps the tile instead.
AFFINE_TOLERANCE_PX = 0.02


@functools.lru_cache(maxsize=16)
def _to_crs(wkt: str) -> Transformer:
    return Transformer.from_crs("EPSG:3857", wkt, always_xy=True)


def affine_pixel_map(src_transform, src_wkt: str, grid: Grid) -> np.ndarray | None:
    """The affine from ``grid``'s pixel coordinates to the source's, ``(2, 3)``; None if curved.

    Over a tile, the map between two conformal projections (web mercator,
    UTM) is affine to far below a pixel, so one affine fitted through 9
    points stands in for per-pixel reprojection. Where it is off by more
    than :data:`AFFINE_TOLERANCE_PX` at any of the points, None.

    Examples
    --------
    >>> from affine import Affine
    >>> g = Grid(Affine(10, 0, 0, 0, -10, 100), 10, 10)
    >>> from rasterio.crs import CRS
    >>> wkt = CRS.from_epsg(3857).to_wkt()
    >>> (affine_pixel_map(Affine(5, 0, 0, 0, -5, 100), wkt, g).round(6) + 0.0).tolist()
    [[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]]
    """
    w, h = grid.width, grid.height
    cols, rows = np.meshgrid([0.0, w / 2, w], [0.0, h / 2, h])
    cols, rows = cols.ravel(), rows.ravel()
    xs, ys = grid.transform @ (cols, rows)
    sx, sy = _to_crs(src_wkt).transform(xs, ys)
    sc, sr = ~src_transform @ (np.asarray(sx), np.asarray(sy))
    design = np.column_stack([cols, rows, np.ones_like(cols)])
    target = np.column_stack([sc, sr])
    if not np.isfinite(target).all():
        return None
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    if np.abs(design @ coef - target).max() > AFFINE_TOLERANCE_PX:
        return None
    return coef.T


def valid_mask(raw: np.ndarray, nodata: float | None) -> np.ndarray:
    """Pixels with data in every band of a window read."""
    valid = np.ones(raw.shape[1:], dtype=bool)
    for band in raw:
        if nodata is not None and not np.isnan(nodata):
            valid &= band != nodata
        if band.dtype.kind == "f":
            valid &= np.isfinite(band)
    return valid


#: Stored types OpenCV resamples as they are; others are converted to float32 first.
_CV_TYPES = ("uint8", "uint16", "int16", "float32")


def zeroed(raw: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``raw`` with 0 where it has no data, in a type :func:`resample` takes (no copy if it can)."""
    masked = raw if raw.dtype.name in _CV_TYPES else raw.astype(np.float32)
    if not valid.all():
        masked = masked.copy() if masked is raw else masked
        masked[:, ~valid] = 0
    return masked


def resample(
    masked: np.ndarray,
    weights: np.ndarray | None,
    pixel_map: np.ndarray,
    height: int,
    width: int,
    scale: float = 1.0,
    offset: float = 0.0,
    nearest: bool = False,
) -> np.ndarray:
    """Bilinear (or nearest) resampling of a window onto a ``height`` x ``width`` grid, float32.

    ``masked`` is the window ``(bands, h, w)`` with 0 where it has no data
    (:func:`zeroed`), in its stored type; ``weights`` is float32 1 where it
    has data, 0 elsewhere (None: data everywhere). ``pixel_map`` (from
    :func:`affine_pixel_map`) takes grid pixel coordinates to the window's.
    Bilinear: each output pixel is the weighted mean of the valid ones of its
    4 source neighbours, renormalised as GDAL does with nodata; nearest (scene
    classes): the source pixel under it. NaN where no valid pixel contributes
    or the pixel lies off the window. ``scale`` and ``offset`` are applied on
    the way out (the result is linear in the stored values). OpenCV's
    ``warpAffine`` interpolates (weights in steps of 1/32 pixel; integer
    types round to the nearest stored unit), several times faster than a
    general warp and with no float copy of the window.

    Examples
    --------
    >>> raw = np.array([[[0.0, 2.0], [4.0, 6.0]]], np.float32)
    >>> shift = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5]])  # half a pixel right and down
    >>> resample(raw, None, shift, 1, 1).tolist()
    [[[3.0]]]
    >>> resample(raw, None, shift * 1.6, 1, 1, nearest=True).tolist()
    [[[6.0]]]
    """
    import cv2

    (a, b, c), (d, e, f) = pixel_map
    # grid pixel centre (col + 0.5, row + 0.5) -> window index space (centres at integers)
    matrix = np.array(
        [[a, b, a / 2 + b / 2 + c - 0.5], [d, e, d / 2 + e / 2 + f - 0.5]], dtype=np.float64
    )

    def warp(image: np.ndarray, nearest: bool) -> np.ndarray:
        flags = (cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR) | cv2.WARP_INVERSE_MAP
        return cv2.warpAffine(
            image, matrix, (width, height), flags=flags, borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )  # fmt: skip

    h, w = masked.shape[1:]
    corners = matrix @ np.array(
        [[0, width - 1, 0, width - 1], [0, 0, height - 1, height - 1], [1] * 4]
    )
    inside = corners[0].min() >= 0 and corners[0].max() <= w - 1
    inside = inside and corners[1].min() >= 0 and corners[1].max() <= h - 1
    out = np.empty((masked.shape[0], height, width), np.float32)
    for band in range(masked.shape[0]):
        out[band] = warp(masked[band], nearest)
    if inside and weights is None:
        out *= np.float32(scale)
        out += np.float32(offset)
        return out
    weight = warp(np.ones((h, w), np.float32) if weights is None else weights, nearest)
    empty = weight < 1e-3
    out *= np.float32(scale) / np.where(empty, np.float32(1), weight)
    out += np.float32(offset)
    out[:, empty] = np.nan
    return out
