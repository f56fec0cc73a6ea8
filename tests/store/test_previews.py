"""True-colour previews made at ingest, on every backend: one per candidate of a scan of a
local source, none for a remote source or a run without one."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from minescan.config import section
from minescan.kernel.errors import MinescanError
from minescan.store import open_store
from minescan.store.ingest import ingest_scan
from minescan.store.previews import PREVIEW_PX, preview_png, preview_zoom
from minescan.store.query import mine
from tests.store.builders import scan_run, square

#: Two small candidates in Ghana's latitude band, ~110 m across.
GHANA = [square(-2.0, 6.0, 0.001), square(-1.99, 6.0, 0.001)]


@pytest.fixture
def store(store_url):
    with open_store(store_url) as backend:
        yield backend


def test_a_simulated_scan_brings_one_preview_per_candidate(store, tmp_path):
    simulated = section("source", kind="simulated").model_dump()
    run = scan_run(tmp_path, "run-a", "2024", GHANA, source=simulated)
    assert ingest_scan(store, run)["previews"] == 2
    page = mine(store, 1)
    assert [(p["run_id"], p["period"]) for p in page["previews"]] == [("run-a", "2024")]
    image = Image.open(io.BytesIO(preview_png(store, page["previews"][0]["obs_id"])))
    assert image.format == "PNG" and image.size == (PREVIEW_PX, PREVIEW_PX)
    assert image.mode == "RGB" and len(set(image.getdata())) > 10  # imagery, not a flat fill
    assert (255, 0, 0) in set(image.getdata())  # the candidate's outline
    with pytest.raises(MinescanError, match="no preview of observation 99"):
        preview_png(store, 99)


def test_remote_or_unknown_sources_bring_none(store, tmp_path):
    stac = section("source", kind="stac").model_dump()
    assert (
        ingest_scan(store, scan_run(tmp_path, "run-a", "2024", GHANA, source=stac))["previews"] == 0
    )
    assert ingest_scan(store, scan_run(tmp_path, "run-b", "2025", GHANA))["previews"] == 0
    assert store.select("previews") == [] and mine(store, 1)["previews"] == []


def test_preview_zoom_fits_the_candidate_in_its_tile():
    # a z tile is 40,075 km / 2**z wide at the equator: 2.4 km at z14, 19.6 km at z11
    assert preview_zoom(square(0, 0, 0.0001)) == 16  # 11 m: the finest zoom
    assert preview_zoom(square(0, 0, 0.02)) == 14  # 2.2 km
    assert preview_zoom(square(0, 0, 0.1)) == 11  # 11 km
