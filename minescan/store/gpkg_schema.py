"""The GeoPackage tables of a store: the core tables GDAL and QGIS look for, and the R-trees.

Every store table of :mod:`minescan.store.schema` becomes a GeoPackage table:
spatial ones as ``features`` with a ``GEOMETRY`` column in
``gpkg_geometry_columns`` and the ``gpkg_rtree_index`` extension (an R-tree
kept current by the spec's six triggers), the others as ``attributes``.
Tables keyed by text get an integer ``fid`` first, as the spec asks of every
table.
"""

from __future__ import annotations

import datetime as dt
import sqlite3

from minescan.store.schema import GEOMETRY, MARK, SCHEMA_VERSION, SRID, TABLES, Table

SQL_TYPES = {"int": "INTEGER", "float": "REAL", "text": "TEXT"}
WGS84_WKT = (
    'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,'
    'AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,'
    'AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],'
    'AUTHORITY["EPSG","4326"]]'
)
#: Rows the spec requires in ``gpkg_spatial_ref_sys``, plus WGS 84.
SPATIAL_REF_SYS = (
    ("Undefined cartesian SRS", -1, "NONE", -1, "undefined", "undefined cartesian coordinates"),
    ("Undefined geographic SRS", 0, "NONE", 0, "undefined", "undefined geographic coordinates"),
    ("WGS 84 geodetic", SRID, "EPSG", SRID, WGS84_WKT, "longitude/latitude on WGS 84"),
)


def create_schema(db: sqlite3.Connection) -> None:
    """The GeoPackage core tables, every store table, their indexes and R-trees."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS gpkg_spatial_ref_sys (srs_name TEXT NOT NULL, "
        "srs_id INTEGER PRIMARY KEY, organization TEXT NOT NULL, "
        "organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT)"
    )
    db.executemany(
        "INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES (?, ?, ?, ?, ?, ?)", SPATIAL_REF_SYS
    )
    db.execute(
        "CREATE TABLE IF NOT EXISTS gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY, "
        "data_type TEXT NOT NULL, identifier TEXT UNIQUE, description TEXT DEFAULT '', "
        "last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')), "
        "min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER, "
        "CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id))"
    )
    db.execute(
        "CREATE TABLE IF NOT EXISTS gpkg_geometry_columns (table_name TEXT NOT NULL, "
        "column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL, srs_id INTEGER NOT NULL, "
        "z TINYINT NOT NULL, m TINYINT NOT NULL, "
        "CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name))"
    )
    db.execute(
        "CREATE TABLE IF NOT EXISTS gpkg_extensions (table_name TEXT, column_name TEXT, "
        "extension_name TEXT NOT NULL, definition TEXT NOT NULL, scope TEXT NOT NULL, "
        "CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name))"
    )
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"
    for declared in TABLES:
        _create_table(db, declared, now)
    db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", MARK)
    db.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", ("schema_version", SCHEMA_VERSION)
    )


def _create_table(db: sqlite3.Connection, declared: Table, now: str) -> None:
    name, key = declared.name, declared.key
    columns = []
    key_type = dict(declared.columns)[key]
    if key_type != "int":  # GeoPackage wants an integer row id in every table
        columns.append("fid INTEGER PRIMARY KEY AUTOINCREMENT")
    for column, kind in declared.columns:
        if column == key:
            constraint = "PRIMARY KEY" if kind == "int" else "NOT NULL UNIQUE"
            columns.append(f'"{column}" {SQL_TYPES[kind]} {constraint}')
        else:
            columns.append(f'"{column}" {SQL_TYPES[kind]}')
    if declared.spatial:
        columns.append(f'"{GEOMETRY}" GEOMETRY')
    db.execute(f'CREATE TABLE IF NOT EXISTS "{name}" ({", ".join(columns)})')
    for column in declared.indexed:
        db.execute(f'CREATE INDEX IF NOT EXISTS "idx_{name}_{column}" ON "{name}" ("{column}")')
    kind = "features" if declared.spatial else "attributes"
    db.execute(
        "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, last_change, srs_id)"
        " VALUES (?, ?, ?, ?, ?)",
        (name, kind, name, now, SRID if declared.spatial else None),
    )
    if declared.spatial:
        db.execute(
            "INSERT OR IGNORE INTO gpkg_geometry_columns VALUES (?, ?, 'GEOMETRY', ?, 0, 0)",
            (name, GEOMETRY, SRID),
        )
        _create_rtree(db, name, key)


def _create_rtree(db: sqlite3.Connection, name: str, key: str) -> None:
    """The ``gpkg_rtree_index`` extension: the R-tree and the spec's six triggers."""
    rtree, g = f"rtree_{name}_{GEOMETRY}", GEOMETRY
    db.execute(
        "INSERT OR IGNORE INTO gpkg_extensions VALUES (?, ?, 'gpkg_rtree_index', "
        "'http://www.geopackage.org/spec120/#extension_rtree', 'write-only')",
        (name, g),
    )
    db.execute(
        f'CREATE VIRTUAL TABLE IF NOT EXISTS "{rtree}" USING rtree(id, minx, maxx, miny, maxy)'
    )
    box = f'NEW."{key}", ST_MinX(NEW."{g}"), ST_MaxX(NEW."{g}"), ST_MinY(NEW."{g}"), ST_MaxY(NEW."{g}")'
    present = f'(NEW."{g}" NOTNULL AND NOT ST_IsEmpty(NEW."{g}"))'
    absent = f'(NEW."{g}" ISNULL OR ST_IsEmpty(NEW."{g}"))'
    same, moved = f'OLD."{key}" = NEW."{key}"', f'OLD."{key}" != NEW."{key}"'
    triggers = {
        "insert": (
            f'AFTER INSERT ON "{name}" WHEN {present}',
            f'INSERT OR REPLACE INTO "{rtree}" VALUES ({box});',
        ),
        "update1": (
            f'AFTER UPDATE OF "{g}" ON "{name}" WHEN {same} AND {present}',
            f'INSERT OR REPLACE INTO "{rtree}" VALUES ({box});',
        ),
        "update2": (
            f'AFTER UPDATE OF "{g}" ON "{name}" WHEN {same} AND {absent}',
            f'DELETE FROM "{rtree}" WHERE id = OLD."{key}";',
        ),
        "update3": (
            f'AFTER UPDATE ON "{name}" WHEN {moved} AND {present}',
            f'DELETE FROM "{rtree}" WHERE id = OLD."{key}"; INSERT OR REPLACE INTO "{rtree}" VALUES ({box});',
        ),
        "update4": (
            f'AFTER UPDATE ON "{name}" WHEN {moved} AND {absent}',
            f'DELETE FROM "{rtree}" WHERE id IN (OLD."{key}", NEW."{key}");',
        ),
        "delete": (
            f'AFTER DELETE ON "{name}" WHEN OLD."{g}" NOT NULL',
            f'DELETE FROM "{rtree}" WHERE id = OLD."{key}";',
        ),
    }
    for suffix, (when, body) in triggers.items():
        db.execute(f'CREATE TRIGGER IF NOT EXISTS "{rtree}_{suffix}" {when} BEGIN {body} END')
