"""``minescan store``: the results store's commands. Each parses and calls one store function."""

from __future__ import annotations

import json

import click

from minescan.store import open_store

store_option = click.option(
    "--store",
    "target",
    required=True,
    help="The store: a .gpkg file (created when missing) or a postgresql:// URL.",
)
draft_option = click.option(
    "--draft", is_flag=True, help="Keep the run unpublished until 'minescan store publish RUN_ID'."
)


def _echo_json(doc) -> None:
    click.echo(json.dumps(doc, indent=2, default=str))


@click.group(name="store")
def cli() -> None:
    """The results store: every run, mine, period and statistic in one database.

    \b
    The store is one GeoPackage file (QGIS and GDAL open it as it is) or a
    PostgreSQL/PostGIS database (--store postgresql://...), with the same tables.
    """


@cli.command("ingest-scan")
@click.argument("run_dir", type=click.Path(file_okay=False))
@store_option
@draft_option
def ingest_scan_command(run_dir, target, draft):
    """Add a 'minescan scan' run folder: its candidates, for the scan's period."""
    from minescan.store.ingest import ingest_scan

    with open_store(target) as backend:
        _echo_json(ingest_scan(backend, run_dir, draft=draft))


@cli.command("ingest-monitor")
@click.argument("run_dir", type=click.Path(file_okay=False))
@store_option
def ingest_monitor_command(run_dir, target):
    """Add a 'minescan monitor' run folder: area profiles, violations, alerts.

    Monitor the store's own export (minescan store export --out mines.gpkg): its
    mine_id column becomes the monitor's mine ids, so the records join each mine's page.
    """
    from minescan.store.monitor import ingest_monitor

    with open_store(target) as backend:
        _echo_json(ingest_monitor(backend, run_dir))


@cli.command("ingest-periods")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--period-column", default=None, help="Column holding each polygon's period.")
@click.option("--period", default=None, help="One period for every polygon (instead of a column).")
@click.option(
    "--period-unit",
    type=click.Choice(["year", "quarter", "month"]),
    default=None,
    help="Coarsen the periods: a map dated 2017-01-01 stands for the year 2017.",
)
@click.option("--layer", default=None, help="Layer of a multi-layer file.")
@click.option("--source-name", default=None, help="What the file restates [default: file name].")
@store_option
@draft_option
def ingest_periods_command(
    file, period_column, period, period_unit, layer, source_name, target, draft
):
    """Add any polygon file with a period column (a year 2019, a quarter 2025Q2, a date)."""
    from minescan.store.ingest import ingest_periods

    with open_store(target) as backend:
        summary = ingest_periods(
            backend,
            file,
            period_column=period_column,
            period=period,
            layer=layer,
            source_name=source_name,
            unit=period_unit,
            draft=draft,
        )
        _echo_json(summary)


@cli.command("boundaries")
@click.argument("file")
@click.option(
    "--kind",
    required=True,
    help="country, province, protected_area, indigenous_territory, concession or nogo.",
)
@click.option("--name-column", required=True, help="Column naming each jurisdiction.")
@click.option("--layer", default=None, help="Layer of a multi-layer file.")
@store_option
def boundaries_command(file, kind, name_column, layer, target):
    """Import a boundary layer; FILE 'natural-earth' is the shipped Natural Earth countries."""
    from minescan.store.boundaries import import_boundaries

    with open_store(target) as backend:
        _echo_json(import_boundaries(backend, file, kind, name_column, layer))


@cli.command("stats")
@store_option
@click.option("--kind", default=None, help="Only this boundary layer (or 'total').")
@click.option("--period", default=None, help="Only this period.")
@click.option("--as-of", "as_of", default=None, help="As the store stood after this run.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="stats.csv to write.")
def stats_command(target, kind, period, as_of, out):
    """Mined and new area per jurisdiction and period (cached in the store)."""
    from minescan.store.boundaries import normalise_kind
    from minescan.store.query import write_csv
    from minescan.store.stats import TOTAL, statistics

    kind = None if kind is None else (TOTAL if kind == TOTAL else normalise_kind(kind))
    with open_store(target, create=False) as backend:
        table = statistics(backend, kind=kind, period=period, as_of=as_of)
    write_csv(table, out)
    click.echo(f"{len(table)} rows -> {out}")


@cli.command("diff")
@store_option
@click.option("--from", "start", required=True, help="The earlier period.")
@click.option("--to", "end", required=True, help="The later period.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="new.gpkg to write.")
def diff_command(target, start, end, out):
    """The ground mined after --from up to and including --to, per mine."""
    from minescan.store.query import new_ground, write_layer

    with open_store(target, create=False) as backend:
        table = new_ground(backend, start, end)
    write_layer(table, out, layer="new")
    click.echo(f"{len(table)} mines with new ground -> {out}")


@cli.command("runs")
@store_option
def runs_command(target):
    """Every run in ingest order: kind, source, periods, published."""
    from minescan.store.query import runs_table

    with open_store(target, create=False) as backend:
        click.echo(runs_table(backend).to_string(index=False))


@cli.command("export")
@store_option
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False),
    help="FILE.gpkg, .parquet, .geojson or .csv.",
)
@click.option(
    "--period", default=None, help="The mines and their ground as of the end of this period."
)
def export_command(target, out, period):
    """The published mines with onset, status and area."""
    from minescan.store.query import mines_as_of, write_layer

    with open_store(target, create=False) as backend:
        table = mines_as_of(backend, period)
    write_layer(table, out)
    click.echo(f"{len(table)} mines -> {out}")


@cli.command("publish")
@click.argument("run_id")
@store_option
def publish_command(run_id, target):
    """Publish a draft run: readers see all of it at once."""
    from minescan.store.runs import publish

    with open_store(target, create=False) as backend:
        _echo_json(publish(backend, run_id))


@cli.command("unpublish")
@click.argument("run_id")
@store_option
def unpublish_command(run_id, target):
    """Withdraw a published run: readers fall back to what the store said before it, at once."""
    from minescan.store.runs import unpublish

    with open_store(target, create=False) as backend:
        _echo_json(unpublish(backend, run_id))


@cli.command("diff-runs")
@store_option
@click.option("--from", "first", required=True, help="The earlier run id.")
@click.option("--to", "second", required=True, help="The later run id.")
@click.option("--kind", default=None, help="Only this boundary layer (or 'total').")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="CSV to write.")
def diff_runs_command(target, first, second, kind, out):
    """How the statistics moved between the store as of two runs (restatements)."""
    from minescan.store.query import diff_runs, write_csv

    with open_store(target, create=False) as backend:
        table = diff_runs(backend, first, second, kind)
    write_csv(table, out)
    moved = int((table["area_ha_change"].abs() > 0).sum())
    click.echo(f"{len(table)} rows, {moved} moved -> {out}")


@cli.command("mine")
@click.argument("mine_id", type=int)
@store_option
def mine_command(mine_id, target):
    """One mine's history: state, observations, merges and splits, monitor records."""
    from minescan.store.query import mine

    with open_store(target, create=False) as backend:
        _echo_json(mine(backend, mine_id))


@cli.command("audit")
@store_option
def audit_command(target):
    """Check the audit log's hash chain; a broken chain is an error."""
    from minescan.store.audit import verify

    with open_store(target, create=False) as backend:
        click.echo(f"audit log intact: {verify(backend)} rows")
