"""Dataset stage speed on the simulated world: chips/s, YOLO images/s, pixel-table rows/s.

Prints one line per figure. Chips are 256x256 at z14 (12 bands + _mine, deflate COG, preview
PNG); the YOLO set is 6 channels; the pixel table samples 2000 pixels per chip.

    .venv/bin/python benchmarks/bench_datasets.py [--chips 48] [--workers 1,2]
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import time
from pathlib import Path

import mercantile
import pandas as pd

from minescan.config import section
from minescan.datasets.chip_files import ChipJob, write_chips
from minescan.datasets.pixels import build_pixels
from minescan.datasets.yolo import build_yolo
from minescan.kernel.bands import DETECTOR_BANDS
from minescan.simulated import SimulatedSentinel2


def cells(n: int) -> pd.DataFrame:
    """``n`` z14 cells in a square block in southern Ghana."""
    origin = mercantile.tile(-1.9, 6.4, 14)
    side = int(n**0.5) + 1
    tiles = [mercantile.Tile(origin.x + i % side, origin.y + i // side, 14) for i in range(n)]
    return pd.DataFrame(
        {
            "name": [f"b_{t.x}_{t.y}" for t in tiles],
            "z": 14,
            "x": [t.x for t in tiles],
            "y": [t.y for t in tiles],
        }  # fmt: skip
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chips", type=int, default=48)
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args()
    table = cells(args.chips)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for workers in (int(w) for w in args.workers.split(",")):
            job = ChipJob(
                root / f"chips{workers}", "2019", 256,
                functools.partial(SimulatedSentinel2, seed=0, mine_density=0.5),
                min_valid_fraction=section("datasets").min_valid_fraction,
            )  # fmt: skip
            start = time.perf_counter()
            write_chips(table, job, workers=workers, progress=False)
            rate = len(table) / (time.perf_counter() - start)
            print(f"chips: {rate:.2f} chips/s ({len(table)} z14 chips, {workers} worker(s))")
        chips = root / "chips1"
        start = time.perf_counter()
        summary = build_yolo(chips, root / "yolo", DETECTOR_BANDS, progress=False)
        rate = summary["images"] / (time.perf_counter() - start)
        print(f"yolo: {rate:.1f} images/s ({summary['images']} images, {summary['boxes']} boxes)")
        start = time.perf_counter()
        summary = build_pixels(chips, root / "pixels.parquet", 2000, progress=False)
        rate = summary["rows"] / (time.perf_counter() - start)
        print(f"pixels: {rate:,.0f} rows/s ({summary['rows']} rows, {summary['chips']} chips)")


if __name__ == "__main__":
    main()
