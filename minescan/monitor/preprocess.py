"""From a source's ``(dates, Cube)`` to clean per-observation features (schema check, cloud mask, indices).

Validate the schema, drop cloudy and invalid observations (NaN, and dates
with no clear pixel at all), compute the spectral indices and standardise
them, so every excavation method starts from the same table. With a
spectral screen, each clear observation also gets the screen's log-odds that
it is excavated ground, which the starting footprint is read from
(:mod:`minescan.monitor.footprint`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from affine import Affine

from minescan.kernel.errors import MinescanError
from minescan.kernel.source import Cube

#: Bands the indices need: blue, green, red, NIR, SWIR1, SWIR2.
MONITOR_BANDS: tuple[str, ...] = ("B02", "B03", "B04", "B08", "B11", "B12")

#: index name -> (positive bands, negative bands) of a normalised difference.
INDICES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "NDVI": (("B08",), ("B04",)),  # vegetation
    "NBR": (("B08",), ("B12",)),  # burn / disturbance
    "NDMI": (("B08",), ("B11",)),  # canopy moisture
    "BSI": (("B11", "B04"), ("B08", "B02")),  # bare soil
    "NDWI": (("B03",), ("B08",)),  # open water (McFeeters)
}


#: Dates the screen scores in one call.
SCREEN_CHUNK = 16


@dataclass(frozen=True)
class ScreenScores:
    """The screen's log-odds ``(T, H, W)`` per observation (NaN where not clear) and its
    own pixel threshold, the stricter level at which a pixel looks clearly like a mine."""

    logit: np.ndarray
    strong: float


def series_bands(screen=None) -> tuple[str, ...]:
    """Bands to ask a source for: :data:`MONITOR_BANDS`, then those the screen reads.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> series_bands(SimpleNamespace(bands=("B01", "B02", "B8A")))
    ('B02', 'B03', 'B04', 'B08', 'B11', 'B12', 'B01', 'B8A')
    """
    extra = () if screen is None else tuple(b for b in screen.bands if b not in MONITOR_BANDS)
    return MONITOR_BANDS + extra


class NoValidDates(MinescanError):
    """Every observation of a mine is cloud, shadow or nodata."""


@dataclass(frozen=True)
class Series:
    """Clear observations of one mine: features ``(T, H, W)`` with NaN where not valid.

    ``features`` holds the raw bands of :data:`MONITOR_BANDS` and every index in
    :data:`INDICES`. ``n_dropped`` counts dates removed because no pixel was clear.
    ``screen`` is None when no screen was given or the source lacks its bands.
    """

    dates: np.ndarray
    valid: np.ndarray
    features: dict[str, np.ndarray]
    transform: Affine
    crs: str
    n_dropped: int = 0
    screen: ScreenScores | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """Grid shape ``(H, W)``."""
        return self.valid.shape[1:]

    def stack(self, names: tuple[str, ...] | list[str]) -> np.ndarray:
        """Features ``(T, H, W, F)`` in the order of ``names``."""
        return np.stack([self.features[n] for n in names], axis=-1)


def validate(dates: np.ndarray, cube: Cube) -> None:
    """Raise a one-line :class:`MinescanError` when ``(dates, cube)`` breaks the Cube schema."""
    data, valid = np.asarray(cube.data), np.asarray(cube.valid)
    if data.ndim != 4:
        raise MinescanError(f"cube data must be (T, bands, H, W), got shape {data.shape}")
    t, b, h, w = data.shape
    if valid.shape != (t, h, w):
        raise MinescanError(f"cube valid mask {valid.shape} does not match data {(t, h, w)}")
    if len(cube.bands) != b:
        raise MinescanError(f"cube has {b} bands but names {len(cube.bands)}")
    missing = [name for name in MONITOR_BANDS if name not in cube.bands]
    if missing:
        raise MinescanError(f"cube lacks band(s) {', '.join(missing)} needed by the monitor")
    if len(dates) != t:
        raise MinescanError(f"{len(dates)} dates for {t} observations")
    d = np.asarray(dates, dtype="datetime64[D]")
    if t > 1 and np.any(np.diff(d) <= np.timedelta64(0, "D")):
        raise MinescanError("observation dates must be strictly increasing")


def normalised_difference(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """``(pos - neg) / (pos + neg)``, NaN where the sum is not positive.

    Examples
    --------
    >>> normalised_difference(np.array([0.4]), np.array([0.1])).round(6).tolist()
    [0.6]
    """
    total = pos + neg
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, (pos - neg) / total, np.nan)


def compute_indices(bands: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every index of :data:`INDICES` from a band-name -> array mapping (any shape)."""
    out = {}
    for name, (pos, neg) in INDICES.items():
        p = sum(bands[b] for b in pos)
        n = sum(bands[b] for b in neg)
        out[name] = normalised_difference(p, n).astype(np.float32)
    return out


