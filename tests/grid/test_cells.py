import mercantile
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely import box

from minescan.grid import cells, cells_table, land, naming, negatives, tiles
from minescan.kernel.errors import MinescanError

#: cells.csv: the parquet columns without geometry, then the bounds and centre in degrees.
CSV_COLUMNS = [*cells_table.COLUMNS[:-1], "west", "south", "east", "north", "lon", "lat"]


def tile_box(x, y, z):
    return box(*mercantile.bounds(x, y, z))


def overlap_of(covers, z, x, y):
    cover = covers[z]
    hit = (cover.x == x) & (cover.y == y)
    return float(cover.area[hit][0]) if hit.any() else 0.0


def test_one_z15_tile_by_hand():
    x, y = 16204, 15904  # near Tarkwa, Ghana
    polys = cells.prepare_polygons(np.array([tile_box(x, y, 15)]))
    covers = cells.overlaps_by_zoom(polys.geometry, [13, 14, 15])
    assert len(covers[15].x) == 1 and overlap_of(covers, 15, x, y) == pytest.approx(1.0)
    assert len(covers[14].x) == 1 and overlap_of(covers, 14, x // 2, y // 2) == pytest.approx(0.25)
    assert overlap_of(covers, 13, x // 4, y // 4) == pytest.approx(0.0625)


def test_overlapping_polygons_are_not_counted_twice():
    x, y = 16204, 15904
    west, south, east, north = mercantile.bounds(x, y, 15)
    mid = (west + east) / 2
    a = box(west, south, mid + (east - west) / 4, north)  # three quarters
    b = box(mid - (east - west) / 4, south, east, north)  # three quarters, overlapping a by half
    covers = cells.overlaps_by_zoom(cells.prepare_polygons(np.array([a, b])).geometry, [15])
    assert overlap_of(covers, 15, x, y) == pytest.approx(1.0)


@st.composite
def mine_polygons(draw):
    """A few small polygons (hundreds of metres) scattered around a random place."""
    lon0 = draw(st.floats(-170, 170))
    lat0 = draw(st.floats(-70, 70))
    out = []
    for _ in range(draw(st.integers(1, 4))):
        cx = lon0 + draw(st.floats(-0.05, 0.05))
        cy = lat0 + draw(st.floats(-0.05, 0.05))
        n = draw(st.integers(3, 8))
        radii = draw(st.lists(st.floats(0.001, 0.02), min_size=n, max_size=n))
        angles = np.linspace(0, 2 * np.pi, n, endpoint=False)
        out.append(
            shapely.Polygon(
                [
                    (cx + r * np.cos(a), cy + r * np.sin(a))
                    for r, a in zip(radii, angles, strict=True)
                ]
            )
        )
    return np.array(out, dtype=object)


def mercator_area(geom):
    return shapely.area(tiles.to_units(np.array([geom]), 0))[0]


@settings(max_examples=40, deadline=None)
@given(mine_polygons())
def test_all_area_is_accounted_for_by_positives(polys):
    prepared = cells.prepare_polygons(polys)
    union = shapely.union_all(prepared.geometry)
    zoom_cells = cells.grid_cells(prepared, [12, 13, 14], min_overlap=0.0, negatives=False)
    for zc in zoom_cells:
        cell_area = 4.0**-zc.zoom  # every cell's area in zoom-0 tile units
        assert zc.positive.all()
        total = (zc.overlap * cell_area).sum()
        assert total == pytest.approx(mercator_area(union), rel=1e-6)


@settings(max_examples=40, deadline=None)
@given(mine_polygons())
def test_parent_overlap_is_mean_of_children(polys):
    covers = cells.overlaps_by_zoom(cells.prepare_polygons(polys).geometry, [12, 13])
    child = {(int(x), int(y)): a for x, y, a in zip(*covers[13], strict=True)}
    for x, y, area in zip(*covers[12], strict=True):
        kids = [child.get((2 * x + dx, 2 * y + dy), 0.0) for dx in (0, 1) for dy in (0, 1)]
        assert area == pytest.approx(np.mean(kids), abs=1e-12)


def test_parents_match_computing_at_that_zoom_directly():
    rng = np.random.default_rng(1)
    polys = np.array(
        [shapely.Point(-1.9 + d, 5.3 + e).buffer(0.01) for d, e in rng.uniform(-0.05, 0.05, (5, 2))]
    )
    geoms = cells.prepare_polygons(polys).geometry
    from_fine = cells.overlaps_by_zoom(geoms, [13, 15])[13]
    direct = cells.overlaps_by_zoom(geoms, [13])[13]
    assert from_fine.x.tolist() == direct.x.tolist() and from_fine.y.tolist() == direct.y.tolist()
    assert np.allclose(from_fine.area, direct.area, atol=1e-9)


def test_repairs_invalid_and_drops_non_polygons():
    bow_tie = shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1), (0, 0)])
    line = shapely.LineString([(0, 0), (1, 1)])
    prepared = cells.prepare_polygons(np.array([bow_tie, line, None, box(2, 2, 3, 3)]))
    assert prepared.repaired == 1
    assert prepared.read == 4 and prepared.dropped == 2
    assert shapely.area(prepared.geometry).sum() == pytest.approx(0.5 + 1)


