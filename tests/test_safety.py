"""Issue 16: stale results, writes outside the output folder, secrets, caches, interrupts.

Each test reproduces one defect found by trying minescan as a hostile or careless
user would, and fails on the code before the fix.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box

LON, LAT = -1.95, 6.54  # Ashanti, Ghana: the simulated world
PERIOD = ("--start", "2019-01-01", "--end", "2019-03-31")


def mine_file(path: Path, ids: list[str]) -> Path:
    """Small square mines (~220 m), one per id, side by side."""
    geoms = [
        box(LON + i * 0.003, LAT, LON + i * 0.003 + 0.002, LAT + 0.002) for i in range(len(ids))
    ]
    gpd.GeoDataFrame({"mine_id": ids}, geometry=geoms, crs=4326).to_file(path)
    return path


@pytest.fixture(scope="module")
def monitored(tmp_path_factory):
    """One finished monitor run of mine ``m1`` and its inputs (copied by each test that edits it)."""
    from click.testing import CliRunner

    from minescan.cli import app

    root = tmp_path_factory.mktemp("monitored")
    mines = mine_file(root / "mines.gpkg", ["m1"])
    res = CliRunner().invoke(
        app, ["monitor", "--mine", str(mines), *PERIOD, "--out", str(root / "out")]
    )
    assert res.exit_code == 0, res.output
    return root


def fresh(monitored: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A private copy of the finished run: (mines file, out folder)."""
    shutil.copytree(monitored, tmp_path / "run")
    return tmp_path / "run" / "mines.gpkg", tmp_path / "run" / "out"


def summary(out: Path, mine: str = "m1") -> dict:
    return json.loads((out / mine / "mine.json").read_text())


# --- 1. monitor reruns never return stale results -----------------------------------------


def test_monitor_rerun_with_a_new_lease_redoes_the_mine(monitored, tmp_path, run_cli):
    mines, out = fresh(monitored, tmp_path)
    before = summary(out)
    lease = tmp_path / "lease.gpkg"
    gpd.GeoDataFrame(
        geometry=[box(LON - 0.01, LAT - 0.01, LON + 0.001, LAT + 0.01)], crs=4326
    ).to_file(lease)
    code, _, err = run_cli("monitor", "--mine", mines, *PERIOD, "--lease", lease, "--out", out)
    assert code == 0, err
    after = summary(out)
    assert after["request"] != before["request"]
    # Same path, new content: redone again.
    gpd.GeoDataFrame(geometry=[box(LON - 1, LAT - 1, LON + 1, LAT + 1)], crs=4326).to_file(lease)
    code, _, err = run_cli("monitor", "--mine", mines, *PERIOD, "--lease", lease, "--out", out)
    assert code == 0, err
    assert summary(out)["request"]["inputs_sha256"] != after["request"]["inputs_sha256"]


def test_monitor_rerun_with_another_source_does_not_replay_the_simulated_result(
    monitored, tmp_path, run_cli
):
    mines, out = fresh(monitored, tmp_path)
    code, _, err = run_cli("monitor", "--mine", mines, *PERIOD, "--source", "geotiff", "--out", out)
    assert code != 0  # the geotiff source has no files: it must say so, not reuse the old result
    assert err.startswith("error:") and len(err.strip().splitlines()) == 1


def test_monitor_rerun_with_a_moved_mine_redoes_it(monitored, tmp_path, run_cli):
    mines, out = fresh(monitored, tmp_path)
    before = summary(out)
    moved = gpd.read_file(mines)
    moved["geometry"] = moved.translate(0.001, 0)
    moved.to_file(mines)
    code, _, err = run_cli("monitor", "--mine", mines, *PERIOD, "--out", out)
    assert code == 0, err
    assert summary(out)["request"]["inputs_sha256"] != before["request"]["inputs_sha256"]


