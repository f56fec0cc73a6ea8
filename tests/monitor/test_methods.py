import numpy as np
import pytest

from minescan.config import section
from minescan.monitor.detection import METHODS, detect, envelope, persistent, remove_small
from minescan.monitor.preprocess import preprocess

SETTINGS = section("monitor")


@pytest.fixture(scope="module")
def results(world):
    series = preprocess(world.dates, world.cube)
    return series, {m: detect(series, SETTINGS, m) for m in METHODS}


def _f1(state, truth):
    tp = (state & truth).sum()
    return 2 * tp / max(state.sum() + truth.sum(), 1)


@pytest.mark.parametrize("method", list(METHODS))
def test_area_grows_with_the_pit(results, world, method):
    series, dets = results
    d = dets[method]
    assert d.state.shape == series.valid.shape
    assert d.confidence.shape == series.shape
    assert ((d.confidence >= 0) & (d.confidence <= 1)).all()
    area = d.state.sum(axis=(1, 2))  # excavated pixels per date
    truth_last = world.truth_state()[-1]
    assert area[-1] > area[len(area) // 3]  # the pit opens after the first year
    assert d.state[-1][truth_last].mean() > 0.5  # most of the final pit is found


@pytest.mark.parametrize("method", ["disturbance", "change"])
def test_envelope_is_monotonic(results, method):
    state = results[1][method].state
    assert (np.diff(state.astype(int), axis=0) >= 0).all()


def test_disturbance_rejects_one_date_cloud_edges_and_dry_crops(results, world):
    state = results[1]["disturbance"].state
    truth = world.truth_state()
    ever_true = truth.any(axis=0)
    edges = world.residual_cloud.any(axis=0) & ~ever_true
    assert edges.any()
    assert not state[:, edges].any()  # one-date anomalies never pass persistence
    crop = world.crop & ~ever_true
    assert state.any(axis=0)[crop].mean() < 0.01  # dry season is not digging
    assert not state.any(axis=0)[world.water].any()  # a lake is not a pit


def test_disturbance_beats_the_baselines_on_f1(results, world):
    dets = results[1]
    truth = world.truth_state()
    f1 = {m: _f1(d.state, truth) for m, d in dets.items()}
    assert f1["disturbance"] > 0.9
    assert all(f1["disturbance"] > f1[m] for m in ("iforest", "change", "ndvi")), f1


def test_ndvi_baseline_is_fooled_by_dry_crops(results, world):
    state = results[1]["ndvi"].state
    crop = world.crop & ~world.truth_state().any(axis=0)
    assert state.any(axis=0)[crop].mean() > 0.5


def test_persistence_rules():
    valid = np.ones((6, 1), bool)
    valid[2] = False  # a cloud between two hits does not break the run
    hit = np.array([1, 0, 0, 1, 0, 0], bool)[:, None]
    assert not persistent(hit, valid, 2).any()
    hit = np.array([0, 1, 1, 1, 0, 0], bool)[:, None]
    assert persistent(hit, valid, 2)[:, 0].tolist() == [False, False, False, True, False, False]
    assert envelope(hit)[:, 0].tolist() == [False, True, True, True, True, True]


def test_remove_small():
    mask = np.zeros((10, 10), bool)
    mask[0, 0] = True
    mask[4:8, 4:8] = True
    kept = remove_small(mask, 5)
    assert not kept[0, 0] and kept[4:8, 4:8].all()


def test_ours_is_an_alias_of_disturbance():
    assert section("monitor", method="ours").method == "disturbance"
    with pytest.raises(Exception, match="unknown method 'bogus'"):
        section("monitor", method="bogus")
