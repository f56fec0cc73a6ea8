"""Speed of ``minescan serve`` on 200,000 synthetic mines in a GeoPackage store.

Targets (issue 13): API p95 of a mine lookup and of a bbox query at most 50 ms;
a 20,000-mine country interactive in headless Chromium within 3 s; a period
switch within 0.5 s; 50 concurrent clients for 30 s with no errors (p95
reported). The store is filled through the backend's primitives (runs,
periods, observations, increments, mines as ingest leaves them) because
running identity matching on 200,000 squares would time the ingest, not the
server. Run: ``python benchmarks/bench_serve.py [--mines N] [--clients-seconds S]``.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import shapely

from minescan.serve.app import create_app
from minescan.store import open_store
from minescan.store.areas import area_ha

PERIODS = {"2019": ("2019-01-01", "2020-01-01"), "2020": ("2020-01-01", "2021-01-01")}
#: Mines sit in 10 "countries" of equal size; the browser opens one of them.
COUNTRIES = 10


def build_store(path: Path, mines: int) -> tuple:
    """``mines`` squares of 2-5 ha in COUNTRIES blocks; the first block's box."""
    rng = np.random.default_rng(0)
    per = mines // COUNTRIES
    side = int(np.ceil(np.sqrt(per)))
    rows_mines, rows_obs, rows_inc = [], [], []
    for i in range(mines):
        country, k = divmod(i, per)
        x = (country % 5) * 3.0 + (k % side) * (2.5 / side)
        y = (country // 5) * 3.0 + (k // side) * (2.5 / side)
        size = rng.uniform(0.0013, 0.002)
        geometry = shapely.box(x, y, x + size, y + size)
        onset = "2019" if i % 2 else "2020"
        status = "confirmed" if i % 3 else "provisional"
        rows_mines.append(
            {
                "mine_id": i + 1,
                "onset": onset,
                "onset_start": PERIODS[onset][0],
                "last_period": "2020",
                "periods": 2 if onset == "2019" else 1,
                "status": status,
                "run_id": "bench",
                "geometry": geometry,
            }
        )
        row = {
            "obs_id": i + 1,
            "mine_id": i + 1,
            "run_id": "bench",
            "period": onset,
            "period_start": PERIODS[onset][0],
            "period_end": PERIODS[onset][1],
            "geometry": geometry,
        }
        rows_obs.append(row)
        rows_inc.append(dict(row))
    areas = area_ha([r["geometry"] for r in rows_mines])
    for rows in (rows_mines, rows_obs, rows_inc):
        for row, area in zip(rows, areas, strict=True):
            row["area_ha"] = float(area)
    with open_store(path) as backend, backend.transaction():
        backend.insert(
            "runs",
            [{"run_id": "bench", "seq": 1, "kind": "periods", "source": "bench", "published": 1}],
        )
        backend.insert(
            "run_periods",
            [
                {"run_id": "bench", "period": p, "period_start": s, "period_end": e, "polygons": 0}
                for p, (s, e) in PERIODS.items()
            ],
        )
        backend.insert("mines", rows_mines)
        backend.insert("observations", rows_obs)
        backend.insert("increments", rows_inc)
    return (0.0, 0.0, 2.5, 2.5)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(store: Path, work: Path) -> str:
    import uvicorn

    port = free_port()
    config = uvicorn.Config(
        create_app(str(store), work), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}"


def p95(seconds: list[float]) -> float:
    return float(np.percentile(np.array(seconds) * 1000, 95))


def timed(client: httpx.Client, url: str) -> float:
    start = time.perf_counter()
    reply = client.get(url)
    reply.raise_for_status()
    return time.perf_counter() - start


def api_figures(base: str, mines: int, country) -> None:
    rng = np.random.default_rng(1)
    with httpx.Client(base_url=base, timeout=30) as client:
        client.get("/api/summary").raise_for_status()  # index and statistics built once
        lookups = [timed(client, f"/api/mines/{rng.integers(1, mines + 1)}") for _ in range(300)]
        boxes = []
        for _ in range(300):
            x, y = (
                rng.uniform(country[0], country[2] - 0.1),
                rng.uniform(country[1], country[3] - 0.1),
            )
            boxes.append(timed(client, f"/api/map?bbox={x},{y},{x + 0.1},{y + 0.06}&zoom=13"))
        whole = [
            timed(client, f"/api/map?bbox={','.join(map(str, country))}&zoom=7") for _ in range(50)
        ]
    print(f"mine lookup p95: {p95(lookups):.1f} ms (target 50)")
    print(f"bbox query (zoom 13, outlines) p95: {p95(boxes):.1f} ms (target 50)")
    print(f"country bbox (zoom 7, 20,000 mines aggregated) p95: {p95(whole):.1f} ms")


def browser_figures(base: str, country) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        print("browser: skipped, Debian's chromium is missing (make browser)")
        return
    from playwright.sync_api import sync_playwright

    lat, lon = (country[1] + country[3]) / 2, (country[0] + country[2]) / 2
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.route("https://tile.openstreetmap.org/**", lambda route: route.abort())
        start = time.perf_counter()
        page.goto(f"{base}/?period=2020&lat={lat}&lon={lon}&z=8")
        page.wait_for_selector("#map[data-ready^='2020/']", timeout=60_000)
        page.wait_for_function("document.getElementById('count-cumulative').textContent !== '-'")
        loaded = time.perf_counter() - start
        switches = []
        for label, value in (("2019", "0"), ("2020", "1")) * 3:
            start = time.perf_counter()
            page.locator("#period").fill(value)
            page.wait_for_selector(f"#map[data-ready^='{label}/']", timeout=30_000)
            switches.append(time.perf_counter() - start)
        browser.close()
    print(f"country of 20,000 mines interactive in Chromium: {loaded:.2f} s (target 3)")
    print(
        f"period switch: median {np.median(switches):.2f} s, max {max(switches):.2f} s (target 0.5)"
    )


def load_figures(base: str, mines: int, country, clients: int, seconds: float) -> None:
    errors, latencies, lock = [], [], threading.Lock()
    stop = time.perf_counter() + seconds

    def client_loop(seed: int) -> None:
        rng = np.random.default_rng(seed)
        mine: list[float] = []
        with httpx.Client(base_url=base, timeout=30) as client:
            while time.perf_counter() < stop:
                if rng.random() < 0.5:
                    url = f"/api/mines/{rng.integers(1, mines + 1)}"
                else:
                    x, y = (
                        rng.uniform(country[0], country[2] - 0.1),
                        rng.uniform(country[1], country[3] - 0.1),
                    )
                    url = f"/api/map?bbox={x},{y},{x + 0.1},{y + 0.06}&zoom=13&period=2019"
                try:
                    mine.append(timed(client, url))
                except Exception as exc:  # counted, not raised: the figure is the error count
                    with lock:
                        errors.append(repr(exc))
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(
        f"{clients} clients for {seconds:.0f} s: {len(latencies)} requests, {len(errors)} errors, "
        f"p95 {p95(latencies):.1f} ms, {len(latencies) / seconds:.0f} req/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mines", type=int, default=200_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--clients-seconds", type=float, default=30.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store = Path(folder) / "bench.gpkg"
        start = time.perf_counter()
        country = build_store(store, args.mines)
        print(f"store of {args.mines:,} mines built in {time.perf_counter() - start:.1f} s")
        start = time.perf_counter()
        base = start_server(store, Path(folder) / "work")
        httpx.get(f"{base}/api/summary", timeout=300).raise_for_status()
        print(
            f"server ready, first summary (index + statistics): {time.perf_counter() - start:.1f} s"
        )
        api_figures(base, args.mines, country)
        browser_figures(base, country)
        load_figures(base, args.mines, country, args.clients, args.clients_seconds)


if __name__ == "__main__":
    main()
