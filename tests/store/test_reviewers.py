"""What people add to the store, on every backend: users and sessions, alert triage, mine
names, unpublishing, and the audit rows naming who acted."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from minescan.kernel.errors import MinescanError
from minescan.store import accounts, open_store, reviews
from minescan.store.audit import current_actor, verify
from minescan.store.ingest import ingest_scan
from minescan.store.monitor import ingest_monitor
from minescan.store.query import mines_as_of
from minescan.store.runs import publish, unpublish
from tests.store.builders import monitor_run, scan_run, square


@pytest.fixture
def store(store_url):
    with open_store(store_url) as backend:
        yield backend


def audit_rows(store):
    return [(r["action"], r["actor"]) for r in store.select("audit", order_by=["seq"])]


def test_users_and_sessions_keep_only_hashes(store):
    accounts.set_user(store, "ada", "admin", "scrypt$hash", actor="root")
    assert accounts.users(store) == [
        {"user": "ada", "role": "admin", "created": accounts.users(store)[0]["created"]}
    ]
    assert accounts.user(store, "ada")["password_hash"] == "scrypt$hash"
    assert accounts.user(store, "<b>") is None and accounts.user(store, "bo") is None
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    accounts.open_session(store, "digest-1", "ada", "admin", "csrf-1", later)
    assert accounts.session(store, "digest-1")["user_name"] == "ada"
    earlier = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    accounts.open_session(store, "digest-2", "ada", "admin", "csrf-2", earlier)
    assert accounts.session(store, "digest-2") is None
    accounts.open_session(store, "digest-3", "ada", "admin", "csrf-3", later)
    assert {r["token_hash"] for r in store.select("sessions")} == {"digest-1", "digest-3"}
    accounts.end_session(store, "digest-1")
    assert accounts.session(store, "digest-1") is None
    accounts.remove_user(store, "ada")
    assert store.select("users") == [] and store.select("sessions") == []
    assert audit_rows(store) == [("user", "root"), ("user", current_actor())]
    assert "scrypt$hash" not in json.dumps(store.select("audit"))


def test_user_names_and_roles_are_checked(store):
    with pytest.raises(MinescanError, match="unknown role"):
        accounts.set_user(store, "ada", "owner", "h")
    with pytest.raises(MinescanError, match="user name"):
        accounts.set_user(store, "a'; DROP TABLE users; --", "admin", "h")
    with pytest.raises(MinescanError, match="no user"):
        accounts.remove_user(store, "nobody")


def test_triage_is_appended_and_the_newest_verdict_counts(store, tmp_path):
    ingest_monitor(store, monitor_run(tmp_path))
    (alert,) = reviews.alerts(store)
    assert alert["triage"] is None and alert["zone"] == "river"
    reviews.triage(store, alert["id"], "under_review", "ana", "going there")
    reviews.triage(store, alert["id"], "confirmed", "bo", "seen on site")
    assert reviews.alerts(store, "demo")[0]["triage"]["reviewer"] == "bo"
    assert reviews.alerts(store, "elsewhere") == []
    assert len(store.select("triage")) == 2
    with pytest.raises(MinescanError, match="unknown triage state"):
        reviews.triage(store, alert["id"], "maybe", "ana")
    with pytest.raises(MinescanError, match="no alert"):
        reviews.triage(store, alert["id"] + 100, "confirmed", "ana")
    assert audit_rows(store)[-2:] == [("triage", "ana"), ("triage", "bo")]


def test_mine_names_replace_and_are_audited(store, tmp_path):
    ingest_scan(store, scan_run(tmp_path, "run-a", "2024", [square(0), square(1)]))
    reviews.name_mine(store, 1, "  Obuasi pit ", by="ana")
    reviews.name_mine(store, 1, "<script>x</script>", by="bo")
    assert reviews.mine_names(store) == {1: "<script>x</script>"}
    assert reviews.mine_names(store, [2]) == {}
    with pytest.raises(MinescanError, match="no mine 9"):
        reviews.name_mine(store, 9, "x")
    with pytest.raises(MinescanError, match="a mine name is"):
        reviews.name_mine(store, 1, " ")
    assert audit_rows(store)[-2:] == [("name", "ana"), ("name", "bo")]


def test_unpublish_is_the_mirror_of_publish(store, tmp_path):
    ingest_scan(store, scan_run(tmp_path, "run-a", "2024", [square(0)]))
    ingest_scan(store, scan_run(tmp_path, "run-b", "2024", [square(0), square(1)]))
    assert len(mines_as_of(store)) == 2
    assert unpublish(store, "run-b", actor="ada") == {"run_id": "run-b", "mines_updated": 2}
    assert len(mines_as_of(store)) == 1  # run-a's statement of 2024 is back
    with pytest.raises(MinescanError, match="not published"):
        unpublish(store, "run-b")
    publish(store, "run-b", actor="ada")
    assert len(mines_as_of(store)) == 2
    actions = audit_rows(store)
    assert actions[-2:] == [("unpublish", "ada"), ("publish", "ada")]
    assert [a for a, _ in actions].count("publish") == 3  # two ingests and one switch back
    assert verify(store) == len(actions)
