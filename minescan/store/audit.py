"""The append-only, hash-chained audit log: who did what to the store, and when.

Every state-changing action (ingest, publish, boundary import, triage) adds
one row in the same transaction as the change itself, so the log and the
store never disagree. Each row's ``hash`` is the SHA-256 of the previous row's
hash and the row's own fields, so editing, removing or reordering any row
breaks every hash after it, and :func:`verify` names the first broken row.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
import os
from typing import Any

from minescan.kernel.errors import MinescanError
from minescan.store.backend import Backend

#: The ``prev_hash`` of the first row.
GENESIS = "0" * 64


def current_actor() -> str:
    """Who runs this process: ``$MINESCAN_ACTOR`` when set, else the login.

    What :func:`record` writes when its caller names nobody else (a command
    line user); the dashboard names its logged-in user instead.
    """
    try:
        return os.environ.get("MINESCAN_ACTOR") or getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in a bare container
        return f"uid:{os.getuid()}"


def now() -> str:
    """UTC time as ISO 8601 with microseconds."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


def row_hash(prev_hash: str, seq: int, at: str, who: str, action: str, detail: str) -> str:
    """The chained hash of one row.

    Examples
    --------
    >>> row_hash(GENESIS, 1, "2025-01-01T00:00:00+00:00", "me", "ingest", "{}")[:12]
    '3ad4ec43da54'
    """
    blob = json.dumps([prev_hash, seq, at, who, action, detail], separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def record(
    backend: Backend, action: str, detail: dict[str, Any], actor: str | None = None
) -> dict[str, Any]:
    """Append one row for ``action`` (with its ``detail``) inside the caller's transaction.

    ``actor`` is who acted: a dashboard user for a web action, so the change
    is recorded once under that user; ``None`` is :func:`current_actor`.
    """
    with backend.transaction():
        last = backend.select("audit", order_by=["seq"], columns=["seq", "hash"])[-1:]
        seq = last[0]["seq"] + 1 if last else 1
        prev = last[0]["hash"] if last else GENESIS
        row = {"seq": seq, "at": now(), "actor": actor or current_actor(), "action": action}
        row["detail"] = json.dumps(detail, sort_keys=True, default=str)
        row["prev_hash"] = prev
        row["hash"] = row_hash(prev, seq, row["at"], row["actor"], action, row["detail"])
        backend.insert("audit", [row])
    return row


def verify(backend: Backend) -> int:
    """Check the whole chain; the number of rows, or a one-line error at the first bad one."""
    prev, expected_seq = GENESIS, 1
    rows = backend.select("audit", order_by=["seq"])
    for row in rows:
        if row["seq"] != expected_seq:
            raise MinescanError(f"audit log broken: row {expected_seq} is missing")
        fields = (row["seq"], row["at"], row["actor"], row["action"], row["detail"])
        if row["prev_hash"] != prev or row["hash"] != row_hash(prev, *fields):
            raise MinescanError(f"audit log broken at row {row['seq']} ({row['action']})")
        prev, expected_seq = row["hash"], expected_seq + 1
    return len(rows)
