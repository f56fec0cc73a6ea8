import numpy as np
import pytest

from minescan.kernel.errors import MinescanError
from minescan.kernel.source import Cube
from minescan.monitor.preprocess import (
    INDICES,
    NoValidDates,
    carry_forward,
    preprocess,
    previous_valid,
    standardise,
)


def test_indices_present_and_masked(world):
    series = preprocess(world.dates, world.cube)
    for name in INDICES:
        x = series.features[name]
        assert x.shape == series.valid.shape
        assert np.isnan(x[~series.valid]).all()
        assert np.isfinite(x[series.valid]).all()
    forest, crop_dry = series.features["NDVI"][0, 20, 5], series.features["BSI"][0, 20, 5]
    assert forest > 0.7 and crop_dry < 0


def test_all_cloud_dates_dropped(world):
    valid = world.cube.valid.copy()
    valid[[2, 5]] = False
    cube = Cube(world.cube.data, valid, world.cube.bands, world.cube.transform)
    series = preprocess(world.dates, cube)
    assert series.n_dropped == 2
    assert len(series.dates) == len(world.dates) - 2
    assert world.dates[2] not in series.dates


def test_no_valid_dates_raises(world):
    cube = Cube(
        world.cube.data, np.zeros_like(world.cube.valid), world.cube.bands, world.cube.transform
    )
    with pytest.raises(NoValidDates):
        preprocess(world.dates, cube)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d, c: (d[:-1], c), "dates for"),
        (lambda d, c: (d[::-1], c), "increasing"),
        (lambda d, c: (d, Cube(c.data[:, :3], c.valid, c.bands[:3], c.transform)), "lacks band"),
        (lambda d, c: (d, Cube(c.data, c.valid[:, :5], c.bands, c.transform)), "valid mask"),
    ],
)
def test_schema_errors(world, change, message):
    dates, cube = change(world.dates, world.cube)
    with pytest.raises(MinescanError, match=message):
        preprocess(dates, cube)


def test_standardise_and_carry_forward():
    x = np.array([[1.0, 2.0], [3.0, np.nan], [5.0, 6.0]])
    z = standardise(x, axis=0)
    assert np.allclose(np.nanmean(z, axis=0), 0)
    valid = np.array([[True, False], [False, True], [True, True]])
    hits = np.array([[True, True], [False, False], [False, True]])
    assert previous_valid(hits, valid).tolist() == [[False, False], [True, False], [True, False]]
    assert carry_forward(hits, valid).tolist() == [[True, False], [True, False], [False, True]]
