"""From a classified scene to reflectance: per pixel at 10 m, averaged over sub-pixels.

The world's field is defined at about 10 m. A pixel coarser than that is the area mean
of ``supersample(res)**2`` sub-pixels (:func:`supersample`, :func:`block_mean`); dug
ground (:func:`dug_fraction`) and the sub-pixels mines dig into coarse pixels
(:func:`dig_sub_pixels`) are drawn over the land cover, clouds and shadows over both
(:func:`apply_sky`). :class:`SeriesYear` observes one year of a per-date series.
"""

from __future__ import annotations

import math

import numpy as np

from minescan.kernel.period import Period
from minescan.simulated import clouds, landcover
from minescan.simulated.mines import NEVER
from minescan.simulated.noise import Grid
from minescan.simulated.periods import season_terms
from minescan.simulated.spectra import CLOUD, LOW, SHADOW_FACTOR, SPAN

#: The most sub-pixels averaged per side.
MAX_SUPERSAMPLE = 4


def supersample(res: float) -> int:
    """Sub-pixels per side so each sub-pixel is at most about 10 map metres.

    Examples
    --------
    >>> [supersample(r) for r in (4.8, 9.55, 19.1, 38.2, 76.4)]
    [1, 1, 2, 4, 4]
    """
    return int(max(1, min(MAX_SUPERSAMPLE, math.ceil(res / 10.0 - 0.45))))


def block_mean(values: np.ndarray, factor: int) -> np.ndarray:
    """Average ``factor x factor`` blocks over the last two axes (as float32)."""
    if factor == 1:
        return values
    total = None
    for dy in range(factor):
        for dx in range(factor):
            part = values[..., dy::factor, dx::factor]
            total = part.astype(np.float32) if total is None else np.add(total, part, out=total)
    total *= np.float32(1 / factor**2)
    return total


def reflectance(codes, f, brightness, band_idx) -> np.ndarray:
    """``(LOW + f * SPAN)[band, code] * brightness`` for each requested band."""
    codes = codes.astype(np.intp)
    out = np.empty((len(band_idx), *codes.shape), np.float32)
    low = np.empty(codes.shape, np.float32)
    for i, b in enumerate(band_idx):
        band = out[i]
        np.take(SPAN[b], codes, out=band, mode="clip")
        band *= f
        band += np.take(LOW[b], codes, out=low, mode="clip")
        band *= brightness
    return out


def dug_fraction(fine: np.ndarray) -> np.ndarray:
    """End-member fraction of dug ground: patchy, from its fine texture."""
    return np.clip(np.float32(0.5) + np.float32(1.5) * fine, 0, 1)


def dig_sub_pixels(grid: Grid, factor: int, pixels, f, mixed, layer, day: int):
    """Add the sub-pixels a mine layer (on ``grid.refine(factor)``) has dug by ``day`` to
    the mixed pixels of a coarse scene (``pixels``, a :class:`.landcover.Surface`, and its
    fraction ``f``): ``(index, sub-pixel codes, sub-pixel f)``."""
    index, sub_codes, sub_f = mixed
    rows, cols = layer.window
    r0, c0 = rows.start // factor, cols.start // factor
    r1, c1 = -(-rows.stop // factor), -(-cols.stop // factor)
    dug = layer.day[r0 * factor : r1 * factor, c0 * factor : c1 * factor] <= day
    blocks = dug.reshape(r1 - r0, factor, c1 - c0, factor)
    touched_rows, touched_cols = np.nonzero(blocks.any(axis=3).any(axis=1))
    if not len(touched_rows):
        return mixed
    touched_rows += r0
    touched_cols += c0
    k, width = factor * factor, grid.width
    mine_pixels = touched_rows * width + touched_cols
    union = np.union1d(index, mine_pixels)
    all_codes = np.repeat(pixels.codes.ravel()[union][:, None], k, axis=1)
    all_f = np.repeat(f.ravel()[union][:, None], k, axis=1)
    at = np.searchsorted(union, index)
    all_codes[at], all_f[at] = sub_codes, sub_f
    sy, sx = np.divmod(np.arange(k), factor)
    fine = ((touched_rows[:, None] * factor + sy) * width + touched_cols[:, None]) * factor + sx
    here = layer.day.ravel()[fine] <= day
    at = np.searchsorted(union, mine_pixels)
    all_codes[at] = np.where(here, layer.codes.ravel()[fine], all_codes[at])
    texture = dug_fraction(pixels.fine.ravel()[mine_pixels])[:, None]
    all_f[at] = np.where(here, texture, all_f[at])
    return union, all_codes, all_f


class SeriesYear:
    """One year of a series: the static land surface and mine layer, observed per date."""

    def __init__(self, surf: landcover.Surface, layer):
        self.surf, self.layer = surf, layer
        self.codes = surf.codes.astype(np.intp)
        if layer is not None:
            self.mine_rows, self.mine_cols = np.nonzero(layer.day != NEVER)
            self.mine_day = layer.day[self.mine_rows, self.mine_cols]
            self.mine_codes = layer.codes[self.mine_rows, self.mine_cols].astype(np.intp)
            self.mine_f = dug_fraction(surf.fine[self.mine_rows, self.mine_cols])

    def observe(self, date: np.datetime64, band_idx) -> np.ndarray:
        """Cloud-free reflectance ``(bands, H, W)`` on ``date``."""
        f = self.surf.fraction(*season_terms(Period.parse(date)))
        codes = self.codes
        if self.layer is not None:
            dug = self.mine_day <= int(date.astype(np.int64))
            if dug.any():
                codes = codes.copy()
                rows, cols = self.mine_rows[dug], self.mine_cols[dug]
                codes[rows, cols] = self.mine_codes[dug]
                f[rows, cols] = self.mine_f[dug]
        return reflectance(codes, f, self.surf.brightness, band_idx)


def apply_sky(data: np.ndarray, sky: clouds.Sky, band_idx) -> None:
    """Blend clouds over ``data`` and darken shadows, in place, where the sky is not clear."""
    rows, cols = np.nonzero((sky.cloud > 0) | (sky.shadow > 0))
    if not len(rows):
        return
    alpha = sky.cloud[rows, cols]
    dark = 1 - sky.shadow[rows, cols] * (1 - SHADOW_FACTOR)
    for i, b in enumerate(band_idx):
        values = data[i, rows, cols] * dark
        data[i, rows, cols] = values * (1 - alpha) + CLOUD[b] * alpha