def test_monitor_rerun_retries_a_saved_error(monitored, tmp_path, run_cli):
    mines, out = fresh(monitored, tmp_path)
    saved = summary(out)
    (out / "m1" / "mine.json").write_text(
        json.dumps(
            {"mine_id": "m1", "status": "error", "message": "x", "request": saved["request"]}
        )
    )
    code, _, err = run_cli("monitor", "--mine", mines, *PERIOD, "--out", out)
    assert code == 0, err
    assert summary(out)["status"] == "ok"
    assert pd.read_csv(out / "mines.csv")["status"].tolist() == ["ok"]


@pytest.mark.parametrize("damaged", ["excavation.tif", "alerts.csv", "mine.json", "summary.png"])
def test_monitor_rerun_redoes_a_mine_with_a_damaged_file(monitored, tmp_path, run_cli, damaged):
    import rasterio

    mines, out = fresh(monitored, tmp_path)
    path = out / "m1" / damaged
    path.write_bytes(
        path.read_bytes()[: path.stat().st_size // 3] if damaged != "alerts.csv" else b'"a\n\x00"'
    )
    code, _, err = run_cli("monitor", "--mine", mines, *PERIOD, "--out", out)
    assert code == 0, err
    assert "redoing" in err
    with rasterio.open(out / "m1" / "excavation.tif") as src:
        src.read()
    pd.read_csv(out / "m1" / "alerts.csv")
    assert summary(out)["status"] == "ok"


# --- 2. nothing is written outside --out ---------------------------------------------------


def test_monitor_hostile_mine_ids_stay_inside_out_and_apart(tmp_path, run_cli):
    ids = ["..", ".", "a/b", "a_b", "alerts.csv", "/tmp/abs"]
    mines = mine_file(tmp_path / "mines.gpkg", ids)
    out = tmp_path / "deep" / "out"
    code, _, err = run_cli("monitor", "--mine", mines, *PERIOD, "--out", out)
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep", "mines.gpkg"]
    assert [p.name for p in (tmp_path / "deep").iterdir()] == ["out"]
    folders = [p for p in out.iterdir() if p.is_dir()]
    assert len(folders) == len(ids)  # one folder per mine: none lost to a collision
    assert (out / "alerts.csv").is_file() and (out / "mines.csv").is_file()
    assert sorted(pd.read_csv(out / "mines.csv")["mine_id"].astype(str)) == sorted(ids)
    for folder in folders:
        assert json.loads((folder / "mine.json").read_text())["status"] == "ok"


def test_monitor_refuses_a_mine_folder_that_is_a_symlink(tmp_path, run_cli):
    mines = mine_file(tmp_path / "mines.gpkg", ["victim"])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "mine.json").write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    (out / "victim").symlink_to(elsewhere)
    code, _, err = run_cli("monitor", "--mine", mines, *PERIOD, "--out", out)
    assert code != 0
    assert err.startswith("error:") and "symbolic link" in err
    assert sorted(p.name for p in elsewhere.iterdir()) == ["mine.json"]
    assert (elsewhere / "mine.json").read_text() == "precious"


def test_safe_part_is_a_single_unique_component():
    from minescan.kernel.io import child_path, safe_part

    names = [
        "..",
        ".",
        "",
        "a/b",
        "a_b",
        "a\\b",
        "/etc/passwd",
        "../../x",
        "x" * 300,
        "é",
        ".hidden",
    ]
    parts = [safe_part(n) for n in names]
    assert len(set(parts)) == len(names)
    for part in parts:
        assert part not in {"", ".", ".."} and "/" not in part and not part.startswith(".")
        assert len(part) <= 130
    assert safe_part("5271_01961_15_29.6") == "5271_01961_15_29.6"
    assert safe_part("alerts.csv", reserved={"alerts.csv"}) != "alerts.csv"
    assert child_path("/out", "..", "z13").parent.parent == Path("/out")


# --- 8. no credentials in written files ------------------------------------------------------


