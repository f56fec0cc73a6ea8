"""``minescan store`` end to end: the contract's commands, real data, GDAL reading the file,
a killed ingest, and files that are not stores."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from minescan.cli import main
from minescan.store import open_store
from tests.store.builders import boundary_file, monitor_run, polygon_file, scan_run, square

POLYGONS = Path(__file__).resolve().parents[3] / "shared" / "data" / "polygons"
ASHANTI = POLYGONS / "amw_ghana_ashanti_2017_2020.gpkg"
AMAZON = POLYGONS / "amw_amazon_2020.gpkg"


def store_cli(*args) -> int:
    return main(["store", *[str(a) for a in args]])


def test_the_contract_commands(store_url, tmp_path, capsys):
    maps = polygon_file(
        tmp_path, "maps", ["2019", "2020", "2025Q2"], [square(0), square(0.005), square(3)]
    )
    edges = boundary_file(
        tmp_path, "b", ["W", "E"], [shapely.box(-1, -1, 0.005, 1), shapely.box(0.005, -1, 1, 1)]
    )
    scan = scan_run(tmp_path, "scan-1", "2026", [square(0)])
    assert (
        store_cli(
            "ingest-periods",
            maps,
            "--period-column",
            "year",
            "--source-name",
            "amw",
            "--store",
            store_url,
        )
        == 0
    )
    assert store_cli("ingest-scan", scan, "--store", store_url, "--draft") == 0
    assert store_cli("publish", "scan-1", "--store", store_url) == 0
    assert store_cli("unpublish", "scan-1", "--store", store_url) == 0
    assert store_cli("publish", "scan-1", "--store", store_url) == 0
    assert store_cli("ingest-monitor", monitor_run(tmp_path), "--store", store_url) == 0
    assert (
        store_cli(
            "boundaries", edges, "--kind", "country", "--name-column", "name", "--store", store_url
        )
        == 0
    )
    out = tmp_path / "stats.csv"
    assert (
        store_cli(
            "stats", "--store", store_url, "--kind", "country", "--period", "2020", "--out", out
        )
        == 0
    )
    stats = pd.read_csv(out)
    assert {"kind", "jurisdiction", "period", "area_ha", "new_area_ha", "run_id"} <= set(
        stats.columns
    )
    assert sorted(stats.jurisdiction) == ["E", "W", "unattributed"]
    assert (
        store_cli(
            "diff",
            "--store",
            store_url,
            "--from",
            "2019",
            "--to",
            "2025Q2",
            "--out",
            tmp_path / "new.gpkg",
        )
        == 0
    )
    assert sorted(gpd.read_file(tmp_path / "new.gpkg").mine_id) == [1, 2]
    for suffix in (".gpkg", ".parquet", ".geojson", ".csv"):
        assert (
            store_cli(
                "export",
                "--store",
                store_url,
                "--out",
                tmp_path / f"mines{suffix}",
                "--period",
                "2020",
            )
            == 0
        )
    assert len(gpd.read_parquet(tmp_path / "mines.parquet")) == 1
    capsys.readouterr()
    assert store_cli("runs", "--store", store_url) == 0
    listing = capsys.readouterr().out
    assert "amw-" in listing and "scan-1" in listing and "monitor-" in listing
    first = open_store(store_url).select("runs", columns=["run_id"], order_by=["seq"])[0]["run_id"]
    assert (
        store_cli(
            "diff-runs",
            "--store",
            store_url,
            "--from",
            first,
            "--to",
            "scan-1",
            "--out",
            tmp_path / "moved.csv",
        )
        == 0
    )
    assert store_cli("audit", "--store", store_url) == 0
    assert store_cli("mine", "1", "--store", store_url) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["stats", "--out", "s.csv"], "no published run"),
        (["diff", "--from", "2019", "--to", "2019", "--out", "n.gpkg"], "must end after"),
        (["export", "--out", "m.shp"], "cannot write m.shp"),
        (["publish", "nope"], "no run 'nope'"),
        (["unpublish", "nope"], "no run 'nope'"),
        (["boundaries", "missing.gpkg", "--kind", "country", "--name-column", "n"], "not found"),
        (["ingest-periods", "missing.gpkg", "--period-column", "y"], "not found"),
    ],
)
def test_bad_requests_are_one_line_errors(store_url, tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    open_store(store_url).close()
    assert store_cli(*args, "--store", store_url) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


def test_another_tools_file_is_never_touched(tmp_path, capsys):
    other = tmp_path / "theirs.gpkg"
    gpd.GeoDataFrame({"a": [1]}, geometry=[square(0)], crs=4326).to_file(other)
    text = tmp_path / "notes.gpkg"
    text.write_text("not a database")
    for path in (other, text):
        before = path.read_bytes()
        assert (
            store_cli(
                "ingest-scan",
                scan_run(tmp_path, f"r-{path.stem}", "2024", [square(0)]),
                "--store",
                path,
            )
            == 2
        )
        assert "not a minescan store" in capsys.readouterr().err
        assert path.read_bytes() == before


def test_gdal_reads_the_store_as_a_geopackage(tmp_path):
    store = tmp_path / "store.gpkg"
    maps = polygon_file(tmp_path, "maps", ["2019", "2020"], [square(0), square(1)])
    assert store_cli("ingest-periods", maps, "--period-column", "year", "--store", store) == 0
    import pyogrio

    layers = dict(pyogrio.list_layers(store))
    assert {"mines", "observations", "increments", "boundaries", "runs", "audit"} <= set(layers)
    mines = gpd.read_file(store, layer="mines", bbox=(0.5, -0.5, 1.5, 0.5))
    assert mines.crs.to_epsg() == 4326 and list(mines.onset) == ["2020"]
    assert pyogrio.read_info(store, layer="mines")["capabilities"]["fast_spatial_filter"]


KILLED = """
import os, signal, sys
import minescan.store.ingest as ingest
from minescan.store import open_store
def die(*a, **k):
    os.kill(os.getpid(), signal.SIGKILL)
