"""chips -> yolo -> pixels on the simulated world (the real default source)."""

import json

import geopandas as gpd
import mercantile
import numpy as np
import pandas as pd
import pytest
import rasterio
import yaml

from minescan.datasets.chip_files import chip_path, rasterize_mines, tile_geometry
from minescan.kernel.mercator import tile_transform
from minescan.kernel.period import Period
from minescan.simulated import SimulatedSentinel2
from tests.datasets.conftest import EAST, SIZE, TILE, name, pixel_box_4326, write_cells

OLD = (10, 20, 30, 40)  # dug in 2015: a mine in 2019
NEW = (40, 40, 60, 60)  # dug in 2021: not yet a mine in 2019
SOUTH = mercantile.Tile(TILE.x, TILE.y + 1, 14)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline")
    mines = gpd.GeoDataFrame(
        {"mine_id": ["old", "new"], "year": [2015, 2021]},
        geometry=[pixel_box_4326(TILE, SIZE, OLD), pixel_box_4326(TILE, SIZE, NEW)],
        crs=4326,
    )
    mines.to_file(root / "mines.gpkg")
    write_cells(root / "cells.parquet", [TILE, EAST, SOUTH], {TILE: "pos"})
    return root


def agreement(a, b) -> float:
    return float((np.asarray(a, bool) == np.asarray(b, bool)).mean())


def test_given_mines_are_drawn_and_labelled_by_date(world, run_cli):
    out = world / "chips"
    code, stdout, stderr = run_cli(
        "datasets", "chips", "--cells", world / "cells.parquet", "--source", "simulated",
        "--mines", world / "mines.gpkg", "--period", "2019", "--out", out, "--size", SIZE,
        "--quiet",
    )  # fmt: skip
    assert code == 0, stderr
    with rasterio.open(chip_path(out, name(TILE), 14)) as src:
        data, tags = src.read(), src.tags()
    assert tags["source"] == "simulated"
    expected = np.zeros((SIZE, SIZE), np.float32)
    expected[OLD[1] : OLD[3], OLD[0] : OLD[2]] = 1
    np.testing.assert_array_equal(data[-1], expected)  # 2021's mine is not labelled in 2019
    sim = SimulatedSentinel2(mines=gpd.read_file(world / "mines.gpkg"))
    assert agreement(data[-1], sim.mine_mask(TILE, SIZE, "2019")) > 0.98
    red, nir = data[3], data[7]
    ndvi = (nir - red) / (nir + red)
    inside = expected.astype(bool)
    assert np.nanmean(ndvi[inside]) < 0.3  # excavated ground looks bare


def test_source_truth_labels_match_the_simulator(tmp_path, run_cli):
    config = tmp_path / "dense.yaml"
    config.write_text(yaml.safe_dump({"source": {"mine_density": 3.0, "seed": 4}}))
    tiles = [mercantile.Tile(TILE.x + i, TILE.y, 14) for i in range(4)]
    write_cells(tmp_path / "cells.parquet", tiles)
    code, stdout, stderr = run_cli(
        "datasets", "chips", "--cells", tmp_path / "cells.parquet", "--config", config,
        "--period", "2019", "--out", tmp_path / "chips", "--size", SIZE, "--quiet",
    )  # fmt: skip
    assert code == 0, stderr
    sim = SimulatedSentinel2(seed=4, mine_density=3.0)
    report = json.loads((tmp_path / "chips" / "chips_report.json").read_text())
    assert report["with_mine"] > 0
    for tile in tiles:
        with rasterio.open(chip_path(tmp_path / "chips", name(tile), 14)) as src:
            mine = src.read(13).astype(bool)
        truth = sim.mines_in(tile_geometry(tile), Period.parse("2019").reference_date)
        np.testing.assert_array_equal(
            mine, rasterize_mines(truth, tile_transform(tile, SIZE), SIZE)
        )
        # The simulator's own pixel mask of dug ground lies inside the labelled polygons
        # (its mines_in footprints run ~10 % wider than the dug pixels; see the report).
        mask = sim.mine_mask(tile, SIZE, "2019")
        assert (mine & mask).sum() >= 0.97 * mask.sum()
        assert agreement(mine, mask) > 0.9


def test_yolo_and_pixels_from_simulated_chips(world, run_cli):
    chips = world / "chips"
    if not chips.exists():
        pytest.skip("needs the chips of test_given_mines_are_drawn_and_labelled_by_date")
    ydir = world / "yolo"
    code, _, stderr = run_cli("datasets", "yolo", "--chips", chips, "--out", ydir, "--quiet")
    assert code == 0, stderr
    split = json.loads((ydir / "split.json").read_text())
    label = ydir / "labels" / split["cells"][name(TILE)] / f"{name(TILE)}.txt"
    assert label.read_text() == "0 0.312500 0.468750 0.312500 0.312500\n"
    code, _, stderr = run_cli("datasets", "pixels", "--chips", chips, "--out", world / "px.parquet",
                              "--split-from", ydir / "split.json", "--sample", "200", "--quiet")  # fmt: skip
    assert code == 0, stderr
    table = pd.read_parquet(world / "px.parquet")
    assert set(table["split"]) <= {"train", "val", "test"}
    tile = table[table["cell"] == name(TILE)]
    assert tile["inside"].sum() == 100  # balanced: 400 mine pixels, 200 sampled
    ndvi = (tile["B08"] - tile["B04"]) / (tile["B08"] + tile["B04"])
    assert ndvi[tile["inside"]].mean() < ndvi[~tile["inside"]].mean()
