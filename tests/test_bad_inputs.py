"""The bad-input battery: every command, fed the kinds of bad input a new user makes.

One row per case: the arguments (``{d}`` is the folder of prepared inputs) and a
piece of the message the user must see. Every row checks the three rules of
issue 16: exactly one ``error:`` line on stderr (no traceback; ``warning:`` lines
may come before it), a non-zero exit, and every input file unchanged.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import geopandas as gpd
import mercantile
import numpy as np
import pandas as pd
import pytest
from affine import Affine
from shapely.geometry import LineString, Point, box

from minescan.kernel.raster import write_cog

LON, LAT = -1.95, 6.54  # Ashanti, Ghana
BBOX = "bbox:-1.96,6.53,-1.94,6.55"
MONITOR = ("--start", "2019-01-01", "--end", "2019-03-31")
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """Every input the rows read, in one folder (hashed before and after each row)."""
    d = tmp_path_factory.mktemp("inputs")
    mine = box(LON, LAT, LON + 0.002, LAT + 0.002)
    gpd.GeoDataFrame({"mine_id": ["m"]}, geometry=[mine], crs=4326).to_file(d / "ok.gpkg")
    gpd.GeoDataFrame(geometry=[Point(LON, LAT)], crs=4326).to_file(d / "points.gpkg")
    line = LineString([(LON, LAT), (LON + 0.01, LAT)])
    gpd.GeoDataFrame(geometry=[line], crs=4326).to_file(d / "lines.gpkg")
    gpd.GeoDataFrame(geometry=[mine]).to_file(d / "nocrs.gpkg")
    gpd.GeoDataFrame(geometry=[box(10, 86, 11, 88)], crs=4326).to_file(d / "polar.gpkg")
    (d / "garbage.gpkg").write_bytes(b"this is not a GeoPackage\n" * 10)
    (d / "a_file").write_text("a file where a folder is expected\n")

    tile = mercantile.tile(LON, LAT, 14)
    pd.DataFrame({"name": ["c"], "z": [14], "x": [tile.x], "y": [tile.y]}).to_parquet(
        d / "cells.parquet"
    )
    pd.DataFrame({"name": ["c"], "z": [14], "x": [-3], "y": [tile.y]}).to_parquet(
        d / "cells_bad.parquet"
    )

    # A 6-band COG over the scan and monitor boxes, then cut to a third: a truncated download.
    west, north = mercantile.xy(-1.97, 6.56)
    data = np.full((12, 512, 512), 1000, np.float32)
    write_cog(d / "whole.tif", data, Affine(10, 0, west, 0, -10, north), crs="EPSG:3857")
    blob = (d / "whole.tif").read_bytes()
    (d / "truncated.tif").write_bytes(blob[: len(blob) // 3])
    (d / "whole.tif").unlink()
    bands = "[B01, B02, B03, B04, B05, B06, B07, B08, B8A, B09, B11, B12]"
    (d / "truncated.yaml").write_text(
        f"source:\n  kind: geotiff\n  files: [{d / 'truncated.tif'}]\n  bands: {bands}\n"
    )
    (d / "dated_truncated.yaml").write_text(
        f"source:\n  kind: geotiff\n  bands: {bands}\n"
        f"  dated_files:\n    '2019-02-01': {d / 'truncated.tif'}\n"
    )
    (d / "dated.yaml").write_text(
        f"source:\n  kind: geotiff\n  bands: {bands}\n"
        f"  dated_files:\n    '2019-13-45': {d / 'truncated.tif'}\n"
    )
    (d / "bad.yaml").write_text("scan: [unclosed\n")
    (d / "unknown.yaml").write_text("scan:\n  no_such_setting: 1\n")
    (d / "conf.yaml").write_text("scan:\n  conf: {13: 5}\n")
    (d / "device.yaml").write_text("scan:\n  device: gpu\n")
    (d / "model.txt").write_text("not a model\n")

    chips = d / "chips_corrupt" / "z14"
    chips.mkdir(parents=True)
    (chips / "c.tif").write_bytes(b"II*\x00" + b"\x00" * 100)  # a TIFF header, then nothing

    swapped = d / "swapped_model"
    shutil.copytree(REPO / "models" / "demo", swapped)
    (swapped / "detector.pt").write_bytes(b"\x80\x04K\x01.")  # a pickle that is not the model
    return d


def tree_hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


CASES = [
    # grid
    ("grid-missing", ["grid", "--polygons", "{d}/missing.gpkg"], "not found"),
    ("grid-garbage", ["grid", "--polygons", "{d}/garbage.gpkg"], "cannot read polygon file"),
    ("grid-no-crs", ["grid", "--polygons", "{d}/nocrs.gpkg"], "has no CRS"),
    ("grid-assume-bogus-crs", ["grid", "--polygons", "{d}/nocrs.gpkg", "--assume-crs", "EPSG:999999"], "not a known CRS"),
    ("grid-points", ["grid", "--polygons", "{d}/points.gpkg"], "only polygons"),
    ("grid-lines", ["grid", "--polygons", "{d}/lines.gpkg"], "only polygons"),
    ("grid-polar", ["grid", "--polygons", "{d}/polar.gpkg"], "web mercator"),
    ("grid-zoom", ["grid", "--polygons", "{d}/ok.gpkg", "--zooms", "99"], "out of range"),
    ("grid-bbox-swapped", ["grid", "--polygons", "{d}/ok.gpkg", "--aoi", "bbox:10,0,-10,5"], "W and E swapped"),
    ("grid-country", ["grid", "--polygons", "{d}/ok.gpkg", "--aoi", "country:XXX"], "unknown country"),
    ("grid-bad-yaml", ["grid", "--polygons", "{d}/ok.gpkg", "--config", "{d}/bad.yaml"], "not valid YAML"),
    ("grid-unknown-key", ["grid", "--polygons", "{d}/ok.gpkg", "--config", "{d}/unknown.yaml"], "no_such_setting"),
    ("grid-out-is-file", ["grid", "--polygons", "{d}/ok.gpkg", "--out", "{d}/a_file"], "a_file"),
    # simulate
    ("simulate-bbox", ["simulate", "truth", "--aoi", "bbox:1,2", "--out", "{o}/t.gpkg"], "bad bbox"),
    ("simulate-wide", ["simulate", "truth", "--aoi", "bbox:10,0,-10,1", "--out", "{o}/t.gpkg"], "degrees wide"),
    # datasets chips
    ("chips-missing", ["datasets", "chips", "--cells", "{d}/nope.parquet"], "not found"),
    ("chips-off-grid", ["datasets", "chips", "--cells", "{d}/cells_bad.parquet"], "outside the web-mercator grid"),
    ("chips-workers-0", ["datasets", "chips", "--cells", "{d}/cells.parquet", "--workers", "0"], "--workers"),
    ("chips-size-huge", ["datasets", "chips", "--cells", "{d}/cells.parquet", "--size", "100000"], "GiB"),
    ("chips-period-1900", ["datasets", "chips", "--cells", "{d}/cells.parquet", "--period", "1900"], "before Sentinel-2"),
    ("chips-period-typo", ["datasets", "chips", "--cells", "{d}/cells.parquet", "--period", "2019-13"], "bad period"),
    ("chips-dated-key", ["datasets", "chips", "--cells", "{d}/cells.parquet", "--config", "{d}/dated.yaml"], "not a date"),
    ("chips-truncated-cog", ["datasets", "chips", "--cells", "{d}/cells.parquet", "--config", "{d}/truncated.yaml"], "truncated.tif"),
    ("chips-mines-points", ["datasets", "chips", "--cells", "{d}/cells.parquet", "--mines", "{d}/points.gpkg"], "only polygons"),
    # datasets yolo / pixels
    ("yolo-corrupt-chip", ["datasets", "yolo", "--chips", "{d}/chips_corrupt"], "c.tif"),
    ("yolo-no-chips", ["datasets", "yolo", "--chips", "{d}/nope"], "not found"),
    ("pixels-corrupt-chip", ["datasets", "pixels", "--chips", "{d}/chips_corrupt", "--out", "{o}/p.parquet"], "c.tif"),
    # train
    ("train-device-0", ["train", "detector", "--data", "{d}/x.yaml", "--device", "7"], "does not exist"),
    ("train-device-bogus", ["train", "detector", "--data", "{d}/x.yaml", "--device", "banana"], "bad --device"),
    ("train-model-txt", ["train", "detector", "--data", "{d}/x.yaml", "--model", "{d}/model.txt"], "--model"),
    ("train-screen-missing", ["train", "screen", "--pixels", "{d}/nope.parquet", "--out", "{o}/m"], "nope.parquet"),
    ("train-demo-ship-file", ["train", "demo", "--build", "{o}/b", "--ship", "{d}/a_file"], "a_file"),
    # scan
    ("scan-bbox-swapped", ["scan", "--aoi", "bbox:10,0,-10,5"], "W and E swapped"),
    ("scan-device", ["scan", "--aoi", BBOX, "--device", "gpu"], "scan.device"),
    ("scan-device-config", ["scan", "--aoi", BBOX, "--config", "{d}/device.yaml"], "scan.device"),
    ("scan-conf", ["scan", "--aoi", BBOX, "--config", "{d}/conf.yaml"], "scan.conf"),
    ("scan-period-1900", ["scan", "--aoi", BBOX, "--period", "1900"], "before Sentinel-2"),
    ("scan-truth-points", ["scan", "--aoi", BBOX, "--truth", "{d}/points.gpkg"], "only polygons"),
    ("scan-truth-no-crs", ["scan", "--aoi", BBOX, "--truth", "{d}/nocrs.gpkg"], "has no CRS"),
    ("scan-aoi-points", ["scan", "--aoi", "{d}/points.gpkg"], "only polygons"),
    ("scan-model-missing", ["scan", "--aoi", BBOX, "--model", "{d}/nope"], "model folder not found"),
    ("scan-workers-0", ["scan", "--aoi", BBOX, "--workers", "0"], "--workers"),
    ("scan-swapped-pt", ["scan", "--aoi", BBOX, "--backend", "ultralytics", "--model", "{d}/swapped_model"], "refusing to load"),
    ("scan-truncated-cog", ["scan", "--aoi", BBOX, "--config", "{d}/truncated.yaml"], "truncated.tif"),
    # monitor
    ("monitor-points", ["monitor", "--mine", "{d}/points.gpkg", *MONITOR], "only polygons"),
    ("monitor-lines", ["monitor", "--mine", "{d}/lines.gpkg", *MONITOR], "only polygons"),
    ("monitor-polar", ["monitor", "--mine", "{d}/polar.gpkg", *MONITOR], "outside the source's extent"),
    ("monitor-1900", ["monitor", "--mine", "{d}/ok.gpkg", "--start", "1900-01-01", "--end", "1900-12-31"], "before Sentinel-2"),
    ("monitor-bad-date", ["monitor", "--mine", "{d}/ok.gpkg", "--start", "2019-13-01", "--end", "2019-12-31"], "bad date"),
    ("monitor-lease-points", ["monitor", "--mine", "{d}/ok.gpkg", *MONITOR, "--lease", "{d}/points.gpkg"], "only polygons"),
    ("monitor-restricted-garbage", ["monitor", "--mine", "{d}/ok.gpkg", *MONITOR, "--restricted", "{d}/garbage.gpkg", "--restricted-class-column", "class"], "cannot read"),
    ("monitor-dated-key", ["monitor", "--mine", "{d}/ok.gpkg", *MONITOR, "--config", "{d}/dated.yaml"], "not a date"),
    ("monitor-truncated-cog", ["monitor", "--mine", "{d}/ok.gpkg", *MONITOR, "--config", "{d}/dated_truncated.yaml"], "truncated.tif"),
    ("monitor-out-is-file", ["monitor", "--mine", "{d}/ok.gpkg", *MONITOR, "--out", "{d}/a_file"], "a_file"),
    # serve, users
    ("serve-missing-store", ["serve", "--store", "{d}/missing.gpkg"], "no store at"),
    ("serve-garbage-store", ["serve", "--store", "{d}/garbage.gpkg"], "garbage.gpkg"),
    ("users-missing-store", ["users", "add", "ada", "--role", "admin", "--store", "{d}/missing.gpkg"], "no store at"),
    # store
    ("store-missing-store", ["store", "stats", "--store", "{d}/missing.gpkg", "--out", "{o}/s.csv"], "no store at"),
    ("store-garbage-store", ["store", "ingest-scan", "{d}/nope", "--store", "{d}/garbage.gpkg"], "not a minescan store"),
    ("store-periods-points", ["store", "ingest-periods", "{d}/points.gpkg", "--period", "2020", "--store", "{o}/s.gpkg"], "only polygons"),
    ("store-periods-bad-period", ["store", "ingest-periods", "{d}/ok.gpkg", "--period", "2019-13", "--store", "{o}/s.gpkg"], "bad period"),
    ("store-boundaries-column", ["store", "boundaries", "{d}/ok.gpkg", "--kind", "country", "--name-column", "nm", "--store", "{o}/s.gpkg"], "no column 'nm'"),
]  # fmt: skip

#: Commands whose rows get ``--out`` in a fresh folder unless the row gives one.
NEEDS_OUT = ("grid", "scan", "monitor", "datasets chips", "datasets yolo")


@pytest.mark.parametrize("args, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input(inputs, tmp_path, run_cli, args, message):
    args = [a.replace("{d}", str(inputs)).replace("{o}", str(tmp_path)) for a in args]
    command = " ".join(args[:2]) if args[0] in ("datasets", "train") else args[0]
    if "--out" not in args and command.startswith(NEEDS_OUT) or command == "train detector":
        args += ["--out", str(tmp_path / "out")]
    if command in ("scan", "datasets chips"):
        args += ["--quiet"]  # no progress bars or plan line: stderr holds only what went wrong
    before = tree_hashes(inputs)
    code, _, err = run_cli(*args)
    lines = [line for line in err.strip().splitlines() if not line.startswith("warning:")]
    assert code != 0, err
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert message in lines[0], lines[0]
    assert tree_hashes(inputs) == before  # no input changed, nothing written among the inputs


def test_the_battery_covers_every_command():
    from minescan.cli import SUBCOMMANDS

    covered = {case[1][0] for case in CASES}
    assert covered >= set(SUBCOMMANDS) - {"evaluate"}, set(SUBCOMMANDS) - covered
    assert len({case[0] for case in CASES}) == len(CASES)
    assert json.dumps(CASES)  # plain data: the table is the documentation
