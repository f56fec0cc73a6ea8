"""``make train``: the stage plan, resuming, shipping, and the quick profile end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from minescan.kernel.errors import MinescanError
from minescan.pipeline import figures, plan, run

REPO = Path(__file__).resolve().parents[1]
QUICK = REPO / "configs" / "quick.yaml"


def test_plan_chains_the_stages_through_their_files(tmp_path):
    steps = {s.name: s.call for s in plan(str(QUICK), tmp_path)}
    assert list(steps) == ["truth", "grid", "chips", "yolo", "pixels", "screen", "detector"]
    assert steps["truth"].args[1] == "bbox:-1.95,6.3,-1.75,6.45"
    grid_settings, polygons = steps["grid"].args[:2]
    assert grid_settings.zooms == [14] and polygons == str(tmp_path / "mines.gpkg")
    assert steps["grid"].keywords["layer"] == "mines"
    assert steps["pixels"].keywords["split_from"] == tmp_path / "yolo" / "split.json"
    assert steps["pixels"].args[0].sample == 500  # the profile's datasets section
    split = steps["yolo"].args[0]
    assert (split.split, split.block_zoom) == ("block", 13)
    det = steps["detector"]
    assert (det.args[0].epochs, det.args[0].imgsz) == (3, 128)
    assert det.keywords["force"] and not det.keywords["resume"]


def test_plan_resumes_an_interrupted_detector(tmp_path):
    last = tmp_path / "model" / "_runs" / "train" / "weights" / "last.pt"
    last.parent.mkdir(parents=True)
    last.write_bytes(b"")
    det = {s.name: s.call for s in plan(None, tmp_path)}["detector"]
    assert det.keywords["resume"] and not det.keywords["force"]


def test_run_refuses_to_replace_a_shipped_model(tmp_path):
    ship = tmp_path / "ship"
    ship.mkdir()
    (ship / "detector.onnx").write_bytes(b"x")
    with pytest.raises(MinescanError, match="FORCE=1"):
        run(str(QUICK), tmp_path / "build", ship, force=False)


def test_a_failing_step_is_named(tmp_path, monkeypatch):
    import minescan.pipeline as pipeline

    def refuse(*args, **kwargs):
        raise MinescanError("no mines here")

    monkeypatch.setattr(pipeline, "truth", refuse)
    with pytest.raises(MinescanError, match="stopped at step truth: no mines here"):
        run(str(QUICK), tmp_path / "build", None, force=False)


@pytest.mark.slow
def test_quick_profile_end_to_end(tmp_path):
    record = run(str(QUICK), tmp_path / "build", tmp_path / "ship", force=False)
    ship = tmp_path / "ship"
    for name in ("detector.pt", "detector.onnx", "scaling.json", "screen.json", "model_card.json"):
        assert (ship / name).exists(), name
    figs = figures(tmp_path / "build" / "model")
    assert figs["screen_test_mine_tiles_kept"] is not None
    assert (
        json.loads((ship / "pipeline.json").read_text())["step_seconds"] == record["step_seconds"]
    )
    assert (
        record["total_seconds"] < 180 * 2
    )  # the profile is sized for 3 min; loaded CPUs get slack
