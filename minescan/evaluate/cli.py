"""``minescan evaluate``: the command line over :func:`minescan.evaluate.run.evaluate`."""

from __future__ import annotations

import click

from minescan.clitools import (
    config_option,
    label_column_option,
    parse_classes,
    quiet_option,
    with_default,
)


@click.command(name="evaluate")
@click.argument("patches", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--labels",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Table (CSV or vector file) with a 'file' column, paths relative to the table, "
    "and a class column.",
)
@label_column_option
@click.option(
    "--classes",
    default=None,
    help="Score only rows whose class is one of these, comma-separated "
    "(e.g. mine,no_mine_hard_negative).",
)
@click.option(
    "--outlines",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Mine polygons (any CRS): box-level recall and precision, and the class of "
    "patches the table does not label.",
)
@click.option("--outlines-layer", default=None, help="Layer of --outlines that holds the polygons.")
@click.option("--bands", default=None, help="Band names when the files' descriptions lack them.")
@click.option(
    "--by",
    "by",
    multiple=True,
    help="Label column to break the figures down by (region, date); repeatable.",
)
@click.option(
    "--model",
    type=click.Path(file_okay=False),
    default=None,
    help=with_default("Model folder to score.", "scan.model"),
)
@click.option(
    "--backend",
    type=click.Choice(["onnx", "ultralytics"]),
    default=None,
    help=with_default("Detector runtime.", "scan.backend"),
)
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output folder.")
@quiet_option
@config_option()
def cli(patches, labels, label_column, classes, outlines, outlines_layer, bands, by, model, backend, out, quiet,
        config_file):  # fmt: skip
    """Score a model on your own labelled real imagery, patch by patch, at native resolution.

    \b
    minescan evaluate --labels scenes.csv --label-column group \\
        --classes mine,no_mine_hard_negative --outlines labels.gpkg --by region --out eval/

    Each GeoTIFF patch (any size, any CRS) is fed to the detector on its own pixel
    grid, never upsampled; its score is its best box. Figures are judged at the
    scan's threshold for the zoom nearest the patch's resolution. Writes
    metrics.json (AUC, sensitivity, specificity, box recall and precision, what
    the screen keeps), patches.csv, thresholds.csv, breakdown_<column>.csv,
    boxes.gpkg and report.png (ROC, worst misses and false alarms).
    """
    from minescan.config import load_settings
    from minescan.evaluate.run import EvaluateInputs, evaluate
    from minescan.kernel.bands import parse_bands

    settings = load_settings(config_file, {"scan": {"model": model, "backend": backend}})
    inputs = EvaluateInputs(
        labels=labels,
        label_column=label_column,
        classes=parse_classes(classes),
        outlines=outlines,
        outlines_layer=outlines_layer,
        patches=tuple(patches),
        bands=parse_bands(bands) if bands else None,
        by=tuple(by),
    )
    figures = evaluate(settings.scan, inputs, out, progress=not quiet)
    point = figures["at_model_threshold"]
    auc = "n/a" if figures["auc"] is None else f"{figures['auc']:.3f}"
    click.echo(
        f"{figures['patches']} patches: AUC {auc}, sensitivity {point['sensitivity']:.3f}, "
        f"specificity {point['specificity']:.3f} at threshold "
        f"{','.join(str(t) for t in point['threshold'])}; written to {out}"
    )
    seen = figures["verifier"].get("patches_in_fitted_regions", 0)
    if seen:
        click.echo(
            f"warning: {seen} of {figures['patches']} patches lie in 5-degree regions the "
            "verifier was fitted on (verifier.json info.fitted_on): not an honest figure for "
            "unseen land",
            err=True,
        )
