import json

import geopandas as gpd
import pytest
from shapely.geometry import box

from minescan.kernel.errors import MinescanError
from minescan.kernel.io import atomic_path, read_vector, write_json


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_write_json_roundtrip_numpy(tmp_path):
    import numpy as np

    path = write_json(tmp_path / "a" / "r.json", {"n": np.int64(3), "x": np.float32(0.5)})
    assert json.loads(path.read_text()) == {"n": 3, "x": 0.5}


def test_read_vector_reprojects_and_checks(tmp_path):
    gdf = gpd.GeoDataFrame(geometry=[box(500000, 0, 501000, 1000)], crs=32630)
    path = tmp_path / "utm.gpkg"
    gdf.to_file(path)
    before = path.read_bytes()
    out = read_vector(path)
    assert out.crs.to_epsg() == 4326
    assert -3.1 < out.geometry.iloc[0].centroid.x < -2.9
    assert path.read_bytes() == before


def test_read_vector_errors(tmp_path):
    with pytest.raises(MinescanError, match="not found"):
        read_vector(tmp_path / "missing.gpkg")
    bad = tmp_path / "bad.geojson"
    bad.write_text("{not json")
    with pytest.raises(MinescanError, match="cannot read"):
        read_vector(bad)
    nocrs = tmp_path / "nocrs.geojson"
    nocrs.write_text(
        '{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},'
        '"geometry":{"type":"Point","coordinates":[1,2]}}]}'
    )
    # GeoJSON is WGS84 by definition, so GDAL assigns a CRS; a shapefile without .prj has none
    gpd.GeoDataFrame(geometry=[box(0, 0, 1, 1)]).to_file(tmp_path / "n.shp")
    with pytest.raises(MinescanError, match="no CRS"):
        read_vector(tmp_path / "n.shp")
    assert read_vector(tmp_path / "n.shp", assume_crs="EPSG:4326").crs.to_epsg() == 4326
