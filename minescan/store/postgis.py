"""The store on a PostgreSQL server with PostGIS: the same tables, for many users at once.

A ``postgresql://`` target opens this backend. Every table of
:mod:`minescan.store.schema` becomes a PostgreSQL table: ``int`` is
``bigint``, ``float`` is ``double precision``, ``text`` is ``text``, an
``auto_key`` key is an identity column, and a spatial table's ``geometry`` is a
``geometry(Geometry, 4326)`` column with a GiST index, so a bounding-box query
reads the index, not the table.

Why it is written this way:

- Values travel only as query parameters or through ``COPY``; table and column
  names enter SQL only after :func:`~minescan.store.backend.check_columns`,
  and then quoted by :class:`psycopg.sql.Identifier`.
- The connection runs in autocommit mode and every write primitive opens a
  transaction, which becomes a savepoint inside :meth:`PostgisBackend.transaction`:
  a failed write is undone alone (as in SQLite), a failed block as a whole.
- Geometries cross the wire as WKB (EWKB with SRID 4326 on the way in), decoded
  by shapely in one vectorised call per query.
- ``target`` is the URL without its password, so it can be shown and logged.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from minescan.kernel.errors import MinescanError, first_line
from minescan.store.backend import GEOMETRY, Backend, BBox, Row, Where, check_columns, select_plan
from minescan.store.postgis_sql import (
    COPY_TYPES,
    as_rows,
    assignment,
    coerce,
    copy_columns,
    ewkb_all,
    table_ddl,
    update_values,
    where_sql,
)
from minescan.store.schema import MARK, SCHEMA_VERSION, TABLES, Table

#: Taken by every top-level transaction: one writer at a time per database, as SQLite's
#: ``BEGIN IMMEDIATE`` gives the GeoPackage, so keys a store function derives from
#: ``max_value`` cannot collide between two ingests.
WRITER_LOCK = (
    "SELECT pg_advisory_xact_lock(hashtext('minescan-store'), "
    "(SELECT oid::int FROM pg_database WHERE datname = current_database()))"
)


def redact(url: str) -> str:
    """``url`` with its password removed: the only form of a URL minescan shows.

    Examples
    --------
    >>> redact("postgresql://ana:s3cret@db.example:5432/mines")
    'postgresql://ana@db.example:5432/mines'
    >>> redact("postgresql://127.0.0.1:5432/mines")
    'postgresql://127.0.0.1:5432/mines'
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}@{host}" if parts.username else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


