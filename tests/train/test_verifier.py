"""Fitting the verifier: region folds, the networks, the ONNX export, the CLI, the real patches."""

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from minescan.cli import app
from minescan.config import section
from minescan.kernel.errors import MinescanError
from minescan.train.verifier import (
    band_standardisation,
    ensemble,
    export_onnx,
    finite_auc,
    fit_network,
    predict,
    region_class_weights,
    region_folds,
    sensitivity_threshold,
    verifier_threshold,
    youden_threshold,
)

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"


def test_region_folds_keep_each_region_whole_and_cover_every_row():
    groups = np.array(list("aabbbcdddde"))
    masks = region_folds(groups, 3)
    assert (np.sum(masks, axis=0) == 1).all()
    for mask in masks:
        assert not set(groups[mask]) & set(groups[~mask])
    with pytest.raises(MinescanError, match="cannot make 3 folds"):
        region_folds(np.array(list("aab")), 3)


def test_the_threshold_keeps_the_asked_share_of_mines_and_no_more_than_needed():
    rng = np.random.default_rng(0)
    y = rng.random(200) < 0.4
    p = np.where(y, rng.beta(4, 2, 200), rng.beta(2, 4, 200))
    p[:5] = np.nan  # no verdict: ignored
    mines = np.sort(p[y & np.isfinite(p)])
    for share in (0.5, 0.9, 1.0):
        t = sensitivity_threshold(y, p, share)
        assert (mines >= t).mean() >= share
        assert (mines > t).mean() < share  # the next mine up would keep too few
    with pytest.raises(MinescanError, match="no out-of-fold probability"):
        sensitivity_threshold(np.zeros(3, bool), np.ones(3), 0.9)


def test_youdens_threshold_balances_both_errors_and_is_the_default_rule():
    y = np.array([True] * 6 + [False] * 6)
    p = np.array([0.9, 0.85, 0.8, 0.7, 0.6, 0.2, 0.75, 0.3, 0.25, 0.2, 0.1, np.nan])
    t = youden_threshold(y, p)
    assert t == 0.6  # 5 of 6 mines, 4 of 5 others: no threshold does better
    assert verifier_threshold(y, p, None) == t
    assert verifier_threshold(y, p, 1.0) == 0.2  # every mine kept
    with pytest.raises(MinescanError, match="one class"):
        youden_threshold(np.ones(3, bool), np.ones(3))


