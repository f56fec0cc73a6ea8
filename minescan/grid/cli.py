"""``minescan grid``: positive and negative web-mercator cells from mine polygons."""

from __future__ import annotations

import click

from minescan.clitools import config_option, parse_zooms, with_default


@click.command(name="grid")
@click.option(
    "--polygons",
    required=True,
    type=click.Path(dir_okay=False),
    help="Mine polygons: any vector file GDAL reads (GeoPackage, shapefile, GeoJSON) or GeoParquet.",
)
@click.option("--layer", default=None, help="Layer of a multi-layer file (default: the first).")
@click.option(
    "--zooms",
    default=None,
    help=with_default("Comma-separated web-mercator zooms, 0-20.", "grid.zooms"),
)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option(
    "--aoi",
    default=None,
    help="Restrict everything to country:ISO3, bbox:W,S,E,N (degrees) or a polygon file.",
)
@click.option(
    "--min-overlap",
    type=float,
    default=None,
    help=with_default("Overlap (0-1) that makes a cell positive.", "grid.min_overlap"),
)
@click.option(
    "--negatives/--no-negatives",
    default=None,
    help=with_default("Draw one negative cell per positive per zoom.", "grid.negatives"),
)
@click.option(
    "--land-negatives/--any-negatives",
    default=None,
    help=with_default(
        "Negatives must touch land (Natural Earth countries) or may fall anywhere.",
        "grid.land_negatives",
    ),
)
@click.option(
    "--assume-crs",
    default=None,
    help="CRS for input without one, e.g. EPSG:4326 (input with no CRS is otherwise an error).",
)
@config_option("grid")
def cli(
    polygons,
    layer,
    zooms,
    out,
    aoi,
    min_overlap,
    negatives,
    land_negatives,
    assume_crs,
    config_file,
):
    """Build positive and negative tile cells from known mine polygons.

    A cell is positive when the union of the polygons covers at least --min-overlap
    of its area (exact, not rasterised). For each positive, at each zoom, the
    nearest free cell that shares no area with any polygon becomes its negative.

    \b
    Writes into --out:
      cells.parquet     GeoParquet (EPSG:4326): name, z, x, y, quadkey, label, overlap, pair
      cells.csv         the same rows plus west, south, east, north, lon, lat
      grid_report.json  counts per zoom and label, repaired geometries, seconds per step
      preview.html      a map: positives by overlap, negatives grey, polygons on top

    \b
    Example:
      minescan grid --polygons examples/mines_example.geojson --zooms 13,14,15 --out build/grid
    """
    from minescan.config import load_settings
    from minescan.grid.run import build_grid

    overrides = {
        "grid": {
            "zooms": parse_zooms(zooms) if zooms is not None else None,
            "min_overlap": min_overlap,
            "negatives": negatives,
            "land_negatives": land_negatives,
        }
    }
    settings = load_settings(config_file, overrides).grid
    settings = settings.model_copy(update={"zooms": parse_zooms(settings.zooms)})
    report = build_grid(settings, polygons, out, layer=layer, aoi=aoi, assume_crs=assume_crs)
    counts = ", ".join(f"z{z}: {c['pos']} pos / {c['neg']} neg" for z, c in report["zooms"].items())
    click.echo(f"{report['cells']} cells ({counts}) in {report['seconds_total']} s -> {out}")
    missing = sum(c["positives_without_negative"] for c in report["zooms"].values())
    if missing:
        click.echo(
            f"note: {missing} positives found no free negative within "
            f"{report['search_radius']} cells (see grid_report.json)",
            err=True,
        )
    if report["polygons"]["repaired"]:
        click.echo(f"note: repaired {report['polygons']['repaired']} invalid geometries", err=True)
