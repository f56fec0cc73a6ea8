"""Band study (seeds 001 and 002): which Sentinel-2 bands does the mine detector need?

Trains the same detector on the same chips and the same spatial split with four
channel sets (RGB, RGB+NIR, the default 6, all 12 bands), prints test mAP50 per
set, and the features the LASSO screen selected (from a screen.json).

    .venv/bin/python benchmarks/bench_bands.py --chips build/train/chips \\
        --screen build/train/model/screen.json --epochs 15

Needs chips from `make train` (or `minescan datasets chips`). CPU time grows
with --epochs and the number of chips; the figures go to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from minescan.bands import DETECTOR_BANDS, S2_BANDS
from minescan.cli import main as minescan

SETS = {
    "RGB": ("B04", "B03", "B02"),
    "RGB+NIR": ("B04", "B03", "B02", "B08"),
    "default 6": DETECTOR_BANDS,
    "all 12": S2_BANDS,
}


def run_set(name: str, bands, args) -> dict:
    """Build the YOLO set with these channels, train, and return the test figures."""
    from minescan.train.detector import TrainOptions, train_detector

    slug = name.replace(" ", "_").replace("+", "_")
    ydir, mdir = args.work / slug / "yolo", args.work / slug / "model"
    code = minescan(
        ["datasets", "yolo", "--chips", str(args.chips), "--out", str(ydir), "--quiet",
         "--channels", ",".join(bands), "--split", "block", "--block-zoom", str(args.block_zoom)]
    )  # fmt: skip
    if code:
        raise SystemExit(f"datasets yolo failed for {name}")
    opts = TrainOptions(imgsz=args.imgsz, epochs=args.epochs, batch=16, workers=2)
    started = time.perf_counter()
    card = train_detector(ydir / "data.yaml", mdir, opts, force=True, command=f"bench_bands {name}")
    test = card["metrics"].get("test", {})
    return {
        "set": name,
        "bands": ",".join(bands),
        "test_mAP50": test.get("all", {}).get("mAP50"),
        "test_mAP50_z14": test.get("z14", {}).get("mAP50"),
        "minutes": round((time.perf_counter() - started) / 60, 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chips", type=Path, default=Path("build/train/chips"))
    p.add_argument("--screen", type=Path, default=Path("build/train/model/screen.json"))
    p.add_argument("--work", type=Path, default=Path("build/bench_bands"))
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--imgsz", type=int, default=256)
    p.add_argument("--block-zoom", type=int, default=11)
    p.add_argument("--sets", default=",".join(SETS), help="Comma-separated subset of the sets.")
    args = p.parse_args()
    if not args.chips.is_dir():
        raise SystemExit(f"no chips in {args.chips}: run `make train` first")
    rows = [run_set(name, SETS[name], args) for name in args.sets.split(",")]
    print("| channels | bands | test mAP50 | test mAP50 z14 | train min |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['set']} | {r['bands']} | {r['test_mAP50']} | {r['test_mAP50_z14']} | {r['minutes']} |"
        )
    if args.screen.exists():
        screen = json.loads(args.screen.read_text())
        print(f"screen features (L1-logistic, lambda {screen['lambda']:.3g}): {screen['features']}")
        print(f"LASSO (signed distance) features: {screen['validation']['lasso']['features']}")


if __name__ == "__main__":
    main()
