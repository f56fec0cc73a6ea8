"""The store's tables, declared once: both backends build them from this list.

A backend never invents a column: :class:`Table` says each table's columns,
their portable types, its key and whether it has a geometry. GeoPackage maps
them onto SQLite types and a GPKG geometry column with an R-tree; PostGIS onto
PostgreSQL types and a ``geometry(Geometry, 4326)`` column with a GiST index.
Every geometry is stored in EPSG:4326 (areas are measured in EPSG:6933 by the
backend-neutral code before they are written).

Column types are ``int``, ``float`` and ``text`` (dates and periods are ISO
text, so they sort as they read; JSON documents are text too).
"""

from __future__ import annotations

from dataclasses import dataclass

#: Name of the geometry column in every table that has one.
GEOMETRY = "geometry"
#: The one CRS of stored geometries.
SRID = 4326
#: ``PRAGMA application_id`` of a minescan GeoPackage ("GPKG", as the spec asks) and the
#: schema version written to the ``meta`` table: a store is recognised by that row.
SCHEMA_VERSION = "2"
#: The ``meta`` row that marks a minescan store: any other file or database is refused.
MARK = ("application", "minescan-store")


@dataclass(frozen=True)
class Table:
    """One table: ``columns`` as ``(name, type)`` pairs, ``key`` the primary key column.

    ``spatial`` tables carry a :data:`GEOMETRY` column in EPSG:4326 with a
    spatial index, so bounding-box queries do not scan the table.
    ``auto_key`` keys are integers the backend assigns when a row leaves them out.
    """

    name: str
    columns: tuple[tuple[str, str], ...]
    key: str
    spatial: bool = False
    auto_key: bool = False
    #: Columns queried by equality often enough to deserve an index.
    indexed: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """Column names, the geometry last when the table has one."""
        return tuple(n for n, _ in self.columns) + ((GEOMETRY,) if self.spatial else ())


#: The columns an observation and its increment share: which polygon, whose, when, how big.
OBSERVED = (
    ("obs_id", "int"),
    ("mine_id", "int"),
    ("run_id", "text"),
    ("period", "text"),
    ("period_start", "text"),
    ("period_end", "text"),
    ("area_ha", "float"),
)

TABLES: tuple[Table, ...] = (
    Table("meta", (("key", "text"), ("value", "text")), key="key"),
    Table(
        "runs",
        (
            ("run_id", "text"),
            ("seq", "int"),  # ingest order: what "newer" means between runs
            ("kind", "text"),  # scan, monitor or periods
            ("source", "text"),  # what the run restates: a newer run of a source replaces it
            ("path", "text"),
            ("created", "text"),
            ("actor", "text"),
            ("published", "int"),
            ("published_at", "text"),
            ("manifest", "text"),  # JSON: the run's own manifest, config and versions
        ),
        key="run_id",
    ),
    Table(
        "run_periods",
        (
            ("id", "int"),
            ("run_id", "text"),
            ("period", "text"),
            ("period_start", "text"),
            ("period_end", "text"),
            ("polygons", "int"),
        ),
        key="id",
        auto_key=True,
        indexed=("run_id",),
    ),
    Table(
        "observations",  # one polygon of one run in one period, with the mine it belongs to
        (*OBSERVED, ("score", "float")),
        key="obs_id",
        spatial=True,
        indexed=("mine_id", "run_id", "period"),
    ),
    Table(
        "increments",  # the ground an observation adds to its mine: "new" is a query on this
        OBSERVED,
        key="obs_id",
        spatial=True,
        indexed=("mine_id", "period"),
    ),
    Table(
        "mines",  # each mine's current state over the published runs
        (
            ("mine_id", "int"),
            ("onset", "text"),
            ("onset_start", "text"),
            ("last_period", "text"),
            ("periods", "int"),
            ("status", "text"),  # confirmed, provisional, merged or draft
            ("merged_into", "int"),
            ("area_ha", "float"),
            ("run_id", "text"),
        ),
        key="mine_id",
        spatial=True,
        indexed=("status",),
    ),
    Table(
        "events",  # merges and splits: mine_id became (part of) other_id
        (
            ("event_id", "int"),
            ("kind", "text"),
            ("mine_id", "int"),
            ("other_id", "int"),
            ("period", "text"),
            ("run_id", "text"),
        ),
        key="event_id",
        auto_key=True,
        indexed=("mine_id", "other_id"),
    ),
    Table(
        "boundaries",
        (
            ("boundary_id", "int"),
            ("kind", "text"),
            ("name", "text"),
            ("source", "text"),
        ),
        key="boundary_id",
        spatial=True,
        auto_key=True,
        indexed=("kind",),
    ),
    Table(
        "stats",
        (
            ("id", "int"),
            ("as_of_run", "text"),  # the newest published run the figures include
            ("kind", "text"),
            ("jurisdiction", "text"),
            ("period", "text"),
            ("area_ha", "float"),
            ("new_area_ha", "float"),
            ("concession_ha", "float"),
            ("nogo_ha", "float"),
            ("run_id", "text"),
        ),
        key="id",
        auto_key=True,
        indexed=("as_of_run",),
    ),
    Table(
        "monitor",  # monitor results per mine: area profile rows, violations, alerts, summary
        (
            ("id", "int"),
            ("run_id", "text"),
            ("mine_id", "text"),
            ("record", "text"),
            ("date", "text"),
            ("payload", "text"),  # JSON object: the row as monitor wrote it
        ),
        key="id",
        auto_key=True,
        indexed=("mine_id", "run_id"),
    ),
    Table(
        "previews",  # a true-colour PNG (base64) of the imagery one observation was seen in
        (("obs_id", "int"), ("run_id", "text"), ("period", "text"), ("png", "text")),
        key="obs_id",
        indexed=("run_id",),
    ),
    Table(
        "users",  # dashboard accounts: a scrypt hash, never the password
        (
            ("user_name", "text"),
            ("role", "text"),
            ("password_hash", "text"),
            ("created", "text"),
        ),
        key="user_name",
    ),
    Table(
        "sessions",  # live logins, keyed by the SHA-256 of the cookie token (never the token)
        (
            ("token_hash", "text"),
            ("user_name", "text"),
            ("role", "text"),
            ("csrf", "text"),
            ("expires", "text"),
        ),
        key="token_hash",
        indexed=("user_name",),
    ),
    Table(
        "triage",  # reviewers' verdicts on monitor alerts, appended: the newest one counts
        (
            ("id", "int"),
            ("alert_id", "int"),
            ("state", "text"),
            ("reviewer", "text"),
            ("note", "text"),
            ("at", "text"),
        ),
        key="id",
        auto_key=True,
        indexed=("alert_id",),
    ),
    Table(
        "mine_names",  # display names reviewers give mines (searchable)
        (("mine_id", "int"), ("name", "text"), ("named_by", "text"), ("named_at", "text")),
        key="mine_id",
    ),
    Table(
        "audit",  # append-only, hash-chained
        (
            ("seq", "int"),
            ("at", "text"),
            ("actor", "text"),
            ("action", "text"),
            ("detail", "text"),
            ("prev_hash", "text"),
            ("hash", "text"),
        ),
        key="seq",
    ),
)

#: Tables by name.
BY_NAME: dict[str, Table] = {t.name: t for t in TABLES}


def table(name: str) -> Table:
    """The declared table ``name``; a ``KeyError`` names a typo in code, not user input."""
    return BY_NAME[name]