def test_redact_hides_user_info_tokens_and_secret_keys():
    from minescan.kernel.io import redact

    doc = {
        "source": {"stac_url": "https://alice:s3cr3t@stac.example.org/v1?token=abc&x=1"},
        "headers": {"Authorization": "Bearer zzz"},
        "list": ["s3://key:secret@bucket/x"],
        "plain": "https://stac.example.org/v1",
        "seed": 3,
    }
    text = json.dumps(redact(doc))
    for secret in ("alice", "s3cr3t", "abc", "zzz", "key:secret"):
        assert secret not in text
    assert "stac.example.org" in text and '"seed": 3' in text and "x=1" in text


# --- 7. caches stay in the project cache ------------------------------------------------------


def test_cli_points_onnxruntime_and_matplotlib_caches_into_the_project_cache(tmp_path):
    home, cache = tmp_path / "home", tmp_path / "cache"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in {"MPLCONFIGDIR", "XDG_CACHE_HOME"}}
    env.update(HOME=str(home), MINESCAN_CACHE=str(cache))
    model = Path(__file__).resolve().parent.parent / "models" / "demo" / "detector.onnx"
    code = (
        "from minescan.cli import main; main(['--version']);"
        "import onnxruntime, matplotlib.pyplot as plt;"
        f"onnxruntime.InferenceSession({str(model)!r}, providers=['CPUExecutionProvider']);"
        "plt.figure();"
        "import os; print(os.environ['XDG_CACHE_HOME']); print(os.environ['MPLCONFIGDIR'])"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True,
                          text=True)  # fmt: skip
    assert list(home.rglob("*")) == []
    # onnxruntime only writes under XDG_CACHE_HOME on some builds, so test where it would write
    xdg, mpl = done.stdout.splitlines()[-2:]
    assert Path(xdg).is_relative_to(cache) and Path(mpl).is_relative_to(cache)


# --- 2. chips: cell names never leave --out --------------------------------------------------


def cells(path: Path, names: list[str], z: int = 14) -> Path:
    """A cells.parquet with one z14 tile per name (the tiles of Ashanti, side by side)."""
    import mercantile

    tile = mercantile.tile(LON, LAT, z)
    pd.DataFrame(
        {"name": names, "z": z, "x": [tile.x + i for i in range(len(names))], "y": tile.y}
    ).to_parquet(path)
    return path


def test_chips_hostile_cell_names_stay_inside_out(tmp_path, run_cli):
    names = ["../../escaped", str(tmp_path / "abs"), "a/b", "a_b"]
    out = tmp_path / "deep" / "chips"
    code, _, err = run_cli("datasets", "chips", "--cells", cells(tmp_path / "c.parquet", names),
                           "--size", "32", "--quiet", "--out", out)  # fmt: skip
    assert code == 0, err
    written = sorted(p.relative_to(out).parts[0] for p in out.rglob("*") if p.is_file())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.parquet", "deep"]
    assert [p.name for p in (tmp_path / "deep").iterdir()] == ["chips"]
    assert (
        len(list((out / "z14").glob("*.tif"))) == 4 and len(list((out / "previews").iterdir())) == 4
    )
    assert set(written) == {"z14", "previews", "chips_report.json"}


def test_chips_rerun_rewrites_a_corrupt_preview(tmp_path, run_cli):
    from PIL import Image

    args = ["datasets", "chips", "--cells", cells(tmp_path / "c.parquet", ["one"]), "--size", "32"]
    assert run_cli(*args, "--quiet", "--out", tmp_path / "o")[0] == 0
    preview = tmp_path / "o" / "previews" / "one.png"
    preview.write_bytes(preview.read_bytes()[:40])
    assert run_cli(*args, "--quiet", "--out", tmp_path / "o")[0] == 0
    with Image.open(preview) as image:
        image.load()


# --- 5. untrusted model files ---------------------------------------------------------------


