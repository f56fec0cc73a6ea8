"""The backend contract: every backend's primitives behave alike (run against each ``store_url``)."""

from __future__ import annotations

import pytest
import shapely

from minescan.kernel.errors import MinescanError
from minescan.store import open_store
from minescan.store.schema import SCHEMA_VERSION


@pytest.fixture
def backend(store_url):
    with open_store(store_url) as opened:
        yield opened


def test_a_new_store_has_every_table_and_its_mark(backend):
    assert backend.get_meta("schema_version") == SCHEMA_VERSION == "2"
    for name in ("runs", "mines", "observations", "increments", "boundaries", "stats", "audit"):
        assert backend.select(name) == []


def test_insert_select_update_delete_round_trip(backend):
    box = shapely.box(0, 0, 1, 1)
    backend.insert("boundaries", [{"kind": "country", "name": "A", "geometry": box}])
    backend.insert(
        "boundaries", [{"kind": "country", "name": "B", "geometry": shapely.box(5, 5, 6, 6)}]
    )
    rows = backend.select("boundaries", order_by=["boundary_id"])
    assert [r["boundary_id"] for r in rows] == [1, 2]  # auto keys
    assert rows[0]["geometry"].equals(box) and rows[0]["source"] is None
    backend.update("boundaries", [{"boundary_id": 1, "name": "A2"}])
    assert backend.select("boundaries", {"name": ["A2", "nope"]}, columns=["boundary_id"]) == [
        {"boundary_id": 1}
    ]
    assert backend.max_value("boundaries", "boundary_id") == 2
    assert backend.delete("boundaries", {"kind": "country"}) == 2
    assert backend.max_value("boundaries", "boundary_id") is None


def test_bbox_queries_use_the_geometry_and_follow_updates(backend):
    backend.insert(
        "mines",
        [
            {"mine_id": i, "status": "provisional", "geometry": shapely.box(i, 0, i + 0.5, 0.5)}
            for i in range(10)
        ],
    )
    found = backend.select(
        "mines", bbox=(2.2, 0.1, 4.1, 0.2), columns=["mine_id"], order_by=["mine_id"]
    )
    assert [r["mine_id"] for r in found] == [2, 3, 4]
    backend.update("mines", [{"mine_id": 3, "geometry": shapely.box(50, 50, 51, 51)}])
    found = backend.select(
        "mines", bbox=(2.2, 0.1, 4.1, 0.2), columns=["mine_id"], order_by=["mine_id"]
    )
    assert [r["mine_id"] for r in found] == [2, 4]
    assert (
        backend.select("mines", {"status": "provisional"}, limit=3, order_by=["mine_id"])[-1][
            "mine_id"
        ]
        == 2
    )


def test_long_in_lists_are_accepted(backend):
    backend.insert("runs", [{"run_id": f"r{i}", "seq": i} for i in range(25_000)])
    assert (
        len(
            backend.select(
                "runs", {"run_id": [f"r{i}" for i in range(0, 25_000, 1)]}, columns=["seq"]
            )
        )
        == 25_000
    )
    wanted = {"run_id": [f"r{i}" for i in range(25_000)]}
    newest = backend.select("runs", wanted, columns=["seq"], order_by=["seq"], limit=3)
    assert [r["seq"] for r in newest] == [0, 1, 2]  # ordered and cut across the whole list


def test_a_raising_transaction_leaves_nothing(backend):
    with pytest.raises(RuntimeError), backend.transaction():
        backend.insert("runs", [{"run_id": "a", "seq": 1}])
        with backend.transaction():  # nested: joins the outer one
            backend.insert("runs", [{"run_id": "b", "seq": 2}])
        raise RuntimeError("killed")
    assert backend.select("runs") == []


def test_values_never_enter_sql(backend):
    evil = "x'); DROP TABLE runs; --"
    backend.insert("runs", [{"run_id": evil, "seq": 1}])
    assert backend.select("runs", {"run_id": evil}, columns=["run_id"]) == [{"run_id": evil}]
    with pytest.raises(MinescanError, match="no column"):
        backend.select("runs", {"run_id; DROP TABLE runs": 1})


def test_duplicate_keys_are_one_line_errors(backend):
    backend.insert("runs", [{"run_id": "a", "seq": 1}])
    with pytest.raises(MinescanError):
        backend.insert("runs", [{"run_id": "a", "seq": 2}])
    assert len(backend.select("runs")) == 1


def test_reopening_sees_what_was_committed(store_url):
    with open_store(store_url) as first:
        first.set_meta("note", "kept")
    with open_store(store_url, create=False) as second:
        assert second.get_meta("note") == "kept"
