"""Benchmark ``minescan grid`` against supermercado's ``burn`` on 44,929 polygons.

Runs the full grid (exact overlaps, negatives on land, all four output files) at
zooms 13, 14 and 15 on ``../shared/data/polygons/global_benchmark_45k.gpkg``, then
supermercado's ``burn`` (tile cover only: no fractions, no negatives) for the same
zooms in a child process, and prints wall seconds, peak memory and the ratio.

    .venv/bin/python benchmarks/bench_grid.py [--polygons FILE] [--zooms 13,14,15]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT = REPO.parent / "shared" / "data" / "polygons" / "global_benchmark_45k.gpkg"


def peak_rss_gib(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident memory (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(who).ru_maxrss / 2**20


def run_minescan(polygons: Path, zooms: list[int]) -> dict:
    from minescan.config import section
    from minescan.grid.run import build_grid

    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        report = build_grid(section("grid", zooms=zooms), str(polygons), out)
        wall = time.perf_counter() - start
    return {"wall_s": wall, "peak_gib": peak_rss_gib(), "report": report}


def run_supermercado(polygons: Path, zooms: list[int]) -> None:
    """Child process: time ``supermercado.burntiles.burn`` per zoom; print JSON."""
    import geopandas as gpd
    import shapely
    from supermercado.burntiles import burn

    parts = shapely.get_parts(gpd.read_file(polygons).geometry.values)  # burn takes Polygons
    features = [{"type": "Feature", "geometry": shapely.geometry.mapping(p)} for p in parts]
    seconds, tiles = {}, {}
    for z in zooms:
        start = time.perf_counter()
        tiles[z] = len(burn(features, z))
        seconds[z] = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "tiles": tiles, "peak_gib": peak_rss_gib()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--polygons", type=Path, default=DEFAULT)
    parser.add_argument("--zooms", default="13,14,15")
    parser.add_argument("--peer-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--skip-peer", action="store_true", help="Time minescan only.")
    args = parser.parse_args()
    zooms = [int(z) for z in args.zooms.split(",")]
    if args.peer_only:
        run_supermercado(args.polygons, zooms)
        return
    if not args.polygons.exists():
        sys.exit(f"benchmark data not found: {args.polygons} (it lives in ../shared/data)")

    print(
        f"polygons: {args.polygons.name}, zooms {zooms}, {os.cpu_count()} CPUs, "
        f"load average before: {os.getloadavg()[0]:.2f}"
    )
    ours = run_minescan(args.polygons, zooms)
    report = ours["report"]
    counts = ", ".join(f"z{z}: {c['pos']} pos/{c['neg']} neg" for z, c in report["zooms"].items())
    print(
        f"minescan grid: {ours['wall_s']:.2f} s wall, peak {ours['peak_gib']:.2f} GiB, "
        f"{report['cells']} cells ({counts})"
    )
    print("  seconds per step: " + ", ".join(f"{k} {v:.2f}" for k, v in report["seconds"].items()))
    compute = sum(
        v
        for k, v in report["seconds"].items()
        if k in {"repair", "overlaps"} or k.startswith("negatives")
    )
    print(f"  of which cover + exact overlaps + negatives: {compute:.2f} s")
    if args.skip_peer:
        return
    print(f"load average before supermercado: {os.getloadavg()[0]:.2f}")
    child = subprocess.run(
        [
            sys.executable,
            __file__,
            "--peer-only",
            "--polygons",
            str(args.polygons),
            "--zooms",
            args.zooms,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    peer = json.loads(child.stdout.strip().splitlines()[-1])
    peer_total = sum(peer["seconds"].values())
    print(
        f"supermercado burn: {peer_total:.2f} s ("
        + ", ".join(f"z{z} {s:.2f} s/{peer['tiles'][z]} tiles" for z, s in peer["seconds"].items())
        + f"), peak {peer['peak_gib']:.2f} GiB"
    )
    print(f"ratio supermercado cover / minescan full grid: {peer_total / ours['wall_s']:.2f}x")
    print(
        f"ratio supermercado cover / minescan cover+overlaps+negatives: {peer_total / compute:.2f}x"
    )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
