"""The ground already excavated when the period starts, for every method.

Every method learns what normal land looks like from the start of the
series, so ground dug before the period is part of that baseline and never
"changes": a regulator who starts watching a mine would not be told how much
is already dug. That ground is read directly instead, from the spectral
screen (:class:`minescan.kernel.screen.Screen`, the model the scan uses),
which says per clear observation how much a pixel looks like excavated ground
(pit, benches, spoil, tailings) rather than land. The rules mirror those for
later digging:

1. **Persistence.** On at least ``min_after_fraction`` of the pixel's clear
   dates of the first ``baseline_days`` (and on ``persistence`` of them at
   least), its log-odds reach ``footprint_logit`` (0: even odds).
2. **Confirmation.** It does so on at least ``min_after_fraction`` of its
   later clear dates too: a fallow field or a burn scar greens again, a pit
   does not.
3. **Seeds.** A connected patch of such pixels is kept only when it holds
   pixels at the screen's own, stricter ``pixel_threshold`` on most of their
   baseline dates (hysteresis). Natural bare soil and sandbars can look
   mildly mine-like, but a mine has ground (benches, fresh spoil) that looks
   clearly so. Patches under ``min_component_px`` are dropped.
4. **Confidence.** As for later digging, a rank and an agreement: half the
   empirical CDF of the pixel's median log-odds among the mine's pixels, half
   the share of its clear dates that agree.

Pixels with fewer than ``persistence`` clear baseline dates cannot be read
and are left out; ``mine.json`` says how many there were.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from minescan.monitor.detection import remove_small
from minescan.monitor.preprocess import Series, nan_quantile


@dataclass(frozen=True)
class Footprint:
    """Pixels excavated at the start ``(H, W)``, their confidence, and the baseline's clear dates.

    ``clear`` ``(H, W)`` counts each pixel's clear dates in the baseline window,
    ``n_dates`` the dates in that window.
    """

    mask: np.ndarray
    confidence: np.ndarray
    clear: np.ndarray
    n_dates: int
    days: int

    def summary(self, persistence: int) -> dict:
        """The baseline as ``mine.json`` reports it: its dates and how clear they were."""
        return {
            "days": self.days,
            "dates": self.n_dates,
            "clear_dates_median": float(np.median(self.clear)),
            "clear_dates_min": int(self.clear.min()),
            "unread_px": int((self.clear < persistence).sum()),
            "pre_existing_px": int(self.mask.sum()),
        }


def share(hit: np.ndarray, window: np.ndarray) -> np.ndarray:
    """``(H, W)`` share of the ``window`` dates where ``hit`` holds (0 where the window is empty)."""
    return (hit & window).sum(axis=0) / np.maximum(window.sum(axis=0), 1)


def at_start(series: Series, settings) -> Footprint | None:
    """The starting footprint of ``series`` (see the module docstring); None without a screen."""
    if series.screen is None:
        return None
    logit, strong = series.screen.logit, series.screen.strong
    valid = series.valid
    early = series.dates < series.dates[0] + np.timedelta64(settings.baseline_days, "D")
    window = valid & early[:, None, None]
    later = valid & ~early[:, None, None]
    clear = window.sum(axis=0)
    with np.errstate(invalid="ignore"):
        weak_hit, strong_hit = logit >= settings.footprint_logit, logit >= strong
    agree = settings.min_after_fraction
    read = clear >= settings.persistence
    weak = read & (share(weak_hit, window) >= agree)
    confirmed = (later.sum(axis=0) == 0) | (share(weak_hit, later) >= agree)
    weak &= confirmed
    seeds = weak & (share(strong_hit, window) >= agree)
    labels, _ = ndimage.label(weak, structure=np.ones((3, 3), dtype=bool))
    mask = np.isin(labels, np.unique(labels[seeds])) & (labels > 0)
    mask = remove_small(mask, settings.min_component_px)
    median = nan_quantile(np.where(valid, logit, np.nan), 0.5)
    finite = np.isfinite(median)
    ranks = np.searchsorted(np.sort(median[finite]), median, side="right")
    ecdf = ranks / max(int(finite.sum()), 1)
    conf = 0.5 * ecdf + 0.5 * share(weak_hit, valid)
    return Footprint(
        mask=mask,
        confidence=np.where(mask, conf, 0.0).astype(np.float32),
        clear=clear,
        n_dates=int(early.sum()),
        days=settings.baseline_days,
    )
