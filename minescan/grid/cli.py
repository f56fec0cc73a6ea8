"""``minescan grid``: positive and negative web-mercator cells from mine polygons."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import click

from minescan.clitools import config_option, parse_zooms


class StepTimer:
    """Seconds spent per named step, with a tqdm bar over the steps (on stderr)."""

    def __init__(self, total: int):
        from tqdm import tqdm

        self.seconds: dict[str, float] = {}
        self.bar = tqdm(total=total, desc="grid", unit="step", leave=False, disable=None)
        self._step: str | None = None
        self._start = time.perf_counter()

    def __call__(self, step: str) -> None:
        self._close()
        self._step = step
        self.bar.set_description(f"grid: {step}")

    def _close(self) -> None:
        now = time.perf_counter()
        if self._step is not None:
            self.seconds[self._step] = round(now - self._start, 3)
            self.bar.update(1)
        self._start = now

    def done(self) -> dict[str, float]:
        self._close()
        self._step = None
        self.bar.close()
        return self.seconds


def build_grid(
    polygons: str,
    out: str,
    zooms: list[int],
    layer: str | None = None,
    aoi: str | None = None,
    min_overlap: float = 0.001,
    negatives: bool = True,
    land_negatives: bool = True,
    assume_crs: str | None = None,
    search_radius: int = 32,
    preview_max_cells: int = 2000,
) -> dict:
    """Run the grid stage end to end; write the four outputs into ``out``; return the report."""
    from minescan.grid import cells as grid_cells
    from minescan.grid.aoi import resolve_aoi
    from minescan.grid.preview import write_preview
    from minescan.kernel.io import ensure_dir, read_vector, write_json

    out_dir = Path(out)
    timer = StepTimer(total=6)
    timer("read")
    area = resolve_aoi(aoi, assume_crs=assume_crs) if aoi else None
    source = read_vector(polygons, layer=layer, assume_crs=assume_crs, what="polygon file")
    timer("repair")
    prepared = grid_cells.prepare_polygons(
        source.geometry.values, None if area is None else area.geometry
    )
    ensure_dir(out_dir)
    zoom_cells = grid_cells.grid_cells(
        prepared,
        zooms,
        min_overlap=min_overlap,
        negatives=negatives,
        land_negatives=land_negatives,
        aoi=None if area is None else area.geometry,
        search_radius=search_radius,
        progress=timer,
    )
    timer("table")
    table = grid_cells.cells_arrow(zoom_cells)
    timer("write")
    # arrow writes release the GIL: both files go out while the preview is drawn.
    with ThreadPoolExecutor(max_workers=2) as pool:
        written = [
            pool.submit(grid_cells.write_cells_parquet, table, out_dir / "cells.parquet"),
            pool.submit(grid_cells.write_cells_csv, table, out_dir / "cells.csv"),
        ]
        write_preview(table, prepared.geometry, out_dir / "preview.html", preview_max_cells)
        for job in written:
            job.result()
    seconds = timer.done()

    report = {
        "polygons": {
            "file": str(polygons),
            "layer": layer,
            "read": prepared.read,
            "repaired": prepared.repaired,
            "dropped": prepared.dropped,
            "used": int(prepared.geometry.size),
        },
        "aoi": None if area is None else area.name,
        "min_overlap": min_overlap,
        "negatives": negatives,
        "land_negatives": land_negatives,
        "search_radius": search_radius,
        "zooms": {
            str(c.zoom): {
                "pos": int(c.positive.sum()),
                "neg": int(c.negative_x.size),
                "below_min_overlap": int((~c.positive).sum()),
                "positives_without_negative": int(c.positive.sum() - c.negative_x.size)
                if negatives
                else 0,
            }
            for c in zoom_cells
        },
        "cells": table.num_rows,
        "seconds": seconds,
        "seconds_total": round(sum(seconds.values()), 3),
    }
    write_json(out_dir / "grid_report.json", report)
    return report


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
    help="Comma-separated web-mercator zooms, 0-20. Default: the config's (13,14,15).",
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
    help="Overlap (0-1) that makes a cell positive. Default 0.001.",
)
@click.option(
    "--negatives/--no-negatives",
    default=None,
    help="Draw one negative cell per positive per zoom (default on).",
)
@click.option(
    "--land-negatives/--any-negatives",
    default=None,
    help="Negatives must touch land (Natural Earth countries; default) or may fall anywhere.",
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

    overrides = {
        "grid": {
            "zooms": parse_zooms(zooms) if zooms is not None else None,
            "min_overlap": min_overlap,
            "negatives": negatives,
            "land_negatives": land_negatives,
        }
    }
    settings = load_settings(config_file, overrides).grid
    report = build_grid(
        polygons,
        out,
        parse_zooms(settings.zooms),
        layer=layer,
        aoi=aoi,
        min_overlap=settings.min_overlap,
        negatives=settings.negatives,
        land_negatives=settings.land_negatives,
        assume_crs=assume_crs,
        search_radius=settings.search_radius,
        preview_max_cells=settings.preview_max_cells,
    )
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
