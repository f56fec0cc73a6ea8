"""Reading the store: runs, one mine, mines in a box, new ground, exports, restatements.

Everything here is a query on stored rows (current mine states and stored
increments), not a geometry overlay at request time, so a mine by id or a
box of 2,000 mines answers in milliseconds.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from minescan.kernel.errors import MinescanError
from minescan.kernel.io import atomic_path, write_geoparquet, write_vector
from minescan.kernel.period import Period
from minescan.store.backend import Backend, BBox, Row
from minescan.store.identity import DRAFT, MERGED
from minescan.store.previews import previews_of
from minescan.store.runs import current_pairs
from minescan.store.stats import statistics

MINE_COLUMNS = ["mine_id", "onset", "last_period", "periods", "status", "area_ha", "run_id"]
#: ``export`` formats by file suffix.
FORMATS = (".gpkg", ".parquet", ".geojson", ".csv")


def runs_table(backend: Backend) -> pd.DataFrame:
    """Every run in ingest order with what it covers and whether it is published."""
    runs = backend.select("runs", order_by=["seq"])
    covered: dict[str, list[Row]] = {}
    for row in backend.select("run_periods"):
        covered.setdefault(row["run_id"], []).append(row)
    table = [
        {
            "seq": r["seq"],
            "run_id": r["run_id"],
            "kind": r["kind"],
            "source": r["source"],
            "periods": ",".join(p["period"] for p in covered.get(r["run_id"], [])),
            "polygons": sum(p["polygons"] for p in covered.get(r["run_id"], [])),
            "published": bool(r["published"]),
            "created": r["created"],
            "actor": r["actor"],
        }
        for r in runs
    ]
    return pd.DataFrame(
        table,
        columns=[
            "seq",
            "run_id",
            "kind",
            "source",
            "periods",
            "polygons",
            "published",
            "created",
            "actor",
        ],
    )


def mine(backend: Backend, mine_id: int) -> dict:
    """One mine's page: state, observations, merges and splits, monitor records, previews.

    ``previews`` lists the observations that have a true-colour preview
    (:func:`minescan.store.previews.preview_png` returns each image).
    """
    rows = backend.select("mines", {"mine_id": int(mine_id)})
    if not rows:
        raise MinescanError(f"no mine {mine_id} in the store")
    state = rows[0]
    observations = backend.select(
        "observations",
        {"mine_id": int(mine_id)},
        columns=["obs_id", "run_id", "period", "area_ha", "score"],
        order_by=["period_start"],
    )
    events = backend.select("events", {"mine_id": int(mine_id)}) + backend.select(
        "events", {"other_id": int(mine_id)}
    )
    monitor = backend.select("monitor", {"mine_id": str(mine_id)}, order_by=["date"])
    state["geometry"] = state["geometry"].wkt if state["geometry"] is not None else None
    return {
        "mine": state,
        "observations": observations,
        "events": sorted(events, key=lambda e: e["event_id"]),
        "monitor": [{**m, "payload": json.loads(m["payload"])} for m in monitor],
        "previews": previews_of(backend, [o["obs_id"] for o in observations]),
    }


def mines_in_bbox(backend: Backend, bbox: BBox, limit: int = 2000) -> list[Row]:
    """Up to ``limit`` published mines whose footprint meets ``bbox``, with their current state."""
    rows = backend.select("mines", bbox=bbox, columns=[*MINE_COLUMNS, "geometry"], limit=None)
    geometries = np.array([r["geometry"] for r in rows], dtype=object)
    meets = shapely.intersects(geometries, shapely.box(*bbox))
    found = [
        r for r, hit in zip(rows, meets, strict=True) if hit and r["status"] not in (MERGED, DRAFT)
    ]
    return found[:limit]


def new_ground(backend: Backend, start: str, end: str) -> gpd.GeoDataFrame:
    """Per mine, the ground first mined after period ``start`` up to and including ``end``."""
    first, last = Period.parse(start), Period.parse(end)
    if last.end <= first.end:
        raise MinescanError(f"--to {last.label} must end after --from {first.label}")
    pairs = current_pairs(backend)
    labels = {p for _, p in pairs}
    for period in (first, last):
        if period.label not in labels:
            raise MinescanError(
                f"the store has no period {period.label}; it has {', '.join(sorted(labels))}"
            )
    wanted = [
        p for p in labels if first.end <= Period.parse(p).start and Period.parse(p).end <= last.end
    ]
    rows = backend.select(
        "increments",
        {"period": wanted},
        columns=["mine_id", "run_id", "period", "area_ha", "geometry"],
    )
    rows = [r for r in rows if (r["run_id"], r["period"]) in pairs]
    by_mine: dict[int, list[Row]] = {}
    for row in rows:
        by_mine.setdefault(row["mine_id"], []).append(row)
    states = {
        m["mine_id"]: m
        for m in backend.select("mines", {"mine_id": sorted(by_mine)}, columns=MINE_COLUMNS)
    }
    table = [
        {
            **states.get(m, {"mine_id": m}),
            "new_area_ha": round(sum(r["area_ha"] for r in parts), 6),
            "geometry": shapely.union_all([r["geometry"] for r in parts]),
        }
        for m, parts in sorted(by_mine.items())
    ]
    return gpd.GeoDataFrame(
        table, columns=[*MINE_COLUMNS, "new_area_ha", "geometry"], geometry="geometry", crs=4326
    )


def mines_as_of(backend: Backend, period: str | None = None) -> gpd.GeoDataFrame:
    """Published mines with their state; with ``period``, the ground mined up to its end."""
    states = [r for r in backend.select("mines") if r["status"] not in (MERGED, DRAFT)]
    if period is None:
        return gpd.GeoDataFrame(
            states, columns=[*MINE_COLUMNS, "geometry"], geometry="geometry", crs=4326
        )
    end = Period.parse(period).end
    pairs = current_pairs(backend)
    rows = backend.select(
        "increments",
        {"run_id": sorted({r for r, _ in pairs})},
        columns=["mine_id", "run_id", "period", "period_end", "area_ha", "geometry"],
    )
    rows = [
        r
        for r in rows
        if (r["run_id"], r["period"]) in pairs and np.datetime64(r["period_end"]) <= end
    ]
    parts: dict[int, list] = {}
    for row in rows:
        parts.setdefault(row["mine_id"], []).append(row)
    table = [
        {
            **s,
            "area_ha": round(sum(r["area_ha"] for r in parts[s["mine_id"]]), 6),
            "geometry": shapely.union_all([r["geometry"] for r in parts[s["mine_id"]]]),
        }
        for s in states
        if s["mine_id"] in parts
    ]
    return gpd.GeoDataFrame(
        table, columns=[*MINE_COLUMNS, "geometry"], geometry="geometry", crs=4326
    )


def write_layer(frame: gpd.GeoDataFrame, path, layer: str = "mines") -> Path:
    """Write ``frame`` as GeoPackage, GeoParquet, GeoJSON or CSV (WKT geometry), by suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise MinescanError(f"cannot write {path.name}; give a file ending in {', '.join(FORMATS)}")
    if suffix == ".gpkg":
        return write_vector(frame, path, driver="GPKG", layer=layer)
    if suffix == ".parquet":
        return write_geoparquet(frame, path)
    if suffix == ".geojson":
        return write_vector(frame, path, driver="GeoJSON")
    write_csv(
        pd.DataFrame(frame.drop(columns="geometry")).assign(wkt=frame.geometry.to_wkt()), path
    )
    return path


def write_csv(frame: pd.DataFrame, path) -> Path:
    """Atomically write a CSV."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    return Path(path)


def diff_runs(backend: Backend, first: str, second: str, kind: str | None = None) -> pd.DataFrame:
    """How the statistics moved from the view as of run ``first`` to the view as of ``second``."""
    keys = ["kind", "jurisdiction", "period"]
    before = statistics(backend, kind=kind, as_of=first)[
        [*keys, "area_ha", "new_area_ha", "run_id"]
    ]
    after = statistics(backend, kind=kind, as_of=second)[
        [*keys, "area_ha", "new_area_ha", "run_id"]
    ]
    table = before.merge(after, on=keys, how="outer", suffixes=("_from", "_to"))
    for column in ("area_ha", "new_area_ha"):
        table[f"{column}_from"] = table[f"{column}_from"].fillna(0.0)
        table[f"{column}_to"] = table[f"{column}_to"].fillna(0.0)
        table[f"{column}_change"] = (table[f"{column}_to"] - table[f"{column}_from"]).round(6)
    return table.sort_values(keys).reset_index(drop=True)
