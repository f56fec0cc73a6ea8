"""The default backend: the whole store in one GeoPackage file.

The file is a GeoPackage 1.3 as QGIS and GDAL expect it: ``gpkg_spatial_ref_sys``,
``gpkg_contents`` (spatial tables as ``features``, the others as
``attributes``), ``gpkg_geometry_columns``, geometries as GPKG blobs (header,
envelope, WKB) and, for every spatial table, the ``gpkg_rtree_index``
extension: an R-tree kept current by the spec's triggers. Those triggers call
``ST_IsEmpty`` and ``ST_MinX``..``ST_MaxY``, which SQLite does not have, so
every connection registers them (:func:`_register_functions`); GDAL has its own.

A file is recognised as a store by its ``meta`` row ``application =
minescan-store``; any other file (another tool's GeoPackage, a CSV) is refused
and never touched. A new store is built in a temporary file and renamed into
place, so a crash never leaves half a schema. Writes run in ``BEGIN
IMMEDIATE`` transactions with SQLite's rollback journal: a process killed
mid-ingest leaves a journal that the next open rolls back.
"""

from __future__ import annotations

import contextlib
import sqlite3
import struct
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from minescan.kernel.errors import MinescanError, first_line
from minescan.kernel.io import atomic_path
from minescan.store.backend import (
    Backend,
    BBox,
    Row,
    Where,
    check_columns,
    row_values,
    select_plan,
    sorted_rows,
)
from minescan.store.gpkg_schema import create_schema
from minescan.store.schema import GEOMETRY, MARK, SCHEMA_VERSION, SRID

#: ``PRAGMA application_id`` of every GeoPackage ("GPKG") and the 1.3.0 ``user_version``.
APPLICATION_ID = 0x47504B47
USER_VERSION = 10300
SQLITE_MAGIC = b"SQLite format 3\x00"
#: Bytes of the envelope after a GPKG header, by the envelope code in bits 1-3 of the flags.
ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}


class GeopackageBackend(Backend):
    """One ``.gpkg`` file holding every store table (see the module docstring)."""

    def __init__(self, path: Path, connection: sqlite3.Connection):
        self.target = str(path)
        self._db = connection
        self._depth = 0

    @classmethod
    def open(cls, target: str, create: bool = True) -> GeopackageBackend:
        path = Path(target)
        if path.is_dir():
            raise MinescanError(f"store {path} is a folder; give a .gpkg file name")
        if not path.exists():
            if not create:
                raise MinescanError(f"no store at {path}; ingest something into it first")
            if path.suffix.lower() != ".gpkg":
                raise MinescanError(f"a new store needs a .gpkg file name, not {path.name}")
            _create_file(path)
        _check_is_store(path)
        backend = cls(path, _connect(path))
        if backend.get_meta("schema_version") != SCHEMA_VERSION:
            backend.close()
            raise MinescanError(
                f"store {path} has schema version {backend.get_meta('schema_version')!r}; "
                f"this minescan reads version {SCHEMA_VERSION}"
            )
        return backend

    def create_schema(self) -> None:
        with self.transaction():
            create_schema(self._db)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        if self._depth == 0:
            self._db.execute("BEGIN IMMEDIATE")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            if self._depth == 0:
                self._db.execute("ROLLBACK")
            raise
        self._depth -= 1
        if self._depth == 0:
            self._db.execute("COMMIT")

    def insert(self, name: str, rows: Iterable[Row]) -> None:
        rows = list(rows)
        if not rows:
            return
        declared = check_columns(name, {c for row in rows for c in row})
        names = [c for c, _ in declared.columns]
        if declared.auto_key and any(row.get(declared.key) is None for row in rows):
            start = (self.max_value(name, declared.key) or 0) + 1
            rows = _fill_keys(rows, declared.key, start)
        values = [row_values(declared, row) for row in rows]
        if declared.spatial:
            names.append(GEOMETRY)
            blobs = encode([row.get(GEOMETRY) for row in rows])
            values = [v + [b] for v, b in zip(values, blobs, strict=True)]
        sql = f'INSERT INTO "{name}" ({_names(names)}) VALUES ({", ".join("?" * len(names))})'
        with self.transaction():
            try:
                self._db.executemany(sql, values)
            except sqlite3.IntegrityError as exc:
                raise MinescanError(f"cannot add rows to {name}: {first_line(exc)}") from None

    def update(self, name: str, rows: Iterable[Row]) -> None:
        rows = list(rows)
        if not rows:
            return
        declared = check_columns(name, {c for row in rows for c in row})
        with self.transaction():
            for columns, group in _by_columns(rows, declared.key).items():
                sets = ", ".join(f'"{c}" = ?' for c in columns)
                sql = f'UPDATE "{name}" SET {sets} WHERE "{declared.key}" = ?'
                self._db.executemany(sql, _update_values(group, columns, declared.key))

    def delete(self, name: str, where: Where) -> int:
        check_columns(name, where)
        deleted = 0
        with self.transaction():
            for part in _chunks(where):
                clause, params = _where(part)
                deleted += self._db.execute(f'DELETE FROM "{name}"{clause}', params).rowcount
        return deleted

    def select(
        self,
        name: str,
        where: Where | None = None,
        *,
        bbox: BBox | None = None,
        columns: Sequence[str] | None = None,
        order_by: Sequence[str] = (),
        limit: int | None = None,
    ) -> list[Row]:
        declared, where, columns = select_plan(name, where, bbox, columns, order_by)
        parts = _chunks(where)
        if len(parts) > 1:  # a long IN list, read in parts: ordered and cut once joined
            found = [self.select(name, p, bbox=bbox, columns=columns) for p in parts]
            return sorted_rows([row for rows in found for row in rows], order_by, limit)
        clause, params = _where(where, prefix="t.")
        source = f'"{name}" AS t'
        if bbox is not None:
            source += (
                f' JOIN "rtree_{name}_{GEOMETRY}" AS r ON r.id = t."{declared.key}"'
                " AND r.minx <= ? AND r.maxx >= ? AND r.miny <= ? AND r.maxy >= ?"
            )
            params = [bbox[2], bbox[0], bbox[3], bbox[1], *params]
        sql = f"SELECT {_names(columns, 't.')} FROM {source}{clause}"
        if order_by:
            sql += " ORDER BY " + _names(order_by, "t.")
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        found = self._db.execute(sql, params).fetchall()
        rows = [dict(zip(columns, values, strict=True)) for values in found]
        if GEOMETRY in columns:
            for row, geometry in zip(rows, decode([r[GEOMETRY] for r in rows]), strict=True):
                row[GEOMETRY] = geometry
        return rows

    def max_value(self, name: str, column: str) -> Any:
        check_columns(name, [column])
        return self._db.execute(f'SELECT max("{column}") FROM "{name}"').fetchone()[0]

    def close(self) -> None:
        self._db.close()