class PostgisBackend(Backend):
    """The store in a PostgreSQL database with PostGIS (see the module docstring)."""

    def __init__(self, connection, target: str):
        self._connection = connection
        self._depth = 0
        self.target = target

    @classmethod
    def open(cls, target: str, create: bool = True) -> PostgisBackend:
        import psycopg

        shown = redact(target)
        try:
            connection = psycopg.connect(target, autocommit=True)
        except psycopg.OperationalError as error:
            if _missing_database(error) and not create:
                raise MinescanError(
                    f"no store at {shown}; ingest something into it first"
                ) from None
            if not _missing_database(error):
                raise MinescanError(f"cannot open store {shown}: {first_line(error)}") from None
            _create_database(target)
            connection = psycopg.connect(target, autocommit=True)
        backend = cls(connection, shown)
        try:
            backend._check_or_create(create)
        except BaseException:
            connection.close()
            raise
        return backend

    def _check_or_create(self, create: bool) -> None:
        """Accept a minescan store, build one in an empty database, refuse anything else."""
        if self._has_table("meta"):
            if self.get_meta(MARK[0]) != MARK[1]:
                raise MinescanError(
                    f"{self.target} is not a minescan store (another tool's database); "
                    "refusing to use it"
                )
            version = self.get_meta("schema_version")
            if version != SCHEMA_VERSION:
                raise MinescanError(
                    f"store {self.target} has schema version {version!r}; "
                    f"this minescan reads version {SCHEMA_VERSION}"
                )
            return
        foreign = self._user_tables()
        if foreign:
            shown = ", ".join(sorted(foreign)[:3])
            raise MinescanError(
                f"{self.target} is not a minescan store (it holds {shown}); refusing to use it"
            )
        if not create:
            raise MinescanError(f"no store at {self.target}; ingest something into it first")
        self.create_schema()

    def _has_table(self, name: str) -> bool:
        found = self._fetch("SELECT to_regclass(%s) IS NOT NULL", [name])
        return bool(found[0][0])

    def _user_tables(self) -> list[str]:
        """Tables and views in the current schema that no extension (PostGIS) owns."""
        query = """
            SELECT c.relname FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
              AND NOT EXISTS (
                SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
        """
        return [name for (name,) in self._fetch(query)]

    def create_schema(self) -> None:
        from psycopg import sql

        with self.transaction():
            self._execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS postgis"))
            for declared in TABLES:
                for statement in table_ddl(declared):
                    self._execute(statement)
            for key, value in (MARK, ("schema_version", SCHEMA_VERSION)):
                if self.get_meta(key) is None:
                    self.insert("meta", [{"key": key, "value": value}])

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._depth = 1
        try:
            with self._connection.transaction():
                self._execute(WRITER_LOCK)
                yield
        finally:
            self._depth = 0

    def insert(self, name: str, rows: Iterable[Row]) -> None:
        rows = list(rows)
        declared = check_columns(name, {column for row in rows for column in row})
        if not rows:
            return
        keyed = [row for row in rows if row.get(declared.key) is not None]
        unkeyed = [row for row in rows if row.get(declared.key) is None]
        with self._write(name):
            if keyed:
                self._copy(declared, copy_columns(declared, with_key=True), keyed)
            if unkeyed:
                if not declared.auto_key:
                    raise MinescanError(f"table {name}: a row has no {declared.key}")
                self._copy(declared, copy_columns(declared, with_key=False), unkeyed)
            if keyed and declared.auto_key:
                self._advance_identity(declared)

    def _copy(self, declared: Table, columns: list[str], rows: list[Row]) -> None:
        """Stream ``rows`` into the table with binary ``COPY``: values never enter SQL text.

        The geometry goes as EWKB bytes, which PostGIS's binary input reads directly.
        """
        from psycopg import sql

        statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
            sql.Identifier(declared.name), sql.SQL(", ").join(map(sql.Identifier, columns))
        )
        types = dict(declared.columns)
        plain = [column for column in columns if column != GEOMETRY]
        wire_types = [COPY_TYPES[types[column]] for column in plain]
        geometries = ewkb_all([row.get(GEOMETRY) for row in rows]) if declared.spatial else None
        with self._connection.cursor() as cursor, cursor.copy(statement) as copy:
            copy.set_types(wire_types + (["bytea"] if geometries is not None else []))
            for index, row in enumerate(rows):
                values = [coerce(row.get(column), types[column]) for column in plain]
                if geometries is not None:
                    values.append(geometries[index])
                copy.write_row(values)

    def _advance_identity(self, declared: Table) -> None:
        """Move an identity key past the largest explicit key, so later assigned keys are free."""
        from psycopg import sql

        statement = sql.SQL(
            "SELECT setval(pg_get_serial_sequence({table}, {key}), max({column})) FROM {name}"
        ).format(
            table=sql.Literal(declared.name),
            key=sql.Literal(declared.key),
            column=sql.Identifier(declared.key),
            name=sql.Identifier(declared.name),
        )
        self._execute(statement)

    def update(self, name: str, rows: Iterable[Row]) -> None:
        from psycopg import sql

        rows = list(rows)
        declared = check_columns(name, {column for row in rows for column in row})
        types = dict(declared.columns)
        groups: dict[tuple[str, ...], list[Row]] = {}
        for row in rows:
            changed = tuple(sorted(column for column in row if column != declared.key))
            if changed:
                groups.setdefault(changed, []).append(row)
        with self._write(name), self._connection.cursor() as cursor:
            for changed, members in groups.items():
                statement = sql.SQL("UPDATE {} SET {} WHERE {} = %s").format(
                    sql.Identifier(name),
                    sql.SQL(", ").join(map(assignment, changed)),
                    sql.Identifier(declared.key),
                )
                params = [update_values(row, changed, declared.key, types) for row in members]
                cursor.executemany(statement, params)

    def delete(self, name: str, where: Where) -> int:
        from psycopg import sql

        declared = check_columns(name, where)
        condition, params = where_sql(declared, where, None)
        statement = sql.SQL("DELETE FROM {}").format(sql.Identifier(name)) + condition
        with self._write(name), self._connection.cursor() as cursor:
            cursor.execute(statement, params)
            return cursor.rowcount

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
        from psycopg import sql

        declared, where, wanted = select_plan(name, where, bbox, columns, order_by)
        selected = [
            sql.SQL("ST_AsBinary({})").format(sql.Identifier(c))
            if c == GEOMETRY
            else sql.Identifier(c)
            for c in wanted
        ]
        condition, params = where_sql(declared, where, bbox)
        statement = sql.SQL("SELECT {} FROM {}").format(
            sql.SQL(", ").join(selected), sql.Identifier(name)
        )
        statement += condition
        if order_by:
            statement += sql.SQL(" ORDER BY {}").format(
                sql.SQL(", ").join(map(sql.Identifier, order_by))
            )
        if limit is not None:
            statement += sql.SQL(" LIMIT %s")
            params.append(int(limit))
        records = self._fetch(statement, params)
        return as_rows(wanted, records)

    def max_value(self, name: str, column: str) -> Any:
        from psycopg import sql

        check_columns(name, [column])
        statement = sql.SQL("SELECT max({}) FROM {}").format(
            sql.Identifier(column), sql.Identifier(name)
        )
        return self._fetch(statement)[0][0]

    def close(self) -> None:
        self._connection.close()

    @contextlib.contextmanager
    def _write(self, name: str) -> Iterator[None]:
        """One write primitive: a savepoint inside the (caller's or its own) transaction.

        A duplicate key becomes :class:`MinescanError`; the savepoint has already
        undone the failed statement, so the caller's transaction can go on, as
        with SQLite, where a failed statement is undone alone.
        """
        import psycopg

        try:
            with self.transaction(), self._connection.transaction():
                yield
        except psycopg.errors.IntegrityError as error:
            raise MinescanError(f"cannot add rows to {name}: {first_line(error)}") from None

    def _execute(self, statement, params: Sequence[Any] = ()) -> None:
        self._connection.execute(statement, params)

    def _fetch(self, statement, params: Sequence[Any] = ()) -> list[tuple]:
        return self._connection.execute(statement, params).fetchall()


def _missing_database(error: Exception) -> bool:
    """Whether a connection failed only because the database does not exist yet."""
    return "does not exist" in str(error) and "database" in str(error)


def _create_database(target: str) -> None:
    """Create the URL's database, connecting to the server's ``postgres`` database to do it."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(target)
    database = parts.path.lstrip("/")
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    try:
        with psycopg.connect(maintenance, autocommit=True) as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    except psycopg.Error as error:
        raise MinescanError(f"cannot create database {database!r}: {first_line(error)}") from None
