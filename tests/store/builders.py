"""Small inputs for the store tests: polygon files, scan and monitor run folders, made by code."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

#: About 1.1 km at the equator: squares of this side make mines of ~123 ha.
SIDE = 0.01


def square(x: float, y: float = 0.0, side: float = SIDE):
    """A square mine with its lower-left corner at (x, y), in degrees."""
    return shapely.box(x, y, x + side, y + side)


def polygon_file(
    folder: Path, name: str, periods: list, geometries: list, column: str = "year"
) -> Path:
    """A GeoPackage of ``geometries`` with their ``periods`` in ``column``."""
    path = Path(folder) / f"{name}.gpkg"
    gpd.GeoDataFrame({column: periods}, geometry=geometries, crs=4326).to_file(path)
    return path


def boundary_file(folder: Path, name: str, names: list[str], geometries: list) -> Path:
    """A boundary layer with a ``name`` column."""
    path = Path(folder) / f"{name}.gpkg"
    gpd.GeoDataFrame({"name": names}, geometry=geometries, crs=4326).to_file(path)
    return path


def scan_run(
    folder: Path,
    run_id: str,
    period: str,
    geometries: list,
    aoi: str = "demo",
    source: dict | None = None,
) -> Path:
    """A folder as ``minescan scan`` leaves it, as far as the store reads it.

    ``source`` is the manifest's ``source:`` section (none: the store cannot
    read the run's imagery again, so it makes no previews).
    """
    folder = Path(folder) / run_id
    folder.mkdir(parents=True)
    frame = gpd.GeoDataFrame(
        {"score": [0.9] * len(geometries), "run_id": run_id}, geometry=geometries, crs=4326
    )
    frame.to_parquet(folder / "candidates.parquet")
    config = {"scan": {"period": period}, **({"source": source} if source else {})}
    manifest = {"run_id": run_id, "aoi": {"name": aoi}, "config": config}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def monitor_run(folder: Path) -> Path:
    """A folder as ``minescan monitor`` leaves it: one mine with a profile and an alert."""
    folder = Path(folder) / "monitor"
    (folder / "demo").mkdir(parents=True)
    pd.DataFrame([{"mine_id": "demo", "status": "ok", "n_dates": 3}]).to_csv(
        folder / "mines.csv", index=False
    )
    alert = {
        "mine_id": "demo",
        "zone": "river",
        "category": "nogo",
        "first_violation_date": "2017-03-01",
        "area_m2": 900.0,
        "severity": "high",
        "confidence": 0.8,
    }
    pd.DataFrame([alert]).to_csv(folder / "alerts.csv", index=False)
    (folder / "demo" / "mine.json").write_text(json.dumps({"mine_id": "demo", "status": "ok"}))
    profile = pd.DataFrame({"date": ["2016-01-01", "2017-01-01"], "excavated_ha": [1.0, 2.5]})
    profile.to_csv(folder / "demo" / "area_profile.csv", index=False)
    return folder