def test_a_swapped_detector_pt_is_refused_before_it_is_unpickled(tmp_path):
    import pickle

    from minescan.detect.backends import load_detector
    from minescan.kernel.errors import MinescanError

    model = tmp_path / "model"
    shutil.copytree(Path(__file__).resolve().parent.parent / "models" / "demo", model)
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    (model / "detector.pt").write_bytes(pickle.dumps(Payload()))
    with pytest.raises(MinescanError, match="sha256 differs"):
        load_detector(model, backend="ultralytics")
    card = json.loads((model / "model_card.json").read_text())
    del card["sha256"]
    (model / "model_card.json").write_text(json.dumps(card))
    with pytest.raises(MinescanError, match="records no sha256"):
        load_detector(model, backend="ultralytics")
    assert not marker.exists()


# --- 6. the shipped model is found from anywhere --------------------------------------------


def test_default_model_is_found_outside_the_checkout(tmp_path, monkeypatch):
    from minescan.kernel.model import DEFAULT_MODEL, model_folder

    monkeypatch.chdir(tmp_path)
    assert (model_folder(DEFAULT_MODEL) / "detector.onnx").is_file()
    assert model_folder("elsewhere") == tmp_path / "elsewhere"


# --- 8. credentials never reach the manifest ------------------------------------------------


def test_scan_manifest_has_no_password(tmp_path, run_cli):
    from tests.detect.fakes import bright_model

    model = bright_model(tmp_path / "model")
    config = tmp_path / "c.yaml"
    config.write_text("source:\n  stac_url: https://alice:s3cr3t@stac.example.org/v1?token=t0k\n")
    code, _, err = run_cli("scan", "--aoi", "bbox:-2.0,6.0,-1.95,6.05", "--config", config,
                           "--model", model, "--out", tmp_path / "r")  # fmt: skip
    assert code == 0, err
    assert "scan: 31 km2 of land, 4 z13 tiles to start" in err  # said before the sweep starts
    for path in (tmp_path / "r").rglob("*"):
        if path.is_file():
            text = path.read_bytes()
            assert b"s3cr3t" not in text and b"t0k" not in text, path
    assert "stac.example.org" in (tmp_path / "r" / "manifest.json").read_text()


# --- 9. checkpoints carry a checksum; killed parents leave no worker -------------------------


def test_an_edited_checkpoint_batch_is_refused(tmp_path):
    from minescan.detect.checkpoint import Checkpoint
    from minescan.kernel.errors import MinescanError

    checkpoint = Checkpoint(tmp_path, "run")
    checkpoint.open()
    checkpoint.write(14, 0, {"tiles": [[1, 2, 14]], "boxes": [[0, 0, 1, 1, 0.9]]})
    assert checkpoint.load(14)[0]["boxes"] == [[0, 0, 1, 1, 0.9]]
    path = checkpoint.batch_path(14, 0)
    path.write_text(path.read_text().replace("0.9", "0.1"))  # still valid JSON
    with pytest.raises(MinescanError, match="checksum"):
        checkpoint.load(14)


def test_sigkill_of_a_scan_with_workers_leaves_no_process(tmp_path):
    import signal
    import time

    repo = Path(__file__).resolve().parent.parent
    config = tmp_path / "c.yaml"
    config.write_text("scan:\n  batch_size: 1\n")
    cmd = [sys.executable, "-m", "minescan.cli", "scan", "--aoi", "bbox:-2.15,6.115,-2.095,6.14",
           "--workers", "2", "--config", str(config), "--quiet", "--out", str(tmp_path / "r")]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=repo, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 120
    while not list((tmp_path / "r" / "_checkpoint").glob("z*/b*.json")):
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 15
    while time.time() < deadline:
        try:
            os.killpg(proc.pid, 0)  # anything left in the scan's process group?
        except ProcessLookupError:
            return
        time.sleep(0.2)
    left = subprocess.run(
        ["ps", "-o", "pid,args", "-g", str(proc.pid)], capture_output=True, text=True
    )
    os.killpg(proc.pid, signal.SIGKILL)
    pytest.fail(f"processes still running after the parent was killed:\n{left.stdout}")


