"""``minescan simulate``: the simulated Sentinel-2 world's truth, to score any run on it."""

from __future__ import annotations

import click

from minescan.clitools import config_option, with_default
from minescan.kernel.period import DEFAULT_PERIOD, parse_day
from minescan.simulated.truth import MAX_CONFUSERS_KM2, export_truth


@click.group(name="simulate")
def cli() -> None:
    """The simulated Sentinel-2 world (the default, offline imagery source)."""


@cli.command()
@click.option(
    "--aoi",
    required=True,
    help="Area: country:ISO3 (e.g. country:GHA), bbox:W,S,E,N in degrees, or a vector file.",
)
@click.option(
    "--mines",
    type=click.Path(dir_okay=False),
    default=None,
    help=with_default(
        "Mine polygons placed in the world (as for --source simulated); none: the simulator "
        "draws its own.",
        "source.mines",
    ),
)
@click.option("--seed", type=int, default=None, help=with_default("World seed.", "source.seed"))
@click.option(
    "--date",
    default=None,
    help="Export footprints as excavated on this day (YYYY-MM-DD) and that year's confusers. "
    f"Without it: final footprints, confusers of mid-{DEFAULT_PERIOD}.",
)
@click.option(
    "--confusers/--no-confusers",
    default=True,
    show_default=True,
    help=f"Also export look-alikes (AOIs up to {MAX_CONFUSERS_KM2:,} km2).",
)
@config_option("source")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False),
    help="GeoPackage to write, with layers mines, components and confusers (EPSG:4326).",
)
def truth(aoi, mines, seed, date, confusers, config_file, out) -> None:
    """Export the truth of the simulated world over an AOI.

    Layer ``mines``: mine_id, commodity, artisanal, start_date, area_ha and the footprint.
    Layer ``components``: mine_id, component (pit, bench, dump, tailings, pond, road),
    start_date. Layer ``confusers``: kind (bare_field, sandbar, burn_scar, clearing,
    road, urban). Score a scan with the mines layer, a monitor run with its dates.

    Example: minescan simulate truth --aoi bbox:-2,6,-1.5,6.5 --out truth.gpkg
    """
    from minescan.config import load_settings
    from minescan.grid.aoi import resolve_aoi

    if date is not None:
        date = parse_day(date, "--date")
    settings = load_settings(
        config_file, {"source": {"kind": "simulated", "seed": seed, "mines": mines}}
    ).source
    layers = export_truth(settings, resolve_aoi(aoi), out, date, confusers)
    counts = ", ".join(f"{n:,} {name}" for name, n in layers.items())
    click.echo(f"wrote {out}: {counts} (seed {settings.seed})")
