import json

import mercantile
import numpy as np
import pandas as pd
import pytest

from minescan.datasets.pixels import ground_pixel_m, sample_pixels, signed_distance_px
from minescan.kernel.bands import S2_BANDS
from minescan.kernel.mercator import tile_transform
from tests.datasets.conftest import (
    CLOUDY,
    EAST,
    MINE_PX,
    SIZE,
    TILE,
    StandInSource,
    name,
    write_standin_chips,
)

NEG = mercantile.Tile(8120, 7890, 14)


@pytest.fixture(scope="module")
def chips_dir(tmp_path_factory):
    return write_standin_chips(tmp_path_factory.mktemp("pixels"), [TILE, EAST, CLOUDY, NEG])


def test_full_table_values_and_distances(chips_dir, run_cli, tmp_path):
    out = tmp_path / "px.parquet"
    code, stdout, stderr = run_cli("datasets", "pixels", "--chips", chips_dir, "--out", out,
                                   "--sample", "0", "--quiet")  # fmt: skip
    assert code == 0, stderr
    table = pd.read_parquet(out)
    assert list(table.columns) == [
        "row",
        "col",
        *S2_BANDS,
        "signed_distance_m",
        "inside",
        "cell",
        "z",
        "split",
    ]
    # Every clear pixel of the three clear chips; none of the all-cloud one.
    assert len(table) == 3 * SIZE * SIZE
    assert name(CLOUDY) not in set(table["cell"])
    assert set(table["split"]) == {"none"} and set(table["z"]) == {14}
    tile = table[table["cell"] == name(TILE)].set_index(["row", "col"])
    expected = StandInSource().read(TILE, SIZE).data
    assert tile.loc[(30, 5), "B04"] == expected[3, 30, 5]
    pixel_m = ground_pixel_m(tile_transform(TILE, SIZE), TILE)
    c0, r0, c1, r1 = MINE_PX
    # Outside, 5 px left of the rectangle: 4.5 px from its west edge.
    assert tile.loc[(30, 5), "signed_distance_m"] == pytest.approx(4.5 * pixel_m, rel=1e-5)
    assert not tile.loc[(30, 5), "inside"]
    # Inside, on the rectangle's first column: half a pixel inside.
    assert tile.loc[(30, c0), "signed_distance_m"] == pytest.approx(-0.5 * pixel_m, rel=1e-5)
    assert tile.loc[(30, c0), "inside"]
    assert (tile["inside"] == (tile["signed_distance_m"] < 0)).all()
    assert int(tile["inside"].sum()) == 20 * 20 + 8 * 8 + 2 * 10
    # A chip without a mine has no edge to measure to.
    assert table.loc[table["cell"] == name(NEG), "signed_distance_m"].isna().all()
    assert "inside a mine" in stdout


def test_balanced_sample_and_split_column(chips_dir, run_cli, tmp_path):
    split_file = tmp_path / "split.json"
    split_file.write_text(json.dumps({"cells": {name(TILE): "train", name(EAST): "val"}}))
    out = tmp_path / "px.parquet"
    code, _, stderr = run_cli("datasets", "pixels", "--chips", chips_dir, "--out", out,
                              "--sample", "100", "--split-from", split_file, "--quiet")  # fmt: skip
    assert code == 0, stderr
    table = pd.read_parquet(out)
    per_chip = table.groupby("cell", observed=True)
    assert per_chip.size().to_dict() == {name(TILE): 100, name(EAST): 100, name(NEG): 100}
    assert per_chip["inside"].sum().to_dict() == {name(TILE): 50, name(EAST): 50, name(NEG): 0}
    assert dict(per_chip["split"].first()) == {
        name(TILE): "train",
        name(EAST): "val",
        name(NEG): "none",
    }
    assert not table.duplicated(["cell", "row", "col"]).any()
    again = tmp_path / "px2.parquet"
    run_cli("datasets", "pixels", "--chips", chips_dir, "--out", again, "--sample", "100",
            "--split-from", split_file, "--quiet")  # fmt: skip
    pd.testing.assert_frame_equal(table, pd.read_parquet(again))  # same seed, same rows


def test_signed_distance_is_symmetric_about_the_edge():
    inside = np.zeros((9, 9), bool)
    inside[3:6, 3:6] = True
    d = signed_distance_px(inside)
    assert d[4, 4] == -1.5 and d[4, 3] == -0.5 and d[4, 2] == 0.5 and d[4, 0] == 2.5
    assert d[0, 0] == pytest.approx(np.hypot(3, 3) - 0.5)
    assert np.isnan(signed_distance_px(np.zeros((3, 3), bool))).all()
    assert np.isnan(signed_distance_px(np.ones((3, 3), bool))).all()


def test_sample_pixels_fills_from_the_larger_side():
    rng = np.random.default_rng(0)
    inside = np.zeros((10, 10), bool)
    inside[0, :3] = True
    valid = np.ones((10, 10), bool)
    valid[9] = False
    idx = sample_pixels(inside, valid, 20, rng)
    assert len(idx) == 20 and inside.ravel()[idx].sum() == 3
    assert valid.ravel()[idx].all() and len(np.unique(idx)) == 20
    assert len(sample_pixels(inside, valid, 0, rng)) == 90


def test_ground_pixel_shrinks_with_latitude():
    equator = mercantile.tile(0.0, 0.0, 14)
    north = mercantile.tile(0.0, 60.0, 14)
    eq_m = ground_pixel_m(tile_transform(equator, 256), equator)
    assert eq_m == pytest.approx(9.55, abs=0.01)
    assert ground_pixel_m(tile_transform(north, 256), north) == pytest.approx(eq_m / 2, rel=1e-3)


def test_bad_split_file(chips_dir, run_cli, tmp_path):
    bad = tmp_path / "split.json"
    bad.write_text("{}")
    code, _, stderr = run_cli("datasets", "pixels", "--chips", chips_dir, "--out", tmp_path / "p.parquet",
                              "--split-from", bad)  # fmt: skip
    assert code == 2 and "cannot read split file" in stderr
    code, _, stderr = run_cli("datasets", "pixels", "--chips", chips_dir, "--out", tmp_path / "p.parquet",
                              "--split-from", tmp_path / "nope.json")  # fmt: skip
    assert code == 2 and "split file not found" in stderr
