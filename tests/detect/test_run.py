"""The run folder, end to end in this process, on the bright-square world."""

import json

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box

from minescan.config import load_settings
from minescan.detect.backends import OnnxDetector
from minescan.detect.run import scan
from minescan.detect.tools import make_tools
from minescan.grid.aoi import AOI
from minescan.grid.tiles import tiles_covering
from minescan.kernel.errors import MinescanError
from tests.detect.fakes import BrightSquares, bright_screen, squares_at

AOI_BOX = AOI("test", box(-2.05, 6.0, -1.95, 6.1))
POINTS = [(-2.03, 6.02), (-1.97, 6.08), (-2.0, 6.05), (-2.01, 6.05)]


@pytest.fixture
def tools(model_dir):
    world = BrightSquares(squares_at(POINTS, [300, 150, 400, 200]))
    return make_tools(world, OnnxDetector(model_dir), bright_screen())


def sections(model_dir, **scan):
    """The ``source:`` and ``scan:`` sections that :func:`scan` takes, ``scan`` merged as flags are."""
    settings = load_settings(None, {"scan": {"model": str(model_dir), "batch_size": 8, **scan}})
    return settings.source, settings.scan


def test_scan_writes_the_run_folder(tools, model_dir, tmp_path):
    report = scan(AOI_BOX, *sections(model_dir), tmp_path / "run", progress=False, tools=tools)
    run = tmp_path / "run"
    for name in ("candidates.parquet", "candidates.geojson", "scan_report.json", "map.html",
                 "summary.png", "manifest.json"):  # fmt: skip
        assert (run / name).stat().st_size > 0, name
    cands = gpd.read_parquet(run / "candidates.parquet")
    assert cands.crs.to_epsg() == 4326
    assert list(cands.columns) == ["geometry", "score", "zoom", "tile", "area_km2", "run_id"]
    # Squares 3 and 4 are 1.1 km apart: four mines, four candidates, however many cells each.
    assert len(cands) == 4
    assert (cands.zoom == 15).all() and (cands.tile.str.len() == 15).all()
    assert (cands.run_id == report["run_id"]).all()
    truth = report["truth"]
    assert truth["recall"] == 1.0 and truth["precision"] == 1.0 and truth["area_recall"] > 0.9
    levels = report["levels"]
    assert list(levels) == ["z13", "z14", "z15"]
    for lv in levels.values():
        assert lv["tiles"] == lv["screened_out"] + lv["detector_calls"]
    assert report["totals"]["km2_per_s"] > 0
    assert "matching_rule" in json.loads((run / "scan_report.json").read_text())["truth"]
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["run_id"] == report["run_id"] and "versions" in manifest
    assert set(manifest["config"]) == {"source", "scan"}  # no whole config given: the sections
    assert gpd.read_file(run / "candidates.geojson").shape[0] == 4


def test_run_id_is_stable_and_follows_the_settings(tools, model_dir, tmp_path):
    a = scan(AOI_BOX, *sections(model_dir), tmp_path / "a", progress=False, tools=tools)
    b = scan(AOI_BOX, *sections(model_dir), tmp_path / "b", progress=False, tools=tools)
    c = scan(
        AOI_BOX, *sections(model_dir, conf={15: 0.3}), tmp_path / "c", progress=False, tools=tools
    )
    assert a["run_id"] == b["run_id"] != c["run_id"]
    with pytest.raises(MinescanError, match="another run"):
        scan(
            AOI_BOX,
            *sections(model_dir, conf={15: 0.3}),
            tmp_path / "a",
            progress=False,
            tools=tools,
        )


def test_exhaustive_finds_the_same_candidates_with_more_calls(tools, model_dir, tmp_path):
    p = scan(AOI_BOX, *sections(model_dir), tmp_path / "p", progress=False, tools=tools)
    e = scan(AOI_BOX, *sections(model_dir, exhaustive=True), tmp_path / "e", progress=False,
             tools=tools)  # fmt: skip
    assert list(e["levels"]) == ["z15"]
    assert e["levels"]["z15"]["tiles"] == len(tiles_covering(AOI_BOX.geometry, 15))
    assert e["levels"]["z15"]["screened_out"] == 0
    assert p["totals"]["detector_calls"] * 4 < e["totals"]["detector_calls"]
    pc = gpd.read_parquet(tmp_path / "p" / "candidates.parquet")
    ec = gpd.read_parquet(tmp_path / "e" / "candidates.parquet")
    assert np.allclose(pc.total_bounds, ec.total_bounds) and len(pc) == len(ec)


def test_an_aoi_at_sea_is_refused(tools, model_dir, tmp_path):
    sea = AOI("sea", box(-20, -10, -19.9, -9.9))
    with pytest.raises(MinescanError, match="no land"):
        scan(sea, *sections(model_dir), tmp_path / "r", progress=False, tools=tools)


def test_truth_file_without_crs_is_refused(tools, model_dir, tmp_path):
    path = tmp_path / "truth.gpkg"
    gpd.GeoDataFrame(geometry=[box(-2.0, 6.0, -1.99, 6.01)]).to_file(path)
    with pytest.raises(MinescanError, match="has no CRS"):
        scan(AOI_BOX, *sections(model_dir, truth=str(path)), tmp_path / "r", progress=False,
             tools=tools)  # fmt: skip
