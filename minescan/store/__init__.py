"""The results store: every run, mine, period and statistic in one database.

:func:`open_store` picks the backend from the target: a file path is one
GeoPackage (:mod:`minescan.store.geopackage`, the default, which QGIS and
GDAL open as it is), a ``postgresql://`` URL a PostGIS database
(:mod:`minescan.store.postgis`, imported only then, so the file store needs no
PostgreSQL client). Both hold the same tables (:mod:`minescan.store.schema`).
"""

from __future__ import annotations

from minescan.store.backend import Backend

#: URL schemes that mean a PostgreSQL server.
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres(target: str) -> bool:
    """Whether ``target`` names a PostgreSQL database rather than a file.

    Examples
    --------
    >>> is_postgres("postgresql://127.0.0.1:5432/mines"), is_postgres("store.gpkg")
    (True, False)
    """
    return str(target).lower().startswith(POSTGRES_SCHEMES)


def open_store(target, create: bool = True) -> Backend:
    """Open (or create) the store at ``target``: a GeoPackage path or a ``postgresql://`` URL.

    ``create=False`` refuses a missing store with a one-line error.
    """
    target = str(target)
    if is_postgres(target):
        from minescan.store.postgis import PostgisBackend

        return PostgisBackend.open(target, create=create)
    from minescan.store.geopackage import GeopackageBackend

    return GeopackageBackend.open(target, create=create)


__all__ = ["Backend", "is_postgres", "open_store"]