def test_aoi_clips_polygons_and_empty_aoi_is_an_error():
    polys = np.array([box(0, 0, 2, 1)])
    prepared = cells.prepare_polygons(polys, aoi=box(1, -1, 5, 5))
    assert shapely.area(prepared.geometry).sum() == pytest.approx(1)
    with pytest.raises(MinescanError, match="no polygon area in the AOI"):
        cells.prepare_polygons(polys, aoi=box(10, 10, 11, 11))


def test_polygon_across_the_antimeridian():
    given_beyond = box(179.99, -17.0, 180.01, -16.99)
    split = shapely.MultiPolygon(
        [box(179.99, -17.0, 180, -16.99), box(-180, -17.0, -179.99, -16.99)]
    )
    drawn_short_way = shapely.Polygon(
        [(179.99, -17), (-179.99, -17), (-179.99, -16.99), (179.99, -16.99)]
    )
    results = []
    for geom in (given_beyond, split, drawn_short_way):
        cover = cells.overlaps_by_zoom(cells.prepare_polygons(np.array([geom])).geometry, [14])[14]
        results.append(
            sorted(
                zip(
                    cover.x.tolist(),
                    cover.y.tolist(),
                    np.round(cover.area, 9).tolist(),
                    strict=True,
                )
            )
        )
    assert results[0] == results[1] == results[2]
    assert {x for x, _, _ in results[0]} == {0, 2**14 - 1}


def test_polygon_beyond_the_mercator_limit_is_clipped():
    geom = box(20, 84.9, 20.05, 89)
    cover = cells.overlaps_by_zoom(cells.prepare_polygons(np.array([geom])).geometry, [13])[13]
    assert cover.y.min() == 0 and (cover.area <= 1 + 1e-12).all()


def ring_of_positives():
    """A 3x3 block of fully covered z15 cells inland (near Kumasi)."""
    t = mercantile.tile(-1.62, 6.69, 15)
    west, _, _, north = mercantile.bounds(t)
    _, south, east, _ = mercantile.bounds(t.x + 2, t.y + 2, 15)
    return t, np.array([box(west, south, east, north)])


def test_negatives_are_free_distinct_nearest_and_on_land():
    t, polys = ring_of_positives()
    (zc,) = cells.grid_cells(cells.prepare_polygons(polys), [15])
    assert zc.positive.sum() == 9 and zc.negative_x.size == 9
    covered = set(zip(zc.x.tolist(), zc.y.tolist(), strict=True))
    negs = list(zip(zc.negative_x.tolist(), zc.negative_y.tolist(), strict=True))
    assert len(set(negs)) == 9 and not covered & set(negs)
    # the 3x3 block's negatives fill its nearest ring: each within 2 cells of the block
    assert all(t.x - 2 <= x <= t.x + 4 and t.y - 2 <= y <= t.y + 4 for x, y in negs)
    assert land.land_tiles(np.array([(x, y, 15) for x, y in negs])).all()
    # the centre positive is served too, from just outside the block
    centre = np.flatnonzero((zc.x[zc.positive] == t.x + 1) & (zc.y[zc.positive] == t.y + 1))[0]
    pos = zc.negative_of.tolist().index(centre)
    assert max(abs(zc.negative_x[pos] - t.x - 1), abs(zc.negative_y[pos] - t.y - 1)) == 2


