"""Band study (seeds 001 and 002): which Sentinel-2 bands does the mine detector need?

Trains the same detector on the same chips and the same spatial split with four
channel sets (RGB, RGB+NIR, the default 6, all 12 bands), prints test mAP50 per
set, and the features the LASSO screen selected (from a screen.json). With a
pixel table it also refits the screen's L1-logistic path on the features each
channel set can compute (its bands and their normalised differences) and prints
the validation average precision and the features chosen (pixel level only: the
tile rule is not recalibrated).

    .venv/bin/python benchmarks/bench_bands.py --chips build/train/chips \\
        --screen build/train/model/screen.json --pixels build/train/pixels.parquet \\
        --work build/bands --epochs 12

Needs chips from `make train` (or `minescan datasets chips`). CPU time grows
with --epochs and the number of chips; the figures go to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from minescan.cli import main as minescan
from minescan.kernel.bands import DETECTOR_BANDS, S2_BANDS
from minescan.kernel.model import CARD_JSON, SCREEN

SETS = {
    "RGB": ("B02", "B03", "B04"),
    "RGB+NIR": ("B02", "B03", "B04", "B08"),
    "default 6": DETECTOR_BANDS,
    "all 12": S2_BANDS,
}


def run_set(name: str, bands, args) -> dict:
    """Build the YOLO set with these channels, train, and return the test figures."""
    from minescan.config import section
    from minescan.train.detector import TrainOptions, train_detector

    slug = name.replace(" ", "_").replace("+", "_")
    ydir, mdir = args.work / slug / "yolo", args.work / slug / "model"
    card_path = mdir / CARD_JSON
    if card_path.exists():  # a rerun after an interruption keeps the sets already trained
        return _row(name, bands, json.loads(card_path.read_text()))
    code = minescan(
        ["datasets", "yolo", "--chips", str(args.chips), "--out", str(ydir), "--quiet",
         "--channels", ",".join(bands), "--split", "block", "--block-zoom", str(args.block_zoom)]
    )  # fmt: skip
    if code:
        raise SystemExit(f"datasets yolo failed for {name}")
    train = section("train", imgsz=args.imgsz, epochs=args.epochs, batch=args.batch, workers=2)
    opts = TrainOptions.from_settings(train)
    card = train_detector(ydir / "data.yaml", mdir, opts, force=True, command=f"bench_bands {name}")
    return _row(name, bands, card)


def _row(name: str, bands, card: dict) -> dict:
    """One table row from a model card: test mAP overall and per zoom, training minutes."""
    test = card["metrics"].get("test", {})
    return {
        "set": name,
        "bands": ",".join(bands),
        "mAP50": test.get("all", {}).get("mAP50"),
        "mAP50-95": test.get("all", {}).get("mAP50-95"),
        "mAP50 z13": test.get("z13", {}).get("mAP50"),
        "mAP50 z14": test.get("z14", {}).get("mAP50"),
        "train min": round(card["training_seconds"] / 60, 1),
    }


def screen_for_bands(pixels, bands, max_rows: int = 60_000) -> dict:
    """Refit the screen's L1-logistic path on the features of ``bands`` only; validation figures.

    ``pixels`` is the table read by :func:`minescan.train.screen.read_pixels`,
    finite rows only. Same sampling, standardisation and lambda rule as the screen.
    """
    from minescan.kernel.screen import compute_features, feature_names
    from minescan.train.l1_paths import logistic_path_fit
    from minescan.train.screen import sample_rows, standardise

    def features(rows):
        return compute_features(rows[list(bands)].to_numpy(np.float32).T, bands).T

    train = sample_rows(pixels[pixels["split"] == "train"], max_rows)
    val = sample_rows(pixels[pixels["split"] == "val"], max_rows // 2)
    x_train, x_val = features(train), features(val)
    mean, scale = standardise(x_train)
    path = logistic_path_fit(
        (x_train - mean) / scale,
        train["inside"].to_numpy(int),
        (x_val - mean) / scale,
        val["inside"].to_numpy(int),
    )
    names = feature_names(bands)
    return {
        "val AP": round(float(path.scores[path.chosen]), 4),
        "val AUC": round(float(path.extra["auc"][path.chosen]), 4),
        "features": [names[i] for i in np.flatnonzero(path.coefs[path.chosen])],
    }


def print_screens(pixels_path: Path, sets: list[str]) -> None:
    """The restricted screen fit of every set, one line each."""
    from minescan.train.screen import read_pixels

    pixels = read_pixels(pixels_path)
    pixels = pixels[np.isfinite(pixels[list(S2_BANDS)].to_numpy(np.float32)).all(axis=1)]
    for name in sets:
        fit = screen_for_bands(pixels, SETS[name])
        print(
            f"screen on {name} features: val AP {fit['val AP']}, AUC {fit['val AUC']}, "
            f"{len(fit['features'])} features: {fit['features']}",
            flush=True,
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chips", type=Path, default=Path("build/train/chips"))
    p.add_argument("--screen", type=Path, default=Path("build/train/model") / SCREEN)
    p.add_argument("--pixels", type=Path, default=Path("build/train/pixels.parquet"))
    p.add_argument("--no-detector", action="store_true", help="Only the screen refits.")
    p.add_argument("--work", type=Path, default=Path("build/bench_bands"))
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--imgsz", type=int, default=256)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--block-zoom", type=int, default=11)
    p.add_argument("--sets", default=",".join(SETS), help="Comma-separated subset of the sets.")
    args = p.parse_args()
    if not args.chips.is_dir():
        raise SystemExit(f"no chips in {args.chips}: run `make train` first")
    sets = args.sets.split(",")
    if args.pixels.exists():
        print_screens(args.pixels, sets)
    if args.no_detector:
        return
    rows = []
    for name in sets:
        rows.append(run_set(name, SETS[name], args))
        print(f"done: {rows[-1]}", flush=True)
    columns = list(rows[0])
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for r in rows:
        print("| " + " | ".join(str(r[c]) for c in columns) + " |")
    if args.screen.exists():
        screen = json.loads(args.screen.read_text())
        print(f"screen features (L1-logistic, lambda {screen['lambda']:.3g}): {screen['features']}")
        print(f"LASSO (signed distance) features: {screen['validation']['lasso']['features']}")


if __name__ == "__main__":
    main()
