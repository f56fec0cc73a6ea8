import logging

import numpy as np
import pytest
import rasterio
from affine import Affine

from minescan.kernel.raster import read_cog, write_cog


def test_cog_roundtrip(tmp_path):
    data = np.random.default_rng(0).random((3, 300, 300), dtype=np.float32)
    data[0, :5, :5] = np.nan
    tr = Affine(10, 0, 1000, 0, -10, 5000)
    path = tmp_path / "x.tif"
    write_cog(path, data, tr, band_names=["B02", "B03", "B04"], tags={"period": "2019"})
    back, tr2, names, tags = read_cog(path)
    np.testing.assert_array_equal(back, data)
    assert tr2 == tr
    assert names == ["B02", "B03", "B04"]
    assert tags["period"] == "2019"
    with rasterio.open(path) as src:
        assert src.crs.to_epsg() == 3857
        assert src.profile.get("tiled")
    assert [p.name for p in tmp_path.iterdir()] == ["x.tif"]


def test_band_name_count_checked(tmp_path):
    with pytest.raises(ValueError):
        write_cog(
            tmp_path / "x.tif", np.zeros((2, 4, 4), "uint8"), Affine.identity(), band_names=["a"]
        )


def test_only_cog_creation_options_reach_gdal(tmp_path, caplog):
    """GDAL warns about every creation option the COG driver does not know: none must be passed."""
    data = np.arange(2 * 600 * 600, dtype=np.float32).reshape(2, 600, 600)
    path = tmp_path / "x.tif"
    with caplog.at_level(logging.DEBUG, logger="rasterio"):
        write_cog(path, data, Affine(10, 0, 0, 0, -10, 0), nodata=-1, compress="zstd", predictor=3)
    gdal_warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert gdal_warnings == []
    with rasterio.open(path) as src:
        assert src.nodata == -1 and src.count == 2 and src.dtypes == ("float32", "float32")
        assert src.compression.name == "zstd" and src.overviews(1)  # > 512 px: overviews
        assert src.tags(ns="IMAGE_STRUCTURE")["PREDICTOR"] == "3"
        np.testing.assert_array_equal(src.read(), data)
