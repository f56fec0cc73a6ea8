"""Clouds and their shadows, per overpass and as the residue left in period composites."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.special import ndtri

from minescan.kernel.mercator import ground_scale
from minescan.simulated.noise import Grid, fbm, uniform
from minescan.simulated.seeds import field_seed

_COVER, _CLOUD, _RESIDUE = 101, 102, 103
#: Spread of the cloud noise (its standard deviation), used to turn cover into a threshold.
_NOISE_STD = 0.26
#: Share of overpasses that are fully clear, and the cover range of the others.
CLEAR_SHARE = 0.4
COVER_RANGE = (0.05, 0.8)
#: Where a cloud's shadow falls, relative to the cloud, in ground metres (east, north).
SHADOW_OFFSET_M = (-500.0, 350.0)
#: Opacity above which a pixel is flagged invalid.
INVALID_ALPHA = 0.02
#: Noise level above which a period composite keeps a residual cloud (about 1 % of pixels).
RESIDUE_LEVEL = 0.62


class Sky(NamedTuple):
    """Cloud opacity and shadow strength in [0, 1] per pixel."""

    cloud: np.ndarray
    shadow: np.ndarray

    @property
    def invalid(self) -> np.ndarray:
        return (self.cloud > INVALID_ALPHA) | (self.shadow > INVALID_ALPHA)


def cloud_cover(seed: int, day: int) -> float:
    """Share of the sky covered on ``day`` (the same over the whole world, varying by day)."""
    u = float(uniform(field_seed(seed, _COVER), day))
    if u < CLEAR_SHARE:
        return 0.0
    low, high = COVER_RANGE
    return low + (high - low) * (u - CLEAR_SHARE) / (1 - CLEAR_SHARE)


def _opacity(noise: np.ndarray, level: float) -> np.ndarray:
    return np.clip((noise - np.float32(level)) * np.float32(1 / 0.06), 0, 1)


def sky(grid: Grid, seed: int, day: int) -> Sky | None:
    """Clouds and shadows of the overpass on ``day``; None on a clear day."""
    cover = cloud_cover(seed, day)
    if cover <= 0:
        return None
    k = ground_scale(grid.ys.mean())
    dc = round(SHADOW_OFFSET_M[0] / k / grid.res)
    dr = -round(SHADOW_OFFSET_M[1] / k / grid.res)
    wide = Grid(
        grid.col0 + min(dc, 0),
        grid.row0 + min(dr, 0),
        grid.width + abs(dc),
        grid.height + abs(dr),
        grid.res,
    )
    noise = fbm(wide, 3000, 4, field_seed(seed, _CLOUD, day))
    alpha = _opacity(noise, _NOISE_STD * float(ndtri(1 - cover)))
    r0, c0 = -min(dr, 0), -min(dc, 0)
    cloud = alpha[r0 : r0 + grid.height, c0 : c0 + grid.width]
    shadow = alpha[r0 + dr : r0 + dr + grid.height, c0 + dc : c0 + dc + grid.width]
    return Sky(cloud, shadow * (1 - cloud))


def residue(grid: Grid, seed: int, period_key: int) -> Sky:
    """The few clouds a median composite keeps: small, thin, with no shadow.

    The field is smooth (375 m finest lattice), so on a coarse grid the opacity at a
    pixel's centre stands for the mean over the pixel.
    """
    noise = fbm(grid, 1500, 3, field_seed(seed, _RESIDUE, period_key))
    return Sky(_opacity(noise, RESIDUE_LEVEL) * np.float32(0.6), np.zeros_like(noise))
