"""A small populated store for the dashboard tests, built once and copied per test.

30 mines over 2019-2021 in a box in Ghana's latitude band, some growing
across periods (confirmed) and some seen once (provisional); a concession, a
no-go zone and two provinces; a monitor run with an alert for mine 1; an
admin and an analyst; mine 2 named with a ``<script>`` tag.
"""

from __future__ import annotations

import json
import shutil

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from minescan.serve.accounts import add_user
from minescan.store import open_store
from minescan.store.boundaries import import_boundaries
from minescan.store.ingest import ingest_periods
from minescan.store.monitor import ingest_monitor
from minescan.store.reviews import name_mine

PASSWORDS = {"ada": "admin-password", "ana": "analyst-password"}
XSS_NAME = "<script>window.pwned = 1</script> Obuasi pit"


def _mines() -> gpd.GeoDataFrame:
    rng = np.random.default_rng(7)
    rows = []
    for i in range(30):
        x, y = 0.05 + 0.03 * (i % 6), 5.05 + 0.03 * (i // 6)
        first = ["2019", "2020", "2021"][i % 3]
        later = [p for p in ("2019", "2020", "2021") if p >= first][: 1 + (i % 2) * 2]
        for step, period in enumerate(later):
            size = 0.004 + 0.002 * step + rng.uniform(0, 0.001)
            rows.append({"period": period, "geometry": shapely.box(x, y, x + size, y + size)})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=4326)


def _boundaries(folder) -> dict:
    files = {
        "province": gpd.GeoDataFrame(
            {"name": ["West", "East"]},
            geometry=[shapely.box(0, 5, 0.12, 5.3), shapely.box(0.12, 5, 0.3, 5.3)],
            crs=4326,
        ),
        "concession": gpd.GeoDataFrame(
            {"name": ["Lease A"]}, geometry=[shapely.box(0, 5, 0.1, 5.1)], crs=4326
        ),
        "nogo": gpd.GeoDataFrame(
            {"name": ["Forest"]}, geometry=[shapely.box(0.2, 5.15, 0.3, 5.3)], crs=4326
        ),
    }
    paths = {}
    for kind, frame in files.items():
        paths[kind] = folder / f"{kind}.geojson"
        frame.to_file(paths[kind], driver="GeoJSON")
    return paths


def _monitor_run(folder):
    folder.mkdir()
    pd.DataFrame([{"mine_id": "1", "status": "ok"}]).to_csv(folder / "mines.csv", index=False)
    alert = {
        "mine_id": "1",
        "zone": "protected_forest",
        "category": 3,
        "first_violation_date": "2020-03-01",
        "area_m2": 1200.0,
        "severity": "high",
        "confidence": 0.9,
    }
    pd.DataFrame([alert]).to_csv(folder / "alerts.csv", index=False)
    (folder / "1").mkdir()
    (folder / "1" / "mine.json").write_text(json.dumps({"mine_id": "1", "status": "ok"}))
    profile = pd.DataFrame({"date": ["2019-06-01", "2020-06-01"], "excavated_ha": [1.5, 2.5]})
    profile.to_csv(folder / "1" / "area_profile.csv", index=False)
    return folder


@pytest.fixture(scope="session")
def built_store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve-store")
    polygons = folder / "mines.geojson"
    _mines().to_file(polygons, driver="GeoJSON")
    target = folder / "store.gpkg"
    with open_store(target) as backend:
        ingest_periods(backend, polygons, period_column="period", source_name="yearly")
        for kind, path in _boundaries(folder).items():
            import_boundaries(backend, path, kind, "name")
        ingest_monitor(backend, _monitor_run(folder / "monitor"))
        add_user(backend, "ada", "admin", PASSWORDS["ada"], by="test")
        add_user(backend, "ana", "analyst", PASSWORDS["ana"], by="test")
        name_mine(backend, 2, XSS_NAME, by="test")
    return target


@pytest.fixture
def store(built_store, tmp_path):
    """A fresh copy of the built store for one test."""
    target = tmp_path / "store.gpkg"
    shutil.copy(built_store, target)
    return target
