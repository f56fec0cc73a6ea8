"""``minescan evaluate`` end to end: read labelled patches, score them, write the figures.

Outputs in ``out``: ``patches.csv`` (one row per patch), ``thresholds.csv``
(the per-threshold table), ``breakdown_<column>.csv`` for each ``--by`` column,
``metrics.json`` (every figure and the protocol's settings), ``boxes.gpkg``
(every box at the model threshold, EPSG:4326, opens in QGIS) and
``report.png`` (ROC and the worst misses and false alarms).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from minescan.detect.settings import ScanSettings
from minescan.kernel.errors import MinescanError
from minescan.kernel.lock import writes_output


@dataclass(frozen=True)
class EvaluateInputs:
    """What to score and how it is labelled (see :func:`minescan.datasets.patches.load_patches`)."""

    labels: str | None = None
    label_column: str = "label"
    classes: tuple[str, ...] | None = None
    outlines: str | None = None
    outlines_layer: str | None = None
    patches: tuple[str, ...] = ()
    bands: tuple[str, ...] | None = None
    by: tuple[str, ...] = field(default_factory=tuple)
    min_mine_fraction: float = 0.01
    floor: float = 0.001
    window_px: int = 256


def boxes_frame(patches, scores, thresholds):
    """Boxes at the model threshold as EPSG:4326 polygons, with their patch and score."""
    import geopandas as gpd
    from shapely.geometry import box

    frames = []
    for patch, s in zip(patches, scores, strict=True):
        kept = s.boxes[s.boxes[:, 4] >= thresholds(s.zoom)]
        if not len(kept):
            continue
        geoms = []
        for x0, y0, x1, y1, _ in kept:
            (ax, ay), (bx, by) = patch.transform @ (x0, y0), patch.transform @ (x1, y1)
            geoms.append(box(min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)))
        part = gpd.GeoDataFrame(
            {"file": patch.path.name, "score": kept[:, 4].astype(float)},
            geometry=geoms,
            crs=patch.crs,
        )
        frames.append(part.to_crs(4326) if patch.crs is not None else part)
    if not frames:
        return gpd.GeoDataFrame({"file": [], "score": []}, geometry=[], crs=4326)
    import pandas as pd

    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=4326)


@writes_output("out")
def evaluate(
    settings: ScanSettings, inputs: EvaluateInputs, out: str | Path, progress=True
) -> dict:
    """Score ``settings.model`` on the labelled patches and write every output into ``out``.

    ``settings`` is the ``scan:`` section: patches are judged with the model,
    runtime, screen, IoU and per-zoom thresholds a scan would use.
    """
    from minescan.datasets.patches import load_patches, patch_centres, region_ids
    from minescan.detect.backends import load_detector
    from minescan.evaluate import metrics
    from minescan.evaluate.report import write_report
    from minescan.evaluate.score import score_patches, score_table
    from minescan.kernel.io import ensure_dir, write_json, write_text, write_vector
    from minescan.kernel.model import SCREEN, load_verifier, model_folder
    from minescan.kernel.roc import roc_points
    from minescan.kernel.screen import Screen

    model_dir = model_folder(settings.model)
    detector = load_detector(model_dir, settings.backend, settings.device, settings.threads)
    screen_path = Path(model_dir) / SCREEN
    screen = Screen.load(screen_path) if settings.screen and screen_path.is_file() else None
    verifier = load_verifier(model_dir)
    patches = load_patches(
        inputs.labels,
        inputs.label_column,
        inputs.outlines,
        list(inputs.patches),
        inputs.bands,
        inputs.min_mine_fraction,
        inputs.classes,
        progress=progress,
        outlines_layer=inputs.outlines_layer,
    )
    labels = np.array([p.label for p in patches], dtype=bool)
    if labels.all() or not labels.any():
        raise MinescanError(
            f"all {len(patches)} patches are {'mines' if labels.all() else 'non-mines'}: "
            "sensitivity and specificity need both classes"
        )
    for column in inputs.by:
        if column not in patches[0].attrs:
            raise MinescanError(
                f"--by {column}: no such label column (have {', '.join(patches[0].attrs)})"
            )
    lonlat = patch_centres(patches)
    scores = score_patches(
        patches,
        detector,
        screen,
        inputs.floor,
        settings.iou,
        inputs.window_px,
        lonlat[:, 1],
        progress,
        verifier,
        settings.conf_at,
    )
    table = score_table(patches, scores, settings.conf_at)
    table["lon"], table["lat"] = lonlat[:, 0], lonlat[:, 1]
    table["region_5deg"] = region_ids(lonlat)

    out = ensure_dir(out)
    figures = metrics.summary(table)
    figures["boxes"] = metrics.box_level(patches, scores, settings.conf_at)
    figures["screen"] = metrics.screen_summary(table)
    if screen is not None:
        from minescan.kernel.screen import missing_bands

        lacking = missing_bands(screen, patches[0].bands)
        figures["screen"]["rule"] = (
            f"off: the patches lack {','.join(lacking)}; every patch goes to the detector"
            if lacking
            else "on"
        )
    figures["by"] = {}
    for column in inputs.by:
        part = metrics.breakdown(table, column)
        write_text(out / f"breakdown_{column}.csv", part.to_csv(index=False))
        figures["by"][column] = part.to_dict("records")
    figures["model"] = str(model_dir)
    figures["verifier"] = metrics.verifier_summary(table, verifier)
    figures["protocol"] = {
        **asdict(inputs),
        "iou": settings.iou,
        "conf": settings.conf,
        "backend": settings.backend,
    }
    thresholds = tuple(float(t) for t in table["threshold"].unique())
    write_text(out / "patches.csv", table.to_csv(index=False))
    write_text(
        out / "thresholds.csv",
        metrics.threshold_table(table["label"], table["score"], thresholds).to_csv(index=False),
    )
    write_vector(
        boxes_frame(patches, scores, settings.conf_at), out / "boxes.gpkg", "GPKG", layer="boxes"
    )
    roc = roc_points(table["label"], table["score"])
    write_report(out / "report.png", table, patches, scores, roc, figures)
    write_json(out / "metrics.json", figures)
    return figures
