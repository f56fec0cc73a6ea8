import math

import mercantile
import numpy as np
import pytest
import shapely
from pyproj import Transformer

from minescan.kernel import mercator as m
from minescan.kernel.errors import MinescanError

EDGE_TILES = [(0, 0, 0), (0, 0, 14), (16383, 16383, 14), (0, 16383, 14), (8100, 7900, 14)]


def test_half_world_is_mercantiles_and_pyprojs_edge():
    assert 2 * m.HALF_WORLD_M == mercantile.CE
    x, y = Transformer.from_crs(4326, 3857, always_xy=True).transform(180.0, m.MAX_LAT)
    assert math.isclose(x, m.HALF_WORLD_M) and math.isclose(y, m.HALF_WORLD_M)


def test_lonlat_to_xy_matches_pyproj():
    rng = np.random.default_rng(0)
    lon, lat = rng.uniform(-180, 180, 500), rng.uniform(-85, 85, 500)
    x, y = m.lonlat_to_xy(lon, lat)
    px, py = Transformer.from_crs(4326, 3857, always_xy=True).transform(lon, lat)
    np.testing.assert_allclose(x, px, rtol=0, atol=1e-6)
    np.testing.assert_allclose(y, py, rtol=0, atol=1e-6)


def test_degrees_and_metres_round_trip():
    lon, lat = np.array([-179.5, 0.0, 33.3, 180.0]), np.array([-80.0, 0.0, 60.1, 85.0])
    back = m.xy_to_lonlat(*m.lonlat_to_xy(lon, lat))
    np.testing.assert_allclose(back, (lon, lat), rtol=0, atol=1e-9)


def test_latitudes_beyond_the_square_are_clamped_to_its_edge():
    _, y = m.lonlat_to_xy([0.0, 0.0], [90.0, -89.0])
    np.testing.assert_allclose(y, [m.HALF_WORLD_M, -m.HALF_WORLD_M])


def test_geometries_round_trip():
    box = shapely.box(-1.7, 6.6, -1.5, 6.8)
    merc = m.to_mercator(box)
    assert merc.bounds[0] == pytest.approx(m.lonlat_to_xy(-1.7, 6.6)[0])
    assert shapely.equals_exact(m.to_lonlat(merc), box, tolerance=1e-9)


def test_ground_scale_is_the_cosine_of_latitude():
    for lat in (0.0, 30.0, 60.0, -75.0):
        y = float(m.lonlat_to_xy(0.0, lat)[1])
        assert m.ground_scale(y) == pytest.approx(math.cos(math.radians(lat)), abs=1e-12)


def test_units_round_trip():
    lon, lat = np.array([-179.5, 0.0, 33.3]), np.array([-80.0, 0.0, 60.1])
    x, y = m.lonlat_to_units(lon, lat, 11)
    assert np.allclose(m.units_to_lonlat(x, y, 11), (lon, lat))
    assert math.isclose(float(m.lonlat_to_units(0, m.MAX_LAT, 5)[1]), 0, abs_tol=1e-9)


def test_units_and_metres_describe_the_same_projection():
    lon, lat = np.array([-120.0, 10.0, 170.0]), np.array([-60.0, 5.0, 70.0])
    ux, uy = m.lonlat_to_units(lon, lat, 0)
    x, y = m.lonlat_to_xy(lon, lat)
    np.testing.assert_allclose(ux * 2 * m.HALF_WORLD_M - m.HALF_WORLD_M, x, atol=1e-6)
    np.testing.assert_allclose(m.HALF_WORLD_M - uy * 2 * m.HALF_WORLD_M, y, atol=1e-6)


@pytest.mark.parametrize("tile", EDGE_TILES + [(1, 0, 1), (524287, 524287, 19)])
def test_tile_bounds_are_mercantiles_floats(tile):
    assert m.tile_bounds_m(tile) == tuple(mercantile.xy_bounds(*tile))


@pytest.mark.parametrize("tile", EDGE_TILES)
def test_tile_transform_puts_the_tile_on_its_pixels(tile):
    left, bottom, right, top = m.tile_bounds_m(tile)
    t = m.tile_transform(tile, 64)
    assert t @ (0, 0) == (left, top)
    assert t @ (64, 64) == pytest.approx((right, bottom), abs=1e-6)
    grown = m.tile_transform(tile, 64, margin_px=8)
    assert grown @ (8, 8) == pytest.approx((left, top), abs=1e-6)
    assert grown.a == t.a == pytest.approx(m.lattice_res(tile[2], 64))


def test_tile_index_checks_the_tile():
    assert m.tile_index(mercantile.Tile(3, 5, 4), max_zoom=22) == (3, 5, 4)
    assert m.tile_index(("3", 5.0, 4), max_zoom=22) == (3, 5, 4)
    for bad in [(16, 0, 4), (-1, 0, 3), (0, 0, 23), (0, -1, 2)]:
        with pytest.raises(MinescanError, match="outside the web-mercator range"):
            m.tile_index(bad, max_zoom=22)
    for bad in [None, (1, 2), ("a", 0, 1)]:
        with pytest.raises(MinescanError, match="expected"):
            m.tile_index(bad, max_zoom=22)


def test_tile_span_includes_edges_and_clamps_to_the_world():
    assert m.tile_span((0.0, 0.0, 0.0, 0.0), 1) == (1, 1, 1, 1)  # the corner's south-east tile
    assert m.tile_span((-1.0, -1.0, 0.0, 0.0), 1) == (0, 1, 1, 1)
    world = (-1e9, -1e9, 1e9, 1e9)
    assert m.tile_span(world, 3) == (0, 0, 7, 7)
    assert m.tile_span((0.0, 0.0, 0.0, 0.0), 0) == (0, 0, 0, 0)


def test_lattice_window_of_a_tile_is_its_chip_pixels():
    x, y, z, size = 8100, 7900, 14, 256
    left, bottom, right, top = m.tile_bounds_m((x, y, z))
    res = m.lattice_res(z, size)
    inner = (left + res / 4, bottom + res / 4, right - res / 4, top - res / 4)
    assert m.lattice_window(inner, res) == (x * size, y * size, size, size)
    assert m.lattice_window(inner, res, pad=res) == (x * size - 1, y * size - 1, size + 2, size + 2)


def test_lattice_window_is_never_empty():
    edge = (-m.HALF_WORLD_M, m.HALF_WORLD_M) * 2
    assert m.lattice_window(edge, 10.0) == (0, 0, 1, 1)


def test_pixel_grid_covers_its_bounds_from_the_corner():
    transform, width, height = m.pixel_grid((100.0, 200.0, 155.0, 230.0), 10.0, pad=2.0)
    assert (transform.c, transform.f, transform.e) == (98.0, 232.0, -10.0)
    assert (width, height) == (6, 4)
    assert m.pixel_grid((5.0, 5.0, 5.0, 5.0), 10.0)[1:] == (1, 1)


def test_wrap_lon_keeps_the_world_and_wraps_beyond_it():
    lon, _ = m.xy_to_lonlat([-m.HALF_WORLD_M, m.HALF_WORLD_M, m.HALF_WORLD_M + 1000.0], [0.0] * 3)
    wrapped = m.wrap_lon(lon)
    assert wrapped[:2].tolist() == [-180.0, 180.0]
    assert -180 < wrapped[2] < -179.99
