"""The throw-away PostGIS cluster: loopback only, a fresh database per call, no password in the URL."""

from __future__ import annotations

from urllib.parse import urlsplit

from tests.store.postgis_server import postgis_url


def test_each_call_gives_a_new_postgis_database_on_loopback():
    import psycopg

    first, second = postgis_url(), postgis_url()
    assert first != second
    for url in (first, second):
        parts = urlsplit(url)
        assert parts.scheme == "postgresql" and parts.hostname == "127.0.0.1"
        assert parts.password is None
    with psycopg.connect(second) as connection:
        listen = connection.execute("SHOW listen_addresses").fetchone()[0]
        assert listen == "127.0.0.1"
        assert connection.execute("SELECT postgis_lib_version()").fetchone()[0].startswith("3")
        tables = "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'spatial_ref_sys'"
        assert connection.execute(tables).fetchone()[0] == 0
