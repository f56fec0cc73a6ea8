"""Getting results in: scan runs, monitor runs, yearly maps from elsewhere, boundaries.

Each ingest is one transaction that records the run, gives every polygon its
mine (:mod:`minescan.store.identity`), stores the observations, publishes
the run unless asked to keep it a draft (:func:`minescan.store.runs.publish`)
and appends the audit row. An exception anywhere, a kill included, leaves the
store as it was. Ingesting the same run twice is refused: a scan's run id
comes from its manifest, a polygon file's from its content.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from minescan.kernel.errors import MinescanError, first_line
from minescan.kernel.io import file_sha256, read_vector, require_file
from minescan.kernel.period import Period
from minescan.store import audit
from minescan.store.areas import area_ha, clean
from minescan.store.backend import Backend, Row
from minescan.store.identity import DRAFT, MERGED, assign
from minescan.store.previews import render_previews, store_previews
from minescan.store.runs import publish

#: How ``--period-unit`` coarsens a date column: a map dated 2017-01-01 means the year 2017.
UNITS = {
    "year": lambda p: str(p.start.astype("datetime64[Y]")),
    "quarter": lambda p: (
        f"{p.start.astype('datetime64[Y]')}Q{(p.start.astype('datetime64[M]').astype(int) % 12) // 3 + 1}"
    ),
    "month": lambda p: str(p.start.astype("datetime64[M]")),
}


def ingest_polygons(
    backend: Backend,
    frame,
    run: Row,
    periods: list[str],
    draft: bool = False,
    actor: str | None = None,
) -> dict:
    """Store ``frame`` (EPSG:4326, a ``period`` label column, an optional ``score``) as ``run``.

    ``periods`` lists every period the run covers, those where it found
    nothing included: a restatement with no mines removes the old ones.
    ``actor`` is who ingests (see :func:`minescan.store.audit.record`).
    """
    actor = actor or audit.current_actor()
    parsed = {label: Period.parse(label) for label in periods}
    with backend.transaction():
        if backend.select("runs", {"run_id": run["run_id"]}, columns=["run_id"]):
            raise MinescanError(f"run {run['run_id']} is already in the store")
        seq = (backend.max_value("runs", "seq") or 0) + 1
        backend.insert(
            "runs",
            [{**run, "seq": seq, "published": 0, "created": audit.now(), "actor": actor}],
        )
        counts = {}
        for label in sorted(parsed, key=lambda p: (parsed[p].start, parsed[p].end)):
            group = frame[frame["period"] == label]
            counts[label] = _add_period(backend, group, run["run_id"], parsed[label])
        backend.insert(
            "run_periods",
            [
                {
                    "run_id": run["run_id"],
                    "period": p,
                    "period_start": str(parsed[p].start),
                    "period_end": str(parsed[p].end),
                    "polygons": n,
                }
                for p, n in counts.items()
            ],
        )
        detail = {"run_id": run["run_id"], "kind": run["kind"], "polygons": counts}
        audit.record(backend, "ingest", detail, actor)
        if not draft:
            publish(backend, run["run_id"], actor)
    return {
        "run_id": run["run_id"],
        "polygons": int(sum(counts.values())),
        "periods": counts,
        "published": not draft,
    }


def _add_period(backend: Backend, group, run_id: str, period: Period) -> int:
    """One period's polygons: match them to mines, record merges and splits, store them."""
    polygons = np.asarray(group.geometry.to_numpy(), dtype=object)
    if len(polygons) == 0:
        return 0
    bbox = tuple(shapely.total_bounds(polygons))
    near = [
        m
        for m in backend.select("mines", bbox=bbox, columns=["mine_id", "status", "geometry"])
        if m["status"] != MERGED
    ]
    result = assign(
        polygons,
        [(m["mine_id"], m["geometry"]) for m in near],
        (backend.max_value("mines", "mine_id") or 0) + 1,
    )
    footprints = {m["mine_id"]: m["geometry"] for m in near}
    _merge(backend, result.events, footprints)
    backend.insert(
        "mines",
        [
            {
                "mine_id": m,
                "status": DRAFT,
                "onset": period.label,
                "onset_start": str(period.start),
                "periods": 0,
                "geometry": polygons[i],
            }
            for m, i in result.new.items()
        ],
    )
    grown: dict[int, list] = {}
    for mine_id, polygon in zip(result.mine_ids, polygons, strict=True):
        if mine_id in footprints:
            grown.setdefault(mine_id, [footprints[mine_id]]).append(polygon)
    backend.update(
        "mines", [{"mine_id": m, "geometry": shapely.union_all(g)} for m, g in grown.items()]
    )
    backend.insert(
        "events",
        [
            {"kind": k, "mine_id": a, "other_id": b, "period": period.label, "run_id": run_id}
            for k, a, b in result.events
        ],
    )
    first = (backend.max_value("observations", "obs_id") or 0) + 1
    scores = group["score"].to_numpy() if "score" in group else [None] * len(polygons)
    areas = area_ha(polygons)
    backend.insert(
        "observations",
        [
            {
                "obs_id": first + i,
                "mine_id": mine_id,
                "run_id": run_id,
                "period": period.label,
                "period_start": str(period.start),
                "period_end": str(period.end),
                "area_ha": round(float(areas[i]), 6),
                "score": None if score is None or pd.isna(score) else float(score),
                "geometry": polygons[i],
            }
            for i, (mine_id, score) in enumerate(zip(result.mine_ids, scores, strict=True))
        ],
    )
    return len(polygons)


