"""The default method: season-adjusted disturbance scores that must persist.

1. **Season.** Pixels are grouped into land-cover classes by their
   behaviour over the first year, the baseline (KMeans on NDVI quantiles, BSI,
   NDWI, NIR): forest, seasonal cropland, grass... Each class's first-year
   median on the same day of the year is the seasonal term removed from its
   pixels (the "stable pixels" of change detection, per class); it comes from the baseline
   only, so a class that is later dug does not drag its own reference down.
   Each pixel is then scored against its *own* first-year median and spread
   (floored at ``min_spread``): dry cropland, as bare as a pit, is normal for
   that pixel in that season.
2. **Score.** The disturbance score is the mean of the signed robust z-scores
   of NDVI, NBR, NDMI (drop), BSI and NDWI (rise): bare
   soil, rock and turbid ponds all score high.
3. **Persistence.** A pixel must score above ``score_threshold`` on
   ``persistence`` consecutive clear dates (clouds in between do not count),
   and on at least ``min_after_fraction`` of its clear dates from then on,
   both over the next 90 days and to the end: a mine does not turn green
   again, a harvested field does.
4. **Spatial coherence and envelope.** Patches smaller than
   ``min_component_px`` are dropped and a pixel stays excavated from its
   onset (the first date of the persistent run) on.
5. **Confidence**: the empirical CDF of the pixel's
   post-onset score among all pixels, averaged with the agreement of an
   Isolation Forest and a KMeans(2) fitted on per-pixel summaries.

Digging during the first year, or before the period, is the baseline and is
not reported: start the period a year before the change you want to see.
"""

from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans
from sklearn.ensemble import IsolationForest

from minescan.monitor.detection import Detection, remove_small
from minescan.monitor.preprocess import Series, nan_quantile

#: index -> the direction excavation moves it.
SIGNS: dict[str, int] = {"NDVI": -1, "NBR": -1, "NDMI": -1, "BSI": 1, "NDWI": 1}

#: Days after an onset over which most clear dates must agree.
CONFIRM_DAYS = 90

#: Land-cover classes the seasonal reference is computed in.
N_CLASSES = 6


def baseline_window(series: Series, days: int = 365) -> np.ndarray:
    """``(T, H, W)`` bool: clear observations of the first ``days`` (the whole series if shorter)."""
    early = series.dates < series.dates[0] + np.timedelta64(days, "D")
    return series.valid & early[:, None, None]


def _quantile(x: np.ndarray, mask: np.ndarray, q: float) -> np.ndarray:
    return nan_quantile(np.where(mask, x, np.nan), q)


def baseline_profile(series: Series) -> np.ndarray:
    """Per-pixel first-year summaries ``(H, W, 6)``: NDVI q10, q50, q90; BSI, NDWI, B08 medians."""
    window = baseline_window(series)
    # Pixels with no clear first-year date fall back to the whole series.
    window |= ~window.any(axis=0)[None] & series.valid
    f = series.features
    cols = [_quantile(f["NDVI"], window, q) for q in (0.1, 0.5, 0.9)]
    cols += [_quantile(f[n], window, 0.5) for n in ("BSI", "NDWI", "B08")]
    return np.stack(cols, axis=-1)


