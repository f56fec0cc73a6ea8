"""One scan run, start to finish: cover, sweep, candidates, score, and the run folder.

``RUNDIR`` receives ``candidates.parquet`` / ``.geojson``, ``scan_report.json``,
``map.html``, ``summary.png``, ``manifest.json`` and ``_checkpoint/``. Nothing
is written anywhere else.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import shapely

from minescan import __version__
from minescan.datasets.sources.settings import SourceSettings
from minescan.detect import boxes as boxlib
from minescan.detect.batch import Task
from minescan.detect.checkpoint import Checkpoint
from minescan.detect.cost import cost_estimate, describe_cost
from minescan.detect.pyramid import Level, sweep
from minescan.detect.scoring import EQUAL_AREA, score
from minescan.detect.settings import ScanSettings
from minescan.detect.tools import ToolSpec, build_tools
from minescan.grid.aoi import AOI, countries
from minescan.grid.land import land_tiles
from minescan.grid.tiles import quadkeys, tiles_covering, tiles_intersecting
from minescan.kernel.errors import MinescanError
from minescan.kernel.executor import WorkerContext, cores_per_worker, open_executor
from minescan.kernel.io import (
    ensure_dir,
    file_sha256,
    read_vector,
    write_geoparquet,
    write_json,
    write_vector,
)
from minescan.kernel.lock import writes_output
from minescan.kernel.model import VERIFIER, file_hashes, load_screen, model_folder, scan_files
from minescan.kernel.period import Period
from minescan.kernel.source import truth_of


def run_id_of(
    source: SourceSettings,
    settings: ScanSettings,
    model: dict[str, str],
    inputs: dict[str, str],
    aoi: AOI,
) -> str:
    """A short id fixed by what decides the candidates: source, scan settings, model, inputs, AOI.

    Execution settings (workers, scheduler, threads, device) are left out, so
    a run resumed elsewhere keeps its id and its checkpoint.
    """
    scan = settings.result_fields()
    scan["model"] = "-"  # the model's content counts, not where it sits
    doc = {
        "source": source.model_dump(exclude={"mines", "cache_dir"}),
        "scan": scan,
        "model": model,
        "inputs": {k: v for k, v in inputs.items() if k != "truth"},
        "aoi": shapely.to_wkb(aoi.geometry, hex=True),
    }
    blob = json.dumps(doc, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def input_hashes(source: SourceSettings, settings: ScanSettings, aoi_spec: str) -> dict[str, str]:
    """SHA-256 of every input file the run reads (mines, truth, AOI file)."""
    files = {"mines": source.mines, "truth": settings.truth, "aoi": aoi_spec}
    return {k: file_sha256(v) for k, v in files.items() if v and Path(v).is_file()}


def land_area_km2(geometry) -> float:
    """Land area of an EPSG:4326 geometry in km2 (equal-area projection)."""
    import geopandas as gpd

    # Intersect with the countries near the AOI only: the whole land union is slow to clip.
    table = countries()
    near = table.geometry.values[table.sindex.query(geometry, predicate="intersects")]
    part = shapely.intersection(geometry, shapely.union_all(near))
    return float(gpd.GeoSeries([part], crs=4326).to_crs(EQUAL_AREA).area.iloc[0] / 1e6)


def first_tiles(geometry, zoom: int) -> np.ndarray:
    """Land tiles covering the AOI at ``zoom``."""
    tiles = np.asarray(tiles_covering(geometry, zoom), dtype=np.int64).reshape(-1, 3)
    return tiles[np.asarray(land_tiles(tiles), dtype=bool)] if len(tiles) else tiles


def on_land_in(geometry):
    """A filter for the next level's tiles: inside the AOI and on land."""

    def keep(tiles: np.ndarray) -> np.ndarray:
        inside = tiles_intersecting(geometry, tiles)
        out = np.zeros(len(tiles), dtype=bool)
        out[inside] = np.asarray(land_tiles(tiles[inside]), dtype=bool)
        return out

    return keep


def candidates_of(level: Level, merge_gap_m: float, run_id: str):
    """Owned boxes of the finest level, merged in map space, as the candidates GeoDataFrame.

    Boxes closer than ``merge_gap_m`` (EPSG:3857 metres) merge into one candidate.
    """
    import geopandas as gpd

    boxes = np.concatenate([r.boxes for r in level.results] or [np.zeros((0, 5))])
    owners = np.concatenate(
        [r.tiles[r.box_tile] for r in level.results] or [np.zeros((0, 3), np.int64)]
    )
    merged, best = boxlib.merge(boxes, merge_gap_m)
    geoms = shapely.box(merged[:, 0], merged[:, 1], merged[:, 2], merged[:, 3])
    table = gpd.GeoDataFrame(
        {
            "score": merged[:, 4].round(4),
            "zoom": np.full(len(merged), level.zoom, dtype=np.int64),
            "tile": list(quadkeys(owners[best, 0], owners[best, 1], level.zoom)),
        },
        geometry=geoms,
        crs="EPSG:3857",
    ).to_crs(4326)
    table["area_km2"] = (table.to_crs(EQUAL_AREA).area / 1e6).round(6).to_numpy()
    table["run_id"] = run_id
    return table[["geometry", "score", "zoom", "tile", "area_km2", "run_id"]]


