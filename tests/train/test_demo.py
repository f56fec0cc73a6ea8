"""``make train``: the stage plan, resuming, shipping, and the quick profile end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from minescan.kernel.errors import MinescanError
from minescan.train.demo import figures, plan, run

REPO = Path(__file__).resolve().parents[2]
QUICK = REPO / "configs" / "quick.yaml"


def test_plan_chains_the_stages_through_their_files(tmp_path):
    steps = {s.name: s.args for s in plan(str(QUICK), tmp_path)}
    assert list(steps) == ["truth", "grid", "chips", "yolo", "pixels", "screen", "detector"]
    assert steps["truth"][steps["truth"].index("--aoi") + 1] == "bbox:-1.95,6.3,-1.75,6.45"
    assert steps["grid"][steps["grid"].index("--zooms") + 1] == "14"
    assert str(tmp_path / "mines.gpkg") in steps["grid"]
    assert str(tmp_path / "yolo" / "split.json") in steps["pixels"]
    det = steps["detector"]
    assert det[det.index("--epochs") + 1] == "3" and det[det.index("--imgsz") + 1] == "128"
    assert "--force" in det and "--resume" not in det
    for name in ("truth", "grid", "chips", "yolo", "pixels", "detector"):
        assert steps[name][-2:] == ["--config", str(QUICK)]


def test_plan_resumes_an_interrupted_detector(tmp_path):
    last = tmp_path / "model" / "_runs" / "train" / "weights" / "last.pt"
    last.parent.mkdir(parents=True)
    last.write_bytes(b"")
    det = {s.name: s.args for s in plan(None, tmp_path)}["detector"]
    assert "--resume" in det and "--force" not in det


def test_run_refuses_to_replace_a_shipped_model(tmp_path):
    ship = tmp_path / "ship"
    ship.mkdir()
    (ship / "detector.onnx").write_bytes(b"x")
    with pytest.raises(MinescanError, match="FORCE=1"):
        run(str(QUICK), tmp_path / "build", ship, force=False)


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
