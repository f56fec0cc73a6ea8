"""Pyramid scan vs exhaustive scan on the simulated world with mines at real polygons; prints figures.

The simulated world places its mines at Amazon Mining Watch's Ghana 2024 outlines
(``../shared/data/polygons/amw_ghana_2024.gpkg``). Over Ghana's mining belt, by
default the extent of those polygons (about 63,800 km2 of land), the same model
runs twice, as ``minescan scan`` subprocesses: the pyramid (z13 -> z15, screen
on) and ``--exhaustive`` (every land tile at z15, no screen; about 12 minutes).
Targets (issue 5): the pyramid finds >= 0.98x the mines the exhaustive scan finds
with <= 1/8 of its detector calls; recall >= 0.9 for mines >= 5 ha; precision
>= 0.9; >= 200 km2/s end to end on 2 cores. ``--country GHA`` adds a
whole-country pyramid run with its wall time and peak memory.

Run: .venv/bin/python benchmarks/bench_scan.py [--bbox W,S,E,N] [--model DIR] [--country GHA]
     [--skip-exhaustive] [--config FILE (scan settings, e.g. subdivide_screen: false)]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
POLYGONS = REPO.parent / "shared" / "data" / "polygons" / "amw_ghana_2024.gpkg"


def run_scan(aoi: str, out: Path, args, *extra: str) -> tuple[dict, float, float]:
    """One ``minescan scan`` subprocess; returns its report, wall seconds and peak RSS (GiB).

    Also prints the CPU seconds of the scan and its workers: on a shared machine the
    wall time includes waiting for a core, the CPU time does not.
    """
    cmd = [
        sys.executable, "-m", "minescan.cli", "scan", "--aoi", aoi, "--mines", str(args.mines),
        "--model", str(args.model), "--workers", str(args.workers), "--quiet", "--out", str(out),
        *(["--config", str(args.config)] if args.config else []), *extra,
    ]  # fmt: skip
    print("$", " ".join(cmd[2:]), flush=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    print(
        f"  wall {wall:.1f} s, CPU {cpu:.1f} s (scan and its workers), load {os.getloadavg()[0]:.1f}"
    )
    peak = max(before.ru_maxrss, after.ru_maxrss) / 2**20
    return json.loads((out / "scan_report.json").read_text()), wall, peak


def belt(polygons: Path) -> str:
    """The polygons' extent rounded outwards to 0.05 degrees: the belt as the data maps it."""
    import math

    import geopandas as gpd

    w, s, e, n = gpd.read_file(polygons).to_crs(4326).total_bounds
    step = 0.05
    return ",".join(
        f"{v:.2f}"
        for v in (
            math.floor(w / step) * step,
            math.floor(s / step) * step,
            math.ceil(e / step) * step,
            math.ceil(n / step) * step,
        )
    )


def mine_tile_share(polygons: Path, bbox: str, zoom: int = 15) -> tuple[int, int]:
    """Land tiles of ``bbox`` at ``zoom`` that touch a polygon, and all its land tiles.

    Their ratio is a floor for the pyramid's detector-call ratio: a sweep that looks at
    every mine at ``zoom`` calls the detector at least on the tiles that hold one.
    """
    import geopandas as gpd
    import numpy as np
    import shapely

    from minescan.grid.land import land_tiles
    from minescan.grid.tiles import tiles_covering

    area = shapely.box(*map(float, bbox.split(",")))
    mines = gpd.read_file(polygons).to_crs(4326).clip(area).union_all()
    land = np.asarray(tiles_covering(area, zoom)).reshape(-1, 3)
    land = land[np.asarray(land_tiles(land), dtype=bool)]
    touched = np.asarray(tiles_covering(mines, zoom)).reshape(-1, 3)
    return len(touched), len(land)


def describe(name: str, report: dict, wall: float) -> None:
    totals, truth = report["totals"], report.get("truth", {})
    print(f"\n== {name} ({report['mode']}), run {report['run_id']}")
    for zoom, lv in report["levels"].items():
        print(
            f"  {zoom}: tiles {lv['tiles']}, screened out {lv['screened_out']}, "
            f"detector calls {lv['detector_calls']}, hits {lv['hits']}, {lv['seconds']:.1f} s"
        )
    print(
        f"  candidates {totals['candidates']}, area {totals['area_km2']:.0f} km2, "
        f"scan {totals['seconds']:.1f} s -> {totals['km2_per_s']:.1f} km2/s "
        f"(process wall {wall:.1f} s -> {totals['area_km2'] / wall:.1f} km2/s)"
    )
    if truth:
        print(
            f"  truth mines {truth['truth_mines']}, found {truth['truth_mines_found']}, "
            f"recall {truth['recall']}, recall >= {truth['large_ha']:g} ha {truth['recall_large']}, "
            f"precision {truth['precision']}, area recall {truth['area_recall']}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bbox", default=None, help="W,S,E,N (default: the extent of the --mines polygons)"
    )
    parser.add_argument("--model", type=Path, default=REPO / "models" / "demo")
    parser.add_argument("--mines", type=Path, default=POLYGONS)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "bench_scan")
    parser.add_argument("--country", default=None, help="also sweep this whole country (ISO3)")
    parser.add_argument("--skip-exhaustive", action="store_true")
    parser.add_argument("--config", type=Path, default=None, help="passed to every minescan scan")
    args = parser.parse_args()
    if not args.mines.exists():
        sys.exit(f"polygons not found: {args.mines} (they live in ../shared/data)")

    bbox = args.bbox or belt(args.mines)
    aoi = f"bbox:{bbox}"
    touched, land = mine_tile_share(args.mines, bbox)
    print(
        f"z15 land tiles touching a truth mine: {touched} of {land} = {touched / land:.3f} "
        "(floor of the detector-call ratio for a sweep that looks at every mine at z15)"
    )
    pyramid, p_wall, p_peak = run_scan(aoi, args.out / "pyramid", args)
    describe("pyramid", pyramid, p_wall)
    print(f"  peak RSS of one process {p_peak:.2f} GiB")
    if not args.skip_exhaustive:
        exhaustive, e_wall, _ = run_scan(aoi, args.out / "exhaustive", args, "--exhaustive")
        describe("exhaustive", exhaustive, e_wall)
        p_found = pyramid["truth"]["truth_mines_found"]
        e_found = exhaustive["truth"]["truth_mines_found"]
        p_calls = pyramid["totals"]["detector_calls"]
        e_calls = exhaustive["totals"]["detector_calls"]
        print("\n== pyramid vs exhaustive")
        print(
            f"  mines found {p_found} vs {e_found}: ratio "
            f"{(p_found / e_found if e_found else float('nan')):.3f} (target >= 0.98)"
        )
        print(
            f"  detector calls {p_calls} vs {e_calls}: ratio {p_calls / e_calls:.3f} "
            "(target <= 0.125)"
        )
        print(f"  wall {p_wall:.1f} s vs {e_wall:.1f} s: speed-up {e_wall / p_wall:.1f}x")
    if args.country:
        report, wall, peak = run_scan(f"country:{args.country}", args.out / args.country, args)
        describe(f"country {args.country}", report, wall)
        print(f"  wall {wall:.0f} s, peak RSS of one process {peak:.2f} GiB")


if __name__ == "__main__":
    main()