def screen_scores(cube: Cube, keep: np.ndarray, valid: np.ndarray, screen) -> ScreenScores | None:
    """The screen's log-odds on the kept dates, or None when the cube lacks one of its bands.

    Scored :data:`SCREEN_CHUNK` dates at a time: one product per date is slow
    (measured: 23 ms each on a loaded machine), the whole period at once would
    copy the cube again.
    """
    if any(b not in cube.bands for b in screen.bands):
        return None
    index = [cube.bands.index(b) for b in screen.bands]
    kept = np.flatnonzero(keep)
    logit = np.empty(valid.shape, np.float32)
    for i in range(0, len(kept), SCREEN_CHUNK):
        part = kept[i : i + SCREEN_CHUNK]
        stack = np.moveaxis(np.asarray(cube.data)[part][:, index], 1, 0)
        logit[i : i + len(part)] = screen.score(stack, screen.bands)
    logit[~valid] = np.nan
    return ScreenScores(logit, float(screen.pixel_threshold))


def preprocess(dates: np.ndarray, cube: Cube, screen=None) -> Series:
    """Validate, mask invalid observations, drop empty dates and add the indices.

    ``screen`` (a :class:`minescan.kernel.screen.Screen`) adds its log-odds per
    observation when the cube holds the bands it reads.

    Raises
    ------
    NoValidDates
        When no observation of any pixel is valid; the caller flags the mine.
    """
    validate(dates, cube)
    bands = {name: np.asarray(cube.band(name), dtype=np.float32) for name in MONITOR_BANDS}
    valid = np.asarray(cube.valid, dtype=bool).copy()
    for arr in bands.values():
        valid &= np.isfinite(arr)
    keep = valid.any(axis=(1, 2))
    if not keep.any():
        raise NoValidDates("no valid (cloud-free) observation in the period")
    features = {name: arr[keep] for name, arr in bands.items()}
    features.update(compute_indices(features))
    # An index with a zero or negative denominator (dark water, noise) makes the observation unusable.
    valid = valid[keep] & np.logical_and.reduce([np.isfinite(x) for x in features.values()])
    features = {name: np.where(valid, x, np.float32(np.nan)) for name, x in features.items()}
    return Series(
        dates=np.asarray(dates, dtype="datetime64[D]")[keep],
        valid=valid,
        features=features,
        transform=cube.transform,
        crs=cube.crs,
        n_dropped=int((~keep).sum()),
        screen=None if screen is None else screen_scores(cube, keep, valid, screen),
    )


def standardise(x: np.ndarray, axis: int | tuple[int, ...] | None = None) -> np.ndarray:
    """Zero mean, unit variance over the finite values (NaN kept); constant input -> zeros.

    Examples
    --------
    >>> standardise(np.array([1.0, 3.0, np.nan])).tolist()[:2]
    [-1.0, 1.0]
    """
    mean = np.nanmean(x, axis=axis, keepdims=axis is not None)
    std = np.nanstd(x, axis=axis, keepdims=axis is not None)
    std = np.where(std > 0, std, 1.0)
    return (x - mean) / std


def nan_quantile(x: np.ndarray, q: float, axis: int = 0) -> np.ndarray:
    """Quantile along ``axis`` ignoring NaN (linear interpolation); NaN where all are NaN.

    Sort-based, so it stays vectorised where ``np.nanquantile`` loops over columns.

    Examples
    --------
    >>> nan_quantile(np.array([[1.0, np.nan], [3.0, np.nan], [2.0, 4.0]]), 0.5).tolist()
    [2.0, 4.0]
    """
    x = np.moveaxis(np.asarray(x), axis, 0)
    ordered = np.sort(x, axis=0)  # NaN sorts last
    n = np.isfinite(x).sum(axis=0)
    pos = q * np.maximum(n - 1, 0)
    lo = np.floor(pos).astype(np.intp)
    hi = np.minimum(lo + 1, np.maximum(n - 1, 0))
    below = np.take_along_axis(ordered, lo[None], axis=0)[0]
    above = np.take_along_axis(ordered, hi[None], axis=0)[0]
    out = below + (pos - lo) * (above - below)
    return np.where(n > 0, out, np.nan)


def previous_valid(values: np.ndarray, valid: np.ndarray, fill=False) -> np.ndarray:
    """For every ``(t, ...)``: ``values`` at the last valid date strictly before ``t``.

    ``fill`` where there is none. Used for "anomalous at t and at the previous
    clear date": a cloud between two observations does not break persistence.
    """
    out = np.empty_like(values)
    last = np.full(values.shape[1:], fill, dtype=values.dtype)
    for t in range(values.shape[0]):
        out[t] = last
        last = np.where(valid[t], values[t], last)
    return out


def carry_forward(values: np.ndarray, valid: np.ndarray, fill=False) -> np.ndarray:
    """``values`` where valid, else the last valid value (``fill`` before the first)."""
    return np.where(valid, values, previous_valid(values, valid, fill))