def _merge(backend: Backend, events: list[tuple[str, int, int]], footprints: dict) -> None:
    """Fold each merged mine into its survivor: status, footprint, observations, increments."""
    for kind, merged, survivor in events:
        if kind != "merge":
            continue
        backend.update("mines", [{"mine_id": merged, "status": MERGED, "merged_into": survivor}])
        footprints[survivor] = shapely.union(footprints[survivor], footprints.pop(merged))
        for name in ("observations", "increments"):
            rows = backend.select(name, {"mine_id": merged}, columns=["obs_id"])
            backend.update(name, [{"obs_id": r["obs_id"], "mine_id": survivor} for r in rows])


def ingest_scan(backend: Backend, run_dir, draft: bool = False, actor: str | None = None) -> dict:
    """A ``minescan scan`` run folder: its candidates for the scan's period, its manifest as provenance."""
    folder = Path(run_dir)
    manifest = _read_json(require_file(folder / "manifest.json", "scan manifest"))
    candidates = _read_frame(require_file(folder / "candidates.parquet", "scan candidates"))
    try:
        period = Period.parse(manifest["config"]["scan"]["period"]).label
        run_id, aoi = str(manifest["run_id"]), manifest["aoi"]["name"]
    except (KeyError, TypeError):
        raise MinescanError(f"{folder / 'manifest.json'} is not a minescan scan manifest") from None
    frame = _polygons(candidates, f"scan candidates {folder}")
    frame["period"] = period
    run = {
        "run_id": run_id,
        "kind": "scan",
        "source": f"scan:{aoi}",
        "path": str(folder.resolve()),
        "manifest": json.dumps(manifest, default=str),
    }
    images = render_previews(manifest, list(frame.geometry), period)  # before locking the store
    with backend.transaction():
        summary = ingest_polygons(backend, frame, run, [period], draft, actor)
        summary["previews"] = store_previews(backend, run_id, list(frame.geometry), images)
    return summary


def period_labels(values: pd.Series, unit: str | None = None) -> pd.Series:
    """Each value of a period column as a period label, coarsened to ``unit`` when given.

    Examples
    --------
    >>> period_labels(pd.Series(["2019", "2025Q2", "2017-03-04"]), "year").tolist()
    ['2019', '2025', '2017']
    """
    if values.isna().any():
        raise MinescanError(f"{int(values.isna().sum())} polygons have no period")
    labels = {}
    for value in values.unique():
        period = Period.parse(value)
        labels[value] = UNITS[unit](period) if unit else period.label
    return values.map(labels)


def ingest_periods(
    backend: Backend,
    path,
    period_column: str | None = None,
    period: str | None = None,
    layer: str | None = None,
    source_name: str | None = None,
    unit: str | None = None,
    draft: bool = False,
) -> dict:
    """Any polygon file with a period column (or one ``period`` for all of it)."""
    if (period_column is None) == (period is None):
        raise MinescanError("give exactly one of --period-column COL and --period P")
    frame = read_vector(path, layer=layer, what="polygon file")
    if period_column is not None and period_column not in frame.columns:
        columns = ", ".join(c for c in frame.columns if c != frame.geometry.name)
        raise MinescanError(f"{path} has no column {period_column!r}; it has {columns or 'none'}")
    labels = period_labels(
        frame[period_column] if period_column else pd.Series([period] * len(frame)), unit
    )
    polygons = _polygons(frame, f"polygon file {path}")
    polygons["period"] = labels.to_numpy()[polygons.index.to_numpy()]
    source = source_name or Path(path).stem
    digest = file_sha256(path)[:12]
    run = {
        "run_id": f"{source}-{digest}",
        "kind": "periods",
        "source": source,
        "path": str(Path(path).resolve()),
        "manifest": json.dumps(
            {
                "file": str(path),
                "sha256": file_sha256(path),
                "layer": layer,
                "period_column": period_column,
                "period": period,
                "unit": unit,
            }
        ),
    }
    return ingest_polygons(backend, polygons, run, sorted(set(labels)), draft)


def _polygons(frame, what: str):
    """Valid, non-empty polygons of ``frame`` in EPSG:4326, keeping the rows' index."""
    import geopandas as gpd

    if frame.crs is not None and frame.crs.to_epsg() != 4326:
        frame = frame.to_crs(4326)
    geometries = clean(frame.geometry.to_numpy())
    keep = ~shapely.is_empty(geometries) & pd.notna(geometries)
    if not keep.any() and len(frame):
        raise MinescanError(f"{what} has no polygon with an area")
    data = {"score": frame["score"].to_numpy()[keep]} if "score" in frame else {}
    return gpd.GeoDataFrame(
        data, geometry=list(geometries[keep]), index=frame.index[keep], crs=4326
    )


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise MinescanError(f"cannot read {path}: {first_line(exc)}") from None


def _read_frame(path: Path):
    import geopandas as gpd

    try:
        return gpd.read_parquet(path)
    except Exception as exc:  # pyarrow and geopandas raise their own types
        raise MinescanError(f"cannot read {path}: {first_line(exc)}") from None
