"""The contract suite's one fixture: a fresh, empty store for each backend.

``store_url`` is a GeoPackage path in a temporary folder for ``gpkg`` and a
new database on the session's throw-away PostgreSQL server for ``postgis``
(``tests/store/postgis_server.py``, which skips with the reason when the
server binaries are missing). Every contract test takes ``store_url`` and
calls ``minescan.store.open_store(store_url)``, so both backends pass the
same tests.
"""

from __future__ import annotations

import pytest


@pytest.fixture(params=["gpkg", "postgis"])
def store_url(request, tmp_path) -> str:
    if request.param == "postgis":
        from tests.store.postgis_server import postgis_url

        return postgis_url()
    return str(tmp_path / "store.gpkg")
