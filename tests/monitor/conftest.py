"""A small synthetic world for the monitor: forest, seasonal cropland, a lake, clouds, a growing pit.

Made by code so every test knows the truth exactly: the pit is a square that
grows one pixel ring per ``grow_every`` dates from ``pit_start`` (after a
first clean year, the baseline the methods learn the land from). Dry-season
cropland looks like bare soil, as it does in the simulator and in reality.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from affine import Affine

from minescan.kernel.source import Cube
from minescan.monitor.preprocess import MONITOR_BANDS

#: Reflectance of B02, B03, B04, B08, B11, B12 per cover.
FOREST = np.array([0.03, 0.05, 0.03, 0.35, 0.15, 0.07])
CROP_WET = np.array([0.04, 0.07, 0.05, 0.38, 0.20, 0.10])
CROP_DRY = np.array([0.075, 0.10, 0.13, 0.21, 0.30, 0.24])  # looks like bare soil
BARE = np.array([0.12, 0.16, 0.21, 0.26, 0.33, 0.29])
WATER = np.array([0.06, 0.05, 0.03, 0.02, 0.01, 0.005])
CLOUD = np.array([0.5, 0.5, 0.5, 0.55, 0.45, 0.35])


@dataclass(frozen=True)
class World:
    """Synthetic dates, cube and the truth (first excavated date index per pixel, -1 never)."""

    dates: np.ndarray
    cube: Cube
    truth_first: np.ndarray
    crop: np.ndarray
    water: np.ndarray
    residual_cloud: np.ndarray

    def truth_state(self) -> np.ndarray:
        t = np.arange(len(self.dates))[:, None, None]
        return (self.truth_first[None] >= 0) & (t >= self.truth_first[None])


def make_world(
    size: int = 40,
    n_dates: int = 60,
    pit_start: int = 27,
    grow_every: int = 2,
    max_half: int = 7,
    cloud_rate: float = 0.3,
    seed: int = 0,
) -> World:
    """Build the synthetic world (see the module docstring)."""
    rng = np.random.default_rng(seed)
    dates = np.datetime64("2019-01-01") + np.arange(n_dates) * 15
    yy, xx = np.mgrid[0:size, 0:size]
    crop = xx >= size // 2
    water = (yy < 6) & (xx < 6)
    cy = cx = size // 2 - 4
    ring = np.maximum(np.abs(yy - cy), np.abs(xx - cx))
    truth_first = np.where(
        ring <= max_half, pit_start + ring * grow_every, -1
    )  # ring 0 opens first
    truth_first = np.where(truth_first < n_dates, truth_first, -1)

    data = np.empty((n_dates, len(MONITOR_BANDS), size, size), dtype=np.float32)
    valid = np.ones((n_dates, size, size), dtype=bool)
    residual = np.zeros((n_dates, size, size), dtype=bool)
    for t in range(n_dates):
        season = 0.5 + 0.5 * np.cos(2 * np.pi * t * 15 / 365)  # 1 wet, 0 dry
        crop_spec = season * CROP_WET + (1 - season) * CROP_DRY
        img = np.where(crop[None], crop_spec[:, None, None], FOREST[:, None, None])
        img = np.where(water[None], WATER[:, None, None], img)
        pit = (truth_first >= 0) & (truth_first <= t)
        img = np.where(pit[None], BARE[:, None, None], img)
        img = img + rng.normal(0, 0.008, img.shape)
        if rng.random() < cloud_rate:
            r0, c0 = rng.integers(0, size - 12, 2)
            cloud = np.zeros((size, size), dtype=bool)
            cloud[r0 : r0 + 15, c0 : c0 + 15] = True
            img = np.where(cloud[None], CLOUD[:, None, None], img)
            valid[t] &= ~cloud
        if t % 7 == 3:  # a missed cloud edge: one date, flagged valid, bare-looking
            r0, c0 = rng.integers(0, size - 5, 2)
            edge = np.zeros((size, size), dtype=bool)
            edge[r0 : r0 + 5, c0 : c0 + 5] = True
            img = np.where(edge[None], BARE[:, None, None], img)
            residual[t] = edge
        data[t] = img
    cube = Cube(
        data=data,
        valid=valid,
        bands=MONITOR_BANDS,
        transform=Affine(10, 0, -150000, 0, -10, 650000),
    )
    return World(dates, cube, truth_first, crop, water, residual)


@pytest.fixture(scope="session")
def world() -> World:
    """The default synthetic world (shared, read-only)."""
    return make_world()
