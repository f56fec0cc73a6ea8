"""``minescan datasets``: chips, the YOLO set and the pixel table."""

from __future__ import annotations

import click

from minescan.clitools import (
    config_option,
    parse_zooms,
    quiet_option,
    source_options,
    with_default,
)
from minescan.config import load_settings
from minescan.kernel.bands import parse_bands
from minescan.kernel.errors import MinescanError

#: ``--chips``: the input of ``yolo`` and ``pixels``.
chips_dir_option = click.option(
    "--chips", "chips_dir", required=True, help="Folder written by 'datasets chips'."
)


@click.group(name="datasets")
def cli() -> None:
    """Write chips, the YOLO dataset and the pixel table.

    \b
      minescan datasets chips  --cells grid/cells.parquet --period 2019 --out chips/
      minescan datasets yolo   --chips chips/ --out yolo/
      minescan datasets pixels --chips chips/ --out pixels.parquet --split-from yolo/split.json
    """


@cli.command()
@click.option("--cells", required=True, help="cells.parquet written by 'minescan grid'.")
@source_options
@click.option(
    "--mines",
    default=None,
    help="Mine polygons that label the chips (any GDAL vector or GeoParquet; optional "
    "year/start_date column). Default: the source's own truth (simulated).",
)
@click.option(
    "--period",
    default=None,
    help=with_default(
        "Composite period: 2019, 2019-03 or 2019-01-01/2019-06-30.", "datasets.period"
    ),
)
@click.option(
    "--out", required=True, help="Output folder: z{z}/NAME.tif, previews/, chips_report.json."
)
@click.option(
    "--size",
    type=click.IntRange(min=1),
    default=None,
    help=with_default("Chip width and height in pixels.", "datasets.size_px"),
)
@click.option("--zooms", default=None, help="Only cells at these zooms, e.g. 13,14 [all].")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N cells.")
@click.option(
    "--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Processes."
)
@quiet_option
def chips(cells, source, config_file, mines, period, out, size, zooms, limit, workers, quiet):
    """One labelled COG per cell: 12 S2 bands + '_mine', and an RGB preview.

    Chips already written are skipped on a rerun; a corrupt one is rewritten.
    """
    from minescan.datasets import run

    settings = load_settings(
        config_file,
        {
            "source": {"kind": source, "mines": mines},
            "datasets": {"period": period, "size_px": size},
        },
    )
    report = run.chips(
        settings.source,
        settings.datasets,
        cells,
        out,
        zooms=parse_zooms(zooms) if zooms else None,
        limit=limit,
        workers=workers,
        progress=not quiet,
    )
    click.echo(
        f"{report['cells']} chips in {out}: {report['written']} written, "
        f"{report['skipped']} already there, {len(report['rewritten'])} rewritten, "
        f"{len(report['empty'])} flagged empty, {report['with_mine']} with a mine"
    )


@cli.command()
@chips_dir_option
@click.option("--out", required=True, help="Output folder of the YOLO set.")
@click.option(
    "--channels", default=None, help=with_default("Bands, in page order.", "datasets.channels")
)
@click.option(
    "--split",
    "rule",
    type=click.Choice(["image", "block"]),
    default=None,
    help=with_default("Split rule.", "datasets.split"),
)
@click.option(
    "--block-zoom",
    type=int,
    default=None,
    help=with_default("Block tile zoom of --split block.", "datasets.block_zoom"),
)
@click.option(
    "--split-column",
    default=None,
    help=with_default("Block split on a chip tag (country...).", "datasets.split_column"),
)
@click.option(
    "--val", type=float, default=None, help=with_default("Share of cells in val.", "datasets.val")
)
@click.option(
    "--test",
    type=float,
    default=None,
    help=with_default("Share of cells in test.", "datasets.test"),
)
@click.option(
    "--seed", type=int, default=None, help=with_default("Split shuffle seed.", "datasets.seed")
)
@click.option(
    "--min-box-px",
    type=int,
    default=None,
    help=with_default("Drop mine parts smaller than this.", "datasets.min_box_px"),
)
@config_option("datasets")
@quiet_option
def yolo(
    chips_dir,
    out,
    channels,
    rule,
    block_zoom,
    split_column,
    val,
    test,
    seed,
    min_box_px,
    config_file,
    quiet,
):
    """YOLO detection set: N-channel uint8 TIFFs, labels, data.yaml, scaling.json, split.json."""
    from minescan.datasets import run

    ds = load_settings(
        config_file,
        {
            "datasets": {
                "channels": list(parse_bands(channels)) if channels else None,
                "split": rule,
                "block_zoom": block_zoom,
                "split_column": split_column,
                "val": val,
                "test": test,
                "seed": seed,
                "min_box_px": min_box_px,
            }
        },
    ).datasets
    if split_column and ds.split != "block":
        raise MinescanError("--split-column needs --split block")
    summary = run.yolo(ds, chips_dir, out, progress=not quiet)
    counts = summary["counts"]
    click.echo(
        f"{summary['images']} images ({counts['train']} train, {counts['val']} val, "
        f"{counts['test']} test), {summary['boxes']} boxes, {summary['skipped_empty']} empty "
        f"chips left out -> {out}/data.yaml"
    )


@cli.command()
@chips_dir_option
@click.option("--out", required=True, help="Output Parquet file.")
@click.option(
    "--sample",
    type=int,
    default=None,
    help=with_default("Pixels per chip, half inside mines; 0 = all.", "datasets.sample"),
)
@click.option(
    "--split-from", default=None, help="split.json of a YOLO set: fills the split column."
)
@click.option(
    "--seed", type=int, default=None, help=with_default("Sampling seed.", "datasets.seed")
)
@config_option("datasets")
@quiet_option
def pixels(chips_dir, out, sample, split_from, seed, config_file, quiet):
    """Pixel table: row, col, B01..B12, signed_distance_m, inside, cell, z, split."""
    from minescan.datasets import run

    ds = load_settings(config_file, {"datasets": {"sample": sample, "seed": seed}}).datasets
    summary = run.pixels(ds, chips_dir, out, split_from, progress=not quiet)
    click.echo(
        f"{summary['rows']} pixels ({summary['inside']} inside a mine) from "
        f"{summary['chips']} chips -> {out}"
    )