def load_truth(settings: ScanSettings, source, aoi: AOI):
    """The truth to score against: ``settings.truth`` (a file), else the simulated world's own mines.

    Called before the sweep, so a bad truth file fails in a second, not after
    hours; invalid polygons are repaired (``make_valid``) rather than refused.
    """
    if settings.truth:
        try:
            truth = read_vector(settings.truth, what="truth file")
        except MinescanError as exc:
            if "no CRS" in str(exc):
                raise MinescanError(
                    f"truth file {settings.truth} has no CRS; set one (e.g. ogr2ogr -a_srs "
                    "EPSG:4326) and rerun"
                ) from None
            raise
        truth["geometry"] = truth.geometry.make_valid()  # a bow tie must not fail the scoring
        return truth[truth.intersects(aoi.geometry)].reset_index(drop=True)
    if truth_of(source) is not None:
        truth = source.mines_in(aoi.geometry, date=Period.parse(settings.period).reference_date)
        return truth[~truth.geometry.is_empty].reset_index(drop=True)
    return None


#: Sweep rate used for the estimate printed before a scan: the demo sweep's km2/s on the
#: simulated source with 2 cores (BENCHMARKS.md, bench:scan). Real sources are slower.
ESTIMATE_KM2_PER_S = 450


def plan_line(area_km2: float, first_tiles: int, zooms: list[int]) -> str:
    """What a scan is about to do: its land area, first-level tiles and a time estimate.

    Printed before the sweep so that a typo in ``--aoi`` (a continent instead
    of a district) is seen at once and can be stopped with Ctrl-C.

    Examples
    --------
    >>> plan_line(9900, 120, [13, 14, 15])
    'scan: 9,900 km2 of land, 120 z13 tiles to start (levels z13-z15), about 0.4 min at 450 km2/s'
    """
    minutes = area_km2 / ESTIMATE_KM2_PER_S / 60
    return (
        f"scan: {area_km2:,.0f} km2 of land, {first_tiles} z{zooms[0]} tiles to start "
        f"(levels z{zooms[0]}-z{zooms[-1]}), about {minutes:.1f} min at "
        f"{ESTIMATE_KM2_PER_S} km2/s"
    )


def verifier_note(verifier, source_kind: str) -> str:
    """What ``scan_report.json`` says of the verifier (see :func:`~minescan.detect.tools.scan_verifier`).

    Examples
    --------
    >>> verifier_note(None, "simulated")
    'off: the simulated world (it is fitted on real pixels)'
    """
    if verifier is not None:
        return (
            "on: verifier.json judges every candidate and proposes windows with no box "
            f"(threshold {verifier.threshold:.3g})"
        )
    if source_kind == "simulated":
        return "off: the simulated world (it is fitted on real pixels)"
    return (
        "off: scan.verifier is false, the model has no verifier.json, or the source lacks its bands"
    )


