"""Fitting the spectral screen: L1 paths, the lambda rule and the tile calibration."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from minescan.kernel.errors import MinescanError
from minescan.kernel.screen import Screen, feature_names, keeps_tile, mine_share
from minescan.train.l1_paths import choose
from minescan.train.screen import fit_screen
from minescan.train.tile_calibration import (
    TileRule,
    TileScores,
    calibrate,
    tile_figures,
    tile_floor,
)


def test_choose_sparsest_within_one_percent():
    scores = np.array([0.0, 0.80, 0.986, 0.99, 0.995, 0.994])
    nnz = np.array([0, 2, 4, 6, 9, 12])
    assert choose(scores, nnz) == 2  # 0.986 >= 0.995 - 1%; 0.80 is not
    assert choose(scores, nnz, tol=0.0) == 4
    # an empty model is never chosen, even when it scores best
    assert choose(np.array([1.0, 0.5]), np.array([0, 3])) == 1
    with pytest.raises(MinescanError):
        choose(np.array([np.nan, np.nan]), np.array([1, 2]))


def test_tile_floor_keeps_the_required_share():
    rng = np.random.default_rng(0)
    fr = rng.uniform(0, 1, 1000)
    floor = tile_floor(fr, keep=0.99)
    assert (fr >= floor).mean() >= 0.99
    assert (fr >= np.nextafter(floor, 2)).mean() < 0.99  # and it is the largest such floor
    assert tile_floor(np.array([0.3, 0.1])) == 0.1
    assert tile_floor(np.array([])) == 0.0


def _tiles(rng, n, zoom, mine, split="val"):
    out = []
    for k in range(n):
        s = rng.normal(-3, 1, 400)
        if mine:
            k = rng.integers(4, 60)
            s[:k] = rng.normal(3, 1, k)
        out.append(TileScores(f"{split}{zoom}{mine}{k}", zoom, split, s, mine))
    return out


def test_calibrate_keeps_mine_tiles_and_drops_empty_ones():
    rng = np.random.default_rng(3)
    tiles = []
    for z in (13, 14):
        tiles += _tiles(rng, 40, z, True) + _tiles(rng, 60, z, False)
    rule = calibrate(tiles)
    figs = tile_figures(tiles, rule)
    assert figs["mine_tiles_kept"] >= 0.99
    assert figs["empty_tiles_dropped"] > 0.9
    assert set(rule.tile_min_fraction) == {13, 14}
    assert figs["per_zoom"]["13"]["mine_tiles"] == 40


def test_calibrate_without_mine_tiles_is_an_error():
    rng = np.random.default_rng(0)
    with pytest.raises(MinescanError, match="no validation chip holds a mine"):
        calibrate(_tiles(rng, 5, 14, False))


def test_tile_figures_unknown_zoom_uses_nearest():
    t = TileScores("a", 16, "test", np.array([1.0, -1.0]), True)
    figs = tile_figures([t], TileRule(0.0, {13: 0.9, 15: 0.4}))
    assert figs["mine_tiles_kept"] == 1.0  # 0.5 >= floor of z15


@pytest.fixture(scope="module")
def fitted(pixel_table, tmp_path_factory):
    out = tmp_path_factory.mktemp("screen_model")
    return fit_screen(pixel_table, out), out


def test_fit_screen_writes_path_table_plot_and_screen(fitted):
    screen, out = fitted
    table = pd.read_csv(out / "lasso_path.csv")
    assert set(table["model"]) == {"lasso", "logistic"}
    assert table.groupby("model")["chosen"].sum().to_dict() == {"lasso": 1, "logistic": 1}
    assert [c for c in table.columns if c.startswith("w_")] == [f"w_{n}" for n in feature_names()]
    # stronger penalty, fewer weights: the path starts sparse and fills up
    logistic = table[table["model"] == "logistic"].sort_values("lambda", ascending=False)
    assert logistic["n_nonzero"].iloc[0] < logistic["n_nonzero"].iloc[-1]
    assert (out / "lasso_path.png").read_bytes()[:4] == b"\x89PNG"

    doc = json.loads((out / "screen.json").read_text())
    assert doc["rule"].startswith("sparsest model")
    assert doc["features"] == screen.features and len(doc["weights"]) == len(doc["features"])
    chosen = table[(table["model"] == "logistic") & table["chosen"]].iloc[0]
    assert chosen["n_nonzero"] == len(screen.features)
    assert doc["lambda"] == pytest.approx(chosen["lambda"])
    assert doc["validation"]["tiles"]["mine_tiles_kept"] >= 0.99
    assert doc["validation"]["logistic"]["auc"] > 0.95  # the synthetic mine is easy
    assert doc["test"]["tiles"]["mine_tiles"] > 0


def test_fitted_screen_loads_and_separates_mine_chips(fitted, pixel_table):
    from minescan.kernel.bands import S2_BANDS
    from minescan.kernel.chip import Chip
    from minescan.kernel.raster import read_cog

    screen, out = fitted
    loaded = Screen.load(out / "screen.json")
    assert loaded.features == screen.features
    kept_mine, kept_empty = [], []
    for path in sorted((pixel_table.parent / "chips").rglob("test*.tif")):
        data, transform, names, _ = read_cog(path)
        chip = Chip(data[:12], S2_BANDS, transform, "2019")
        zoom = int(path.parent.name[1:])
        share = mine_share(loaded.mine_like(chip.data, chip.bands), chip.valid_mask())
        kept = keeps_tile(share, loaded.tile_min_fraction, zoom)
        (kept_mine if data[12].any() else kept_empty).append(kept)
    assert np.mean(kept_mine) >= 0.99 and np.mean(kept_empty) < 0.5


def test_cli_screen_errors(run_cli, tmp_path, pixel_table):
    empty = tmp_path / "empty.parquet"
    pd.read_parquet(pixel_table).iloc[:0].to_parquet(empty)
    code, _, err = run_cli("train", "screen", "--pixels", empty, "--out", tmp_path / "m")
    assert (
        code == 2
        and err.strip() == f"error: pixel table {empty} is empty: no pixels to fit the screen on"
    )
    code, _, err = run_cli(
        "train", "screen", "--pixels", tmp_path / "nope.parquet", "--out", tmp_path / "m"
    )
    assert code == 2 and "pixel table not found" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(
        "train", "screen", "--pixels", pixel_table, "--out", tmp_path / "m", "--chips", tmp_path
    )
    assert code == 2 and "chip not found for calibration" in err
    (tmp_path / "m2").mkdir()
    (tmp_path / "m2" / "screen.json").write_text("{}")
    code, _, err = run_cli("train", "screen", "--pixels", pixel_table, "--out", tmp_path / "m2")
    assert code == 2 and "--force" in err
