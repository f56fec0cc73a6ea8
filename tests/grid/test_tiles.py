import mercantile
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely import box

from minescan.grid import tiles
from minescan.kernel.errors import MinescanError


@st.composite
def any_tile(draw):
    z = draw(st.integers(0, 20))
    n = 2**z
    # Half the draws hug the mercator limits, where tiles are shortest.
    edge = draw(st.integers(0, min(n - 1, 300)))
    y = draw(st.sampled_from([edge, n - 1 - edge, draw(st.integers(0, n - 1))]))
    return mercantile.Tile(draw(st.integers(0, n - 1)), y, z)


overlaps = st.none() | st.integers(0, 1000).map(lambda v: v / 1000)


@settings(max_examples=400, deadline=None)
@given(any_tile(), overlaps)
def test_tile_to_name_to_tile(tile, overlap):
    name = tiles.cell_name(tile, overlap)
    assert tiles.tile_from_name(name) == tile
    parsed = tiles.parse_cell_name(name)
    assert parsed.z == tile.z
    if overlap is None:
        assert parsed.overlap is None and name.endswith("_neg")
    else:
        assert parsed.overlap == pytest.approx(overlap, abs=0.0005)


@settings(max_examples=300, deadline=None)
@given(any_tile(), overlaps)
def test_name_to_tile_to_name(tile, overlap):
    name = tiles.cell_name(tile, overlap)
    again = tiles.cell_name(tiles.tile_from_name(name), tiles.parse_cell_name(name).overlap)
    assert again == name


