"""``minescan simulate truth``: the exported GeoPackage and its refusals."""

from __future__ import annotations

import geopandas as gpd
import pyogrio
import pytest
import shapely

from minescan.simulated import SimulatedSentinel2
from minescan.simulated.truth import ground_area_km2

AOI = "bbox:-1.62,6.68,-1.56,6.74"


def test_truth_writes_three_layers_matching_the_source(run_cli, tmp_path):
    out = tmp_path / "truth.gpkg"
    code, stdout, stderr = run_cli(
        "simulate", "truth", "--aoi", AOI, "--seed", "2", "--out", out, "--config", _dense(tmp_path)
    )
    assert code == 0, stderr
    assert {name for name, _ in pyogrio.list_layers(out)} == {"mines", "components", "confusers"}
    mines = gpd.read_file(out, layer="mines")
    expected = SimulatedSentinel2(seed=2, mine_density=0.3).mines_in(
        shapely.box(-1.62, 6.68, -1.56, 6.74)
    )
    assert len(mines) == len(expected) > 0
    assert sorted(mines.mine_id) == sorted(expected.mine_id)
    assert {"commodity", "start_date", "area_ha"} <= set(mines.columns)
    components = gpd.read_file(out, layer="components")
    assert set(mines.mine_id) <= set(components.mine_id)  # plus roads of mines just outside
    assert len(gpd.read_file(out, layer="confusers")) > 0
    assert "wrote" in stdout


def _dense(tmp_path):
    config = tmp_path / "dense.yaml"
    config.write_text("source:\n  mine_density: 0.3\n")
    return config


def test_truth_uses_a_mines_file_and_a_date(run_cli, tmp_path):
    site = shapely.box(-1.6, 6.7, -1.597, 6.703)
    mines = gpd.GeoDataFrame({"year": [2021]}, geometry=[site], crs="EPSG:4326")
    mines.to_file(tmp_path / "mines.gpkg")
    out = tmp_path / "t.gpkg"
    args = ["simulate", "truth", "--aoi", AOI, "--mines", tmp_path / "mines.gpkg", "--no-confusers"]
    assert run_cli(*args, "--date", "2020-06-01", "--out", out)[0] == 0
    assert len(gpd.read_file(out, layer="mines")) == 0
    assert run_cli(*args, "--date", "2022-06-01", "--out", out)[0] == 0
    assert len(gpd.read_file(out, layer="mines")) == 1
    assert "confusers" not in {name for name, _ in pyogrio.list_layers(out)}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--aoi", "country:RUS", "--no-confusers"], "split it"),
        (["--aoi", "country:GHA"], "--no-confusers"),
        (["--aoi", "bbox:1,2,3"], "bad bbox"),
        (["--aoi", AOI, "--date", "soon"], "bad --date"),
        (["--aoi", AOI, "--mines", "missing.gpkg"], "missing.gpkg"),
    ],
)
def test_truth_refuses_bad_input_in_one_line(run_cli, tmp_path, args, message):
    out = tmp_path / "t.gpkg"
    code, _, stderr = run_cli("simulate", "truth", *args, "--out", out)
    assert code == 2
    assert message in stderr and len(stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_ground_area_of_a_degree_square_shrinks_with_latitude():
    equator = ground_area_km2(shapely.box(0, 0, 1, 1))
    north = ground_area_km2(shapely.box(0, 60, 1, 61))
    assert equator == pytest.approx(12364, rel=0.01)
    assert north / equator == pytest.approx(0.49, rel=0.03)
