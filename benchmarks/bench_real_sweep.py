"""Sweeping real imagery: a COG mosaic and a STAC catalogue against the simulator, same area.

The simulated world of ``configs/demo.yaml`` (seed 0, drawn mines, period 2024)
over ``--bbox`` (default: the demo square, about 9,900 km2 of land) is written as
real-looking inputs:

- a UTM 30N mosaic at 10 m: one uint16 COG, 12 bands, stored as
  ``(reflectance + 0.1) / 0.0001`` (scale 0.0001, offset -0.1, like Earth Search
  c1), nodata 0, 512 px blocks, internal overviews (average);
- the same pixels as dated scenes behind the STAC test server on 127.0.0.1:
  ``--scenes`` x ``--scenes`` overlapping scene footprints per date, each 12
  single-band COGs plus SCL (4 = clear, 0 = nodata), 1024 px blocks like the
  Sentinel-2 COGs on AWS, for ``--dates`` dates.

Then ``minescan scan`` sweeps the area with ``--source geotiff``, ``--source
stac`` and ``--source simulated``, pyramid and ``--exhaustive``, each in its own
subprocess (``--workers 2``). For each run it prints km2/s, detector calls, the
time split (read, screen, detect, verify: seconds summed over batches), peak RSS,
window reads and compressed bytes per km2 (the sources' own counters), for
``stac`` the HTTP requests and bytes the server saw, and how many candidates
match the simulated run's (a candidate matches when it overlaps one of the
other run's candidates grown by 20 m). Also: bytes a z13 read takes from the
matching overview vs from full resolution.

    .venv/bin/python benchmarks/bench_real_sweep.py [--bbox W,S,E,N] [--sources geotiff,stac]
        [--skip-exhaustive] [--dates 2] [--scenes 2] [--out runs/bench_real_sweep]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import mercantile
import numpy as np
import rasterio
import rasterio.shutil
import yaml
from rasterio.warp import Resampling, reproject, transform_bounds
from rasterio.windows import Window

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from minescan.datasets.sources import windows  # noqa: E402
from minescan.datasets.sources.geotiff import GeoTiffSource  # noqa: E402
from minescan.detect.cost import cost_estimate  # noqa: E402
from minescan.detect.run import first_tiles  # noqa: E402
from minescan.kernel.bands import S2_BANDS  # noqa: E402
from minescan.simulated import SimulatedSentinel2  # noqa: E402
from tests.datasets.sources.stac_server import StacServer, write_stored_scene  # noqa: E402

DEMO = "-2.45,5.55,-1.55,6.45"
UTM = "EPSG:32630"
RES = 10.0
SCALE, OFFSET = 0.0001, -0.1
PERIOD = "2024"
SIM_ZOOM, SIM_PX = 12, 1024  # simulator chips with the pixels of z14 (~9.5 m)


def stored_values(reflectance: np.ndarray) -> np.ndarray:
    """Reflectance -> uint16 (NaN -> nodata 0)."""
    values = np.round((reflectance - OFFSET) / SCALE)
    return np.where(np.isnan(values), 0, np.clip(values, 1, 65535)).astype("uint16")


def write_mosaic(bbox: tuple[float, ...], path: Path) -> None:
    """The simulated world over ``bbox`` as a 10 m UTM uint16 COG with internal overviews."""
    left, bottom, right, top = transform_bounds("EPSG:4326", UTM, *bbox)
    left, bottom = math.floor(left / RES) * RES - 1000, math.floor(bottom / RES) * RES - 1000
    right, top = math.ceil(right / RES) * RES + 1000, math.ceil(top / RES) * RES + 1000
    width, height = round((right - left) / RES), round((top - bottom) / RES)
    transform = rasterio.Affine(RES, 0, left, 0, -RES, top)
    sim = SimulatedSentinel2(seed=0, mine_density=0.02)
    flat = path.with_suffix(".flat.tif")
    profile = dict(
        driver="GTiff", width=width, height=height, count=12, dtype="uint16", crs=UTM,
        transform=transform, nodata=0, tiled=True, blockxsize=512, blockysize=512,
        compress="zstd", BIGTIFF="IF_SAFER",
    )  # fmt: skip
    with rasterio.open(flat, "w+", **profile) as dst:
        for i, name in enumerate(S2_BANDS, start=1):
            dst.set_band_description(i, name)
        dst.scales, dst.offsets = [SCALE] * 12, [OFFSET] * 12
        tiles = list(mercantile.tiles(*bbox, SIM_ZOOM))
        for n, tile in enumerate(tiles, start=1):
            chip = sim.read(tile, size_px=SIM_PX, period=PERIOD)
            data = stored_values(np.where(chip.valid_mask(), chip.data, np.nan))
            b = transform_bounds("EPSG:3857", UTM, *chip.bounds)
            c0 = max(0, math.floor((b[0] - left) / RES))
            c1 = min(width, math.ceil((b[2] - left) / RES))
            r0 = max(0, math.floor((top - b[3]) / RES))
            r1 = min(height, math.ceil((top - b[1]) / RES))
            if c1 <= c0 or r1 <= r0:
                continue
            window = Window(c0, r0, c1 - c0, r1 - r0)
            new = np.zeros((12, r1 - r0, c1 - c0), "uint16")
            reproject(
                data, new, src_transform=chip.transform, src_crs="EPSG:3857", src_nodata=0,
                dst_transform=dst.window_transform(window), dst_crs=UTM, dst_nodata=0,
                resampling=Resampling.bilinear,
            )  # fmt: skip
            old = dst.read(window=window)
            dst.write(np.where(old == 0, new, old), window=window)
            print(f"\r  mosaic: {n}/{len(tiles)} simulator chips", end="", flush=True)
    print()
    with rasterio.open(flat) as src:
        rasterio.shutil.copy(
            src, path, driver="COG", compress="deflate", predictor=2, blocksize=512,
            overviews="AUTO", overview_resampling="average", BIGTIFF="IF_SAFER",
        )  # fmt: skip
    flat.unlink()


def write_scenes(mosaic: Path, folder: Path, per_side: int, dates: list[str]) -> list[dict]:
    """The mosaic cut into ``per_side`` x ``per_side`` overlapping scenes (10 km overlap) per date."""
    items = []
    with rasterio.open(mosaic) as src:
        step_x, step_y = src.width / per_side, src.height / per_side
        overlap = int(10_000 / RES)
        for d, date in enumerate(dates):
            for sy in range(per_side):
                for sx in range(per_side):
                    c0 = max(0, int(sx * step_x) - overlap // 2)
                    r0 = max(0, int(sy * step_y) - overlap // 2)
                    c1 = min(src.width, int((sx + 1) * step_x) + overlap // 2)
                    r1 = min(src.height, int((sy + 1) * step_y) + overlap // 2)
                    window = Window(c0, r0, c1 - c0, r1 - r0)
                    first = src.read(1, window=window)
                    scl = np.where(first > 0, 4, 0).astype("uint8")
                    item_id = f"S{d}_{sy}{sx}"
                    items.append(
                        write_stored_scene(
                            folder, item_id, date,
                            lambda i, window=window: src.read(i + 1, window=window),
                            scl, src.window_transform(window), UTM, 5.0, blocksize=1024,
                        )
                    )  # fmt: skip
                    print(
                        f"\r  scenes: {len(items)}/{len(dates) * per_side**2}", end="", flush=True
                    )
    print()
    return items


def fixtures(args) -> tuple[Path, list[dict]]:
    """Write (or reuse, when the stamp matches) the mosaic and the scenes."""
    folder = args.out / "fixtures"
    stamp = {"bbox": args.bbox, "dates": args.dates, "scenes": args.scenes, "version": 1}
    stamp_file = folder / "stamp.json"
    items_file = folder / "items.json"
    if stamp_file.exists() and json.loads(stamp_file.read_text()) == stamp:
        return folder / "mosaic_utm.tif", json.loads(items_file.read_text())
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    t0 = time.perf_counter()
    bbox = tuple(float(v) for v in args.bbox.split(","))
    mosaic = folder / "mosaic_utm.tif"
    write_mosaic(bbox, mosaic)
    dates = [f"{PERIOD}-{m:02d}-15" for m in np.linspace(2, 11, args.dates).round().astype(int)]
    items = write_scenes(mosaic, folder / "stac", args.scenes, dates)
    items_file.write_text(json.dumps(items))
    stamp_file.write_text(json.dumps(stamp))
    with rasterio.open(mosaic) as ds:
        print(
            f"fixtures in {time.perf_counter() - t0:.0f} s: mosaic {ds.width}x{ds.height} px, "
            f"overviews {ds.overviews(1)}, {mosaic.stat().st_size / 2**20:.0f} MiB; "
            f"{len(items)} scenes"
        )
    return mosaic, items


def config_for(kind: str, args, mosaic: Path, stac_url: str | None, verifier: bool = False) -> Path:
    """The demo config with ``source:`` set for ``kind``.

    The verifier judges candidates on real sources only, so it is off unless
    ``verifier``: the runs compare the sources (read, reprojection) on the
    detector alone, as test_scan_real does; the ``verifier`` mode measures its cost.
    """
    doc = yaml.safe_load((REPO / "configs" / "demo.yaml").read_text())
    doc["scan"]["aoi"] = f"bbox:{args.bbox}"
    doc["scan"]["verifier"] = verifier
    if kind == "geotiff":
        doc["source"] = {
            "kind": "geotiff", "files": [str(mosaic)], "bands": list(S2_BANDS),
            "scale": SCALE, "offset": OFFSET,
        }  # fmt: skip
    elif kind == "stac":
        cache = args.out / "stac-cache"
        shutil.rmtree(cache, ignore_errors=True)  # every stac run starts cold
        doc["source"] = {"kind": "stac", "stac_url": stac_url, "cache_dir": str(cache)}
    path = args.out / f"{kind}{'-verifier' if verifier else ''}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def run_scan(name: str, config: Path, args, *extra: str) -> dict:
    """One ``minescan scan`` subprocess; its report plus wall, CPU and peak RSS."""
    out = args.out / name
    shutil.rmtree(out, ignore_errors=True)
    cmd = [
        sys.executable, "-m", "minescan.cli", "scan", "--config", str(config),
        "--workers", str(args.workers), "--quiet", "--out", str(out), *extra,
    ]  # fmt: skip
    print(f"$ {' '.join(cmd[2:])}   (load {os.getloadavg()[0]:.1f})", flush=True)
    # peak RSS through GNU time: this process's own size (the fixtures) would leak into
    # RUSAGE_CHILDREN's maximum through the fork
    rss = args.out / f"{name}.maxrss"
    timed = ["/usr/bin/time", "-f", "%M", "-o", str(rss)] if Path("/usr/bin/time").exists() else []
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(
        [*timed, *cmd], check=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    report = json.loads((out / "scan_report.json").read_text())
    report["bench"] = {
        "wall": wall,
        "cpu": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
        "peak_gib": int(rss.read_text().split()[-1]) / 2**20 if timed else float("nan"),
        "load": os.getloadavg()[0],
    }
    return report


def matched(a: Path, b: Path) -> tuple[int, int, int, int]:
    """Candidates of run ``a`` touching one of ``b`` (grown 20 m), and the other way round."""
    import geopandas as gpd

    ga = gpd.read_parquet(a / "candidates.parquet").to_crs(3857)
    gb = gpd.read_parquet(b / "candidates.parquet").to_crs(3857)
    if not len(ga) or not len(gb):
        return 0, len(ga), 0, len(gb)
    a_in = ga.geometry.buffer(20).intersects(gb.union_all())
    b_in = gb.geometry.buffer(20).intersects(ga.union_all())
    return int(a_in.sum()), len(ga), int(b_in.sum()), len(gb)


def describe(name: str, report: dict, served: tuple[int, int] | None) -> None:
    totals, bench = report["totals"], report["bench"]
    area = totals["area_km2"]
    split = {"read": 0.0, "screen": 0.0, "detect": 0.0, "verify": 0.0}
    io = {"reads": 0, "bytes": 0, "requests": 0}
    levels = []
    for zoom, lv in report["levels"].items():
        for k in split:
            split[k] += lv.get("task_seconds", {}).get(k, 0.0)
        for k in io:
            io[k] += lv.get("io", {}).get(k, 0)
        levels.append(f"{zoom} {lv['tiles']} tiles / {lv['detector_calls']} calls")
    print(f"== {name}: {', '.join(levels)}")
    print(
        f"   {area:.0f} km2 in {totals['seconds']:.1f} s = {totals['km2_per_s']:.0f} km2/s "
        f"(process {bench['wall']:.1f} s, CPU {bench['cpu']:.0f} s, load {bench['load']:.1f}); "
        f"calls {totals['detector_calls']}; candidates {totals['candidates']}; "
        f"peak RSS {bench['peak_gib']:.2f} GiB"
    )
    print(
        "   batch CPU s: " + ", ".join(f"{k} {v:.1f}" for k, v in split.items())
        + f"; reads/km2 {io['reads'] / area:.3f}, bytes/km2 {io['bytes'] / area / 1e3:.1f} kB"
        + f", searches {io['requests']}"
    )  # fmt: skip
    if served:
        requests, sent = served
        tiles = totals["tiles"]
        print(
            f"   server: {requests} HTTP requests ({requests / tiles:.2f} per tile, "
            f"{requests / area:.3f} per km2), {sent / 2**20:.0f} MiB ({sent / area / 1e3:.1f} kB/km2)"
        )


def overview_saving(mosaic: Path, bbox: str) -> None:
    """Compressed bytes the z13 level reads from the matching overview vs from full resolution.

    Planned, not read: once with each block counted once over the level (what a
    sweep must fetch), once batch by batch with nothing kept between batches
    (:func:`cost_estimate`: what workers that share no cache would fetch).
    """
    import shapely

    tiles = first_tiles(shapely.box(*map(float, bbox.split(","))), 13)
    source = GeoTiffSource(files=[str(mosaic)], bands=S2_BANDS, scale=SCALE, offset=OFFSET)
    bands = tuple(b for b in S2_BANDS if b != "B01")  # what the demo model's scan reads

    def z13_bytes() -> tuple[int, int]:
        level = source.estimate(tiles, size_px=256, bands=bands, margin_px=16)["bytes"]
        batched = cost_estimate(source, tiles, [13], 256, 16, PERIOD, bands, 32)
        return level, batched["levels"]["z13"]["bytes"]

    matching = z13_bytes()
    slack = windows.OVERVIEW_SLACK
    windows.OVERVIEW_SLACK = 0.0  # no overview qualifies: full resolution
    try:
        full = z13_bytes()
    finally:
        windows.OVERVIEW_SLACK = slack
    for how, m, f in zip(("each block once", "batch by batch"), matching, full, strict=True):
        print(
            f"z13, {len(tiles)} tiles, {how}: {m / 2**20:.0f} MiB from the overview vs "
            f"{f / 2**20:.0f} MiB at full resolution = {m / f:.2f} (target <= 0.33)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bbox", default=DEMO, help=f"W,S,E,N in degrees (default {DEMO})")
    parser.add_argument("--sources", default="geotiff,stac")
    parser.add_argument("--skip-exhaustive", action="store_true")
    parser.add_argument("--dates", type=int, default=2, help="scenes' dates (stac)")
    parser.add_argument("--scenes", type=int, default=2, help="scenes per side per date (stac)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--verifier",
        action="store_true",
        help="also sweep the pyramid with the shipped verifier on (its cost on a real source)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "bench_real_sweep")
    args = parser.parse_args()
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    kinds = [k for k in args.sources.split(",") if k]
    mosaic, items = fixtures(args)
    overview_saving(mosaic, args.bbox)
    # z13 alone: every land tile of the area at z13, the level the STAC target is set for
    modes = [("pyramid", ()), ("z13", ("--zooms", "13"))]
    modes += [] if args.skip_exhaustive else [("exhaustive", ("--exhaustive",))]
    modes += [("verifier", ())] if args.verifier else []
    with StacServer(args.out / "fixtures" / "stac", items) as server:
        for mode, extra in modes:
            sim = f"simulated-{mode}"
            sim_config = config_for("simulated", args, mosaic, None)
            describe(sim, run_scan(sim, sim_config, args, *extra), None)
            for kind in kinds:
                name = f"{kind}-{mode}"
                config = config_for(kind, args, mosaic, server.url, mode == "verifier")
                n0, b0 = len(server.log), server.bytes_sent
                report = run_scan(name, config, args, *extra)
                served = (len(server.log) - n0, server.bytes_sent - b0) if kind == "stac" else None
                describe(name, report, served)
                a_in, na, b_in, nb = matched(args.out / name, args.out / sim)
                print(
                    f"   vs {sim}: {a_in} of {na} candidates overlap one of its {nb}; "
                    f"{b_in} of its {nb} overlap one of these"
                )


if __name__ == "__main__":
    main()
