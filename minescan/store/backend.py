"""What a storage backend must do: the primitives, and nothing the store decides.

Mine identity, onset, confirmation, statistics, the audit chain and publishing
live in backend-neutral modules (``identity``, ``stats``, ``audit``,
``ingest``) that call only the methods below. A backend stores and returns
rows of the tables declared in :mod:`minescan.store.schema`; each row is a
``dict`` from column name to a Python value (``int``, ``float``, ``str`` or
``None``), and a spatial table's ``geometry`` is a shapely geometry in
EPSG:4326. Two backends exist: :mod:`minescan.store.geopackage` (one file, the
default) and :mod:`minescan.store.postgis` (a PostgreSQL server); one contract
test suite (``tests/store``) runs against both.

Rules every backend keeps:

- SQL is parameterised: values never enter SQL text. Table and column names
  do, but only names declared in the schema (:func:`check_columns`).
- Writes happen inside :meth:`Backend.transaction`; an exception inside it
  leaves the store exactly as it was.
- A target that exists but is not a minescan store is refused, never
  overwritten or altered.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from minescan.kernel.errors import MinescanError
from minescan.store.schema import GEOMETRY, Table, table

#: A row: column name to value; ``geometry`` is a shapely geometry in EPSG:4326.
Row = dict[str, Any]
#: Equality filters: column to one value, or to a list/tuple/set of values (SQL ``IN``).
Where = dict[str, Any]
#: ``(min_lon, min_lat, max_lon, max_lat)`` in EPSG:4326.
BBox = tuple[float, float, float, float]


class Backend(ABC):
    """A store's storage: tables of rows, a spatial index, transactions.

    Subclasses are opened with :meth:`open`; the store's own logic never
    builds SQL, so a backend is small and a third one (DuckDB, Spatialite)
    would implement these methods and pass the contract suite.
    """

    #: The path or URL the store was opened from, passwords never included.
    target: str

    @classmethod
    @abstractmethod
    def open(cls, target: str, create: bool = True) -> Backend:
        """Open the store at ``target``, creating it (and its schema) when missing.

        ``create=False`` raises :class:`MinescanError` when there is no store
        there yet, so read-only commands do not leave empty stores behind.
        An existing target that is not a minescan store (another tool's
        GeoPackage or database, any other file) raises :class:`MinescanError`
        and is left untouched.
        """

    @abstractmethod
    def create_schema(self) -> None:
        """Create every table of :data:`minescan.store.schema.TABLES` with its indexes.

        Idempotent: a store that has them already is left as it is. Also
        records :data:`~minescan.store.schema.SCHEMA_VERSION` under the
        ``meta`` key ``schema_version``, which :meth:`open` checks.
        """

    @abstractmethod
    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes: all commit when the block ends, none when it raises.

        Nested use joins the outer transaction (the outermost block decides),
        so a store function may open one whatever its caller did. Readers in
        other processes never see a transaction's writes before it commits.
        """

    @abstractmethod
    def insert(self, name: str, rows: Iterable[Row]) -> None:
        """Insert ``rows`` into table ``name``.

        A row may leave out columns (they become NULL); an ``auto_key``
        table's key left out is assigned by the backend. A duplicate key
        raises :class:`MinescanError`. Must handle 100,000 rows in a few
        seconds (batch them).
        """

    @abstractmethod
    def update(self, name: str, rows: Iterable[Row]) -> None:
        """Set the given columns of existing rows, each found by the table's key.

        Every row holds the key and the columns to change; a key that is not
        there changes nothing.
        """

    @abstractmethod
    def delete(self, name: str, where: Where) -> int:
        """Delete the rows matching ``where`` (all rows for ``{}``); the number deleted."""

    @abstractmethod
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
        """Rows of table ``name`` matching every filter, as dicts.

        ``where`` holds equality (or ``IN`` for a list, tuple or set)
        filters; ``bbox`` keeps rows whose geometry's bounding box meets it,
        through the spatial index (fast with millions of rows; the caller
        tests exact intersection when it needs it). ``columns`` limits what
        is read (default: all, the geometry included). ``order_by`` names
        ascending columns; ``limit`` caps the rows.
        """

    @abstractmethod
    def max_value(self, name: str, column: str) -> Any:
        """The largest value of ``column`` in table ``name``, ``None`` when it is empty."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection; the store stays as the last commit left it."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def get_meta(self, key: str) -> str | None:
        """A value of the ``meta`` table, ``None`` when unset."""
        rows = self.select("meta", {"key": key})
        return rows[0]["value"] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        """Set a value of the ``meta`` table."""
        with self.transaction():
            self.delete("meta", {"key": key})
            self.insert("meta", [{"key": key, "value": value}])


def check_columns(name: str, columns: Iterable[str]) -> Table:
    """The declared table ``name``, after checking that every column belongs to it.

    Backends call it before putting a name into SQL text, so only declared
    names ever reach it.

    Examples
    --------
    >>> check_columns("runs", ["run_id", "seq"]).key
    'run_id'
    >>> check_columns("runs", ["run_id; DROP TABLE runs"])
    Traceback (most recent call last):
    ...
    minescan.kernel.errors.MinescanError: table runs has no column 'run_id; DROP TABLE runs'
    """
    try:
        declared = table(name)
    except KeyError:
        raise MinescanError(f"the store has no table {name!r}") from None
    known = set(declared.names)
    for column in columns:
        if column not in known:
            raise MinescanError(f"table {name} has no column {column!r}")
    return declared


def select_plan(
    name: str, where: Where | None, bbox: BBox | None, columns, order_by
) -> tuple[Table, Where, list[str]]:
    """What a :meth:`Backend.select` reads: the declared table, the filters, the columns.

    Every name is checked (:func:`check_columns`), a bounding box on a table
    without geometry is refused, and no ``columns`` means all of them.

    Examples
    --------
    >>> declared, where, columns = select_plan("events", None, None, None, ["event_id"])
    >>> where, columns[:2]
    ({}, ['event_id', 'kind'])
    >>> select_plan("runs", {}, (0, 0, 1, 1), ["run_id"], ())
    Traceback (most recent call last):
    ...
    minescan.kernel.errors.MinescanError: table runs has no geometry to query by bounding box
    """
    where = where or {}
    declared = check_columns(name, [*where, *(columns or ()), *order_by])
    if bbox is not None and not declared.spatial:
        raise MinescanError(f"table {name} has no geometry to query by bounding box")
    return declared, where, list(columns) if columns is not None else list(declared.names)


def sorted_rows(rows: list[Row], order_by: Sequence[str], limit: int | None) -> list[Row]:
    """``rows`` in ``order_by`` order (NULLs first), at most ``limit``: parts read apart, joined.

    Examples
    --------
    >>> sorted_rows([{"a": 2}, {"a": None}, {"a": 1}], ["a"], 2)
    [{'a': None}, {'a': 1}]
    """
    if order_by:
        rows = sorted(rows, key=lambda r: [(r[c] is not None, r[c]) for c in order_by])
    return rows if limit is None else rows[: int(limit)]


def row_values(declared: Table, row: Row) -> list[Any]:
    """``row``'s values in the table's column order (geometry excluded), missing ones None."""
    return [row.get(column) for column, _ in declared.columns]


__all__ = [
    "GEOMETRY",
    "BBox",
    "Backend",
    "Row",
    "Where",
    "check_columns",
    "row_values",
    "select_plan",
    "sorted_rows",
]
