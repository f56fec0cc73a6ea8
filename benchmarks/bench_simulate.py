"""Simulator speed: chips per second (z13-z15), the monitor's series, and a 45k-polygon world.

Prints one line per figure. Target: at least 50 chips/s of 256x256, 12 bands, z14, on the
2-core development machine; a series of 70 dates x 50,000 pixels in well under 3 s. The
scan reads every land tile at z13 with a 16 px margin (288x288) and the detector's bands
(plus the screen's): target 80 such chips per CPU second.

    .venv/bin/python benchmarks/bench_simulate.py [--chips 200] [--processes 1,2]
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import mercantile
import numpy as np
import shapely

from minescan.kernel.bands import DETECTOR_BANDS
from minescan.simulated import SimulatedSentinel2

#: A strip of tiles in southern Ghana (land, rivers, drawn mines).
ORIGIN = mercantile.tile(-1.9, 6.4, 14)
BENCHMARK_POLYGONS = (
    Path(__file__).resolve().parents[2] / "shared/data/polygons/global_benchmark_45k.gpkg"
)


def _tiles(n: int, zoom: int = 14) -> list[mercantile.Tile]:
    origin = mercantile.tile(-1.9, 6.4, zoom)
    side = int(np.ceil(np.sqrt(n)))
    return [mercantile.Tile(origin.x + i % side, origin.y + i // side, zoom) for i in range(n)]


def _read_all(tiles, bands=None, margin_px: int = 0) -> tuple[float, float]:
    """Wall and CPU seconds to read ``tiles`` (after one warm-up read)."""
    source = SimulatedSentinel2(seed=0)
    source.read(tiles[0])  # warm caches (the z10 mine catalogue)
    wall, cpu = time.perf_counter(), time.process_time()
    for tile in tiles:
        source.read(tile, bands=bands, margin_px=margin_px)
    return time.perf_counter() - wall, time.process_time() - cpu


def chips_per_second(
    n: int, processes: int, zoom: int = 14, bands=None, margin_px: int = 0
) -> tuple[float, float]:
    """Chips per wall second, and per CPU second of one process (what an idle core gives)."""
    tiles = _tiles(n, zoom)
    if processes == 1:
        wall, cpu = _read_all(tiles, bands, margin_px)
        return n / wall, n / cpu
    shares = [tiles[i::processes] for i in range(processes)]
    start = time.perf_counter()
    with ProcessPoolExecutor(processes) as pool:
        cpu = sum(
            c for _, c in pool.map(_read_all, shares, [bands] * processes, [margin_px] * processes)
        )
    return n / (time.perf_counter() - start), n / cpu * processes


def series_seconds() -> tuple[float, tuple]:
    """70 overpasses (5-day revisit) over ~50,000 ground pixels (2.2 km square)."""
    source = SimulatedSentinel2(seed=0)
    lon, lat = -1.6, 6.7
    half = 0.0098
    site = shapely.box(lon - half, lat - half, lon + half, lat + half)
    start = time.perf_counter()
    dates, cube = source.series(site, "2020-01-01", "2020-12-15")
    return time.perf_counter() - start, (len(dates), *cube.data.shape[2:])


def given_polygons(path: Path, n: int) -> tuple[float, float, int]:
    """Build a world from the 45k-polygon file, then read z14 chips over its mines."""
    from minescan.kernel.io import read_vector

    frame = read_vector(path)
    start = time.perf_counter()
    source = SimulatedSentinel2(seed=0, mines=frame)
    build = time.perf_counter() - start
    centres = frame.geometry.representative_point().iloc[:n]
    tiles = [mercantile.tile(p.x, p.y, 14) for p in centres]
    start = time.perf_counter()
    for tile in tiles:
        source.read(tile)
    return build, n / (time.perf_counter() - start), len(frame)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chips", type=int, default=200)
    parser.add_argument("--processes", default="1,2")
    args = parser.parse_args()
    print("chips/s per wall second (as loaded now) | per CPU second x processes (idle cores)")
    for processes in (int(p) for p in args.processes.split(",")):
        wall, cpu = chips_per_second(args.chips, processes)
        print(f"z14 256px 12 bands, {processes} process(es): {wall:6.1f} | {cpu:6.1f} chips/s")
    wall, cpu = chips_per_second(args.chips, 1, bands="B02,B03,B04,B08,B11,B12")
    print(f"z14 256px 6 bands (detector), 1 process: {wall:6.1f} | {cpu:6.1f} chips/s")
    for zoom in (13, 15):
        wall, cpu = chips_per_second(max(20, args.chips // 4), 1, zoom)
        print(f"z{zoom} 256px 12 bands, 1 process: {wall:6.1f} | {cpu:6.1f} chips/s")
    scan = ",".join(DETECTOR_BANDS)
    for bands, label in ((scan, "6 detector bands"), (None, "12 bands")):
        wall, cpu = chips_per_second(max(20, args.chips // 2), 1, 13, bands, margin_px=16)
        print(
            f"z13 288px (scan: 256 + 16 px margin) {label}, 1 process: {wall:6.1f} | {cpu:6.1f} chips/s"
        )
    seconds, shape = series_seconds()
    print(f"series {shape[0]} dates x {shape[1]}x{shape[2]} px x 12 bands: {seconds:.2f} s")
    if BENCHMARK_POLYGONS.exists():
        build, rate, count = given_polygons(BENCHMARK_POLYGONS, 50)
        print(
            f"{count} given polygons: world built in {build:.1f} s, {rate:.1f} z14 chips/s over mines"
        )


if __name__ == "__main__":
    main()
