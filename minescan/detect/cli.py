"""``minescan scan``: the coarse-to-fine sweep from the command line."""

from __future__ import annotations

import click

from minescan.clitools import parse_zooms, source_options, with_default
from minescan.kernel.errors import MinescanError


@click.command(name="scan")
@click.option(
    "--aoi",
    default=None,
    help=with_default(
        "Where to look: country:ISO3 (country:GHA), bbox:W,S,E,N in degrees, or a polygon file.",
        "scan.aoi",
    ),
)
@source_options
@click.option(
    "--mines",
    type=click.Path(dir_okay=False),
    default=None,
    help="Simulated source only: place the simulated mines at these polygons.",
)
@click.option(
    "--truth",
    type=click.Path(dir_okay=False),
    default=None,
    help="Polygons to score the run against (default with the simulated source: its own mines).",
)
@click.option(
    "--period",
    default=None,
    help=with_default("Composite period, e.g. 2024 or 2024-01-01/2024-06-30.", "scan.period"),
)
@click.option(
    "--model",
    type=click.Path(file_okay=False),
    default=None,
    help=with_default(
        "Model folder: detector.onnx (or .pt), scaling.json, screen.json.", "scan.model"
    ),
)
@click.option(
    "--zooms", default=None, help=with_default("Pyramid levels, coarse to fine.", "scan.zooms")
)
@click.option(
    "--exhaustive",
    is_flag=True,
    default=None,
    help=with_default(
        "Run the detector on every land tile at the finest zoom (no pyramid, no screen).",
        "scan.exhaustive",
    ),
)
@click.option(
    "--workers",
    type=int,
    default=None,
    help=with_default("Local worker processes.", "scan.workers"),
)
@click.option(
    "--scheduler",
    default=None,
    help=with_default(
        "Run the batches on an existing Dask cluster, tcp://HOST:PORT.", "scan.scheduler"
    ),
)
@click.option(
    "--backend",
    type=click.Choice(["onnx", "ultralytics"]),
    default=None,
    help=with_default(
        "Detector runtime: onnxruntime or ultralytics with detector.pt.", "scan.backend"
    ),
)
@click.option("--device", default=None, help=with_default("cpu, cuda or cuda:N.", "scan.device"))
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False),
    help="Run folder. Rerunning the same command into it resumes an interrupted scan.",
)
def cli(
    aoi,
    source,
    config_file,
    mines,
    truth,
    period,
    model,
    zooms,
    exhaustive,
    workers,
    scheduler,
    backend,
    device,
    quiet,
    out,
):
    """Sweep an area coarse-to-fine and write candidate mine boxes.

    Covers the AOI's land with tiles at the coarsest zoom; at each level the
    spectral screen drops tiles that hold no mine-like pixels and the detector
    runs on the rest; a hit opens the next zoom's tiles under its boxes and
    those where the screen sees mine-like pixels. Each box of the finest zoom goes to the tile holding its centre, and boxes that
    touch across tiles are merged: one mine, one candidate.

    \b
    Writes to --out: candidates.parquet (+ .geojson), scan_report.json,
    map.html, summary.png, manifest.json, and _checkpoint/ (finished batches:
    kill the scan at any time and rerun the same command to resume).

    \b
    Examples:
      minescan scan --aoi bbox:-2.5,5.5,-1.5,6.5 --out runs/demo
      minescan scan --aoi country:GHA --workers 2 --out runs/gha
      minescan scan --aoi country:GHA --scheduler tcp://10.0.0.5:8786 --out runs/gha
    """
    from minescan.config import load_settings
    from minescan.detect.run import scan
    from minescan.grid.aoi import resolve_aoi

    if workers is not None and scheduler is not None:
        raise MinescanError("give --workers or --scheduler, not both")
    if workers is not None and workers < 1:
        raise MinescanError("--workers must be at least 1")
    overrides = {
        "source": {"kind": source, "mines": mines},
        "scan": {
            "truth": truth,
            "period": period,
            "model": model,
            "zooms": parse_zooms(zooms) if zooms else None,
            "exhaustive": exhaustive,
            "workers": workers,
            "scheduler": scheduler,
            "backend": backend,
            "device": device,
        },
    }
    settings = load_settings(config_file, overrides)
    if settings.source.mines and settings.source.kind != "simulated":
        raise MinescanError("--mines places mines in the simulated world; use --source simulated")
    aoi = aoi or settings.scan.aoi
    if not aoi:
        raise MinescanError("no area to scan; give --aoi (or scan.aoi in the --config file)")
    region = resolve_aoi(aoi)
    report = scan(
        region,
        settings.source,
        settings.scan,
        out,
        aoi_spec=aoi,
        config=settings.model_dump(),  # manifest.json records every section
        progress=not quiet,
    )
    _echo_summary(report, out)


def _echo_summary(report: dict, out: str) -> None:
    from pathlib import Path

    totals = report["totals"]
    for name, level in report["levels"].items():
        click.echo(
            f"{name}: {level['tiles']} tiles, {level['screened_out']} screened out, "
            f"{level['detector_calls']} detector calls, {level['hits']} hits, "
            f"{level['seconds']:.1f} s"
        )
    click.echo(
        f"{totals['candidates']} candidates over {totals['area_km2']:.0f} km2 of land in "
        f"{totals['seconds']:.1f} s ({totals['km2_per_s']:.0f} km2/s)"
    )
    if "truth" in report:
        t = report["truth"]
        click.echo(
            f"vs truth: recall {t['recall']}, recall >= {t['large_ha']:g} ha {t['recall_large']}, "
            f"precision {t['precision']}, area recall {t['area_recall']}"
        )
    click.echo(f"map: {(Path(out) / 'map.html').resolve()}")
