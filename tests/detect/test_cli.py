"""``minescan scan`` from the command line, on the real simulated world.

Bad-input checks use the fast stand-in ONNX model; the end-to-end runs (resume
after SIGKILL, a Dask cluster) use the shipped model in ``models/demo``.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from affine import Affine
from shapely.geometry import box

from minescan.kernel.raster import write_cog

REPO = Path(__file__).resolve().parents[2]
BBOX = "bbox:-2.0,6.0,-1.95,6.05"  # ~31 km2 of southwestern Ghana: 4 tiles at z13
# ~17 km2 (2 tiles at z13) holding two simulator-drawn mines that the shipped model finds.
MINES_BBOX = "bbox:-2.15,6.115,-2.095,6.14"
DEMO_MODEL = REPO / "models" / "demo"


@pytest.fixture(scope="module")
def demo_model():
    """The shipped model; skipped, saying why, in a clone without it."""
    if not (DEMO_MODEL / "detector.onnx").is_file():
        pytest.skip(f"shipped model {DEMO_MODEL} is absent")
    return DEMO_MODEL


@pytest.fixture(scope="module")
def one_tile_per_batch(tmp_path_factory):
    path = tmp_path_factory.mktemp("config") / "small-batches.yaml"
    path.write_text("scan:\n  batch_size: 1\n")
    return path


@pytest.fixture(scope="module")
def scan_args(demo_model, one_tile_per_batch):
    """``minescan scan`` over the two demo mines, one tile per batch (many checkpoints)."""
    return ["scan", "--aoi", MINES_BBOX, "--model", str(demo_model), "--config",
            str(one_tile_per_batch), "--quiet"]  # fmt: skip


@pytest.fixture(scope="module")
def in_process_run(scan_args, tmp_path_factory):
    """The uninterrupted in-process run that the resumed and the Dask runs must match."""
    from minescan.cli import main

    out = tmp_path_factory.mktemp("whole") / "run"
    assert main([*scan_args, "--out", str(out)]) == 0
    return out


def candidates(run: Path) -> pd.DataFrame:
    table = gpd.read_parquet(run / "candidates.parquet")
    return pd.DataFrame(
        {"wkb": table.geometry.to_wkb(), "score": table.score, "tile": table.tile,
         "run_id": table.run_id}
    )  # fmt: skip


def test_help_explains_the_flags(run_cli):
    code, out, _ = run_cli("scan", "--help")
    assert code == 0
    for flag in ("--aoi", "--mines", "--truth", "--exhaustive", "--workers", "--scheduler"):
        assert flag in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--aoi", "country:XYZ"], "unknown country code"),
        (["--aoi", "bbox:-20,-10,-19.9,-9.9"], "holds no land tile"),
        (["--aoi", BBOX, "--workers", "2", "--scheduler", "tcp://x:1"], "not both"),
        (["--aoi", BBOX, "--source", "geotiff", "--mines", "m.gpkg"], "simulated world"),
    ],
)
def test_bad_input_is_one_line(run_cli, model_dir, tmp_path, args, message):
    code, _, err = run_cli("scan", *args, "--model", model_dir, "--out", tmp_path / "r")
    assert code == 2
    assert (
        err.strip().startswith("error:") and message in err and len(err.strip().splitlines()) == 1
    )


def test_missing_model_file(run_cli, model_dir, tmp_path):
    partial = tmp_path / "model"
    partial.mkdir()
    (partial / "scaling.json").write_text((model_dir / "scaling.json").read_text())
    code, _, err = run_cli("scan", "--aoi", BBOX, "--model", partial, "--out", tmp_path / "r")
    assert code == 2 and "model file missing" in err and "detector.onnx" in err


def test_model_channels_missing_from_the_source(run_cli, model_dir, tmp_path):
    tif = tmp_path / "rgb.tif"
    write_cog(tif, np.full((3, 64, 64), 0.1, np.float32), Affine(10, 0, -222000, 0, -10, 672000))
    config = tmp_path / "geotiff.yaml"
    config.write_text(f"source:\n  kind: geotiff\n  files: [{tif}]\n  bands: [B02, B03, B04]\n")
    code, _, err = run_cli(
        "scan", "--aoi", BBOX, "--config", config, "--model", model_dir, "--out", tmp_path / "r"
    )
    assert code == 2 and "B08,B11,B12" in err and "geotiff" in err


def test_truth_without_crs(run_cli, model_dir, tmp_path):
    truth = tmp_path / "truth.gpkg"
    gpd.GeoDataFrame(geometry=[box(-1.99, 6.01, -1.98, 6.02)]).to_file(truth)
    code, _, err = run_cli(
        "scan", "--aoi", BBOX, "--truth", truth, "--model", model_dir, "--out", tmp_path / "r"
    )
    assert code == 2 and "has no CRS" in err


def test_corrupt_checkpoint_and_foreign_checkpoint(run_cli, demo_model, tmp_path):
    run = tmp_path / "r"
    code, out, _ = run_cli(
        "scan", "--aoi", MINES_BBOX, "--model", demo_model, "--quiet", "--out", run
    )
    assert code == 0 and "map.html" in out
    report = json.loads((run / "scan_report.json").read_text())
    assert report["truth"]["recall"] == 1.0 and report["truth"]["precision"] == 1.0
    batch = sorted((run / "_checkpoint" / "z14").glob("b*.json"))[0]
    batch.write_text(batch.read_text()[:-20])
    code, _, err = run_cli("scan", "--aoi", MINES_BBOX, "--model", demo_model, "--out", run)
    assert code == 2 and "is corrupt" in err and batch.name in err
    code, _, err = run_cli("scan", "--aoi", MINES_BBOX, "--zooms", "13,14", "--model", demo_model,
                           "--out", run)  # fmt: skip
    assert code == 2 and "another run" in err


def test_sigkill_mid_scan_then_rerun_gives_the_uninterrupted_candidates(
    run_cli, scan_args, in_process_run, tmp_path, monkeypatch
):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cut = tmp_path / "cut"
    # Only the run that is killed needs a process of its own; the rerun resumes in this one.
    proc = subprocess.Popen([sys.executable, "-m", "minescan.cli", *scan_args, "--out", str(cut)],
                            cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 120
    while len(list((cut / "_checkpoint").glob("z1[45]/b*.json"))) < 3:
        assert proc.poll() is None, "the scan ended before it could be killed"
        assert time.time() < deadline
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (cut / "candidates.parquet").exists()
    done = len(list((cut / "_checkpoint").glob("z*/b*.json")))

    monkeypatch.chdir(cwd)
    code, out, err = run_cli(*scan_args, "--out", cut)
    assert code == 0, err
    report = json.loads((cut / "scan_report.json").read_text())
    assert report["totals"]["resumed_batches"] == done
    a, b = candidates(in_process_run), candidates(cut)
    assert len(a) > 0 and not b.duplicated().any()
    pd.testing.assert_frame_equal(a, b)
    assert list(cwd.iterdir()) == []  # nothing written outside --out
    assert "map.html" in out


def test_a_run_on_a_local_dask_cluster_gives_the_in_process_candidates(
    run_cli, scan_args, in_process_run, dask_scheduler, tmp_path
):
    code, _, err = run_cli(*scan_args, "--scheduler", dask_scheduler, "--out", tmp_path / "dask")
    assert code == 0, err
    here, dask = (json.loads((run / "scan_report.json").read_text())
                  for run in (in_process_run, tmp_path / "dask"))  # fmt: skip
    assert dask["totals"]["scheduler"] == dask_scheduler
    assert here["run_id"] == dask["run_id"] and here["truth"] == dask["truth"]
    for level in ("z13", "z14", "z15"):
        for key in ("tiles", "screened_out", "detector_calls", "hits"):
            assert here["levels"][level][key] == dask["levels"][level][key]
    a, b = candidates(in_process_run), candidates(tmp_path / "dask")
    assert len(a) == 2
    pd.testing.assert_frame_equal(a, b)
