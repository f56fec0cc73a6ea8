"""What only the PostGIS backend does: databases it creates or refuses, the GiST index, no password shown."""

from __future__ import annotations

import pytest

from minescan.kernel.errors import MinescanError
from minescan.store import open_store
from minescan.store.postgis import redact
from minescan.store.schema import SCHEMA_VERSION
from tests.store.postgis_server import postgis_url


def test_another_tools_database_is_refused_and_left_alone():
    import psycopg

    url = postgis_url()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CREATE TABLE parcels (id int)")
    with pytest.raises(MinescanError, match="not a minescan store"):
        open_store(url)
    with psycopg.connect(url) as connection:
        no_runs_table = connection.execute("SELECT to_regclass('runs') IS NULL").fetchone()[0]
    assert no_runs_table


def test_a_missing_database_is_created_with_the_schema_and_a_gist_index():
    import psycopg

    url = postgis_url().rsplit("/", 1)[0] + "/made_by_open"
    with open_store(url) as store:
        assert store.get_meta("schema_version") == SCHEMA_VERSION == "2"
    with psycopg.connect(url) as connection:
        methods = connection.execute(
            "SELECT am.amname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_am am ON am.oid = c.relam WHERE i.indrelid = 'mines'::regclass"
        ).fetchall()
    assert ("gist",) in methods


def test_the_target_never_carries_a_password():
    with open_store(postgis_url()) as store:
        assert ":" not in store.target.split("@")[0].removeprefix("postgresql://")
    assert redact("postgresql://u:pw@h:1/d") == "postgresql://u@h:1/d"