def encode(geometries: Sequence[Any]) -> list[bytes | None]:
    """Shapely geometries (EPSG:4326) as GPKG geometry blobs; ``None`` stays ``None``.

    Examples
    --------
    >>> blob = encode([shapely.box(0, 0, 2, 1)])[0]
    >>> blob[:2], decode([blob])[0].bounds
    (b'GP', (0.0, 0.0, 2.0, 1.0))
    """
    array = np.asarray(geometries, dtype=object)
    present = np.array([g is not None for g in array], dtype=bool)
    blobs: list[bytes | None] = [None] * len(array)
    if not present.any():
        return blobs
    wkbs = shapely.to_wkb(array[present], byte_order=1)
    bounds = shapely.bounds(array[present])
    empties = shapely.is_empty(array[present])
    for i, wkb, box, empty in zip(np.flatnonzero(present), wkbs, bounds, empties, strict=True):
        if empty:
            blobs[i] = b"GP\x00\x11" + struct.pack("<i", SRID) + wkb
        else:
            envelope = struct.pack("<4d", box[0], box[2], box[1], box[3])
            blobs[i] = b"GP\x00\x03" + struct.pack("<i", SRID) + envelope + wkb
    return blobs


def decode(blobs: Sequence[bytes | None]) -> list[Any]:
    """GPKG geometry blobs as shapely geometries (``None`` for NULL)."""
    wkbs = [None if b is None else bytes(b[_header_bytes(b) :]) for b in blobs]
    return list(shapely.from_wkb(wkbs)) if wkbs else []


def _header_bytes(blob: bytes) -> int:
    return 8 + ENVELOPE_BYTES[(blob[3] >> 1) & 0x07]


def _envelope(blob: bytes | None) -> tuple[float, float, float, float] | None:
    """``(minx, maxx, miny, maxy)`` of a GPKG blob, from its header when it has one."""
    if blob is None or blob[3] & 0x10:
        return None
    if (blob[3] >> 1) & 0x07:
        order = "<" if blob[3] & 0x01 else ">"
        return struct.unpack_from(f"{order}4d", blob, 8)
    minx, miny, maxx, maxy = decode([blob])[0].bounds
    return minx, maxx, miny, maxy


def _envelope_part(index: int):
    def part(blob):
        envelope = _envelope(blob)
        return None if envelope is None else envelope[index]

    return part