@pytest.mark.parametrize("z", range(21))
def test_names_unique_in_polar_and_equatorial_rows(z):
    n = 2**z
    ys = np.unique(
        np.r_[
            np.arange(min(n, 200)), np.arange(max(0, n - 200), n), (n // 2 + np.arange(-3, 3)) % n
        ]
    )
    xs = np.unique(np.r_[0, 1, n // 2, n - 1] % n)
    x, y = (a.ravel() for a in np.meshgrid(xs, ys))
    names = tiles.cell_names(x, y, z, np.nan)
    assert len(set(names)) == len(names)


def test_name_rule_by_hand():
    # Centre of tile (16383, 16384, 15) is at -0.0055 lon and lat: x1000 rounds to -5.
    assert tiles.cell_name(mercantile.Tile(16383, 16384, 15), 0.375) == "05_05_15_37.5"
    tile = mercantile.tile(-1.9, 5.3, 14)
    lon, lat = mercantile.ul(tile.x + 0.5, tile.y + 0.5, 14)
    expected = f"{round(lat * 1000)}_0{-round(lon * 1000)}_14_100.0"
    assert tiles.cell_name(tile, 1.0) == expected
    assert tiles.parse_cell_name("029500_1234_15_37.5") == (-29.5, 1.234, 15, 0.375)


def test_more_digits_beyond_zoom_15():
    assert [tiles.name_factor(z) for z in (0, 15, 16, 18, 19, 20)] == [
        1000,
        1000,
        10_000,
        10_000,
        100_000,
        100_000,
    ]
    # zoom 15 near the mercator limit: tiles are shorter than 0.001 degree, lat gets a digit more
    lat_field = tiles.cell_name(mercantile.Tile(0, 0, 15), None).split("_")[0]
    assert int(lat_field) > 850_000
    assert tiles.tile_from_name(tiles.cell_name(mercantile.Tile(0, 1, 15), None)) == (0, 1, 15)


@pytest.mark.parametrize(
    "bad", ["", "1_2_3", "a_b_15_neg", "1_2_21_neg", "1_2_15_x", "-5_2_15_neg"]
)
def test_bad_names(bad):
    with pytest.raises(MinescanError, match="bad cell name"):
        tiles.tile_from_name(bad)


def test_quadkeys_and_bounds_match_mercantile():
    rng = np.random.default_rng(0)
    for z in (0, 1, 7, 15, 20):
        x = rng.integers(0, 2**z, 50)
        y = rng.integers(0, 2**z, 50)
        keys = tiles.quadkeys(x, y, z)
        west, south, east, north = tiles.tile_bounds(x, y, z)
        for i in range(50):
            assert keys[i] == mercantile.quadkey(int(x[i]), int(y[i]), z)
            expected = mercantile.bounds(int(x[i]), int(y[i]), z)
            assert (west[i], south[i], east[i], north[i]) == pytest.approx(tuple(expected))


def brute_cover(geom, z):
    """Tiles of the bbox sharing more than floating-point noise of area with geom, slowly."""
    found = set()
    for t in mercantile.tiles(*geom.bounds, [z]):
        cell = box(*mercantile.bounds(t))
        if shapely.intersection(geom, cell).area > 1e-9 * cell.area:  # as AREA_EPS
            found.add((t.x, t.y, t.z))
    return found


@settings(max_examples=30, deadline=None)
@given(
    st.floats(-170, 170),
    st.floats(-80, 80),
    st.floats(0.01, 0.3),
    st.floats(0.01, 0.3),
    st.integers(8, 12),
)
def test_tiles_covering_matches_brute_force(lon, lat, w, h, z):
    geom = shapely.Polygon([(lon, lat), (lon + w, lat + h / 3), (lon + w / 2, lat + h)])
    got = {tuple(r) for r in tiles.tiles_covering(geom, z).tolist()}
    # Triangle edges are straight in mercator for us, in degrees for the brute force:
    # they agree except for slivers thinner than the curvature, so compare with a margin.
    expected = brute_cover(geom, z)
    assert len(got ^ expected) <= max(2, 0.05 * len(expected))


def test_tiles_covering_box_is_exact():
    west, south, east, north = mercantile.bounds(mercantile.Tile(100, 200, 9))
    got = tiles.tiles_covering(box(west, south, east, north), 10)
    assert sorted(map(tuple, got.tolist())) == [
        (200, 400, 10),
        (200, 401, 10),
        (201, 400, 10),
        (201, 401, 10),
    ]


def test_tiles_covering_a_country_quickly():
    from minescan.grid.aoi import resolve_aoi

    ghana = resolve_aoi("country:GHA").geometry
    xyz = tiles.tiles_covering(ghana, 13)
    assert xyz.dtype == np.int64 and xyz.shape[1] == 3
    # about 238,500 km2 of 4.86 km x 4.86 km tiles (at ~7 N), plus the boundary ring
    assert 238_500 / 4.86**2 < len(xyz) < 1.1 * 238_500 / 4.86**2 + 2000


def test_tiles_covering_across_antimeridian():
    across = box(179.9, -17, 180.1, -16.9)  # given with longitudes beyond 180
    split = shapely.MultiPolygon([box(179.9, -17, 180, -16.9), box(-180, -17, -179.9, -16.9)])
    a = tiles.tiles_covering(across, 12)
    b = tiles.tiles_covering(split, 12)
    assert a.tolist() == b.tolist()
    assert {0, 2**12 - 1} <= set(a[:, 0].tolist())


def test_tiles_covering_near_the_poles_is_clipped():
    xyz = tiles.tiles_covering(box(10, 84.9, 10.01, 89), 15)
    assert xyz[:, 1].min() == 0 and len(xyz) > 0
    assert (tiles.tiles_covering(box(10, -89, 10.01, -84.9), 15)[:, 1] == 2**15 - 1).any()


def test_tiles_covering_points_and_lines():
    assert tiles.tiles_covering(shapely.Point(0.1, 0.1), 3).tolist() == [[4, 3, 3]]
    line = shapely.LineString([(1, 1), (10, 1)])
    assert len(tiles.tiles_covering(line, 6)) == len(list(mercantile.tiles(1, 1, 10, 1, 6)))


def test_tiles_covering_rejects_bad_zoom():
    with pytest.raises(MinescanError, match="out of range"):
        tiles.tiles_covering(box(0, 0, 1, 1), 21)


def test_land_tiles():
    kumasi = mercantile.tile(-1.62, 6.69, 15)
    atlantic = mercantile.tile(-30.0, 0.0, 15)
    coast_sea = mercantile.tile(-0.2, 5.3, 15)  # just off Accra
    coast_land = mercantile.tile(-0.2, 5.62, 15)  # central Accra
    got = tiles.land_tiles(np.array([kumasi, atlantic, coast_sea, coast_land, (31, 31, 6)]))
    assert got.tolist() == [True, False, False, True, True]
