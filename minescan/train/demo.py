"""``make train``: the whole training pipeline on the simulated world, one stage after another.

Each stage runs through its own CLI (in-process), so what ``make train`` does is
exactly what a user can type. Reruns resume: the truth and the grid are kept,
chips already written are skipped, and an interrupted detector run continues
from its last epoch.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from minescan.kernel.errors import MinescanError
from minescan.kernel.io import atomic_path, ensure_dir, write_json

#: Files copied from the build's model folder into the shipped model folder.
MODEL_FILES = (
    "detector.pt",
    "detector.onnx",
    "scaling.json",
    "screen.json",
    "model_card.md",
    "model_card.json",
    "lasso_path.csv",
    "lasso_path.png",
    "pipeline.json",
)


@dataclass(frozen=True)
class Step:
    name: str
    args: list[str]
    output: Path  # the step is skipped when this exists and ``skip_when_done``
    skip_when_done: bool = False


def plan(config_file: str | None, build: Path) -> list[Step]:
    """The stage commands for the profile in ``config_file`` (None: configs/default.yaml)."""
    from minescan.config import load_settings

    t = load_settings(config_file).train
    cfg = ["--config", str(config_file)] if config_file else []
    mines, cells = build / "mines.gpkg", build / "grid" / "cells.parquet"
    chips, yolo, pixels, model = (
        build / "chips",
        build / "yolo",
        build / "pixels.parquet",
        build / "model",
    )
    interrupted = (model / "_runs" / "train" / "weights" / "last.pt").exists()
    truth = ["simulate", "truth", "--aoi", t.aoi, "--no-confusers", "--out", str(mines)]
    grid = ["grid", "--polygons", str(mines), "--layer", "mines", "--out", str(build / "grid")]
    grid += ["--zooms", ",".join(str(z) for z in t.zooms)]
    chip = ["datasets", "chips", "--cells", str(cells), "--out", str(chips)]
    chip += ["--workers", str(t.chip_workers), "--quiet"]
    ysplit = ["datasets", "yolo", "--chips", str(chips), "--out", str(yolo), "--quiet"]
    ysplit += ["--split", "block", "--block-zoom", str(t.block_zoom)]
    pix = ["datasets", "pixels", "--chips", str(chips), "--out", str(pixels), "--quiet"]
    pix += ["--split-from", str(yolo / "split.json")]
    screen = ["train", "screen", "--pixels", str(pixels), "--chips", str(chips)]
    screen += ["--out", str(model), "--force"]
    detector = ["train", "detector", "--data", str(yolo / "data.yaml"), "--out", str(model)]
    detector += ["--epochs", str(t.epochs), "--imgsz", str(t.imgsz), "--batch", str(t.batch)]
    detector += ["--device", t.device, "--resume" if interrupted else "--force"]
    return [
        Step("truth", truth + cfg, mines, skip_when_done=True),
        Step("grid", grid + cfg, cells, skip_when_done=True),
        Step("chips", chip + cfg, chips),
        Step("yolo", ysplit + cfg, yolo),
        Step("pixels", pix + cfg, pixels),
        Step("screen", screen, model / "screen.json"),
        Step("detector", detector + cfg, model / "detector.onnx"),
    ]


def run(config_file: str | None, build: str | Path, ship: str | Path | None, force: bool) -> dict:
    """Run every step; copy the model into ``ship`` when given (an existing one needs ``force``)."""
    from minescan.cli import main

    build = ensure_dir(build)
    if ship is not None and (Path(ship) / "detector.onnx").exists() and not force:
        raise MinescanError(f"{ship} already holds a model; pass FORCE=1 (--force) to replace it")
    timings: dict[str, float] = {}
    for step in plan(config_file, build):
        if step.skip_when_done and step.output.exists():
            print(f"== {step.name}: {step.output} exists, kept", flush=True)
            continue
        print(f"== {step.name}: minescan {' '.join(step.args)}", flush=True)
        started = time.perf_counter()
        code = main(step.args)
        timings[step.name] = round(time.perf_counter() - started, 1)
        if code != 0:
            raise MinescanError(f"make train stopped at step {step.name} (exit {code})")
    model = build / "model"
    record = {
        "profile": config_file or "configs/default.yaml",
        "step_seconds": timings,
        "total_seconds": round(sum(timings.values()), 1),
    }
    write_json(model / "pipeline.json", record)
    if ship is not None:
        ship_model(model, Path(ship))
    return record


def ship_model(model: Path, ship: Path) -> None:
    """Copy the model files (each atomically) into ``ship``."""
    ensure_dir(ship)
    for name in MODEL_FILES:
        if (model / name).exists():
            with atomic_path(ship / name) as tmp:
                shutil.copyfile(model / name, tmp)


def figures(model: Path) -> dict:
    """The headline figures of a model folder: detector mAP50 and the screen's tile rates."""
    card = json.loads((model / "model_card.json").read_text())
    screen = json.loads((model / "screen.json").read_text())
    test = card["metrics"].get("test", {})
    tiles = (screen.get("test") or {}).get("tiles", {})
    return {
        "detector_test_mAP50": test.get("all", {}).get("mAP50"),
        "detector_test_mAP50_z14": test.get("z14", {}).get("mAP50"),
        "screen_test_mine_tiles_kept": tiles.get("mine_tiles_kept"),
        "screen_test_empty_tiles_dropped": tiles.get("empty_tiles_dropped"),
        "screen_features": screen["features"],
        "training_seconds": card["training_seconds"],
    }
