"""End to end on the simulated world: a small mine, partly dug before a 2016-2017 window
(2015), grown in 2016 and 2017."""

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from shapely.geometry import box

from minescan.config import section
from minescan.kernel.source import Cube
from minescan.monitor import run
from minescan.monitor.nogo import Layers
from minescan.monitor.request import Request

LON, LAT = -1.95, 6.54  # Ashanti, Ghana


@pytest.fixture(scope="module")
def growth(tmp_path_factory):
    d = 0.0025  # ~280 m parts
    frame = gpd.GeoDataFrame(
        {"mine_id": ["demo"] * 3, "start_date": ["2015-06-01", "2016-09-01", "2017-03-01"]},
        geometry=[
            box(LON - d, LAT, LON, LAT + d),
            box(LON, LAT, LON + d, LAT + d),
            box(LON + d, LAT, LON + 2 * d, LAT + d),
        ],
        crs=4326,
    )
    path = tmp_path_factory.mktemp("growth") / "growth.gpkg"
    frame.to_file(path)
    return path


@pytest.fixture(scope="module")
def result(growth, tmp_path_factory):
    from click.testing import CliRunner

    from minescan.cli import app

    out = tmp_path_factory.mktemp("run") / "out"
    args = ["monitor", "--growth", str(growth), "--start", "2016-01-01", "--end", "2017-12-31"]
    res = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out


def test_per_mine_files(result):
    folder = result / "demo"
    for name in ("excavation.tif", "area_profile.csv", "forecast.csv", "violations.parquet",
                 "alerts.csv", "summary.png", "mine.json"):  # fmt: skip
        assert (folder / name).stat().st_size > 0, name
    with rasterio.open(folder / "excavation.tif") as src:
        first = src.read(1)
        assert src.crs.to_epsg() == 3857 and src.dtypes[0] == "int32"
        assert src.descriptions[0] == "first_excavated"
    dug = first[first > 1]
    assert dug.size > 500 and (dug >= 20160101).all() and (dug <= 20171231).all()
    profile = pd.read_csv(folder / "area_profile.csv")
    assert list(profile.columns) == [
        "date", "excavated_ha", "dug_before_ha", "dug_within_ha", "inside_lease_ha",
        "outside_lease_ha", "nogo_ha", "rate_ha_per_month",
    ]  # fmt: skip
    assert (np.diff(profile["excavated_ha"]) >= 0).all()
    assert profile["excavated_ha"].iloc[-1] == pytest.approx((first > 0).sum() / 100)
    # The 2015 part (~7.7 ha) is already dug on the first date, coded 1, and stays "before".
    before = profile["dug_before_ha"]
    assert (before == before.iloc[0]).all() and 6 < before.iloc[0] < 9
    assert before.iloc[0] == pytest.approx((first == 1).sum() / 100)
    assert profile["dug_within_ha"].iloc[0] < 0.5 < profile["dug_within_ha"].iloc[-1]
    assert np.allclose(profile["dug_before_ha"] + profile["dug_within_ha"], profile["excavated_ha"])
    summary = json.loads((folder / "mine.json").read_text())
    baseline = summary["baseline"]
    assert baseline["screen"] and baseline["days"] == 120 and baseline["dates"] >= 12
    assert 0 < baseline["clear_dates_min"] <= baseline["clear_dates_median"] <= baseline["dates"]
    assert summary["dug_before_ha"] == pytest.approx(before.iloc[0])
    violations = gpd.read_parquet(folder / "violations.parquet")
    assert violations.crs.to_epsg() == 4326
    assert (violations["area_m2"] % 100 == 0).all()


def test_run_level_files(result):
    alerts = pd.read_csv(result / "alerts.csv")
    assert list(alerts.columns) == [
        "mine_id", "zone", "category", "first_violation_date", "area_m2", "severity", "confidence",
    ]  # fmt: skip
    metrics = json.loads((result / "metrics.json").read_text())
    figures = metrics["mines"]["demo"]
    assert figures["iou_last"] > 0.7 and figures["f1"] > 0.7
    assert metrics["summary"]["area_error_median_median"] < 0.2  # the first dates included
    backtest = metrics["forecast_backtest"]["excavated_ha"]
    assert set(backtest) == {"1", "2", "3"} and backtest["1"]["mines"] == 1
    mines = pd.read_csv(result / "mines.csv")
    assert mines["status"].tolist() == ["ok"]
    assert "baseline" not in mines.columns and "dug_before_ha" in mines.columns


def test_forecast_file(result):
    ahead = pd.read_csv(result / "demo" / "forecast.csv")
    assert ahead["quantity"].tolist() == [q for q in ("excavated_ha", "outside_lease_ha",
                                                      "nogo_ha") for _ in range(3)]  # fmt: skip
    assert ahead["horizon_months"].tolist() == [1, 2, 3] * 3
    assert (pd.to_datetime(ahead["date"]) > pd.Timestamp("2017-12-01")).all()
    dug = ahead[ahead["quantity"] == "excavated_ha"]
    assert (dug["forecast_ha"] >= 0).all() and (dug["backtests"] >= 18).all()
    assert (dug["low_ha"] <= dug["forecast_ha"]).all()
    assert (dug["forecast_ha"] <= dug["high_ha"]).all()


def test_rerun_resumes(result, growth, run_cli):
    stamp = (result / "demo" / "mine.json").stat().st_mtime_ns
    code, _, _ = run_cli("monitor", "--growth", growth, "--start", "2016-01-01",
                         "--end", "2017-12-31", "--out", result)  # fmt: skip
    assert code == 0
    assert (result / "demo" / "mine.json").stat().st_mtime_ns == stamp


