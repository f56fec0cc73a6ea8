import geopandas as gpd
import pytest
from shapely.geometry import box

from minescan.detect.scoring import score


def gdf(geoms, **cols):
    return gpd.GeoDataFrame(cols, geometry=geoms, crs=4326)


def test_recall_precision_area_recall_by_the_stated_rule():
    truth = gdf(
        [box(0, 0, 0.01, 0.01), box(1, 1, 1.001, 1.001), box(2, 2, 2.01, 2.01)],
        area_ha=[120.0, 1.2, 120.0],
    )
    cands = gdf(
        [box(0.01, 0, 0.02, 0.01), box(1, 1, 1.002, 1.002), box(5, 5, 5.1, 5.1)]
    )  # touches mine 0 along an edge; covers mine 1; one false alarm
    s = score(cands, truth)
    assert s["truth_mines_found"] == 2 and s["recall"] == pytest.approx(2 / 3, abs=1e-4)
    assert s["recall_large"] == 0.5  # of the two >= 5 ha mines only mine 0 is touched
    assert s["precision"] == pytest.approx(2 / 3, abs=1e-4)
    # Only the small mine lies inside a box: its share of the truth area.
    small = truth.to_crs(6933).area
    assert s["area_recall"] == pytest.approx(small[1] / small.sum(), abs=1e-3)
    assert "touches or overlaps" in s["matching_rule"]


def test_no_candidates_and_no_truth_give_zero_and_none():
    truth = gdf([box(0, 0, 0.01, 0.01)])
    s = score(gdf([]), truth)
    assert s["recall"] == 0.0 and s["precision"] is None and s["area_recall"] == 0.0
    assert score(gdf([box(0, 0, 1, 1)]), gdf([]))["recall"] is None
