"""Monitor runs into the store: each mine's area profile, violations, alerts and compliance.

``minescan monitor`` leaves ``mines.csv`` and ``alerts.csv`` in its run folder
and, per mine, ``mine.json``, ``area_profile.csv`` and ``violations.parquet``.
Each row becomes one ``monitor`` record (``summary``, ``area_profile``,
``violation``, ``alert``) keyed by the monitor's mine id, so a mine's page
shows its whole history. A run is one transaction and is refused twice.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd

from minescan.kernel.errors import MinescanError, first_line
from minescan.kernel.io import file_sha256, require_file
from minescan.store import audit
from minescan.store.backend import Backend, Row


def ingest_monitor(backend: Backend, run_dir, actor: str | None = None) -> dict:
    """Store one monitor run folder (see the module docstring); what was stored.

    ``actor`` is who ingests (see :func:`minescan.store.audit.record`).
    """
    actor = actor or audit.current_actor()
    folder = Path(run_dir)
    summary_file = require_file(folder / "mines.csv", "monitor mines.csv")
    run_id = "monitor-" + _run_digest(folder)
    records = []
    for done in sorted(folder.glob("*/mine.json")):
        records += _mine_records(done)
    alerts = folder / "alerts.csv"
    if alerts.exists():
        for row in _csv(alerts):
            records.append(
                _record(row.get("mine_id"), "alert", row.get("first_violation_date"), row)
            )
    records = [{**r, "run_id": run_id} for r in records]
    run = {
        "run_id": run_id,
        "kind": "monitor",
        "source": "monitor",
        "path": str(folder.resolve()),
        "manifest": json.dumps({"mines_csv_sha256": file_sha256(summary_file)}),
    }
    with backend.transaction():
        if backend.select("runs", {"run_id": run_id}, columns=["run_id"]):
            raise MinescanError(f"run {run_id} is already in the store")
        seq = (backend.max_value("runs", "seq") or 0) + 1
        now = audit.now()
        backend.insert(
            "runs",
            [
                {
                    **run,
                    "seq": seq,
                    "published": 1,
                    "published_at": now,
                    "created": now,
                    "actor": actor,
                }
            ],
        )
        backend.insert("monitor", records)
        counts = pd.Series([r["record"] for r in records], dtype=object).value_counts().to_dict()
        detail = {"run_id": run_id, "kind": "monitor", "records": counts}
        audit.record(backend, "ingest", detail, actor)
    return {"run_id": run_id, "records": counts, "mines": len({r["mine_id"] for r in records})}


def _run_digest(folder: Path) -> str:
    """The run's id from its run-level files, so the same folder is not stored twice."""
    digest = hashlib.sha256()
    for name in ("mines.csv", "alerts.csv", "metrics.json"):
        if (folder / name).exists():
            digest.update(file_sha256(folder / name).encode())
    return digest.hexdigest()[:12]


def _mine_records(done: Path) -> list[Row]:
    summary = _json(done)
    mine_id = summary.get("mine_id", done.parent.name)
    records = [_record(mine_id, "summary", None, summary)]
    profile = done.parent / "area_profile.csv"
    if profile.exists():
        records += [_record(mine_id, "area_profile", r.get("date"), r) for r in _csv(profile)]
    violations = done.parent / "violations.parquet"
    if violations.exists():
        records += [
            _record(mine_id, "violation", r.get("first_violation_date"), r)
            for r in _violations(violations)
        ]
    return records


def _record(mine_id, record: str, date, payload: dict) -> Row:
    return {
        "mine_id": str(mine_id),
        "record": record,
        "date": None if date is None or pd.isna(date) else str(date),
        "payload": json.dumps(payload, sort_keys=True, default=str),
    }


def _csv(path: Path) -> list[dict]:
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return []
    except (OSError, ValueError) as exc:
        raise MinescanError(f"cannot read {path}: {first_line(exc)}") from None
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def _violations(path: Path) -> list[dict]:
    import geopandas as gpd

    try:
        frame = gpd.read_parquet(path)
    except Exception as exc:  # pyarrow and geopandas raise their own types
        raise MinescanError(f"cannot read {path}: {first_line(exc)}") from None
    table = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    table["wkt"] = frame.geometry.to_wkt()
    return table.astype(object).where(table.notna(), None).to_dict("records")


def _json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise MinescanError(f"cannot read {path}: {first_line(exc)}") from None