def test_a_local_dask_cluster_gives_the_in_process_results(
    result, growth, run_cli, dask_scheduler, tmp_path
):
    code, _, err = run_cli("monitor", "--growth", growth, "--start", "2016-01-01",
                           "--end", "2017-12-31", "--scheduler", dask_scheduler,
                           "--out", tmp_path / "dask")  # fmt: skip
    assert code == 0, err
    with (
        rasterio.open(result / "demo" / "excavation.tif") as here,
        rasterio.open(tmp_path / "dask" / "demo" / "excavation.tif") as there,
    ):
        assert np.array_equal(here.read(), there.read())
    for name in ("demo/area_profile.csv", "alerts.csv"):
        pd.testing.assert_frame_equal(
            pd.read_csv(result / name), pd.read_csv(tmp_path / "dask" / name)
        )
    assert (
        json.loads((result / "metrics.json").read_text())["mines"]
        == json.loads((tmp_path / "dask" / "metrics.json").read_text())["mines"]
    )


class _Cloudy:
    """A source whose every observation is cloud."""

    def series(self, geometry, start, end, bands=None):
        from affine import Affine

        dates = np.array(["2019-01-01", "2019-01-06"], dtype="datetime64[D]")
        data = np.full((2, len(bands), 8, 8), 0.4, np.float32)
        return dates, Cube(
            data, np.zeros((2, 8, 8), bool), tuple(bands), Affine(10, 0, 0, 0, -10, 0)
        )


def test_all_cloud_mine_is_flagged(tmp_path):
    request = Request(start="2019-01-01", end="2019-02-01", method="disturbance", out=str(tmp_path))
    summary = run.monitor_mine(
        run.MineJob("cloudy", box(0, 0, 0.01, 0.01)), _Cloudy(), request, section("monitor"),
        Layers(), None,
    )  # fmt: skip
    assert summary["status"] == "no_valid_dates"
    assert json.loads((tmp_path / "cloudy" / "mine.json").read_text())["status"] == "no_valid_dates"
    run.write_run([summary], tmp_path)
    assert pd.read_csv(tmp_path / "mines.csv")["status"].tolist() == ["no_valid_dates"]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--start", "2020-01-01", "--end", "2019-01-01"], "is after --end"),
        (["--start", "2020-13-01", "--end", "2021-01-01"], "bad date"),
    ],
)
def test_bad_dates(run_cli, growth, tmp_path, extra, message):
    code, _, err = run_cli("monitor", "--growth", growth, *extra, "--out", tmp_path)
    assert code == 2 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_bad_inputs(run_cli, tmp_path):
    far = tmp_path / "far.gpkg"
    gpd.GeoDataFrame(geometry=[box(10, 86, 10.01, 86.01)], crs=4326).to_file(far)
    dates = ["--start", "2019-01-01", "--end", "2019-12-31", "--out", tmp_path / "o"]
    code, _, err = run_cli("monitor", "--mine", far, *dates)
    assert code == 2 and "outside the source's extent" in err
    near = tmp_path / "near.gpkg"
    gpd.GeoDataFrame({"kind": ["riparian"]}, geometry=[box(LON, LAT, LON + 0.01, LAT + 0.01)],
                     crs=4326).to_file(near)  # fmt: skip
    code, _, err = run_cli("monitor", "--mine", near, "--restricted", near,
                           "--restricted-class-column", "cls", *dates)  # fmt: skip
    assert code == 2 and "has no column 'cls'" in err
    no_crs = tmp_path / "nocrs.shp"
    gpd.GeoDataFrame({"a": [1]}, geometry=[box(0, 0, 1, 1)], crs=4326).to_file(no_crs)
    no_crs.with_suffix(".prj").unlink()
    code, _, err = run_cli("monitor", "--mine", near, "--lease", no_crs, *dates)
    assert code == 2 and "no CRS" in err
    code, _, err = run_cli("monitor", "--mine", near, "--id", "nope", *dates)
    assert code == 2 and "no mine with id" in err
    code, _, err = run_cli("monitor", *dates)
    assert code == 2 and "--mine FILE or --candidates" in err


def test_bad_screen(run_cli, growth, tmp_path):
    dates = ["--start", "2016-01-01", "--end", "2016-03-31", "--out", tmp_path / "o"]
    missing = tmp_path / "missing.yaml"
    missing.write_text(f"monitor:\n  screen: {tmp_path / 'nowhere'}\n")
    code, _, err = run_cli("monitor", "--config", missing, "--growth", growth, *dates)
    assert code == 2 and "screen file not found" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    broken = tmp_path / "screen.json"
    broken.write_text("{not json")
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"monitor:\n  screen: {broken}\n")
    code, _, err = run_cli("monitor", "--config", bad, "--growth", growth, *dates)
    assert code == 2 and "is not a valid screen" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()  # failed before any work


def test_screen_off_reports_only_what_is_dug_within(run_cli, growth, tmp_path):
    off = tmp_path / "off.yaml"
    off.write_text("monitor:\n  screen: null\n")
    code, _, err = run_cli("monitor", "--config", off, "--growth", growth, "--start",
                           "2016-01-01", "--end", "2016-06-30", "--out", tmp_path / "o")  # fmt: skip
    assert code == 0, err
    summary = json.loads((tmp_path / "o" / "demo" / "mine.json").read_text())
    assert summary["baseline"] == {"screen": False} and summary["dug_before_ha"] == 0
    with rasterio.open(tmp_path / "o" / "demo" / "excavation.tif") as src:
        assert not (src.read(1) == 1).any()
