"""The real-imagery verifier's window input, JSON + ONNX files, verdict scores and proposals."""

import json

import numpy as np
import pytest

from minescan.kernel.errors import MinescanError
from minescan.kernel.model import VERIFIER_NET, load_verifier, model_folder
from minescan.kernel.verifier import (
    VERIFIER_BANDS,
    Verifier,
    block_mean,
    downsample_factor,
    proposal_centres,
    relative_log,
)


def patch(seed=0, size=12):
    return np.random.default_rng(seed).uniform(0.02, 0.4, (len(VERIFIER_BANDS), size, size))


def verifier(net=None, threshold=0.3, **kw):
    fields = dict(
        band_mean=(0.0,) * 6,
        band_scale=(1.0,) * 6,
        threshold=threshold,
        window_m=480.0,
        res_m=10.0,
        max_pixel_m=15.0,
        floor=1e-4,
    )
    return Verifier(**(fields | kw), net=net)


def test_the_input_ignores_a_gain_on_every_band_and_follows_band_names():
    x = patch()
    assert np.allclose(
        relative_log(x, VERIFIER_BANDS), relative_log(1.7 * x, VERIFIER_BANDS), atol=1e-5
    )
    order = [5, 0, 3, 1, 4, 2]
    shuffled = tuple(VERIFIER_BANDS[i] for i in order)
    assert np.allclose(relative_log(x, VERIFIER_BANDS), relative_log(x[order], shuffled))


def test_finer_windows_are_averaged_down_never_up():
    assert downsample_factor(4.8, 10.0) == 2 and downsample_factor(19.0, 10.0) == 1
    x = patch(size=24)
    assert relative_log(x, VERIFIER_BANDS, pixel_m=5.0).shape == (6, 12, 12)
    assert relative_log(x, VERIFIER_BANDS, pixel_m=19.0).shape == (6, 24, 24)
    holed = np.ones((1, 2, 2))
    holed[0, 0, 0] = np.nan
    assert block_mean(holed, 2)[0, 0, 0] == 1.0


def test_nodata_pixels_become_the_median_and_too_few_give_none():
    x = patch()
    x[:, :3, :] = np.nan
    z = relative_log(x, VERIFIER_BANDS)
    assert np.isfinite(z).all() and (z[:, :3, :] == 0).all()
    x[:, :8, :] = np.nan
    assert relative_log(x, VERIFIER_BANDS) is None
    assert relative_log(patch(size=6), VERIFIER_BANDS) is None  # under MIN_SIDE_PX
    with pytest.raises(MinescanError, match="needs band"):
        relative_log(patch()[:4], VERIFIER_BANDS[:4])


def test_a_verdict_reaches_the_scan_threshold_exactly_at_the_verifier_threshold():
    v = verifier(threshold=0.3)
    p = np.array([0.05, 0.29, 0.3, 0.31, 0.99])
    for conf in (0.01, 0.02, 0.5):
        s = v.judged_score(p, conf)
        assert s[2] == pytest.approx(conf)
        assert ((s >= conf - 1e-12) == (p >= 0.3)).all()
        assert (np.diff(s) > 0).all()  # the ranking is the verifier's
    # certain verdicts stay finite and ordered
    assert 0.0 < v.judged_score(0.0, 0.02) < v.judged_score(1.0, 0.02) < 1.0


def test_proposal_windows_tile_the_core_evenly():
    xs = proposal_centres(16, 256, 50)
    assert len(xs) == 5 and xs[0] - 25 >= 16 - 1 and xs[-1] + 25 <= 16 + 256 + 1
    assert np.ptp(np.diff(xs)) <= 1  # evenly spaced
    assert proposal_centres(0, 30, 100).tolist() == [15]  # a core smaller than a window


def test_windows_of_one_shape_go_to_the_network_as_one_batch():
    calls = []

    def net(batch):
        calls.append(batch.shape)
        return np.full(len(batch), 0.7)

    v = verifier(net)
    windows = [patch(0), patch(1), patch(2, size=20), np.full((6, 12, 12), np.nan)]
    out = v.probabilities(windows, VERIFIER_BANDS)
    assert out == [0.7, 0.7, 0.7, None]
    assert sorted(calls) == [(1, 6, 20, 20), (2, 6, 12, 12)]
    assert v.applies_at(9.5) and not v.applies_at(19.1)


def test_bad_values_and_broken_files_are_one_line_errors(tmp_path):
    with pytest.raises(MinescanError, match="threshold"):
        verifier(threshold=1.0)
    with pytest.raises(MinescanError, match="floor"):
        verifier(floor=0.0)
    with pytest.raises(MinescanError, match="band_mean"):
        verifier(band_mean=(0.0,))
    (tmp_path / "verifier.json").write_text(json.dumps({"band_mean": [0]}))
    with pytest.raises(MinescanError, match="cannot read verifier"):
        Verifier.load(tmp_path)
    verifier().save(tmp_path)
    with pytest.raises(MinescanError, match="no verifier.onnx"):
        Verifier.load(tmp_path)
    (tmp_path / VERIFIER_NET).write_bytes(b"not onnx")
    with pytest.raises(MinescanError, match="cannot read verifier network"):
        Verifier.load(tmp_path)
    assert load_verifier(tmp_path / "missing") is None


def test_the_shipped_verifier_loads_scores_windows_and_says_what_it_was_fitted_on():
    v = load_verifier(model_folder("models/demo"))
    assert v is not None
    # fitted on every labelled region (its recipe was validated with 8 of them held out)
    assert v.info["holdout"]["regions"] == [] and len(v.info["fitted_on"]["regions"]) == 30
    p = v.probabilities([patch(0, 48), patch(1, 50)], VERIFIER_BANDS, 9.5)
    assert all(0.0 < q < 1.0 for q in p)
    # the graph averages rotations: a rotated window gets the same probability
    x = patch(3, 48)
    assert v.probability(np.rot90(x, 1, (1, 2)).copy(), VERIFIER_BANDS) == pytest.approx(
        v.probability(x, VERIFIER_BANDS), abs=1e-5
    )