def test_ctrl_c_says_the_rerun_resumes(monkeypatch, capsys):
    from minescan import cli

    def interrupted(*_, **__):
        raise KeyboardInterrupt

    # Inside a command click turns Ctrl-C into Abort, which used to print only "aborted".
    monkeypatch.setattr(cli.app, "invoke", interrupted)
    assert cli.main(["scan"]) == 130
    assert "rerun the same command to resume" in capsys.readouterr().err


# --- 3. a full disk names the file and says the rerun resumes -------------------------------


def test_a_full_disk_is_one_line_naming_the_file(tmp_path, run_cli, monkeypatch):
    import errno

    polygons = tmp_path / "mines.gpkg"
    gpd.GeoDataFrame(geometry=[box(LON, LAT, LON + 0.01, LAT + 0.01)], crs=4326).to_file(polygons)
    real = Path.write_text

    def full(self, *args, **kwargs):
        if self.name.startswith(".grid_report."):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full)
    out = tmp_path / "grid"
    code, _, err = run_cli("grid", "--polygons", polygons, "--zooms", "13", "--out", out)
    assert code != 0
    assert err.strip().splitlines() == [err.strip()]
    assert str(out / "grid_report.json") in err and "No space left" in err and "resume" in err
    assert not (out / "grid_report.json").exists() and not list(out.glob(".*tmp*"))


def test_pixels_out_naming_a_folder_fails_before_reading_chips(tmp_path, run_cli):
    (tmp_path / "chips" / "z14").mkdir(parents=True)
    (tmp_path / "chips" / "z14" / "c.tif").write_bytes(b"not read: the folder check comes first")
    code, _, err = run_cli("datasets", "pixels", "--chips", tmp_path / "chips", "--out", tmp_path)
    assert code == 2 and "is a folder" in err and len(err.strip().splitlines()) == 1


def test_a_plain_install_finds_the_shipped_model_under_its_prefix(tmp_path, monkeypatch):
    import sys

    from minescan.kernel import model

    installed = tmp_path / model.INSTALLED_MODEL
    installed.mkdir(parents=True)
    monkeypatch.setattr(model, "CHECKOUT_MODEL", tmp_path / "no-checkout")
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert model.model_folder(model.DEFAULT_MODEL) == installed


def test_the_wheel_ships_every_file_scan_reads_from_the_model():
    import configparser

    from minescan.kernel.model import CARD_JSON, DETECTOR_FILES, SCALING, SCREEN

    repo = Path(__file__).resolve().parent.parent
    cfg = configparser.ConfigParser()
    cfg.read(repo / "setup.cfg")
    shipped = cfg["options.data_files"][str(Path("share") / "minescan" / "models" / "demo")].split()
    needed = {*DETECTOR_FILES.values(), SCALING, SCREEN, CARD_JSON}
    assert {Path(f).name for f in shipped} >= needed
    assert all((repo / f).is_file() for f in shipped)


def test_an_invalid_truth_polygon_is_repaired_not_fatal_after_the_sweep(tmp_path, run_cli):
    from shapely.geometry import Polygon

    from tests.detect.fakes import bright_model

    bow_tie = Polygon([(-1.99, 6.01), (-1.98, 6.02), (-1.98, 6.01), (-1.99, 6.02)])
    truth = tmp_path / "truth.gpkg"
    gpd.GeoDataFrame(geometry=[bow_tie], crs=4326).to_file(truth)
    code, _, err = run_cli("scan", "--aoi", "bbox:-2.0,6.0,-1.95,6.05", "--truth", truth,
                           "--model", bright_model(tmp_path / "m"), "--quiet",
                           "--out", tmp_path / "r")  # fmt: skip
    assert code == 0, err
    report = json.loads((tmp_path / "r" / "scan_report.json").read_text())
    assert "recall" in report["truth"]
