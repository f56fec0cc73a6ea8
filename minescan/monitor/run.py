"""The per-mine loop: read the series, detect excavation, check compliance, write the files.

Mines are independent, so they run one per process (``--workers N``) or on a
Dask cluster (``--scheduler ADDR``). A mine whose ``mine.json`` already exists
for the same request (:meth:`~minescan.monitor.request.Request.stamp`: dates,
method, settings, source, the content of every input file and the mine's
outline) and whose files read back whole is skipped, so an interrupted run
resumes where it stopped; a saved error is always retried. ``mine.json`` is
written last and holds the mine's status: ``ok``, ``no_valid_dates`` (every
observation was cloud) or ``error``. Each mine's folder is
:func:`~minescan.monitor.request.mine_folder`: a safe, unique name under ``--out``.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from minescan.datasets.sources.settings import SourceSettings
from minescan.kernel.bands import check_sentinel2_period
from minescan.kernel.errors import MinescanError
from minescan.kernel.executor import WorkerContext, open_executor
from minescan.kernel.io import ensure_dir, read_vector, write_json
from minescan.kernel.lock import writes_output
from minescan.kernel.period import parse_day
from minescan.monitor import compliance, evaluate, forecast, nogo, outputs
from minescan.monitor.detection import detect
from minescan.monitor.inputs import Inputs, MineJob
from minescan.monitor.preprocess import NoValidDates, preprocess, series_bands
from minescan.monitor.request import Request, load_screen, mine_folder
from minescan.monitor.settings import MonitorSettings


def parse_period(start: str, end: str) -> tuple[str, str]:
    """Check ``start <= end`` (ISO dates); one-line errors otherwise.

    Examples
    --------
    >>> parse_period("2019-01-01", "2019-12-31")
    ('2019-01-01', '2019-12-31')
    """
    first, last = parse_day(start, "date in --start"), parse_day(end, "date in --end")
    if first > last:
        raise MinescanError(f"--start {start} is after --end {end}")
    check_sentinel2_period(last, f"--start {start} --end {end}")
    return str(first), str(last)


@dataclass(frozen=True)
class MonitorRun:
    """One run as its workers receive it: the request and its typed sections, validated once."""

    request: Request
    source: SourceSettings
    monitor: MonitorSettings


@dataclass(frozen=True)
class MineTools:
    """What every mine of a run shares: the source, no-go layers, growth table and screen."""

    source: object
    layers: object
    growth: object | None
    screen: object | None


def open_tools(run: MonitorRun) -> MineTools:
    """Open a run's shared tools (the executor does it once per worker process)."""
    from minescan.datasets.sources import open_source

    request = run.request
    return MineTools(
        source=open_source(run.source),
        layers=nogo.read_layers(request.lease, request.restricted, request.class_column),
        growth=read_vector(request.growth, what="growth file") if request.growth else None,
        screen=load_screen(request.monitor),
    )


def monitor_job(job: MineJob, context: WorkerContext) -> dict:
    """Run one mine in a worker: skip finished mines, open the tools, never raise for bad data."""
    run = context.settings
    request = run.request
    done = mine_folder(request.out, job.mine_id) / "mine.json"
    previous = finished(done, request.stamp(job))
    if previous is not None:
        return previous
    tools = context.get()
    try:
        return monitor_mine(
            job, tools.source, request, run.monitor, tools.layers, tools.growth, tools.screen
        )
    except MinescanError as exc:
        summary = {"mine_id": job.mine_id, "status": "error", "message": str(exc)}
        summary["request"] = request.stamp(job)
        write_json(done, summary)
        return summary