ingest.publish = die
with open_store(sys.argv[1]) as store:
    ingest.ingest_scan(store, sys.argv[2])
"""


def test_a_killed_ingest_leaves_the_store_as_it_was(store_url, tmp_path):
    assert (
        store_cli(
            "ingest-scan", scan_run(tmp_path, "run-a", "2024", [square(0)]), "--store", store_url
        )
        == 0
    )
    tables = ("runs", "mines", "observations", "increments", "audit", "run_periods")
    with open_store(store_url) as store:
        before = {t: len(store.select(t)) for t in tables}
    run = scan_run(tmp_path, "run-b", "2025", [square(0), square(1)])
    done = subprocess.run(
        [sys.executable, "-c", KILLED, store_url, run],
        cwd=Path(__file__).parents[2],
        env=os.environ,
    )
    assert done.returncode == -signal.SIGKILL
    with open_store(store_url) as store:
        assert {t: len(store.select(t)) for t in tables} == before
    assert store_cli("ingest-scan", run, "--store", store_url) == 0  # the rerun goes through


@pytest.mark.skipif(not ASHANTI.exists(), reason=f"real polygons not present at {POLYGONS}")
def test_real_maps_amazon_mining_watch_ghana_and_amazon(tmp_path):
    store = tmp_path / "store.gpkg"
    args = ["--period-column", "year", "--period-unit", "year", "--store", store]
    assert store_cli("ingest-periods", ASHANTI, *args) == 0
    assert store_cli("ingest-periods", AMAZON, "--period", "2020", "--store", store) == 0
    assert (
        store_cli(
            "boundaries",
            "natural-earth",
            "--kind",
            "country",
            "--name-column",
            "name",
            "--store",
            store,
        )
        == 0
    )
    out = tmp_path / "stats.csv"
    assert store_cli("stats", "--store", store, "--out", out) == 0
    stats = pd.read_csv(out)
    total = stats[stats.kind == "total"].set_index("period").area_ha
    countries = stats[stats.kind == "country"].groupby("period").area_ha.sum()
    assert (abs(countries - total) <= 1e-3 * total).all()
    ghana = stats[(stats.jurisdiction == "Ghana") & (stats.period == 2020)].area_ha.iloc[0]
    assert ghana > 0 and stats[stats.jurisdiction == "Brazil"].area_ha.max() > 0
    with open_store(store) as backend:
        onsets = {m["onset"] for m in backend.select("mines", columns=["onset"])}
    assert onsets == {"2017", "2020"}
