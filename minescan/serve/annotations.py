"""What reviewers add to the store's results: alert triage and mine names.

They are documents in the store's ``meta`` table
(:mod:`minescan.serve.documents`), and every change appends a row to
the store's hash-chained audit log in the same transaction. An alert is a
``monitor`` record of kind ``alert``, keyed by its record id.
"""

from __future__ import annotations

from minescan.kernel.errors import MinescanError
from minescan.serve import documents
from minescan.store import audit
from minescan.store.backend import Backend

TRIAGE_PREFIX = "serve.triage."
NAME_PREFIX = "serve.name."
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
    with backend.transaction():
        found = backend.select("monitor", {"id": int(alert_id), "record": "alert"}, columns=["id"])
        if not found:
            raise MinescanError(f"no alert {alert_id} in the store")
        verdict = {"state": state, "reviewer": reviewer, "note": note, "at": audit.now()}
        documents.put(backend, TRIAGE_PREFIX + str(int(alert_id)), verdict)
        audit.record(backend, "triage", {"alert": int(alert_id), **verdict})
    return {"alert": int(alert_id), **verdict}


def verdicts(backend: Backend) -> dict[int, dict]:
    """Every alert's latest verdict, by alert id."""
    return {int(key): doc for key, doc in documents.prefixed(backend, TRIAGE_PREFIX).items()}


def name_mine(backend: Backend, mine_id: int, name: str, by: str) -> dict:
    """Give mine ``mine_id`` a display name (searchable); audited."""
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise MinescanError(f"a mine name is 1-{MAX_NAME} characters")
    with backend.transaction():
        if not backend.select("mines", {"mine_id": int(mine_id)}, columns=["mine_id"]):
            raise MinescanError(f"no mine {mine_id} in the store")
        documents.put(backend, NAME_PREFIX + str(int(mine_id)), {"name": name})
        audit.record(backend, "name", {"mine_id": int(mine_id), "name": name, "by": by})
    return {"mine_id": int(mine_id), "name": name}


def mine_names(backend: Backend) -> dict[int, str]:
    """Every named mine's name, by mine id."""
    return {int(key): doc["name"] for key, doc in documents.prefixed(backend, NAME_PREFIX).items()}