def _register_functions(connection: sqlite3.Connection) -> None:
    """The ST_ functions the GeoPackage R-tree triggers call, which plain SQLite lacks."""
    connection.create_function(
        "ST_IsEmpty", 1, lambda b: None if b is None else int(bool(b[3] & 0x10)), deterministic=True
    )
    for index, name in enumerate(("ST_MinX", "ST_MaxX", "ST_MinY", "ST_MaxY")):
        connection.create_function(name, 1, _envelope_part(index), deterministic=True)


def _connect(path: Path) -> sqlite3.Connection:
    try:
        connection = sqlite3.connect(path, isolation_level=None, timeout=30)
        _register_functions(connection)
        connection.execute("PRAGMA foreign_keys = OFF")
    except sqlite3.Error as exc:
        raise MinescanError(f"cannot open store {path}: {first_line(exc)}") from None
    return connection


def _create_file(path: Path) -> None:
    """A new, empty store at ``path``, built aside and renamed into place."""
    with atomic_path(path) as tmp:
        connection = _connect(tmp)
        try:
            connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            connection.execute(f"PRAGMA user_version = {USER_VERSION}")
            connection.execute("BEGIN")
            create_schema(connection)
            connection.execute("COMMIT")
        finally:
            connection.close()


def _check_is_store(path: Path) -> None:
    """Refuse any file that is not a minescan store, before writing a byte to it."""
    with open(path, "rb") as fh:
        magic = fh.read(len(SQLITE_MAGIC))
    if magic != SQLITE_MAGIC:
        raise MinescanError(
            f"{path} is not a minescan store (not a GeoPackage); refusing to use it"
        )
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            application = connection.execute("PRAGMA application_id").fetchone()[0]
            mark = connection.execute("SELECT value FROM meta WHERE key = ?", (MARK[0],)).fetchone()
        finally:
            connection.close()
    except sqlite3.Error:
        mark, application = None, None
    if application != APPLICATION_ID or mark is None or mark[0] != MARK[1]:
        raise MinescanError(
            f"{path} is not a minescan store (another tool's database); refusing to use it"
        )


def _names(columns: Sequence[str], prefix: str = "") -> str:
    return ", ".join(f'{prefix}"{c}"' for c in columns)


def _where(where: Where, prefix: str = "") -> tuple[str, list[Any]]:
    """`` WHERE`` text with ``?`` placeholders and its parameters."""
    parts, params = [], []
    for column, value in where.items():
        if isinstance(value, list | tuple | set | frozenset):
            values = list(value)
            if not values:
                parts.append("0")
                continue
            parts.append(f'{prefix}"{column}" IN ({", ".join("?" * len(values))})')
            params.extend(values)
        elif value is None:
            parts.append(f'{prefix}"{column}" IS NULL')
        else:
            parts.append(f'{prefix}"{column}" = ?')
            params.append(value)
    return (" WHERE " + " AND ".join(parts)) if parts else "", params


#: Most values in one ``IN`` list: SQLite allows 32,766 parameters in a statement.
MAX_IN = 20_000


def _chunks(where: Where) -> list[Where]:
    """``where`` cut into filters whose ``IN`` lists SQLite accepts (the longest one is cut).

    Selecting by 45,000 ids is common (every mine an ingest touched); results
    of the parts are concatenated, so a cut select cannot also sort or limit.
    """
    long = [
        c
        for c, v in where.items()
        if isinstance(v, list | tuple | set | frozenset) and len(v) > MAX_IN
    ]
    if not long:
        return [where]
    values = sorted(where[long[0]])
    return [
        part
        for start in range(0, len(values), MAX_IN)
        for part in _chunks({**where, long[0]: values[start : start + MAX_IN]})
    ]


def _fill_keys(rows: list[Row], key: str, start: int) -> list[Row]:
    filled, next_key = [], start
    for row in rows:
        if row.get(key) is None:
            row = {**row, key: next_key}
            next_key += 1
        filled.append(row)
    return filled


def _by_columns(rows: list[Row], key: str) -> dict[tuple[str, ...], list[Row]]:
    """Rows grouped by the columns they set, so each group is one ``executemany``."""
    groups: dict[tuple[str, ...], list[Row]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(c for c in row if c != key)), []).append(row)
    return groups


def _update_values(rows: list[Row], columns: tuple[str, ...], key: str) -> list[list[Any]]:
    """Per row, the SET values then the key; geometries encoded in one go."""
    blobs = encode([row[GEOMETRY] for row in rows]) if GEOMETRY in columns else None
    values = []
    for i, row in enumerate(rows):
        values.append([blobs[i] if c == GEOMETRY else row[c] for c in columns] + [row[key]])
    return values