def toy_windows(n=64, seed=0):
    """Windows whose mines hold a bright square in B11 (a pattern a CNN must find anywhere)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6, 16, 16)).astype(np.float32) * 0.3
    y = np.arange(n) % 2 == 0
    for i in np.flatnonzero(y):
        r, c = rng.integers(0, 10, 2)
        x[i, 4, r : r + 6, c : c + 6] += 2.0
    return x, y


def test_a_network_learns_a_pattern_and_the_onnx_graph_agrees_with_torch(tmp_path):
    from minescan.kernel.verifier import OnnxNet

    settings = section("verifier", epochs=25, width=8)
    x, y = toy_windows()
    net = fit_network(x, y, settings, seed=0)
    test_x, test_y = toy_windows(seed=1)
    module = ensemble([net])
    p = predict(module, test_x)
    assert p[test_y].mean() > p[~test_y].mean() + 0.3
    onnx = OnnxNet(export_onnx(module, tmp_path / "v.onnx"))
    assert np.allclose(onnx(test_x), p, atol=1e-4)
    assert onnx(np.zeros((1, 6, 24, 20), np.float32)).shape == (1,)  # any window size
    mean, scale = band_standardisation(x)
    assert mean.shape == scale.shape == (6,) and (scale > 0).all()


def test_every_region_and_class_weighs_the_same():
    groups = np.array(list("aaaaabbbc"))
    y = np.array([1, 1, 1, 1, 0, 1, 0, 0, 0], bool)
    w = region_class_weights(y, groups)
    assert w.mean() == pytest.approx(1.0)
    totals = {(g, c): w[(groups == g) & (y == c)].sum() for g, c in zip(groups, y, strict=True)}
    assert np.ptp(list(totals.values())) < 1e-9  # (a, mine), (a, other), (b, ...), (c, other)


def test_windows_of_weight_zero_teach_nothing():
    settings = section("verifier", epochs=25, width=8)
    x, y = toy_windows()
    flipped = y.copy()
    flipped[:40] = ~flipped[:40]  # most labels wrong, but weighed 0
    weights = np.r_[np.zeros(40), np.ones(len(y) - 40)]
    net = fit_network(x, flipped, settings, seed=0, weights=weights)
    test_x, test_y = toy_windows(seed=1)
    p = predict(ensemble([net]), test_x)
    assert p[test_y].mean() > p[~test_y].mean() + 0.3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--labels", "missing.csv", "--out", "m"], "labels file"),
        (["--labels", "{d}/t.csv", "--label-column", "nope", "--out", "m"], "no column 'nope'"),
        (["--labels", "{d}/t.csv", "--out", "m", "--folds", "1"], "folds"),
        (["--labels", "{d}/t.csv", "--out", "m", "--members", "0"], "members"),
    ],
)
def test_bad_inputs_are_one_line_errors(tmp_path, args, message):
    (tmp_path / "t.csv").write_text("file,label\na.tif,mine\n")
    args = [a.replace("{d}", str(tmp_path)) for a in args]
    result = CliRunner().invoke(app, ["train", "verifier", *args])
    assert result.exit_code != 0
    # minescan's entry point prints a MinescanError as one "error:" line
    assert isinstance(result.exception, MinescanError)
    assert message in str(result.exception) and "\n" not in str(result.exception)


@pytest.mark.skipif(not (REAL / "scenes.csv").is_file(), reason=f"real patches not in {REAL}")
def test_on_real_patches_the_verifier_holds_out_whole_regions_and_learns(tmp_path):
    from minescan.kernel.verifier import Verifier
    from minescan.train.verifier import PatchLabels, train_verifier

    labels = PatchLabels(str(REAL / "scenes.csv"), "group", ("mine", "no_mine_hard_negative"))
    # a short fit (the shipped one is 5 networks x 40 epochs; 6 epochs of the default width 16
    # reached CV AUC 0.544, 16 reach 0.567): the protocol, not the figure
    settings = section("verifier", epochs=16, members=1, folds=3)
    fitted = train_verifier(labels, tmp_path, settings, progress=False)
    assert Verifier.load(tmp_path) == fitted
    assert fitted.info["holdout"]["mine"] == 109 and fitted.info["holdout"]["other"] == 114
    assert not set(fitted.info["holdout"]["regions"]) & set(fitted.info["fitted_on"]["regions"])
    assert fitted.info["cv"]["out_of_fold_auc"] > 0.55
    assert 0.0 < fitted.threshold < 1.0
    at = fitted.info["cv"]["at_threshold"]  # Youden's threshold (the default rule)
    assert at["sensitivity"] + at["specificity"] > 1.0


def test_train_verifier_auc_ignores_unknown_probabilities():
    y = np.array([True, True, False, False])
    assert finite_auc(y, np.array([0.9, np.nan, 0.8, 0.1])) == 1.0
    assert finite_auc(y, np.array([0.9, 0.2, np.nan, np.nan])) is None


@pytest.mark.skipif(not (REAL / "scenes.csv").is_file(), reason=f"real patches not in {REAL}")
def test_holdout_fraction_zero_fits_every_region_and_says_so(tmp_path):
    args = ["--labels", str(REAL / "scenes.csv"), "--label-column", "group"]
    args += ["--classes", "mine,no_mine_hard_negative", "--out", str(tmp_path), "--quiet"]
    args += ["--holdout-fraction", "0", "--epochs", "2", "--members", "1", "--folds", "2"]
    result = CliRunner().invoke(app, ["train", "verifier", *args])
    assert result.exit_code == 0, result.output
    assert "nothing held out: every region fitted" in result.output
    info = json.loads((tmp_path / "verifier.json").read_text())["info"]
    assert info["holdout"]["regions"] == [] and info["holdout"]["mine"] == 0
    assert info["fitted_on"]["mine"] == 332 and info["fitted_on"]["other"] == 374
    assert len(info["fitted_on"]["regions"]) == 30


def test_the_shift_cuts_training_windows_at_random_offsets():
    import torch

    from minescan.train.verifier import augment

    x = torch.arange(2 * 6 * 48 * 48, dtype=torch.float32).reshape(2, 6, 48, 48)
    plain = section("verifier", augment_offset=0.0, augment_noise=0.0)
    assert augment(x, torch.Generator().manual_seed(0), plain).shape == (2, 6, 48, 48)
    shifted = section("verifier", augment_shift_px=8, augment_offset=0.0, augment_noise=0.0)
    corners = set()
    for seed in range(12):
        out = augment(x, torch.Generator().manual_seed(seed), shifted)
        assert out.shape == (2, 6, 40, 40)
        assert set(out[0, 0].flatten().tolist()) <= set(x[0, 0].flatten().tolist())
        corners.add(int(out[0, 0].min()))  # the cut's top-left pixel, whatever the rotation
    assert len(corners) > 3  # the offset moves from batch to batch