@writes_output("out")
def scan(
    aoi: AOI,
    source: SourceSettings,
    settings: ScanSettings,
    out: str | Path,
    aoi_spec: str = "",
    config: dict | None = None,
    progress: bool = True,
    tools=None,
) -> dict:
    """Run the sweep described by ``settings`` (``scan:``) over ``aoi`` into ``out``; the report.

    ``source`` is the ``source:`` section; the two decide the run id.
    ``config`` is what ``manifest.json`` records as the run's configuration:
    the CLI passes the whole merged config, every section (default: the
    ``source:`` and ``scan:`` sections). ``tools`` (source, detector, screen
    bundled by :func:`~minescan.detect.tools.make_tools`) replaces the ones
    built from the settings; it runs in this process only.
    """
    t_start = time.perf_counter()
    out = ensure_dir(out)
    model_dir = model_folder(settings.model)
    use_screen = settings.screen and not settings.exhaustive
    use_verifier = (
        settings.verifier and source.kind != "simulated" and (model_dir / VERIFIER).is_file()
    )
    if tools is None:
        model = file_hashes(model_dir, scan_files(settings.backend, use_screen, use_verifier))
    else:
        model = {"tools": type(tools.detector).__name__}
    if (settings.workers > 1 or settings.scheduler) and tools is not None:
        raise MinescanError("stand-in tools run in this process only; drop --workers/--scheduler")
    inputs = input_hashes(source, settings, aoi_spec)
    run_id = run_id_of(source, settings, model, inputs, aoi)
    threads = settings.threads or cores_per_worker(settings.workers)
    if tools is None:
        spec = ToolSpec(source, settings.model_copy(update={"model": str(model_dir)}), threads)
        context = WorkerContext(build_tools, spec)
        tools = context.get()  # fail early: missing model files, channels vs bands
    else:
        context = WorkerContext.given(tools)
    screen_note = "on" if use_screen else "off"
    if use_screen and tools.screen is None:
        from minescan.detect.tools import source_bands
        from minescan.kernel.screen import missing_bands

        lacking = missing_bands(load_screen(model_dir), source_bands(tools.source))
        use_screen = False
        screen_note = f"off: the source lacks {','.join(lacking)} (every tile goes to the detector)"
        if progress:
            print(f"screen {screen_note}", file=sys.stderr)

    zooms = [settings.zooms[-1]] if settings.exhaustive else settings.zooms
    tiles = first_tiles(aoi.geometry, zooms[0])
    if len(tiles) == 0:
        raise MinescanError(f"AOI {aoi.name!r} holds no land tile; nothing to scan")
    area = land_area_km2(aoi.geometry)
    truth = load_truth(settings, tools.source, aoi)
    if progress:
        print(plan_line(area, len(tiles), zooms), file=sys.stderr)
    cost = cost_estimate(
        tools.source,
        tiles,
        zooms,
        settings.size_px,
        settings.margin_px,
        settings.period,
        tools.bands,
        settings.batch_size,
    )
    if cost:  # real sources: what the sweep will fetch, before it fetches anything
        write_json(out / "cost_estimate.json", cost)
        if progress:
            print(describe_cost(cost), file=sys.stderr)

    checkpoint = Checkpoint(out / "_checkpoint", run_id)
    resumed = checkpoint.open()

    def make_task(zoom: int, index: int, part: np.ndarray, next_zoom: int | None) -> Task:
        return Task(settings, zoom, index, part, settings.conf_at(zoom), use_screen, next_zoom)

    executor = open_executor(settings.workers, settings.scheduler, context, settings.run_length)
    try:
        levels = sweep(
            tiles,
            zooms,
            make_task,
            executor,
            checkpoint,
            on_land_in(aoi.geometry),
            settings.batch_size,
            progress=progress,
        )
    finally:
        executor.close()
    t_swept = time.perf_counter()

    candidates = candidates_of(levels[-1], settings.merge_gap_m, run_id)
    write_geoparquet(candidates, out / "candidates.parquet")
    write_vector(candidates, out / "candidates.geojson", driver="GeoJSON")
    seconds = time.perf_counter() - t_start
    report = {
        "run_id": run_id,
        "aoi": aoi.name,
        "mode": "exhaustive" if settings.exhaustive else "pyramid",
        "screen": screen_note,
        "verifier": verifier_note(tools.verifier, source.kind),
        "levels": {f"z{lv.zoom}": lv.summary() for lv in levels},
        "cost_estimate": cost,
        "totals": {
            "area_km2": round(area, 1),
            "tiles": sum(lv.summary()["tiles"] for lv in levels),
            "detector_calls": sum(lv.summary()["detector_calls"] for lv in levels),
            "candidates": int(len(candidates)),
            "seconds": round(seconds, 3),
            "km2_per_s": round(area / seconds, 2),
            "resumed_batches": resumed,
            "workers": settings.workers,
            "scheduler": settings.scheduler,
        },
    }
    if truth is not None:
        report["truth"] = score(candidates, truth)
    write_json(out / "scan_report.json", report)

    from minescan.detect.report import write_map, write_summary

    write_map(out / "map.html", levels, candidates, truth, aoi.geometry)
    write_summary(out / "summary.png", levels, candidates, truth, report)
    write_json(
        out / "manifest.json",
        {
            "run_id": run_id,
            "command": sys.argv,
            "aoi": {"spec": aoi_spec, "name": aoi.name, "bounds": list(aoi.geometry.bounds)},
            "config": config
            if config is not None
            else {"source": source.model_dump(), "scan": settings.model_dump()},
            "versions": versions(),
            "model": {"folder": str(model_dir), "sha256": model},
            "inputs_sha256": inputs,
            "timings_s": {
                "sweep": round(t_swept - t_start, 3),
                "total": round(time.perf_counter() - t_start, 3),
                **{f"z{lv.zoom}": round(lv.seconds, 3) for lv in levels},
            },
        },
    )
    return report


def versions() -> dict[str, str]:
    """Versions of minescan, Python and the libraries that decide the results."""
    import importlib.metadata as md

    out = {"minescan": __version__, "python": platform.python_version()}
    for name in ("numpy", "shapely", "onnxruntime", "torch", "ultralytics", "geopandas", "dask"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return out
