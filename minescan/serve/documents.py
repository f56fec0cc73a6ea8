"""JSON documents in the store's ``meta`` table, under namespaced keys.

The store declares no tables for dashboard users, sessions, triage or mine
names, so each is one JSON document in ``meta`` keyed ``serve.KIND.ID``,
read and written only through the backend's parameterised primitives.
"""

from __future__ import annotations

import json

from minescan.store.backend import Backend


def get(backend: Backend, key: str) -> dict | None:
    """The document under ``key``, ``None`` when there is none."""
    value = backend.get_meta(key)
    return None if value is None else json.loads(value)


def put(backend: Backend, key: str, document: dict) -> None:
    """Store ``document`` under ``key``, replacing what was there."""
    backend.set_meta(key, json.dumps(document, sort_keys=True))


def prefixed(backend: Backend, prefix: str) -> dict[str, dict]:
    """Every document whose key starts with ``prefix``, by the rest of its key."""
    return {
        row["key"][len(prefix) :]: json.loads(row["value"])
        for row in backend.select("meta")
        if row["key"].startswith(prefix)
    }
