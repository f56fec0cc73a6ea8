"""``make train``: the whole training pipeline on the simulated world, one stage after another.

Each step calls its stage's run function (:mod:`minescan.grid.run`,
:mod:`minescan.datasets.run`, :mod:`minescan.train.run`, the simulated truth)
with the sections of one loaded config, so ``make train`` does what the
stage commands do. Reruns resume: the truth and the grid are kept, chips
already written are skipped, and an interrupted detector run continues from
its last epoch. The driver sits at the CLI level, above every stage it calls.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from minescan.kernel.errors import MinescanError, first_line
from minescan.kernel.io import ensure_dir, write_json
from minescan.kernel.lock import writes_output
from minescan.kernel.model import CARD_JSON, DETECTOR_ONNX, PIPELINE, SCREEN, ship_model


@dataclass(frozen=True)
class Step:
    """One stage call: ``call`` (a partial, so its arguments can be read) makes ``output``.

    The step is skipped when ``output`` exists and ``skip_when_done``.
    """

    name: str
    call: Callable[[], object]
    output: Path
    skip_when_done: bool = False


def truth(source, aoi: str, out: Path) -> None:
    """The simulated world's mines over ``aoi`` into ``out`` (no confusers: they are not trained on)."""
    from minescan.grid.aoi import resolve_aoi
    from minescan.simulated.truth import export_truth

    export_truth(
        source.model_copy(update={"kind": "simulated"}), resolve_aoi(aoi), out, None, False
    )


def plan(config_file: str | None, build: Path) -> list[Step]:
    """The stage calls for the profile in ``config_file`` (None: configs/default.yaml)."""
    from minescan.clitools import parse_zooms
    from minescan.config import load_settings
    from minescan.datasets import run as datasets
    from minescan.grid.run import build_grid
    from minescan.train import run as train

    settings = load_settings(config_file)
    t = settings.train
    mines, cells = build / "mines.gpkg", build / "grid" / "cells.parquet"
    chips, yolo, pixels, model = (
        build / "chips",
        build / "yolo",
        build / "pixels.parquet",
        build / "model",
    )
    interrupted = (model / "_runs" / "train" / "weights" / "last.pt").exists()
    grid = settings.grid.model_copy(update={"zooms": parse_zooms(t.zooms)})
    split = settings.datasets.model_copy(update={"split": "block", "block_zoom": t.block_zoom})
    call = functools.partial
    return [
        Step("truth", call(truth, settings.source, t.aoi, mines), mines, skip_when_done=True),
        Step(
            "grid",
            call(build_grid, grid, str(mines), build / "grid", layer="mines"),
            cells,
            skip_when_done=True,
        ),
        Step(
            "chips",
            call(
                datasets.chips,
                settings.source,
                settings.datasets,
                cells,
                chips,
                workers=t.chip_workers,
                progress=False,
            ),
            chips,
        ),
        Step("yolo", call(datasets.yolo, split, chips, yolo, progress=False), yolo),
        Step(
            "pixels",
            call(
                datasets.pixels,
                settings.datasets,
                chips,
                pixels,
                split_from=yolo / "split.json",
                progress=False,
            ),
            pixels,
        ),
        Step("screen", call(train.screen, pixels, model, chips, force=True), model / SCREEN),
        Step(
            "detector",
            call(
                train.detector,
                t,
                yolo / "data.yaml",
                model,
                resume=interrupted,
                force=not interrupted,
            ),
            model / DETECTOR_ONNX,
        ),
    ]


@writes_output("build")
def run(config_file: str | None, build: str | Path, ship: str | Path | None, force: bool) -> dict:
    """Run every step; copy the model into ``ship`` when given (an existing one needs ``force``)."""
    build = ensure_dir(build)
    if ship is not None and (Path(ship) / DETECTOR_ONNX).exists() and not force:
        raise MinescanError(f"{ship} already holds a model; pass FORCE=1 (--force) to replace it")
    timings: dict[str, float] = {}
    for step in plan(config_file, build):
        if step.skip_when_done and step.output.exists():
            print(f"== {step.name}: {step.output} exists, kept", flush=True)
            continue
        print(f"== {step.name} -> {step.output}", flush=True)
        started = time.perf_counter()
        try:
            step.call()
        except MinescanError as exc:
            raise MinescanError(
                f"make train stopped at step {step.name}: {first_line(exc)}"
            ) from exc
        timings[step.name] = round(time.perf_counter() - started, 1)
    model = build / "model"
    record = {
        "profile": config_file or "configs/default.yaml",
        "step_seconds": timings,
        "total_seconds": round(sum(timings.values()), 1),
    }
    write_json(model / PIPELINE, record)
    if ship is not None:
        ship_model(model, ship)
    return record


def figures(model: Path) -> dict:
    """The headline figures of a model folder: detector mAP50 and the screen's tile rates."""
    card = json.loads((model / CARD_JSON).read_text())
    screen = json.loads((model / SCREEN).read_text())
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
