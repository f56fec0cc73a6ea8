"""More of the backend contract: the corners ``test_contract.py`` leaves out, on every backend.

Assigned keys after explicit ones, a failed write inside a transaction, NULL
and empty filters, refusals. Each test takes ``store_url`` (``conftest.py``),
so it runs once per backend; the PostGIS run skips, saying why, where no
server can be started.
"""

from __future__ import annotations

import pytest
import shapely

from minescan.kernel.errors import MinescanError
from minescan.store import open_store


@pytest.fixture
def store(store_url):
    with open_store(store_url) as opened:
        yield opened


def _boundaries(*names):
    return [
        {"kind": "country", "name": name, "geometry": shapely.box(i, 0, i + 0.5, 0.5)}
        for i, name in enumerate(names)
    ]


def test_assigned_keys_follow_the_largest_key(store):
    store.insert("boundaries", _boundaries("a", "b"))
    store.insert("boundaries", [{"boundary_id": 10, "kind": "country", "name": "c"}])
    store.insert("boundaries", _boundaries("d"))
    rows = store.select("boundaries", columns=["boundary_id", "name"], order_by=["boundary_id"])
    assert [(r["boundary_id"], r["name"]) for r in rows] == [
        (1, "a"),
        (2, "b"),
        (10, "c"),
        (11, "d"),
    ]


def test_a_failed_write_inside_a_transaction_is_undone_alone(store):
    store.insert("runs", [{"run_id": "r1", "seq": 1}])
    with store.transaction():
        with pytest.raises(MinescanError, match="runs"):
            store.insert("runs", [{"run_id": "r1", "seq": 2}])
        store.insert("runs", [{"run_id": "r2", "seq": 2}])
    assert store.select("runs", columns=["run_id", "seq"], order_by=["seq"]) == [
        {"run_id": "r1", "seq": 1},
        {"run_id": "r2", "seq": 2},
    ]


def test_null_and_empty_filters(store):
    store.insert("boundaries", _boundaries("a", "b", "c"))
    store.update("boundaries", [{"boundary_id": 2, "source": "ne"}])
    assert store.select("boundaries", {"source": "ne"}, columns=["name"]) == [{"name": "b"}]
    assert len(store.select("boundaries", {"source": None})) == 2
    assert store.select("boundaries", {"name": []}) == []
    assert store.delete("boundaries", {"name": set()}) == 0


def test_what_a_backend_refuses(store):
    with pytest.raises(MinescanError, match="bounding box"):
        store.select("runs", bbox=(0, 0, 1, 1))
    with pytest.raises(MinescanError, match="no table"):
        store.insert("pg_user", [{"a": 1}])


def test_meta_values_are_replaced(store):
    store.set_meta("note", "one")
    store.set_meta("note", "two")
    assert store.get_meta("note") == "two" and store.get_meta("absent") is None


def test_a_missing_store_is_refused_without_create(store_url):
    folder, _ = store_url.rsplit("/", 1)
    missing = folder + ("/never_made" if "://" in store_url else "/never.gpkg")
    with pytest.raises(MinescanError, match="no store at"):
        open_store(missing, create=False)
