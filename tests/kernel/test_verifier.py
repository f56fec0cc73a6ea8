"""The real-imagery verifier's features, JSON file and score rescaling."""

import json

import numpy as np
import pytest

from minescan.kernel.errors import MinescanError
from minescan.kernel.model import load_verifier, model_folder
from minescan.kernel.verifier import (
    VERIFIER_BANDS,
    Verifier,
    bright_bare_contrast,
    feature_names,
    patch_features,
    spread,
    texture,
)


def patch(seed=0, size=12):
    return np.random.default_rng(seed).uniform(0.02, 0.4, (len(VERIFIER_BANDS), size, size))


def test_indices_textures_and_contrasts_ignore_a_gain_on_every_band():
    x = patch()
    assert np.allclose(patch_features(x, VERIFIER_BANDS), patch_features(1.7 * x, VERIFIER_BANDS))


def test_features_follow_band_names_not_band_order():
    x = patch()
    order = [5, 0, 3, 1, 4, 2]
    shuffled = tuple(VERIFIER_BANDS[i] for i in order)
    assert np.allclose(patch_features(x, VERIFIER_BANDS), patch_features(x[order], shuffled))


def test_hand_computed_values():
    assert spread(np.array([0.0, 1.0, 2.0, 3.0, 4.0])) == pytest.approx((2.0, 1.6, 1.6))
    assert texture(np.array([[1.0, 1.0], [1.0, 1.0]])) == 0.0
    band, bsi = np.array([2.0] * 19 + [8.0]), np.arange(20.0)
    assert bright_bare_contrast(band, bsi) == pytest.approx(np.log(5.0 / 2.0))


def test_nodata_pixels_are_left_out_and_too_few_give_none():
    x = patch()
    holed = x.copy()
    holed[:, :2, :] = np.nan
    assert np.isfinite(patch_features(holed, VERIFIER_BANDS)).all()
    holed[:, :, :] = np.nan
    holed[:, 0, :3] = 0.1
    assert patch_features(holed, VERIFIER_BANDS) is None
    with pytest.raises(MinescanError, match="needs band"):
        patch_features(x[:4], VERIFIER_BANDS[:4])


def test_rescale_keeps_a_prior_like_patch_and_never_adds_a_box():
    v = Verifier(("tex_B04",), (0.0,), (1.0,), (2.0,), 0.0, prior=0.3, weight=2.0)
    s = np.array([0.0, 0.1, 0.1, 0.1])
    out = v.rescale(s, np.array([0.99, 0.3, 0.9, 0.05]))
    assert out[0] == 0.0 and out[1] == pytest.approx(0.1)
    assert out[2] > 0.1 > out[3]


def test_json_round_trip_gives_the_same_probabilities(tmp_path):
    names = feature_names()
    rng = np.random.default_rng(1)
    v = Verifier(
        tuple(names),
        tuple(rng.normal(size=len(names))),
        tuple(rng.uniform(0.5, 2, size=len(names))),
        tuple(rng.normal(size=len(names))),
        0.1,
        prior=0.45,
        weight=8.0,
        info={"cv": {"folds": 5}},
    )
    v.save(tmp_path)
    back = Verifier.load(tmp_path)
    assert back == v and back.info == v.info
    x = patch(2)
    assert back.probability(x, VERIFIER_BANDS) == pytest.approx(v.probability(x, VERIFIER_BANDS))


def test_a_broken_file_is_a_one_line_error(tmp_path):
    (tmp_path / "verifier.json").write_text(json.dumps({"features": ["nope"]}))
    with pytest.raises(MinescanError, match="cannot read verifier"):
        Verifier.load(tmp_path)
    with pytest.raises(MinescanError, match="unknown features"):
        Verifier(("nope",), (0.0,), (1.0,), (1.0,), 0.0, prior=0.5)
    assert load_verifier(tmp_path / "missing") is None


def test_the_shipped_verifier_reads_and_names_its_held_out_regions():
    v = load_verifier(model_folder("models/demo"))
    assert v is not None and set(v.features) == set(feature_names())
    held = set(v.info["holdout"]["regions"])
    assert held and not held & set(v.info["fitted_on"]["regions"])
