"""Monitoring accuracy of the four methods, their forecast backtest, and the speed of ``disturbance``.

Mines grow like real ones: the Amazon Mining Watch polygons of Ashanti, Ghana
(``../shared/data/polygons/amw_ghana_ashanti_2017_2020.gpkg``), dated by their
``year`` column (2017 or 2020), are placed in the simulated world as mine parts,
with seasons and clouds. Two cases, on the same mines:

- **new mines**, 2016-01-01 to 2020-12-31: the period starts a year before the
  first parts, so the methods see the land before any digging;
- **pre-existing**, 2017-01-01 to 2020-12-31: the period starts on the first
  year, so the 2017 parts are already dug on the first date and the 2020 parts
  are the growth. The starting footprint (:mod:`minescan.monitor.footprint`)
  must find the former; ``disturbance, no footprint`` shows what the method alone
  reports;
- **pre-existing, growing** (``disturbance`` only), same period: the 2020 parts are
  cut into :data:`RINGS` rings by distance from the 2017 footprint, dug one a month
  from 2017-03 to 2020-01. These dates are *made up* (AMW
  only says "dug by 2020"): they give a mine that grows every month, which the
  yearly steps of the real layer cannot, to test the forecast on.

Prints, per case and method, the medians over mines of IoU on the last date,
area-profile error (every date with truth, the first included), false
excavation on seasonal/cloud-only pixels, precision, recall, F1, and the
forecast backtest of the detected excavated area (median absolute error 1, 2
and 3 months ahead, and of the naive "no change" forecast at 1 month); then the
time to monitor a 5 km2 square (~50,000 pixels) over 70 dates.

Usage: ``.venv/bin/python benchmarks/bench_monitor.py [--mines 8]``
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import box

from minescan.config import section
from minescan.monitor import evaluate, forecast, outputs, run
from minescan.monitor.detection import METHODS, detect
from minescan.monitor.nogo import Layers, Zones
from minescan.monitor.preprocess import preprocess, series_bands
from minescan.monitor.request import Request, load_screen
from minescan.monitor.settings import MonitorSettings
from minescan.simulated import SimulatedSentinel2

POLYGONS = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "polygons"
    / "amw_ghana_ashanti_2017_2020.gpkg"
)
#: case -> period.
CASES = {"new mines": ("2016-01-01", "2020-12-31"), "pre-existing": ("2017-01-01", "2020-12-31")}
#: The method alone, without the starting footprint, on the pre-existing case.
BARE_METHOD = "disturbance, no footprint"
#: The growing case: its period, and the rings the 2020 parts are dug in.
GROWING = "pre-existing, growing"
RINGS = 34  # one a month
RING_DAYS = (np.datetime64("2017-03-01"), np.datetime64("2020-01-01"))


def growing(growth: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The mine with its 2020 parts dug in :data:`RINGS` rings outwards from the 2017 footprint."""
    metric = growth.to_crs(32630)
    old = metric[metric["start_date"] < "2018"].geometry.union_all()
    new = metric[metric["start_date"] >= "2018"].geometry.union_all().difference(old)
    reach = new.hausdorff_distance(old) if not new.is_empty else 0.0
    first, last = RING_DAYS
    rows, geoms, inner = [], [], old
    for i in range(1, RINGS + 1):
        ring = new.intersection(old.buffer(reach * i / RINGS)).difference(inner).buffer(0)
        inner = inner.union(ring)
        if not ring.is_empty:
            rows.append(str(first + (last - first) * i // RINGS))
            geoms.append(ring)
    frame = gpd.GeoDataFrame({"start_date": rows}, geometry=geoms, crs=32630)
    dug = metric[metric["start_date"] < "2018"][["start_date", "geometry"]]
    out = pd.concat([dug, frame], ignore_index=True).to_crs(4326)
    return out.set_geometry(out.geometry.make_valid())


def clusters(parts: gpd.GeoDataFrame, n: int) -> list[gpd.GeoDataFrame]:
    """``n`` groups of touching parts with both years, 0.5-2.5 km2, spread over sizes."""
    merged = parts.geometry.union_all()
    groups = []
    for geom in merged.geoms:
        sub = parts[parts.intersects(geom)]
        area = gpd.GeoSeries([geom], crs=4326).to_crs(32630).area.iloc[0] / 1e6
        if sub["start_date"].nunique() == 2 and 0.5 <= area <= 2.5:
            groups.append((area, sub))
    groups.sort(key=lambda g: g[0])
    pick = np.linspace(0, len(groups) - 1, n).round().astype(int)
    return [groups[i][1] for i in pick]


def backtest(state: np.ndarray, dates: np.ndarray, settings: MonitorSettings) -> dict:
    """Median absolute backtest errors (ha) of the excavated area, model and naive, per horizon."""
    profile = outputs.area_profile(state, dates, Zones(None, {}))
    ahead = forecast.summary(
        forecast.forecast(profile, settings.forecast_window_months, settings.forecast_damping)
    )["excavated_ha"]
    out = {f"fc{h}_ha": ahead[str(h)]["median_abs_error_ha"] for h in forecast.HORIZONS}
    out["naive1_ha"] = ahead["1"]["naive_median_abs_error_ha"]
    return out


def accuracy(n_mines: int, settings: MonitorSettings, screen) -> pd.DataFrame:
    """Per (case, mine, method) target figures and forecast backtest."""
    parts = gpd.read_file(POLYGONS)
    parts["start_date"] = pd.to_datetime(parts["year"]).dt.strftime("%Y-%m-%d")
    parts = parts.drop(columns="year")
    rows = []
    for k, mine in enumerate(clusters(parts, n_mines)):
        for case, (start, end) in [*CASES.items(), (GROWING, CASES["pre-existing"])]:
            growth = growing(mine) if case == GROWING else mine
            source = SimulatedSentinel2(mines=growth)
            geometry = growth.geometry.union_all()
            dates, cube = source.series(geometry, start, end, bands=series_bands(screen))
            series = preprocess(dates, cube, screen)
            shape, transform, crs = series.shape, series.transform, series.crs
            truth = evaluate.truth_state(
                evaluate.truth_first_date(growth, shape, transform, crs), series.dates
            )
            ignore = evaluate.ignore_mask(source, geometry, shape, transform, crs)
            if ignore is not None:
                ignore &= ~truth.any(axis=0)
            runs = (
                [(m, m, series) for m in METHODS]
                if case != GROWING
                else [("disturbance", "disturbance", series)]
            )
            if case == "pre-existing":
                runs.append((BARE_METHOD, "disturbance", dataclasses.replace(series, screen=None)))
            for name, method, used in runs:
                t0 = time.perf_counter()
                detection = detect(used, settings, method)
                seconds = time.perf_counter() - t0
                figures = evaluate.scores(detection.state, truth, ignore)
                rows.append(
                    {
                        "case": case,
                        "mine": k,
                        "method": name,
                        "pixels": truth[0].size,
                        "seconds": seconds,
                        **figures,
                        **backtest(detection.state, series.dates, settings),
                    }
                )
                print(
                    f"{case:12s} mine {k} ({truth[0].size} px, {len(series.dates)} clear dates) "
                    f"{name:18s} IoU {figures['iou_last']:.3f} area error "
                    f"{figures['area_error_median']:.3f} F1 {figures['f1']:.3f} {seconds:.1f} s",
                    flush=True,
                )
    return pd.DataFrame(rows)


class _Fixed:
    """A source that hands back one pre-read series, so only the monitor is timed."""

    name = "fixed"

    def __init__(self, dates, cube):
        self.dates, self.cube = dates, cube

    def series(self, geometry, start, end, bands=None):
        return self.dates, self.cube


def speed(settings: MonitorSettings, screen) -> dict:
    """Seconds to monitor a ~5 km2 square (~50,000 pixels) over 70 dates with ``disturbance``."""
    parts = gpd.read_file(POLYGONS)
    parts["start_date"] = pd.to_datetime(parts["year"]).dt.strftime("%Y-%m-%d")
    centre = parts.geometry.union_all().geoms[0].centroid
    half = 0.0101  # degrees: ~2.24 km at 6.5 N
    square = box(centre.x - half, centre.y - half, centre.x + half, centre.y + half)
    source = SimulatedSentinel2(mines=parts.drop(columns="year"))
    t0 = time.perf_counter()
    dates, cube = source.series(square, "2019-06-01", "2020-06-30", bands=series_bands(screen))
    dates, cube = (
        dates[:70],
        type(cube)(cube.data[:70], cube.valid[:70], cube.bands, cube.transform),
    )
    read_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as out:
        request = Request(start="2019-06-01", end="2020-06-30", method="disturbance", out=out)
        t0 = time.perf_counter()
        run.monitor_mine(
            run.MineJob("speed", square),
            _Fixed(dates, cube),
            request,
            settings,
            Layers(),
            None,
            screen,
        )
        monitor_s = time.perf_counter() - t0
    return {
        "pixels": int(cube.valid[0].size),
        "dates": len(dates),
        "simulator_read_s": read_s,
        "monitor_s": monitor_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mines", type=int, default=8)
    args = parser.parse_args()
    if not POLYGONS.exists():
        raise SystemExit(f"needs {POLYGONS} (the shared real data beside the clone)")
    settings = section("monitor")
    screen = load_screen(settings.model_dump())
    table = accuracy(args.mines, settings, screen)
    cols = ["iou_last", "area_error_median", "false_excavation_rate", "precision", "recall", "f1"]
    cols += ["seconds", "fc1_ha", "fc2_ha", "fc3_ha", "naive1_ha"]
    order = [*METHODS, BARE_METHOD]
    for case, (start, end) in [*CASES.items(), (GROWING, CASES["pre-existing"])]:
        part = table[table["case"] == case]
        summary = part.groupby("method")[cols].median()
        summary = summary.loc[[m for m in order if m in summary.index]]
        print(f"\n{case}: median over {args.mines} simulated Ashanti mines, {start} to {end}:")
        print(summary.to_string(float_format=lambda v: f"{v:.3f}"))
        method = summary.loc["disturbance"]
        mine_rows = part[part["method"] == "disturbance"]
        wins = int((mine_rows["fc1_ha"] < mine_rows["naive1_ha"]).sum())
        ties = int((mine_rows["fc1_ha"] == mine_rows["naive1_ha"]).sum())
        print(
            f"targets ({case}): IoU>=0.8 {method.iou_last >= 0.8}, area error<=10% "
            f"{method.area_error_median <= 0.1}, false excavation<=1% "
            f"{method.false_excavation_rate <= 0.01}; forecast 1 month beats no change on "
            f"{wins} of {len(mine_rows)} mines ({ties} ties), median {method.fc1_ha:.3f} vs "
            f"{method.naive1_ha:.3f} ha"
        )
    figures = speed(settings, screen)
    print(
        f"\nspeed: {figures['pixels']} pixels x {figures['dates']} dates: monitor (disturbance, all "
        f"outputs) {figures['monitor_s']:.2f} s (target <= 10 s); simulator read "
        f"{figures['simulator_read_s']:.2f} s"
    )


if __name__ == "__main__":
    main()
