"""Cloud-Optimized GeoTIFF writing shared by chips, excavation maps and fixtures."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import rasterio
import rasterio.shutil
from affine import Affine
from rasterio.enums import Resampling

from minescan.kernel.io import atomic_path


def write_cog(
    path: str | os.PathLike,
    data: np.ndarray,
    transform: Affine,
    crs: str = "EPSG:3857",
    band_names: Sequence[str] | None = None,
    nodata: float | None = None,
    tags: dict | None = None,
    overviews: bool = True,
    **creation_options,
) -> None:
    """Atomically write ``data`` ``(bands, H, W)`` (or ``(H, W)``) as a COG.

    Band descriptions carry ``band_names`` so QGIS and rasterio show them;
    ``tags`` go into the dataset metadata. Overviews are added for chips
    larger than 512 px so the file stays cloud-optimized. ``creation_options``
    are GDAL COG options that override the defaults (e.g. ``compress="zstd",
    predictor=3, level=3``: about 4x faster than deflate on float32).
    """
    arr = data[np.newaxis] if data.ndim == 2 else data
    count, height, width = arr.shape
    if band_names is not None and len(band_names) != count:
        raise ValueError(f"{len(band_names)} band names for {count} bands")
    # The COG driver writes through a copy, so build the raster in memory first
    # (uncompressed: compressing it too would double the work for nothing) and
    # give the copy only COG creation options: GDAL warns about any other key.
    dataset = {
        "width": width,
        "height": height,
        "count": count,
        "dtype": arr.dtype.name,
        "crs": crs,
        "transform": transform,
        "nodata": nodata,
    }
    cog_options = {
        "compress": "deflate",
        "blocksize": 256 if min(height, width) >= 256 else 128,
        "overviews": "AUTO" if overviews and max(height, width) > 512 else "NONE",
        "overview_resampling": Resampling.average.name,
        "BIGTIFF": "IF_SAFER",
        **creation_options,
    }
    with rasterio.MemoryFile() as mem:
        with mem.open(driver="GTiff", **dataset) as dst:
            dst.write(arr)
            if band_names is not None:
                for i, name in enumerate(band_names, start=1):
                    dst.set_band_description(i, name)
            if tags:
                dst.update_tags(**{k: str(v) for k, v in tags.items()})
        with mem.open() as src, atomic_path(path, suffix=".tif") as tmp:
            rasterio.shutil.copy(src, tmp, driver="COG", **cog_options)


def read_cog(path: str | os.PathLike) -> tuple[np.ndarray, Affine, list[str], dict]:
    """Read a whole raster back: ``(data, transform, band descriptions, tags)``."""
    with rasterio.open(path) as src:
        return src.read(), src.transform, list(src.descriptions), src.tags()
