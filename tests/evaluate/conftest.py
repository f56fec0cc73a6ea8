"""Tiny labelled patch sets written on the fly: GeoTIFFs in UTM and EPSG:4326, a label table."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import box

BANDS = ("B02", "B03", "B04", "B08", "B11", "B12")


def write_patch(path: Path, data: np.ndarray, crs="EPSG:32721", origin=(500_000, 9_000_000),
                res=10.0, descriptions=BANDS, nodata=None) -> Path:  # fmt: skip
    """Write ``data`` (B, H, W) as a north-up GeoTIFF with band descriptions."""
    transform = from_origin(origin[0], origin[1], res, res)
    profile = dict(driver="GTiff", width=data.shape[2], height=data.shape[1], count=len(data),
                   dtype=data.dtype, crs=crs, transform=transform, nodata=nodata)  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        for i, name in enumerate(descriptions, start=1):
            dst.set_band_description(i, name)
    return path


def bright_patch(size=48, bright=None, seed=0) -> np.ndarray:
    """Dark forest-like reflectance with an optional bright bare square ``(r0, r1, c0, c1)``."""
    rng = np.random.default_rng(seed)
    data = np.empty((6, size, size), np.float32)
    for i, level in enumerate((0.03, 0.05, 0.03, 0.3, 0.15, 0.07)):
        data[i] = level + rng.normal(0, 0.003, (size, size))
    if bright is not None:
        r0, r1, c0, c1 = bright
        data[:, r0:r1, c0:c1] = np.array([0.12, 0.15, 0.2, 0.25, 0.35, 0.3])[:, None, None]
    return data


@pytest.fixture
def patch_set(tmp_path) -> dict:
    """Four mines (bright squares) and four clean patches, a CSV, and outlines for two mines."""
    folder = tmp_path / "patches"
    folder.mkdir()
    rows, outlines = [], []
    for i in range(8):
        mine = i < 4
        origin = (500_000 + i * 1000, 9_000_000)
        square = (10, 30, 12, 34) if mine else None
        write_patch(folder / f"p{i}.tif", bright_patch(bright=square, seed=i), origin=origin)
        rows.append({"file": f"patches/p{i}.tif", "class": "mine" if mine else "forest",
                     "region": "north" if i % 2 else "south"})  # fmt: skip
        if mine and i < 2:
            r0, r1, c0, c1 = square
            x0, y0 = origin
            outlines.append(box(x0 + c0 * 10, y0 - r1 * 10, x0 + c1 * 10, y0 - r0 * 10))
    table = tmp_path / "labels.csv"
    pd.DataFrame(rows).to_csv(table, index=False)
    lines = tmp_path / "outlines.gpkg"
    gpd.GeoDataFrame({"id": range(len(outlines))}, geometry=outlines, crs="EPSG:32721").to_file(
        lines, layer="mines"
    )
    return {"labels": table, "outlines": lines, "folder": folder}
