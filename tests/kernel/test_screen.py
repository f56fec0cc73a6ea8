"""The spectral screen that the scan runs before the detector."""

from __future__ import annotations

import json
from itertools import combinations

import numpy as np
import pytest
from affine import Affine

from minescan.kernel.bands import S2_BANDS
from minescan.kernel.chip import Chip
from minescan.kernel.errors import MinescanError
from minescan.kernel.screen import (
    Screen,
    bands_needed,
    compute_features,
    feature_names,
    keeps_tile,
    mine_share,
    nearest_zoom_value,
)


def test_feature_names_are_bands_then_every_pair_in_s2_order():
    names = feature_names()
    assert names[:12] == list(S2_BANDS)
    assert len(names) == 12 + 66
    assert names[12:] == [f"ND_{a}_{b}" for a, b in combinations(S2_BANDS, 2)]
    assert "ND_B04_B08" in names and "ND_B08_B04" not in names


def test_compute_features_normalized_difference_and_nan():
    rng = np.random.default_rng(1)
    data = rng.uniform(0.01, 0.6, (12, 5, 4)).astype(np.float32)
    data[3, 0, 0] = np.nan
    feats = compute_features(data, S2_BANDS)
    assert feats.shape == (78, 5, 4) and feats.dtype == np.float32
    names = feature_names()
    red, nir = data[S2_BANDS.index("B04")], data[S2_BANDS.index("B08")]
    nd = feats[names.index("ND_B04_B08")]
    np.testing.assert_allclose(nd[1:], ((red - nir) / (red + nir))[1:], rtol=1e-5)
    assert np.isnan(nd[0, 0]) and np.isfinite(feats[names.index("ND_B08_B11"), 0, 0])
    np.testing.assert_array_equal(feats[7], data[7])


def test_compute_features_zero_pair_is_finite_and_band_count_checked():
    feats = compute_features(np.zeros((2, 3)), ("B04", "B08"))
    assert np.isfinite(feats).all()
    with pytest.raises(MinescanError, match="3 bands"):
        compute_features(np.zeros((3, 2)), ("B04", "B08"))
    with pytest.raises(MinescanError, match="B11"):
        compute_features(np.zeros((2, 2)), ("B04", "B08"), names=["ND_B04_B11"])


def test_bands_needed_sorted_in_s2_order():
    assert bands_needed(["ND_B11_B03", "B8A", "B03"]) == ("B03", "B8A", "B11")


def _screen(**kw) -> Screen:
    args = dict(
        bands=("B04", "B08"),
        features=["ND_B04_B08"],
        mean=[0.0],
        scale=[0.5],
        weights=[2.0],
        intercept=-1.0,
        pixel_threshold=0.0,
        tile_min_fraction={13: 0.2, 15: 0.05},
    )
    args.update(kw)
    return Screen(**args)


def _chip(red: np.ndarray, nir: np.ndarray, margin: int = 0, valid=None) -> Chip:
    others = np.full_like(red, 0.1)
    data = np.stack([others] * 12).astype(np.float32)
    data[S2_BANDS.index("B04")] = red
    data[S2_BANDS.index("B08")] = nir
    return Chip(data, S2_BANDS, Affine.identity(), "2019", margin_px=margin, valid=valid)


def test_score_is_the_standardised_linear_model():
    s = _screen()
    data = np.array([[[0.3, 0.1]], [[0.1, 0.3]]], dtype=np.float32)  # (2 bands, 1, 2)
    nd = np.array([0.5, -0.5])
    np.testing.assert_allclose(s.score(data, ("B04", "B08"))[0], -1 + 2 * nd / 0.5, rtol=1e-5)
    # band order of the input does not matter, only the names
    np.testing.assert_allclose(s.score(data[::-1], ("B08", "B04")), s.score(data, ("B04", "B08")))


def _core_share(s: Screen, chip: Chip) -> float:
    core = chip.core()
    return mine_share(s.mine_like(core.data, core.bands), core.valid_mask())


def test_mine_share_counts_clear_core_pixels_only():
    s = _screen()
    red = np.full((6, 6), 0.1, np.float32)
    nir = np.full((6, 6), 0.3, np.float32)
    red[1:3, 1:5] = 0.4  # 8 of the 16 core pixels look like mine (score > 0)
    nir[1:3, 1:5] = 0.1
    red[0, :] = 0.4  # mine-like pixels in the margin are ignored
    nir[0, :] = 0.1
    assert _core_share(s, _chip(red, nir, margin=1)) == pytest.approx(8 / 16)
    valid = np.ones((6, 6), bool)
    valid[1:3, 1:5] = False  # those pixels are cloud
    assert _core_share(s, _chip(red, nir, margin=1, valid=valid)) == 0.0
    assert _core_share(s, _chip(red, nir, valid=np.zeros((6, 6), bool))) == 0.0


def test_the_tile_rule_uses_the_nearest_calibrated_zoom():
    s = _screen()
    red = np.full((10, 10), 0.1, np.float32)
    nir = np.full((10, 10), 0.3, np.float32)
    red[:1, :] = 0.4  # 10% mine-like
    nir[:1, :] = 0.1
    share = _core_share(s, _chip(red, nir))
    assert not keeps_tile(share, s.tile_min_fraction, 13)  # floor 0.2
    assert keeps_tile(share, s.tile_min_fraction, 15)  # floor 0.05
    floors = s.tile_min_fraction
    assert nearest_zoom_value(floors, 12) == 0.2 and nearest_zoom_value(floors, 16) == 0.05
    assert nearest_zoom_value(floors, 14) == 0.2  # tie goes to the coarser zoom
    # insertion order does not break the tie (screen training once took the first listed zoom)
    assert nearest_zoom_value({15: 0.05, 13: 0.2}, 14) == 0.2
    np.testing.assert_array_equal(keeps_tile(np.array([0.04, 0.05]), floors, 15), [False, True])


def test_json_round_trip_keeps_extra_info(tmp_path):
    s = _screen(info={"lambda": 0.01, "rule": "sparsest within 1%"})
    (tmp_path / "screen.json").write_text(json.dumps(s.to_dict()))
    back = Screen.load(tmp_path)  # a model folder is accepted
    assert back.features == s.features and back.tile_min_fraction == {13: 0.2, 15: 0.05}
    assert back.info["lambda"] == 0.01
    np.testing.assert_allclose(back.weights, s.weights)


def test_load_bad_files(tmp_path):
    with pytest.raises(MinescanError, match="not found"):
        Screen.load(tmp_path / "nope.json")
    bad = tmp_path / "screen.json"
    bad.write_text("{not json")
    with pytest.raises(MinescanError, match="not a valid screen"):
        Screen.load(bad)
    doc = _screen().to_dict()
    doc["weights"] = [1.0, 2.0]
    bad.write_text(json.dumps(doc))
    with pytest.raises(MinescanError, match="differ in length"):
        Screen.load(bad)
