"""The Makefile's demo-store recipe (what ``make serve`` builds when the store is missing), run
on a tiny scan and monitor run instead of the full demo, and the dashboard it feeds."""

from __future__ import annotations

import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from minescan.config import section
from minescan.serve.app import create_app
from minescan.store import open_store
from tests.store.builders import monitor_run, scan_run, square

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("make") is None, reason="no make on this machine")
def test_make_demo_store_builds_a_populated_store(tmp_path):
    simulated = section("source", kind="simulated").model_dump()
    scan = scan_run(tmp_path, "tiny", "2024", [square(-2.0, 6.0, 0.002)], source=simulated)
    monitor = monitor_run(tmp_path)
    store = tmp_path / "demo-store.gpkg"
    variables = [f"DEMO_SCAN={scan}", f"DEMO_MONITOR={monitor}", f"DEMO_STORE={store}"]
    done = subprocess.run(
        ["make", "-s", "-C", str(ROOT), "demo-store", f"BIN={Path(sys.executable).parent}"]
        + variables,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert not Path(f"{store}.tmp.gpkg").exists()
    with open_store(store, create=False) as backend:
        kinds = sorted(r["kind"] for r in backend.select("runs", columns=["kind"]))
        assert kinds == ["monitor", "scan"]
        assert len(backend.select("previews", columns=["obs_id"])) == 1
        assert {r["kind"] for r in backend.select("boundaries", columns=["kind"])} == {"country"}
    client = TestClient(create_app(str(store), tmp_path / "work"))
    assert client.get("/api/summary").json()["cumulative"] == 1
    ghana = client.get("/api/stats?kind=country&name=Ghana").json()["rows"]
    assert [r["period"] for r in ghana] == ["2024"] and ghana[0]["area_ha"] > 0
