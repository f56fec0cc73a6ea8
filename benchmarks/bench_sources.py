"""Chips per second through the geotiff and stac sources, cold and from the chip cache.

A simulated z12 area (Ghana, 1024 px, the pixels of z14 at 256 px) is written
as a uint16 mosaic in UTM 30N (geotiff) and as three dated Sentinel-2 scenes of
single-band COGs behind a STAC API on 127.0.0.1 (stac: real pystac-client
searches and GDAL HTTP range reads). Then its 16 z14 chips (12 bands,
256 px) are read cold, and again from the on-disk cache.

    .venv/bin/python benchmarks/bench_sources.py [--tiles 16] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import mercantile
import numpy as np
import rasterio
from rasterio.warp import Resampling, calculate_default_transform, reproject

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from minescan.datasets.sources.cache import ChipCache, ChipKey  # noqa: E402
from minescan.datasets.sources.geotiff import GeoTiffSource  # noqa: E402
from minescan.datasets.sources.stac import StacSource  # noqa: E402
from minescan.kernel.bands import S2_BANDS  # noqa: E402
from minescan.kernel.raster import write_cog  # noqa: E402
from minescan.simulated import SimulatedSentinel2  # noqa: E402
from tests.datasets.sources.stac_server import StacServer, write_scene_item  # noqa: E402

AREA = mercantile.Tile(2025, 1975, 12)  # Ghana


def utm_mosaic(chip, path: Path) -> None:
    """The chip as uint16 x 10000 (nodata 0) reprojected to EPSG:32630 at 10 m."""
    data = np.where(chip.valid_mask(), chip.data, np.nan)
    stored = np.where(np.isnan(data), 0, np.clip(np.round(data * 1e4), 1, 65535)).astype("uint16")
    h, w = chip.shape
    left, bottom, right, top = chip.bounds
    transform, width, height = calculate_default_transform(
        "EPSG:3857", "EPSG:32630", w, h, left, bottom, right, top, resolution=10.0
    )
    out = np.zeros((len(S2_BANDS), height, width), "uint16")
    for b in range(len(S2_BANDS)):
        reproject(
            stored[b], out[b], src_transform=chip.transform, src_crs="EPSG:3857",
            dst_transform=transform, dst_crs="EPSG:32630", resampling=Resampling.bilinear,
            src_nodata=0, dst_nodata=0,
        )  # fmt: skip
    write_cog(path, out, transform, crs="EPSG:32630", band_names=S2_BANDS, nodata=0)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def report(name: str, n: int, cold: float, warm: float) -> None:
    print(
        f"{name:<26} cold {n / cold:8.2f} chips/s ({cold / n * 1000:7.1f} ms/chip)   "
        f"cache {n / warm:8.1f} chips/s ({warm / n * 1000:6.2f} ms/chip)   "
        f"cache/cold x{cold / warm:6.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiles", type=int, default=16, help="z14 chips to read (<= 16)")
    parser.add_argument("--concurrency", type=int, default=4, help="stac read_many workers")
    args = parser.parse_args()
    tiles = list(mercantile.children(AREA, zoom=14))[: args.tiles]
    n = len(tiles)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        chip = SimulatedSentinel2(seed=0).read(AREA, size_px=1024, period="2019")
        utm_mosaic(chip, tmp / "mosaic_utm.tif")
        data = np.where(chip.valid_mask(), chip.data, np.nan)
        scl = np.where(chip.valid_mask(), 4, 9).astype("uint8")
        items = [
            write_scene_item(
                tmp / "stac", f"S{i}", date, data, scl, chip.transform, "EPSG:3857", 5.0
            )
            for i, date in enumerate(["2019-02-01", "2019-06-01", "2019-10-01"])
        ]
        print(f"fixtures: {time.perf_counter() - t0:.1f} s ({n} z14 chips of 256 px x 12 bands)")
        with rasterio.open(tmp / "mosaic_utm.tif") as ds:
            print(f"geotiff mosaic: {ds.width}x{ds.height} px, {ds.crs}, uint16")

        # geotiff: cold reads (WarpedVRT UTM -> tile grid), then through the chip cache
        geotiff = GeoTiffSource(files=[str(tmp / "mosaic_utm.tif")], scale=1e-4)
        cache = ChipCache(tmp / "cache", "geotiff-bench")
        keys = {t: ChipKey(t, 256, 0, "2019", S2_BANDS) for t in tiles}
        cold = timed(
            lambda: [cache.get_or_fetch(keys[t], lambda t=t: geotiff.read(t, 256)) for t in tiles]
        )
        warm = timed(lambda: [cache.get_or_fetch(keys[t], lambda: None) for t in tiles])
        report("geotiff (UTM mosaic)", n, cold, warm)

        with StacServer(tmp / "stac", items) as server:
            # stac: sequential read(), cold then cached
            stac = StacSource(server.url, cache_dir=tmp / "cache-seq")
            cold = timed(lambda: [stac.read(t, 256) for t in tiles])
            requests = len(server.log)
            warm = timed(lambda: [stac.read(t, 256) for t in tiles])
            assert len(server.log) == requests, "cached reads must not touch the server"
            report("stac (3 scenes, serial)", n, cold, warm)
            print(f"  HTTP requests for {n} cold chips: {requests} ({requests / n:.0f} per chip)")
            # stac: read_many with bounded concurrency
            stac = StacSource(
                server.url, cache_dir=tmp / "cache-par", max_concurrency=args.concurrency
            )
            cold = timed(lambda: list(stac.read_many(tiles, 256)))
            warm = timed(lambda: list(stac.read_many(tiles, 256)))
            report(f"stac (read_many x{args.concurrency})", n, cold, warm)


if __name__ == "__main__":
    main()