def land_classes(profile: np.ndarray, seed: int) -> np.ndarray:
    """``(H, W)`` int class per pixel (-1 where never clear) from the first-year profile."""
    finite = np.isfinite(profile).all(axis=-1)
    classes = np.full(finite.shape, -1, dtype=np.int32)
    table = profile[finite]
    k = min(N_CLASSES, len(np.unique(table.round(3), axis=0)))
    if k <= 1:
        classes[finite] = 0
        return classes
    scale = table.std(axis=0)
    table = (table - table.mean(axis=0)) / np.where(scale > 0, scale, 1)
    model = KMeans(k, n_init=2, random_state=seed).fit(table[:: max(1, len(table) // 20000)])
    classes[finite] = model.predict(table)
    return classes


def same_season(dates: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """For each date, the index of the ``reference`` date closest in day of the year.

    Examples
    --------
    >>> d = np.array(["2016-01-05", "2016-07-01", "2018-06-20"], dtype="datetime64[D]")
    >>> same_season(d, d[:2]).tolist()
    [0, 1, 1]
    """
    doy = (dates - dates.astype("datetime64[Y]")).astype(float)
    ref = (reference - reference.astype("datetime64[Y]")).astype(float)
    gap = np.abs(doy[:, None] - ref[None])
    return np.argmin(np.minimum(gap, 365.25 - gap), axis=1)


def fill_gaps(x: np.ndarray) -> np.ndarray:
    """Replace NaN in a 1-D series by the nearest finite value (zeros when none is finite)."""
    finite = np.flatnonzero(np.isfinite(x))
    if len(finite) == 0:
        return np.zeros_like(x)
    nearest = finite[np.clip(np.searchsorted(finite, np.arange(len(x))), 0, len(finite) - 1)]
    return x[nearest]


def seasonal_terms(series: Series, classes: np.ndarray, name: str) -> np.ndarray:
    """``(T, H, W)``: each class's first-year median of index ``name`` on the same day of year.

    Taken from the first year only, before any digging the method can see, so
    a class that is later dug does not drag its own reference down.
    """
    x = series.features[name]
    first = baseline_window(series).any(axis=(1, 2))
    base_dates = series.dates[first]
    lookup = same_season(series.dates, base_dates)
    out = np.zeros(x.shape, np.float32)
    for c in np.unique(classes[classes >= 0]):
        members = classes == c
        ref = fill_gaps(nan_quantile(x[first][:, members], 0.5, axis=1))
        out[:, members] = (ref - np.median(ref))[lookup][:, None]
    return out


def robust_z(series: Series, classes: np.ndarray, min_spread: float) -> dict[str, np.ndarray]:
    """Signed z-scores ``(T, H, W)`` of each deseasonalised index against the pixel's first year.

    The centre is the pixel's own first-year median, the scale its own
    first-year spread (a cropland pixel swings more than a forest one), floored
    at ``min_spread``.
    """
    window = baseline_window(series)
    window |= ~window.any(axis=0)[None] & series.valid
    out = {}
    for name, sign in SIGNS.items():
        x = series.features[name] - seasonal_terms(series, classes, name)
        early = np.where(window, x, np.nan)
        centre = nan_quantile(early, 0.5)
        spread = 1.4826 * nan_quantile(np.abs(early - centre), 0.5)
        spread = np.where(np.isfinite(spread), np.maximum(spread, min_spread), min_spread)
        out[name] = (sign * (x - centre) / spread).astype(np.float32)
    return out


def disturbance(z: dict[str, np.ndarray]) -> np.ndarray:
    """Mean signed z over the indices, ``(T, H, W)``, NaN where not clear."""
    return np.mean(np.stack(list(z.values())), axis=0)


def confirmed(
    hit: np.ndarray, valid: np.ndarray, dates: np.ndarray, min_after: float
) -> np.ndarray:
    """``(T, H, W)``: from ``t`` on, ``min_after`` of the clear dates are hits, both over the
    next :data:`CONFIRM_DAYS` and up to the end.

    The end of the series rejects a harvest (the field greens again); the
    next months reject a few noisy dates long before the real digging starts.
    """
    zero = np.zeros((1, *hit.shape[1:]), np.int32)
    hits = np.concatenate([zero, np.cumsum(hit & valid, axis=0, dtype=np.int32)])
    clear = np.concatenate([zero, np.cumsum(valid, axis=0, dtype=np.int32)])
    stop = np.searchsorted(dates, dates + np.timedelta64(CONFIRM_DAYS, "D"), side="right")
    soon_hits, soon_clear = hits[stop] - hits[:-1], clear[stop] - clear[:-1]
    late_hits, late_clear = hits[-1] - hits[:-1], clear[-1] - clear[:-1]
    return (soon_hits >= min_after * np.maximum(soon_clear, 1)) & (
        late_hits >= min_after * np.maximum(late_clear, 1)
    )


def onsets(
    hit: np.ndarray, valid: np.ndarray, dates: np.ndarray, n: int, min_after: float
) -> np.ndarray:
    """First date of the first run of ``n`` clear hits that later dates confirm; -1 for none.

    Examples
    --------
    >>> hit = np.array([0, 1, 0, 1, 1, 1], bool)[:, None]
    >>> dates = np.datetime64("2019-01-01") + np.arange(6) * 5
    >>> onsets(hit, np.ones_like(hit), dates, 2, 0.6).tolist()
    [3]
    """
    ok_from = confirmed(hit, valid, dates, min_after)
    onset = np.full(hit.shape[1:], -1, dtype=np.int32)
    run = np.zeros(hit.shape[1:], dtype=np.int32)
    run_start = np.zeros(hit.shape[1:], dtype=np.int32)
    for t in range(hit.shape[0]):
        run_start = np.where(valid[t] & hit[t] & (run == 0), t, run_start)
        run = np.where(valid[t], np.where(hit[t], run + 1, 0), run)
        # Confirmation counts from the run's first date: the run itself is evidence.
        ok = (run >= n) & (onset < 0)
        ok &= np.take_along_axis(ok_from, run_start[None], axis=0)[0]
        onset = np.where(ok, run_start, onset)
    return onset


def summaries(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-pixel median of ``values`` ``(T, H, W)`` over ``mask``."""
    return nan_quantile(np.where(mask, values, np.nan), 0.5)


def confidence(
    score: np.ndarray, z: dict[str, np.ndarray], valid: np.ndarray, onset: np.ndarray, seed: int
) -> np.ndarray:
    """Calibrated confidence ``(H, W)`` that an excavated pixel is excavated (0 elsewhere)."""
    excavated = onset >= 0
    if not excavated.any():
        return np.zeros(onset.shape, dtype=np.float32)
    t = np.arange(score.shape[0])[:, None, None]
    window = valid & ((t >= onset[None]) | ~excavated[None])
    pixel_score = summaries(score, window)
    finite = np.isfinite(pixel_score)
    ranks = np.searchsorted(np.sort(pixel_score[finite]), pixel_score, side="right")
    ecdf = ranks / max(finite.sum(), 1)
    table = np.stack([summaries(v, window) for v in z.values()], axis=-1)[finite]
    votes = np.zeros(onset.shape, dtype=np.float32)
    if len(table) >= 4:
        forest = IsolationForest(n_estimators=50, random_state=seed).fit(table)
        votes[finite] += forest.predict(table) == -1
        clusters = KMeans(2, n_init=3, random_state=seed).fit(table)
        bare = np.argmax(clusters.cluster_centers_.mean(axis=1))
        votes[finite] += clusters.labels_ == bare
    conf = 0.5 * ecdf + 0.25 * votes
    return np.where(excavated, conf, 0.0).astype(np.float32)


def detect(series: Series, settings) -> Detection:
    """The default excavation history (see the module docstring)."""
    profile = baseline_profile(series)
    classes = land_classes(profile, settings.seed)
    z = robust_z(series, classes, settings.min_spread)
    score = disturbance(z)
    with np.errstate(invalid="ignore"):
        hit = series.valid & (score > settings.score_threshold)
    onset = onsets(
        hit, series.valid, series.dates, settings.persistence, settings.min_after_fraction
    )
    onset[~remove_small(onset >= 0, settings.min_component_px)] = -1
    t = np.arange(len(series.dates))[:, None, None]
    state = (onset[None] >= 0) & (t >= onset[None])
    return Detection(state, confidence(score, z, series.valid, onset, settings.seed))
