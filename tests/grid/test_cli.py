import hashlib
import json
from pathlib import Path

import geopandas as gpd
import mercantile
import pandas as pd
import pytest
from shapely import box

from minescan.grid import cells_table
from tests.grid.test_cells import CSV_COLUMNS

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "mines_example.geojson"


@pytest.fixture
def mines(tmp_path):
    """Two small mines near Tarkwa, Ghana, as a GeoPackage in EPSG:32630 (UTM 30N)."""
    t = mercantile.tile(-1.98, 5.29, 15)
    polys = [box(*mercantile.bounds(t)), box(-1.95, 5.25, -1.946, 5.254)]
    path = tmp_path / "mines.gpkg"
    gpd.GeoDataFrame({"id": [1, 2]}, geometry=polys, crs=4326).to_crs(32630).to_file(path)
    return path


def test_writes_the_four_outputs(run_cli, mines, tmp_path):
    before = hashlib.sha256(mines.read_bytes()).hexdigest()
    out = tmp_path / "grid"
    code, stdout, _ = run_cli("grid", "--polygons", mines, "--zooms", "13,14,15", "--out", out)
    assert code == 0, stdout
    assert hashlib.sha256(mines.read_bytes()).hexdigest() == before  # input untouched
    table = gpd.read_parquet(out / "cells.parquet")
    assert list(table.columns) == cells_table.COLUMNS and table.crs.to_epsg() == 4326
    assert set(table.z) == {13, 14, 15}
    full = table[(table.z == 15) & (table.overlap > 0.99)]
    assert len(full) == 1  # the tile-sized mine, reprojected back from UTM
    csv = pd.read_csv(out / "cells.csv")
    assert list(csv.columns) == CSV_COLUMNS
    assert len(csv) == len(table)
    report = json.loads((out / "grid_report.json").read_text())
    for z in ("13", "14", "15"):
        counts = report["zooms"][z]
        assert counts["pos"] == ((table.z == int(z)) & (table.label == "pos")).sum()
        assert counts["neg"] == counts["pos"]
    assert report["polygons"]["repaired"] == 0
    assert {"read", "overlaps", "write"} <= set(report["seconds"])
    assert "<html" in (out / "preview.html").read_text()[:2000].lower()
    assert not list(out.glob(".*tmp*"))  # no temporary files left


def test_example_file_and_flags(run_cli, tmp_path):
    out = tmp_path / "g"
    code, _, stderr = run_cli(
        "grid",
        "--polygons",
        EXAMPLE,
        "--zooms",
        "14",
        "--out",
        out,
        "--min-overlap",
        "0.5",
        "--no-negatives",
    )
    assert code == 0
    table = gpd.read_parquet(out / "cells.parquet")
    assert (table.label == "pos").all() and (table.overlap >= 0.5).all() and (table.z == 14).all()
    report = json.loads((out / "grid_report.json").read_text())
    assert report["polygons"]["repaired"] == 1  # the bow tie
    assert "repaired 1" in stderr


def test_aoi_restricts(run_cli, tmp_path):
    out = tmp_path / "g"
    code, _, _ = run_cli(
        "grid",
        "--polygons",
        EXAMPLE,
        "--zooms",
        "13",
        "--out",
        out,
        "--aoi",
        "bbox:-1.7,6.1,-1.6,6.3",
    )
    assert code == 0
    table = gpd.read_parquet(out / "cells.parquet")
    assert table.geometry.intersects(box(-1.7, 6.1, -1.6, 6.3)).all()
    assert json.loads((out / "grid_report.json").read_text())["polygons"]["used"] == 1


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_assume_crs(run_cli, tmp_path):
    geoms = list(gpd.read_file(EXAMPLE).geometry)
    gpd.GeoDataFrame(geometry=geoms, crs=None).to_file(tmp_path / "nocrs.shp")
    code, _, stderr = run_cli("grid", "--polygons", tmp_path / "nocrs.shp", "--out", tmp_path / "a")
    assert code == 2 and "no CRS" in stderr and "--assume-crs" in stderr
    code, _, _ = run_cli(
        "grid",
        "--polygons",
        tmp_path / "nocrs.shp",
        "--out",
        tmp_path / "b",
        "--assume-crs",
        "EPSG:4326",
        "--zooms",
        "13",
    )
    assert code == 0


@pytest.fixture
def bad_inputs(tmp_path):
    garbage = tmp_path / "garbage.gpkg"
    garbage.write_bytes(b"this is not a geopackage")
    empty = tmp_path / "empty.gpkg"
    gpd.GeoDataFrame({"id": []}, geometry=[], crs=4326).to_file(empty, layer="mines")
    return {"garbage": garbage, "empty": empty, "missing": tmp_path / "missing.gpkg"}


@pytest.mark.parametrize(
    ("which", "extra", "message"),
    [
        ("missing", [], "not found"),
        ("garbage", [], "cannot read"),
        ("empty", [], "has no features"),
        ("example", ["--zooms", "13,21"], "zoom 21 is out of range"),
        ("example", ["--zooms", "x"], "bad zoom list"),
        ("example", ["--aoi", "country:XXX"], "unknown country code"),
        ("example", ["--aoi", "bbox:10,10,11,11"], "no polygon area in the AOI"),
        ("example", ["--layer", "nope"], "cannot read"),
        ("example", ["--min-overlap", "2"], "invalid setting grid.min_overlap"),
    ],
)
def test_bad_input_is_one_line(run_cli, bad_inputs, tmp_path, which, extra, message):
    path = EXAMPLE if which == "example" else bad_inputs[which]
    code, stdout, stderr = run_cli("grid", "--polygons", path, "--out", tmp_path / "o", *extra)
    assert code == 2
    assert message in stderr
    assert stderr.startswith("error: ") and stderr.strip().count("\n") == 0
    assert not (tmp_path / "o" / "cells.parquet").exists()


def test_help_explains(run_cli):
    code, stdout, _ = run_cli("grid", "--help")
    assert code == 0
    for flag in (
        "--polygons",
        "--layer",
        "--zooms",
        "--out",
        "--aoi",
        "--min-overlap",
        "--negatives / --no-negatives",
        "--land-negatives / --any-negatives",
        "--assume-crs",
        "--config",
    ):
        assert flag in stdout


def test_config_file_then_flags(run_cli, tmp_path):
    config = tmp_path / "grid.yaml"
    config.write_text("grid:\n  zooms: [14]\n  min_overlap: 0.3\n  negatives: false\n")
    out = tmp_path / "g"
    code, _, _ = run_cli("grid", "--polygons", EXAMPLE, "--out", out, "--config", config)
    assert code == 0
    table = gpd.read_parquet(out / "cells.parquet")
    assert set(table.z) == {14} and (table.overlap >= 0.3).all() and (table.label == "pos").all()
    code, _, _ = run_cli(
        "grid",
        "--polygons",
        EXAMPLE,
        "--out",
        out,
        "--config",
        config,
        "--zooms",
        "13",
        "--negatives",
        "--min-overlap",
        "0.05",
    )
    table = gpd.read_parquet(out / "cells.parquet")
    assert code == 0 and set(table.z) == {13} and set(table.label) == {"pos", "neg"}
    assert table[table.label == "pos"].overlap.min() >= 0.05
