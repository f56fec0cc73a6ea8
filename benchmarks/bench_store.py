"""Benchmark the results store against issue 12's targets, each backend side by side.

- a mine by id, with 200,000 mines: p95 of its state row with geometry (<= 10 ms), and
  of its whole page, ``query.mine`` (state, observations, events, monitor records);
- a bounding box returning up to 2,000 mines with their current state: p95 of
  ``query.mines_in_bbox`` (<= 50 ms);
- statistics for 300 jurisdictions x 13 periods from scratch (<= 60 s), then
  served from the store;
- ingesting 8 yearly layers of about 45,000 polygons in all (<= 60 s).

The 200,000 mines are written through the backend's ``insert`` (one state row
and one observation each); the statistics and ingest stores are filled by the
real ingest. All inputs are synthetic squares, made here. PostGIS runs when
``--postgis URL`` is given, or else on the tests' throw-away server
(``tests/store/postgis_server.py``) when PostgreSQL is installed.

    .venv/bin/python benchmarks/bench_store.py [--scale 1.0] [--postgis URL] [--only gpkg]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

REPO = Path(__file__).resolve().parent.parent
TARGETS = {"mine_p95_ms": 10, "bbox_p95_ms": 50, "stats_s": 60, "ingest_s": 60}


def squares(xs: np.ndarray, ys: np.ndarray, side: float) -> np.ndarray:
    return shapely.box(xs, ys, xs + side, ys + side)


def p95_ms(call, arguments) -> float:
    times = []
    for argument in arguments:
        start = time.perf_counter()
        call(argument)
        times.append((time.perf_counter() - start) * 1000)
    return float(np.percentile(times, 95))


def fill_mines(backend, n: int) -> tuple[float, float]:
    """``n`` mines on a grid of 100 m squares 200 m apart; the grid's width and step."""
    side = int(np.ceil(np.sqrt(n)))
    step = 0.0018
    i = np.arange(n)
    geoms = squares(-60 + (i % side) * step, -10 + (i // side) * step, 0.0009)
    rows = [
        {
            "mine_id": int(k) + 1,
            "onset": "2020",
            "onset_start": "2020-01-01",
            "last_period": "2021",
            "periods": 2,
            "status": "confirmed",
            "area_ha": 1.0,
            "run_id": "bench",
            "geometry": g,
        }
        for k, g in zip(i, geoms, strict=True)
    ]
    obs = [
        {
            "obs_id": r["mine_id"],
            "mine_id": r["mine_id"],
            "run_id": "bench",
            "period": "2020",
            "period_start": "2020-01-01",
            "period_end": "2021-01-01",
            "area_ha": 1.0,
            "geometry": r["geometry"],
        }
        for r in rows
    ]
    with backend.transaction():
        backend.insert(
            "runs",
            [{"run_id": "bench", "seq": 1, "kind": "periods", "source": "bench", "published": 1}],
        )
        backend.insert("mines", rows)
        backend.insert("observations", obs)
    return side * step, step


def bench_queries(open_store, target: str, n: int, rng) -> dict:
    from minescan.store.query import mine, mines_in_bbox

    with open_store(target) as backend:
        start = time.perf_counter()
        width, step = fill_mines(backend, n)
        filled = time.perf_counter() - start
    with open_store(target, create=False) as backend:
        ids = rng.integers(1, n + 1, 300)
        mine_ms = p95_ms(lambda k: backend.select("mines", {"mine_id": int(k)}), ids)
        page_ms = p95_ms(lambda k: mine(backend, int(k)), ids)
        window = step * np.sqrt(2000) * 0.98  # about 2,000 mines per box
        corners = rng.uniform(0, width - window, (100, 2))
        boxes = [(-60 + x, -10 + y, -60 + x + window, -10 + y + window) for x, y in corners]
        found = [len(mines_in_bbox(backend, b)) for b in boxes[:5]]
        bbox_ms = p95_ms(lambda b: mines_in_bbox(backend, b), boxes)
    return {
        "mines": n,
        "fill_s": round(filled, 1),
        "mine_p95_ms": round(mine_ms, 2),
        "page_p95_ms": round(page_ms, 2),
        "bbox_p95_ms": round(bbox_ms, 2),
        "bbox_mines": int(np.median(found)),
    }


def yearly_layers(folder: Path, total: int, years: int, rng) -> list[Path]:
    """``years`` files of ``total / years`` mines each: a sliding window over a pool of sites,
    so each year keeps three quarters of last year's mines (grown a little) and adds new ones."""
    per_year = total // years
    base = rng.uniform([-2.5, 5.0], [-0.5, 7.0], (per_year + years * per_year // 4, 2))
    paths = []
    for k in range(years):
        alive = base[k * per_year // 4 : k * per_year // 4 + per_year]
        side = 0.002 + 0.0003 * k
        geometries = squares(alive[:, 0], alive[:, 1], side)
        frame = gpd.GeoDataFrame(
            {"year": [str(2017 + k)] * len(alive)}, geometry=geometries, crs=4326
        )
        path = folder / f"year_{2017 + k}.gpkg"
        frame.to_file(path)
        paths.append(path)
    return paths


def bench_ingest(open_store, target: str, paths: list[Path]) -> dict:
    from minescan.store.ingest import ingest_periods

    polygons = 0
    with open_store(target) as backend:
        start = time.perf_counter()
        for path in paths:
            polygons += ingest_periods(backend, path, period_column="year", source_name=path.stem)[
                "polygons"
            ]
        seconds = time.perf_counter() - start
        mines = len(backend.select("mines", columns=["mine_id"]))
    return {
        "layers": len(paths),
        "polygons": polygons,
        "ingested_mines": mines,
        "ingest_s": round(seconds, 1),
    }


def stats_inputs(
    folder: Path, jurisdictions: int, periods: int, per_period: int, rng
) -> tuple[Path, Path]:
    """Quarterly mine maps over a grid of ``jurisdictions`` provinces, mines crossing borders."""
    cols = 20
    rows = int(np.ceil(jurisdictions / cols))
    cells = [(c, r) for r in range(rows) for c in range(cols)][:jurisdictions]
    provinces = gpd.GeoDataFrame(
        {"name": [f"P{c:02d}-{r:02d}" for c, r in cells]},
        geometry=[shapely.box(c * 0.1, r * 0.1, (c + 1) * 0.1, (r + 1) * 0.1) for c, r in cells],
        crs=4326,
    )
    boundary = folder / "provinces.gpkg"
    provinces.to_file(boundary)
    points = rng.uniform([0, 0], [cols * 0.1, rows * 0.1], (per_period * periods, 2))
    labels = [f"{2022 + q // 4}Q{q % 4 + 1}" for q in range(periods)]
    frame = gpd.GeoDataFrame(
        {"quarter": np.repeat(labels, per_period)},
        geometry=squares(points[:, 0], points[:, 1], 0.004),
        crs=4326,
    )
    maps = folder / "quarters.gpkg"
    frame.to_file(maps)
    return boundary, maps


def bench_stats(open_store, target: str, boundary: Path, maps: Path) -> dict:
    from minescan.store.boundaries import import_boundaries
    from minescan.store.ingest import ingest_periods
    from minescan.store.stats import statistics

    with open_store(target) as backend:
        ingest_periods(backend, maps, period_column="quarter")
        import_boundaries(backend, boundary, "province", "name")
        start = time.perf_counter()
        table = statistics(backend)
        scratch = time.perf_counter() - start
        start = time.perf_counter()
        statistics(backend)
        served = time.perf_counter() - start
    provinces = table[table.kind == "province"]
    return {
        "rows": len(table),
        "jurisdictions": provinces.jurisdiction.nunique() - 1,
        "periods": provinces.period.nunique(),
        "stats_s": round(scratch, 2),
        "served_ms": round(served * 1000, 1),
    }


def postgis_target(url: str | None) -> tuple[str | None, str]:
    """A PostGIS URL to use, or ``None`` with the reason."""
    if url:
        return url, "given"
    sys.path.insert(0, str(REPO))
    try:
        from tests.store.postgis_server import postgis_url

        return postgis_url(), "throw-away server"
    except BaseException as exc:  # pytest.skip raises a BaseException with the reason
        return None, str(exc) or type(exc).__name__


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="Fraction of the issue's sizes.")
    parser.add_argument("--postgis", default=None, help="postgresql:// URL of an empty database.")
    parser.add_argument("--only", choices=["gpkg", "postgis"], default=None)
    args = parser.parse_args()
    from minescan.store import open_store

    rng = np.random.default_rng(12)
    n_mines, n_polygons = int(200_000 * args.scale), int(45_000 * args.scale)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        layers = yearly_layers(folder, n_polygons, 8, rng)
        boundary, maps = stats_inputs(folder, 300, 13, max(int(2500 * args.scale), 10), rng)
        backends = {}
        if args.only != "postgis":
            backends["gpkg"] = lambda name: str(folder / f"{name}.gpkg")
        if args.only != "gpkg":
            url, why = postgis_target(args.postgis)
            if url is None:
                print(f"postgis: skipped ({why})")
            elif args.postgis:
                print(
                    "postgis: one --postgis database holds one store; only the query benchmark runs"
                )
                backends["postgis"] = lambda name: url if name == "queries" else None
            else:
                backends["postgis"] = lambda name: postgis_target(None)[0]
        for name, target_of in backends.items():
            results = {}
            for part, run in (
                ("queries", lambda t: bench_queries(open_store, t, n_mines, rng)),
                ("ingest", lambda t: bench_ingest(open_store, t, layers)),
                ("stats", lambda t: bench_stats(open_store, t, boundary, maps)),
            ):
                target = target_of(part)
                if target is not None:
                    results.update(run(target))
            met = {k: results[k] <= v for k, v in TARGETS.items() if k in results}
            print(f"{name}: {results}")
            print(f"{name}: targets met {met}")


if __name__ == "__main__":
    main()