def test_negatives_in_open_sea_are_reported_not_crashing():
    polys = np.array([box(-30.0, 0.0, -29.99, 0.01)])  # mid-Atlantic
    (zc,) = cells.grid_cells(cells.prepare_polygons(polys), [14], search_radius=4)
    assert zc.positive.sum() > 0 and zc.negative_x.size == 0
    (anywhere,) = cells.grid_cells(cells.prepare_polygons(polys), [14], land_negatives=False)
    assert anywhere.negative_x.size == anywhere.positive.sum()


def test_negatives_stay_in_the_aoi():
    t, polys = ring_of_positives()
    west, south, east, north = mercantile.bounds(t.x, t.y + 2, 15)
    aoi = box(west - 0.02, south, east + 0.1, north + 0.1)  # only south and east of the block
    prepared = cells.prepare_polygons(polys, aoi=aoi)
    (zc,) = cells.grid_cells(prepared, [15], aoi=aoi)
    boxes = tiles.tile_boxes(zc.negative_x, zc.negative_y, 15)
    assert zc.negative_x.size == zc.positive.sum()
    assert shapely.intersects(aoi, boxes).all()


def test_search_offsets_are_nearest_first():
    offsets = negatives.search_offsets(3)
    dist = (offsets**2).sum(axis=1)
    assert (np.diff(dist) >= 0).all() and dist.max() <= 9 and len(offsets) == 28
    assert [0, 0] not in offsets.tolist()


def test_cells_columns_and_pairs():
    t, polys = ring_of_positives()
    zoom_cells = cells.grid_cells(cells.prepare_polygons(polys), [14, 15])
    table = cells_table.to_geodataframe(cells_table.cells_arrow(zoom_cells))
    assert list(table.columns) == cells_table.COLUMNS
    assert table.crs.to_epsg() == 4326
    neg = table[table.label == "neg"]
    assert set(neg.pair) <= set(table[table.label == "pos"].name)
    assert (neg.overlap == 0).all() and neg.name.str.endswith("_neg").all()
    for row in table.itertuples():
        assert naming.tile_from_name(row.name) == (row.x, row.y, row.z)
        assert row.quadkey == mercantile.quadkey(row.x, row.y, row.z)
    for row in table.itertuples():
        west, south, east, north = mercantile.bounds(row.x, row.y, row.z)
        assert row.geometry.bounds == pytest.approx((west, south, east, north))
        assert row.geometry.area == pytest.approx((east - west) * (north - south))


def test_written_files_read_back(tmp_path):
    import geopandas as gpd
    import pandas as pd

    _, polys = ring_of_positives()
    table = cells_table.cells_arrow(cells.grid_cells(cells.prepare_polygons(polys), [14, 15]))
    cells_table.write_cells_parquet(table, tmp_path / "c.parquet")
    cells_table.write_cells_csv(table, tmp_path / "c.csv")
    back = gpd.read_parquet(tmp_path / "c.parquet")
    assert back.crs.to_epsg() == 4326 and list(back.columns) == cells_table.COLUMNS
    assert back.geometry.equals(cells_table.to_geodataframe(table).geometry)
    csv = pd.read_csv(tmp_path / "c.csv")
    assert list(csv.columns) == CSV_COLUMNS
    lon, lat = tiles.tile_centres(csv.x, csv.y, csv.z)
    assert np.allclose(csv.lon, lon) and np.allclose(csv.lat, lat)
    assert np.allclose(csv.west, back.geometry.bounds.minx)
