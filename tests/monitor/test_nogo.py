import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box

from minescan.config import section
from minescan.kernel.errors import MinescanError
from minescan.monitor.nogo import (
    Layers,
    buffer,
    normalise_class,
    read_layers,
    synthetic_zones,
    zones_for,
)
from minescan.monitor.preprocess import preprocess


@pytest.fixture(scope="module")
def series(world):
    return preprocess(world.dates, world.cube)


def test_synthetic_zones_shapes(series, world):
    zones = synthetic_zones(series, section("monitor", nogo_buffer_px=0))
    forest, water = zones["forest"], zones["water"]
    n = forest.size
    assert 0.08 * n <= forest.sum() <= 0.12 * n  # top 10 % of mean NDVI
    assert not (forest & world.crop).any()  # crops are less green on average
    assert water[world.water].mean() > 0.9  # the lake is the darkest in NIR and SWIR
    assert not (water & ~world.water).any()


def test_zones_are_buffered_by_about_50_m(series):
    plain = synthetic_zones(series, section("monitor", nogo_buffer_px=0))["water"]
    grown = synthetic_zones(series, section("monitor", nogo_buffer_px=5))["water"]
    assert (grown >= plain).all()
    rows = np.flatnonzero(grown.any(axis=1))
    assert rows.max() == np.flatnonzero(plain.any(axis=1)).max() + 5


def test_buffer_is_a_disc():
    mask = np.zeros((21, 21), bool)
    mask[10, 10] = True
    grown = buffer(mask, 5)
    assert grown[10, 15] and grown[15, 10] and not grown[15, 15]


def _write(tmp_path, name, frame):
    path = tmp_path / name
    frame.to_file(path)
    return path


def _write_no_crs(tmp_path):
    path = tmp_path / "nocrs.shp"
    gpd.GeoDataFrame({"a": [1]}, geometry=[box(0, 0, 1, 1)], crs=4326).to_file(path)
    path.with_suffix(".prj").unlink()
    return path


def test_user_layers_rasterised(tmp_path, series):
    xmin, ymax = series.transform.c, series.transform.f
    x_mid, y_mid = xmin + 200, ymax - 200
    lease = gpd.GeoDataFrame(geometry=[box(xmin, y_mid, x_mid, ymax)], crs=3857).to_crs(4326)
    restricted = gpd.GeoDataFrame(
        {"cls": ["Riparian"]}, geometry=[box(x_mid, y_mid, xmin + 400, ymax)], crs=3857
    ).to_crs(4326)
    layers = read_layers(
        _write(tmp_path, "lease.gpkg", lease), _write(tmp_path, "r.gpkg", restricted), "cls"
    )
    zones = zones_for(series, layers, section("monitor"))
    assert set(zones.zones) == {"riparian"}
    assert zones.lease[:20, :20].all() and not zones.lease[20:].any()
    assert zones.zones["riparian"][:20, 20:40].all() and not zones.zones["riparian"][:, :20].any()


def test_layer_errors(tmp_path):
    frame = gpd.GeoDataFrame({"kind": ["conservation"]}, geometry=[box(0, 0, 1, 1)], crs=4326)
    good = _write(tmp_path, "r.gpkg", frame)
    with pytest.raises(MinescanError, match="no column 'cls'"):
        read_layers(restricted=good, class_column="cls")
    with pytest.raises(MinescanError, match="needs --restricted-class-column"):
        read_layers(restricted=good)
    bad = _write(tmp_path, "bad.gpkg", frame.assign(kind=["mall"]))
    with pytest.raises(MinescanError, match="'mall' is not one of"):
        read_layers(restricted=bad, class_column="kind")
    path = _write_no_crs(tmp_path)
    with pytest.raises(MinescanError, match="no CRS"):
        read_layers(lease=path)
    assert read_layers(restricted=good, class_column="kind").restricted["zone"].tolist() == [
        "conservation"
    ]
    assert Layers().lease is None


def test_normalise_class():
    assert normalise_class("PROTECTED_forest") == "protected forest"