def finished(done: Path, stamp: dict) -> dict | None:
    """The summary in ``done`` (``mine.json``) when a rerun may reuse it, else ``None``.

    Reused only when it parses, was made by the same request (``stamp``), is not
    a saved error (the cause may be fixed now) and every file it lists reads back
    whole; a corrupt or truncated one is reported on stderr and redone.
    """
    if not done.exists():
        return None
    try:
        previous = json.loads(done.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        print(
            f"warning: {done} is corrupt ({type(exc).__name__}); redoing the mine", file=sys.stderr
        )
        return None
    if not isinstance(previous, dict) or previous.get("request") != stamp:
        return None
    if previous.get("status") == "error":
        return None
    problem = outputs.check_outputs(done.parent) if previous.get("status") == "ok" else None
    if problem:
        print(f"warning: {problem}; redoing the mine", file=sys.stderr)
        return None
    return previous


def monitor_mine(
    job: MineJob, source, request: Request, settings, layers, growth, screen=None
) -> dict:
    """Monitor one mine and write its folder (see the package docs for the files).

    ``screen`` (see :func:`load_screen`) finds the ground already excavated at the start.
    """
    t0 = time.perf_counter()
    folder = ensure_dir(mine_folder(request.out, job.mine_id))
    summary = {"mine_id": job.mine_id, "request": request.stamp(job), "method": request.method}
    bands = series_bands(screen)
    dates, cube = source.series(job.geometry, request.start, request.end, bands=bands)
    summary["n_dates"] = len(dates)
    try:
        series = preprocess(dates, cube, screen)
    except NoValidDates as exc:
        summary.update(status="no_valid_dates", message=str(exc), n_clear_dates=0)
        write_json(folder / "mine.json", summary)
        return summary
    detection = detect(series, settings, request.method)
    zones = nogo.zones_for(series, layers, settings)
    first, before = detection.first_index, detection.pre_existing
    outputs.write_excavation(
        folder / "excavation.tif",
        first,
        series.dates,
        series.transform,
        series.crs,
        request.method,
        before,
    )
    profile = outputs.area_profile(detection.state, series.dates, zones, before)
    outputs.write_csv(profile, folder / "area_profile.csv")
    ahead = forecast.forecast(profile, settings.forecast_window_months, settings.forecast_damping)
    outputs.write_csv(ahead, folder / "forecast.csv")
    violations = compliance.violations(
        job.mine_id, first, series.dates, detection.confidence, zones, series.transform, series.crs
    )
    outputs.write_violations(violations, folder / "violations.parquet")
    alerts = compliance.alerts(violations)
    outputs.write_csv(alerts, folder / "alerts.csv")
    outputs.write_summary(
        folder / "summary.png",
        profile,
        first,
        zones,
        f"{job.mine_id} ({request.method})",
        ahead,
        before,
    )
    summary.update(
        status="ok",
        n_clear_dates=len(series.dates),
        excavated_ha_last=float(profile["excavated_ha"].iloc[-1]),
        dug_before_ha=float(profile["dug_before_ha"].iloc[0]),
        baseline=detection.baseline,
        forecast=forecast.summary(ahead),
        first_excavated=str(series.dates[first[first >= 0].min()]) if (first >= 0).any() else None,
        n_violations=len(violations),
        violation_m2=float(violations["area_m2"].sum()) if len(violations) else 0.0,
        synthetic_zones=layers.restricted is None,
    )
    if growth is not None:
        truth_first = evaluate.truth_first_date(growth, series.shape, series.transform, series.crs)
        truth = evaluate.truth_state(truth_first, series.dates)
        ignore = evaluate.ignore_mask(
            source, job.geometry, series.shape, series.transform, series.crs
        )
        if ignore is not None:
            ignore &= ~truth.any(axis=0)
        summary["metrics"] = evaluate.scores(detection.state, truth, ignore)
    summary["seconds"] = round(time.perf_counter() - t0, 3)
    write_json(folder / "mine.json", summary)
    return summary


def run_jobs(
    jobs: list[MineJob], run: MonitorRun, workers: int = 1, scheduler: str | None = None
) -> list[dict]:
    """Every job, locally (``workers`` processes) or on a Dask cluster at ``scheduler``.

    Summaries come in the order the mines finish (:func:`write_run` sorts them).
    """
    from tqdm import tqdm

    bar = dict(total=len(jobs), desc="mines", unit="mine", file=sys.stderr, disable=None)
    context = WorkerContext(open_tools, run)
    with open_executor(workers if len(jobs) > 1 else 1, scheduler, context) as executor:
        return list(tqdm(executor.map_unordered(monitor_job, jobs), **bar))


@writes_output("out")
def monitor(
    source: SourceSettings,
    settings: MonitorSettings,
    inputs: Inputs,
    start: str,
    end: str,
    out: str | Path,
    scheduler: str | None = None,
) -> list[dict]:
    """Monitor every mine of ``inputs`` from ``start`` to ``end`` into ``out``; return the summaries.

    Bad inputs (mines, layers, screen) fail before any mine is read. The mines
    run on ``settings.workers`` processes or the Dask cluster at ``scheduler``;
    ``out`` then holds the run files too (:func:`write_run`). A run whose every
    mine failed raises the first mine's error.
    """
    from minescan.kernel.model import model_folder

    if settings.screen:  # absolute, as workers may run elsewhere; the default from anywhere
        settings = settings.model_copy(update={"screen": str(model_folder(settings.screen))})
    jobs = inputs.jobs()
    nogo.read_layers(inputs.lease, inputs.restricted, inputs.class_column)  # fail before any work
    load_screen(settings.model_dump())
    request = Request(
        start=start,
        end=end,
        method=settings.method,
        out=str(Path(out).resolve()),
        source=source.model_dump(),
        monitor=settings.model_dump(),
        lease=_absolute(inputs.lease),
        restricted=_absolute(inputs.restricted),
        class_column=inputs.class_column,
        growth=_absolute(inputs.growth),
    )
    summaries = run_jobs(jobs, MonitorRun(request, source, settings), settings.workers, scheduler)
    write_run(summaries, Path(request.out))
    failed = [s for s in summaries if s.get("status") == "error"]
    if failed and len(failed) == len(summaries):
        raise MinescanError(f"mine {failed[0]['mine_id']}: {failed[0]['message']}")
    return summaries


def _absolute(path: str | None) -> str | None:
    # Workers may run in another folder (or on another machine of a Dask cluster).
    return path and str(Path(path).resolve())


def write_run(summaries: list[dict], out: Path) -> None:
    """Across mines: ``alerts.csv``, ``mines.csv`` and ``metrics.json``.

    ``metrics.json`` holds the forecast backtest of every finished mine and,
    when truth exists (``--growth``), the accuracy figures.
    """
    summaries = sorted(summaries, key=lambda s: s["mine_id"])
    tables = []
    for s in summaries:
        path = mine_folder(out, s["mine_id"]) / "alerts.csv"
        if s.get("status") == "ok" and path.exists():
            table = pd.read_csv(path)
            if len(table):
                tables.append(table)
    alerts = (
        pd.concat(tables, ignore_index=True)
        if tables
        else pd.DataFrame(columns=compliance.VIOLATION_COLUMNS)
    )
    outputs.write_csv(alerts, out / "alerts.csv")
    flat = [{k: v for k, v in s.items() if not isinstance(v, dict)} for s in summaries]
    outputs.write_csv(pd.DataFrame(flat), out / "mines.csv")
    forecasts = [s for s in summaries if "forecast" in s]
    if not forecasts:
        return
    doc = {
        "method": forecasts[0]["method"],
        "forecast_backtest": forecast.summarise([s["forecast"] for s in forecasts]),
    }
    scored = [s for s in summaries if "metrics" in s]
    if scored:
        doc.update(
            truth="growth polygons",
            summary=evaluate.summarise([s["metrics"] for s in scored]),
            mines={s["mine_id"]: s["metrics"] for s in scored},
        )
    write_json(out / "metrics.json", doc)
