"""``minescan simulate``: the simulated Sentinel-2 world's truth, to score any run on it."""

from __future__ import annotations

import click
import numpy as np
import shapely

from minescan.clitools import config_option
from minescan.kernel.errors import MinescanError

#: Largest AOI whose truth is exported at all, and with confusers (vectorised from a raster).
MAX_TRUTH_KM2 = 1_000_000
MAX_CONFUSERS_KM2 = 10_000


def ground_area_km2(geometry) -> float:
    """Approximate ground area of an EPSG:4326 geometry (Lambert equal-area cylindrical).

    Examples
    --------
    >>> round(ground_area_km2(shapely.box(0, 0, 1, 1)))
    12364
    """
    radius_km = 6371.0088

    def project(coords):
        lon, lat = np.radians(coords[:, 0]), np.radians(coords[:, 1])
        return np.column_stack([lon * radius_km, np.sin(lat) * radius_km])

    return float(shapely.transform(geometry, project).area)


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
    help="Mine polygons placed in the world (as for --source simulated) [source.mines; "
    "default: the simulator draws its own].",
)
@click.option("--seed", type=int, default=None, help="World seed [source.seed, 0].")
@click.option(
    "--date",
    default=None,
    help="Export footprints as excavated on this day (YYYY-MM-DD) and that year's confusers. "
    "Default: final footprints, confusers of mid-2019.",
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
    from minescan.kernel.io import atomic_path
    from minescan.simulated import SimulatedSentinel2

    if date is not None:
        try:
            date = np.datetime64(date, "D")
        except ValueError:
            raise MinescanError(f"bad --date {date!r}; expected YYYY-MM-DD") from None
    settings = load_settings(
        config_file, {"source": {"kind": "simulated", "seed": seed, "mines": mines}}
    ).source
    area = resolve_aoi(aoi)
    km2 = ground_area_km2(area.geometry)
    if km2 > MAX_TRUTH_KM2:
        raise MinescanError(
            f"AOI {area.name!r} covers {km2:,.0f} km2; the truth export stops at "
            f"{MAX_TRUTH_KM2:,} km2: split it into smaller AOIs"
        )
    if confusers and km2 > MAX_CONFUSERS_KM2:
        raise MinescanError(
            f"AOI {area.name!r} covers {km2:,.0f} km2; confusers are exported up to "
            f"{MAX_CONFUSERS_KM2:,} km2: pass --no-confusers or a smaller AOI"
        )
    source = SimulatedSentinel2.from_settings(settings)
    click.echo(f"simulated truth over {area.name} ({km2:,.0f} km2)", err=True)
    steps = [("mines", source.mines_in), ("components", source.components_in)]
    if confusers:
        steps.append(("confusers", source.confusers_in))
    layers = {}
    for name, query in steps:
        click.echo(f"  {name}...", err=True)
        layers[name] = query(area.geometry, date)
    with atomic_path(out, suffix=".gpkg") as tmp:
        for name, frame in layers.items():
            if frame.empty:
                frame = frame.set_geometry(frame.geometry.astype("geometry"))
            frame.to_file(tmp, layer=name, driver="GPKG")
    counts = ", ".join(f"{len(f):,} {name}" for name, f in layers.items())
    click.echo(f"wrote {out}: {counts} (seed {settings.seed})")
