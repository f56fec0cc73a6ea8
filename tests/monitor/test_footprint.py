"""The footprint already excavated at the start, on the synthetic world with hand-made screen odds.

The world's growing pit opens after a clean first year; the screen's log-odds
are drawn here so each rule can be checked on its own: an old pit (strong),
its spoil ring (mildly mine-like, joined through the pit), natural bare soil
(mildly mine-like, no strong pixel), a fallow field (mine-like only during the
baseline) and the lake (never).
"""

import dataclasses

import numpy as np
import pytest

from minescan.config import section
from minescan.kernel.screen import Screen
from minescan.kernel.source import Cube
from minescan.monitor.detection import METHODS, detect
from minescan.monitor.footprint import at_start
from minescan.monitor.preprocess import MONITOR_BANDS, ScreenScores, preprocess, series_bands

SETTINGS = section("monitor")
STRONG = 2.0


def _box(shape, rows, cols):
    mask = np.zeros(shape, bool)
    mask[rows, cols] = True
    return mask


@pytest.fixture(scope="module")
def scene(world):
    series = preprocess(world.dates, world.cube)
    shape = series.shape
    rng = np.random.default_rng(1)
    pit = _box(shape, slice(30, 36), slice(2, 8))
    ring = _box(shape, slice(29, 37), slice(1, 9)) & ~pit
    soil = _box(shape, slice(30, 37), slice(12, 18))
    fallow = _box(shape, slice(28, 38), slice(24, 34))  # in the cropland half
    logit = rng.normal(-5.0, 0.3, series.valid.shape).astype(np.float32)
    logit[:, pit] = 3.0
    logit[:, ring | soil] = 1.0
    early = series.dates < series.dates[0] + np.timedelta64(SETTINGS.baseline_days, "D")
    logit[early[:, None, None] & fallow[None]] = 3.0
    t = np.arange(len(series.dates))[:, None, None]
    dug_later = (world.truth_first >= 0)[None] & (t >= world.truth_first[None])
    logit[dug_later] = 3.0
    logit[~series.valid] = np.nan
    series = dataclasses.replace(series, screen=ScreenScores(logit, STRONG))
    return series, {"pit": pit, "ring": ring, "soil": soil, "fallow": fallow}


def test_old_pit_and_its_spoil_are_found_and_nothing_else(scene, world):
    series, parts = scene
    found = at_start(series, SETTINGS)
    expected = parts["pit"] | parts["ring"]
    assert found.mask[expected].mean() > 0.95
    assert not found.mask[parts["soil"]].any()  # mildly mine-like, but no strong seed
    assert not found.mask[parts["fallow"]].any()  # greens after the baseline
    assert not found.mask[world.truth_first >= 0].any()  # the later pit is forest at the start
    assert not found.mask[world.water].any()
    assert (found.confidence[found.mask] > 0.5).all() and (found.confidence <= 1).all()
    assert (found.confidence[~found.mask] == 0).all()


def test_baseline_summary_counts_clear_dates(scene):
    series, _ = scene
    found = at_start(series, SETTINGS)
    summary = found.summary(SETTINGS.persistence)
    early = series.dates < series.dates[0] + np.timedelta64(SETTINGS.baseline_days, "D")
    assert summary["days"] == SETTINGS.baseline_days and summary["dates"] == early.sum()
    clear = series.valid[early].sum(axis=0)
    assert summary["clear_dates_min"] == clear.min()
    assert summary["clear_dates_median"] == pytest.approx(np.median(clear))
    assert summary["pre_existing_px"] == found.mask.sum()


def test_a_pixel_without_clear_baseline_dates_is_not_read(scene):
    series, parts = scene
    early = series.dates < series.dates[0] + np.timedelta64(SETTINGS.baseline_days, "D")
    valid = series.valid.copy()
    corner = _box(series.shape, slice(30, 33), slice(2, 5))
    valid[early[:, None, None] & corner[None]] = False
    cloudy = dataclasses.replace(series, valid=valid)
    found = at_start(cloudy, SETTINGS)
    assert not found.mask[corner].any()
    assert found.summary(SETTINGS.persistence)["unread_px"] >= corner.sum()
    assert found.mask[parts["pit"] & ~corner].all()


def test_footprint_off_without_screen(world):
    series = preprocess(world.dates, world.cube)
    assert series.screen is None and at_start(series, SETTINGS) is None
    found = detect(series, SETTINGS, "disturbance")
    assert found.pre_existing is None and found.baseline == {"screen": False}


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_starts_from_the_footprint(scene, method):
    series, parts = scene
    found = detect(series, SETTINGS, method)
    old = parts["pit"] | parts["ring"]
    assert found.pre_existing is not None and found.pre_existing[old].mean() > 0.95
    assert found.state[:, found.pre_existing].all()  # excavated from the first date to the last
    assert (found.first_index[found.pre_existing] == 0).all()
    assert found.baseline["screen"] and found.baseline["pre_existing_px"] > 0


def test_preprocess_scores_the_screen_only_when_the_cube_has_its_bands(world):
    screen = Screen(
        bands=("B04", "B08"),
        features=["ND_B04_B08"],
        mean=[0.0],
        scale=[0.1],
        weights=[1.0],
        intercept=0.0,
        pixel_threshold=1.0,
        tile_min_fraction={14: 0.1},
    )
    series = preprocess(world.dates, world.cube, screen)
    assert series.screen.logit.shape == series.valid.shape and series.screen.strong == 1.0
    assert np.isnan(series.screen.logit[~series.valid]).all()
    assert np.isfinite(series.screen.logit[series.valid]).all()
    # Forest (NDVI ~0.84) scores far lower than the pit (NDVI ~0.1).
    last = series.screen.logit[-1]
    pit = world.truth_state()[-1] & series.valid[-1]
    assert last[pit].mean() > last[~world.crop & ~pit & series.valid[-1]].mean() + 5
    needs_b01 = dataclasses.replace(screen, bands=("B01", "B04"), features=["ND_B01_B04"])
    assert series_bands(needs_b01) == (*MONITOR_BANDS, "B01")
    assert preprocess(world.dates, world.cube, needs_b01).screen is None


def test_preprocess_scores_extra_bands_the_monitor_does_not_use(world):
    c = world.cube
    extra = np.full((c.data.shape[0], 1, *c.data.shape[2:]), 0.05, np.float32)
    cube = Cube(np.concatenate([c.data, extra], axis=1), c.valid, (*c.bands, "B01"), c.transform)
    screen = Screen(
        bands=("B01", "B02"),
        features=["ND_B01_B02"],
        mean=[0.0],
        scale=[1.0],
        weights=[1.0],
        intercept=0.0,
        pixel_threshold=1.0,
        tile_min_fraction={14: 0.1},
    )
    series = preprocess(world.dates, cube, screen)
    b02 = series.features["B02"]
    expected = (0.05 - b02) / (0.05 + b02)
    ok = series.valid
    assert np.allclose(series.screen.logit[ok], expected[ok], atol=1e-4)
