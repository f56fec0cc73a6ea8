import geopandas as gpd
import pytest
from shapely.geometry import box

from minescan.grid.aoi import land, parse_bbox, resolve_aoi
from minescan.kernel.errors import MinescanError


def test_country_area_matches_natural_earth():
    aoi = resolve_aoi("country:GHA")
    km2 = gpd.GeoSeries([aoi.geometry], crs=4326).to_crs(6933).area.iloc[0] / 1e6
    assert aoi.name == "Ghana"
    assert 230_000 < km2 < 245_000


def test_unknown_country():
    with pytest.raises(MinescanError, match="unknown country code 'XXX'"):
        resolve_aoi("country:XXX")


@pytest.mark.parametrize("spec", ["bbox:1,2,3", "bbox:a,b,c,d", "bbox:0,10,1,5", "bbox:1,0,1,1"])
def test_bad_bbox(spec):
    with pytest.raises(MinescanError, match="bad bbox"):
        resolve_aoi(spec)


def test_bbox_across_antimeridian_has_two_parts():
    geom = parse_bbox("170,-20,-170,-10")
    assert geom.geom_type == "MultiPolygon"
    assert geom.area == pytest.approx(20 * 10)


def test_aoi_from_file(tmp_path):
    path = tmp_path / "aoi.gpkg"
    gpd.GeoDataFrame(geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)], crs=4326).to_file(path)
    aoi = resolve_aoi(str(path))
    assert aoi.geometry.area == pytest.approx(2)
    with pytest.raises(MinescanError, match="not found"):
        resolve_aoi(str(tmp_path / "nope.gpkg"))


def test_land_mask():
    from shapely import Point

    mask = land()
    assert mask.contains(Point(-1.6, 6.7))  # Kumasi
    assert not mask.contains(Point(-30, 0))  # mid-Atlantic
