"""What reviewers add to the store's results: verdicts on monitor alerts, and mine names.

An alert is a ``monitor`` record of kind ``alert``, keyed by its record id.
Verdicts are appended to the ``triage`` table (the newest per alert counts,
the older ones stay as history); names live in ``mine_names``. Every change
appends a row to the hash-chained audit log in the same transaction, under
the reviewer who made it.
"""

from __future__ import annotations

import json

from minescan.kernel.errors import MinescanError
from minescan.store import audit
from minescan.store.backend import Backend

#: What a reviewer may say about an alert.
TRIAGE_STATES = ("confirmed", "dismissed", "under_review")
MAX_NOTE = 2000
MAX_NAME = 200


def triage(backend: Backend, alert_id: int, state: str, reviewer: str, note: str = "") -> dict:
    """Record ``reviewer``'s verdict ``state`` on alert ``alert_id``, with a note; audited."""
    if state not in TRIAGE_STATES:
        raise MinescanError(f"unknown triage state {state!r}; expected {', '.join(TRIAGE_STATES)}")
    if len(note) > MAX_NOTE:
        raise MinescanError(f"a note holds at most {MAX_NOTE} characters")
    alert_id = int(alert_id)
    with backend.transaction():
        found = backend.select("monitor", {"id": alert_id, "record": "alert"}, columns=["id"])
        if not found:
            raise MinescanError(f"no alert {alert_id} in the store")
        verdict = {"state": state, "reviewer": reviewer, "note": note, "at": audit.now()}
        backend.insert("triage", [{"alert_id": alert_id, **verdict}])
        audit.record(backend, "triage", {"alert": alert_id, **verdict}, actor=reviewer)
    return {"alert": alert_id, **verdict}


def verdicts(backend: Backend, alert_ids: list[int] | None = None) -> dict[int, dict]:
    """The newest verdict of every alert (of ``alert_ids`` when given), by alert id."""
    where = None if alert_ids is None else {"alert_id": [int(i) for i in alert_ids]}
    newest: dict[int, dict] = {}
    for row in backend.select("triage", where, order_by=["id"]):
        newest[row["alert_id"]] = {k: row[k] for k in ("state", "reviewer", "note", "at")}
    return newest


def alerts(backend: Backend, mine_id: str | None = None) -> list[dict]:
    """Monitor alerts (of one monitored mine, when given) with their newest verdict."""
    where = {"record": "alert"} if mine_id is None else {"record": "alert", "mine_id": mine_id}
    rows = backend.select("monitor", where, order_by=["id"])
    verdict = verdicts(backend, [r["id"] for r in rows])
    return [
        {
            "id": r["id"],
            "run_id": r["run_id"],
            **json.loads(r["payload"]),
            "triage": verdict.get(r["id"]),
        }
        for r in rows
    ]


def name_mine(backend: Backend, mine_id: int, name: str, by: str | None = None) -> dict:
    """Give mine ``mine_id`` a display name (searchable), replacing its old one; audited."""
    name, by = name.strip(), by or audit.current_actor()
    if not name or len(name) > MAX_NAME:
        raise MinescanError(f"a mine name is 1-{MAX_NAME} characters")
    mine_id = int(mine_id)
    with backend.transaction():
        if not backend.select("mines", {"mine_id": mine_id}, columns=["mine_id"]):
            raise MinescanError(f"no mine {mine_id} in the store")
        row = {"mine_id": mine_id, "name": name, "named_by": by, "named_at": audit.now()}
        backend.delete("mine_names", {"mine_id": mine_id})
        backend.insert("mine_names", [row])
        audit.record(backend, "name", {"mine_id": mine_id, "name": name}, actor=by)
    return {"mine_id": mine_id, "name": name}


def mine_names(backend: Backend, mine_ids: list[int] | None = None) -> dict[int, str]:
    """The name of every named mine (of ``mine_ids`` when given), by mine id."""
    where = None if mine_ids is None else {"mine_id": [int(i) for i in mine_ids]}
    return {r["mine_id"]: r["name"] for r in backend.select("mine_names", where)}
