"""``minescan monitor``: excavation history, no-go violations and compliance alerts per mine."""

from __future__ import annotations

from pathlib import Path

import click

from minescan.clitools import source_options, with_default
from minescan.kernel.errors import MinescanError
from minescan.monitor.detection import ALIASES, METHODS


@click.command(name="monitor")
@click.option("--mine", type=click.Path(dir_okay=False), help="Mine outline(s): any vector file.")
@click.option("--id", "mine_id", help="Monitor only the mine with this mine_id.")
@click.option(
    "--candidates",
    type=click.Path(dir_okay=False),
    help="Candidate boxes from a scan (RUNDIR/candidates.parquet); one mine per box.",
)
@click.option("--start", required=True, help="First date, YYYY-MM-DD.")
@click.option("--end", required=True, help="Last date, YYYY-MM-DD.")
@source_options
@click.option(
    "--growth",
    type=click.Path(dir_okay=False),
    help="Simulated source: dated mine parts (year, date or start_date column) placed in the "
    "world; they are also the truth scored in metrics.json. Alone, they are the mines.",
)
@click.option("--lease", type=click.Path(dir_okay=False), help="Concession polygons.")
@click.option(
    "--restricted",
    type=click.Path(dir_okay=False),
    help="Restricted areas; without it synthetic forest/water no-go zones are used.",
)
@click.option(
    "--restricted-class-column",
    help="Column of --restricted holding: protected forest, conservation, production forest, "
    "riparian.",
)
@click.option(
    "--method",
    type=click.Choice([*METHODS, *ALIASES]),
    default=None,
    help=with_default("Excavation method.", "monitor.method"),
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help=with_default("Local processes.", "monitor.workers"),
)
@click.option("--scheduler", help="Dask scheduler address (tcp://host:8786) instead of --workers.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder.")
def cli(
    mine,
    mine_id,
    candidates,
    start,
    end,
    source,
    config_file,
    growth,
    lease,
    restricted,
    restricted_class_column,
    method,
    workers,
    scheduler,
    out,
) -> None:
    """Excavation history, no-go violations and compliance alerts, per mine.

    \b
    For each mine, OUT/<mine_id>/ holds:
      excavation.tif      first excavated date per pixel (int YYYYMMDD, 0 = never,
                          1 = already excavated when the period starts), COG
      area_profile.csv    date, excavated_ha, dug_before_ha, dug_within_ha, inside_lease_ha,
                          outside_lease_ha, nogo_ha, rate
      forecast.csv        excavated, outside-lease and no-go ha 1-3 months ahead, interval,
                          backtest error vs "no change"
      violations.parquet  violation patches: zone, category, first date, area_m2, severity
      alerts.csv          mine_id, zone, category, first_violation_date, area_m2, severity, confidence
      summary.png         area curves with the forecast, and the map
      mine.json           status (ok | no_valid_dates | error), figures, baseline clear dates
    and OUT/ holds alerts.csv, mines.csv and metrics.json (forecast backtest; accuracy
    too when truth exists, --growth). Ground already excavated at the start is found by
    the spectral screen (monitor.screen). Categories: 1 inside the lease, no
    restriction; 2 inside the lease in production forest or riparian land; 3 outside every
    lease, or in a protected forest, conservation area or synthetic no-go zone.

    \b
    Example:
      minescan monitor --growth mine_parts.gpkg --start 2017-01-01 --end 2020-12-31 --out runs/m
    """
    from minescan.config import load_settings
    from minescan.monitor import run
    from minescan.monitor.inputs import Inputs

    if workers and scheduler:
        raise MinescanError("give --workers N or --scheduler ADDR, not both")
    start, end = run.parse_period(start, end)
    overrides = {"source": {"kind": source}, "monitor": {"method": method, "workers": workers}}
    if growth:
        if source not in (None, "simulated"):
            raise MinescanError(
                "--growth places mines in the simulated world: use --source simulated"
            )
        overrides["source"].update(kind="simulated", mines=str(Path(growth).resolve()))
    settings = load_settings(config_file, overrides)
    inputs = Inputs(
        mine=mine,
        mine_id=mine_id,
        candidates=candidates,
        growth=growth,
        lease=lease,
        restricted=restricted,
        class_column=restricted_class_column,
    )
    summaries = run.monitor(settings.source, settings.monitor, inputs, start, end, out, scheduler)
    for s in summaries:
        if s.get("status") != "ok":
            click.echo(f"warning: mine {s['mine_id']}: {s['status']}", err=True)
    click.echo(
        f"{len(summaries)} mine(s) monitored with {settings.monitor.method}; "
        f"results in {Path(out).resolve()}"
    )
