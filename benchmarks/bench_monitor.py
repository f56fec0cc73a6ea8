"""Monitoring accuracy of the four methods, and the speed of ``ours``, on simulated mines.

Mines grow like real ones: the Amazon Mining Watch polygons of Ashanti, Ghana
(``../shared/data/polygons/amw_ghana_ashanti_2017_2020.gpkg``), dated by their
``year`` column (2017 or 2020), are placed in the simulated world as mine parts,
with seasons and clouds. The period starts a year before the first parts
(2016-01-01 to 2020-12-31), so the methods see the land before digging.

Prints one table (median over mines of IoU on the last date, area-profile
error, false excavation on seasonal/cloud-only pixels, precision, recall, F1)
and the time to monitor a 5 km2 square (~50,000 pixels) over 70 dates.

Usage: ``.venv/bin/python benchmarks/bench_monitor.py [--mines 8]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import box

from minescan.datasets.sources.simulated import SimulatedSentinel2
from minescan.monitor import evaluate, run
from minescan.monitor.detection import METHODS, detect
from minescan.monitor.nogo import Layers
from minescan.monitor.preprocess import MONITOR_BANDS, preprocess
from minescan.monitor.settings import MonitorSettings

POLYGONS = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "polygons"
    / "amw_ghana_ashanti_2017_2020.gpkg"
)
START, END = "2016-01-01", "2020-12-31"


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


def accuracy(n_mines: int, settings: MonitorSettings) -> pd.DataFrame:
    """Per (mine, method) target figures."""
    parts = gpd.read_file(POLYGONS)
    parts["start_date"] = pd.to_datetime(parts["year"]).dt.strftime("%Y-%m-%d")
    parts = parts.drop(columns="year")
    rows = []
    for k, growth in enumerate(clusters(parts, n_mines)):
        source = SimulatedSentinel2(mines=growth)
        geometry = growth.geometry.union_all()
        dates, cube = source.series(geometry, START, END, bands=MONITOR_BANDS)
        series = preprocess(dates, cube)
        truth_first = evaluate.truth_first_date(growth, series.shape, series.transform, series.crs)
        truth = evaluate.truth_state(truth_first, series.dates)
        ignore = evaluate.ignore_mask(source, geometry, series.shape, series.transform, series.crs)
        if ignore is not None:
            ignore &= ~truth.any(axis=0)
        for method in METHODS:
            t0 = time.perf_counter()
            detection = detect(series, settings, method)
            seconds = time.perf_counter() - t0
            figures = evaluate.scores(detection.state, truth, ignore)
            rows.append(
                {
                    "mine": k,
                    "method": method,
                    "pixels": truth[0].size,
                    "seconds": seconds,
                    **figures,
                }
            )
            print(
                f"mine {k} ({truth[0].size} px, {len(series.dates)} clear dates) {method:8s} "
                f"IoU {figures['iou_last']:.3f} F1 {figures['f1']:.3f} {seconds:.1f} s",
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


def speed(settings: MonitorSettings) -> dict:
    """Seconds to monitor a ~5 km2 square (~50,000 pixels) over 70 dates with ``ours``."""
    parts = gpd.read_file(POLYGONS)
    parts["start_date"] = pd.to_datetime(parts["year"]).dt.strftime("%Y-%m-%d")
    centre = parts.geometry.union_all().geoms[0].centroid
    half = 0.0101  # degrees: ~2.24 km at 6.5 N
    square = box(centre.x - half, centre.y - half, centre.x + half, centre.y + half)
    source = SimulatedSentinel2(mines=parts.drop(columns="year"))
    t0 = time.perf_counter()
    dates, cube = source.series(square, "2019-06-01", "2020-06-30", bands=MONITOR_BANDS)
    dates, cube = (
        dates[:70],
        type(cube)(cube.data[:70], cube.valid[:70], cube.bands, cube.transform),
    )
    read_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as out:
        request = run.Request(start="2019-06-01", end="2020-06-30", method="ours", out=out)
        t0 = time.perf_counter()
        run.monitor_mine(
            run.MineJob("speed", square), _Fixed(dates, cube), request, settings, Layers(), None
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
    settings = MonitorSettings()
    table = accuracy(args.mines, settings)
    cols = ["iou_last", "area_error_median", "false_excavation_rate", "precision", "recall", "f1"]
    summary = table.groupby("method")[cols + ["seconds"]].median().loc[list(METHODS)]
    print(f"\nmedian over {args.mines} simulated Ashanti mines, {START} to {END}:")
    print(summary.to_string(float_format=lambda v: f"{v:.3f}"))
    print("\nmean F1:", table.groupby("method")["f1"].mean().round(3).to_dict())
    ours = summary.loc["ours"]
    others = summary.drop(index="ours")
    print(
        f"targets: IoU>=0.8 {ours.iou_last >= 0.8}, area error<=10% "
        f"{ours.area_error_median <= 0.1}, false excavation<=1% "
        f"{ours.false_excavation_rate <= 0.01}, ours best F1 {bool((ours.f1 > others.f1).all())}"
    )
    figures = speed(settings)
    print(
        f"\nspeed: {figures['pixels']} pixels x {figures['dates']} dates: monitor (ours, all "
        f"outputs) {figures['monitor_s']:.2f} s (target <= 10 s); simulator read "
        f"{figures['simulator_read_s']:.2f} s"
    )


if __name__ == "__main__":
    main()
