import numpy as np
import pytest
import shapely
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from shapely import box

from minescan.grid.coverage import cell_coverage, unique_sorted


def brute_force(geom):
    """Area per unit cell by clipping every cell of the bounding box (the slow, obvious way)."""
    west, south, east, north = geom.bounds
    out = {}
    for x in range(int(np.floor(west)), int(np.ceil(east))):
        for y in range(int(np.floor(south)), int(np.ceil(north))):
            area = shapely.intersection(geom, box(x, y, x + 1, y + 1)).area
            if area > 1e-9:
                out[(x, y)] = area
    return out


def as_dict(cov):
    return {(int(x), int(y)): a for x, y, a in zip(cov.x, cov.y, cov.area, strict=True)}


coordinate = st.floats(-6, 6, allow_nan=False).map(lambda v: round(v, 3))


@st.composite
def polygons(draw):
    """Valid polygons: star-shaped rings, sometimes with a hole, sometimes two parts."""
    parts = []
    for _ in range(draw(st.integers(1, 2))):
        cx, cy = draw(coordinate), draw(coordinate)
        n = draw(st.integers(3, 9))
        radii = draw(st.lists(st.floats(0.2, 3.0), min_size=n, max_size=n))
        angles = np.sort(
            draw(st.lists(st.floats(0, 2 * np.pi), min_size=n, max_size=n, unique=True))
        )
        # Rounded: GEOS itself mis-clips rings with subnormal coordinates such as 5e-324.
        ring = [
            (round(cx + r * np.cos(a), 6), round(cy + r * np.sin(a), 6))
            for r, a in zip(radii, angles, strict=True)
        ]
        parts.append(shapely.make_valid(shapely.Polygon(ring)))
    geom = shapely.union_all(parts)
    if draw(st.booleans()):
        c = geom.representative_point()
        geom = geom.difference(c.buffer(0.3, quad_segs=2))
    return geom


@settings(max_examples=60, deadline=None)
@given(polygons())
def test_matches_clipping_every_cell(geom):
    assume(geom.area > 0)
    expected = brute_force(geom)
    got = as_dict(cell_coverage(np.array([geom])))
    assert got.keys() == expected.keys()
    for key, area in expected.items():
        assert got[key] == pytest.approx(area, abs=1e-9)


def test_hand_computed_square_with_hole():
    ring = box(0, 0, 4, 4).difference(box(1, 1, 3, 3))
    got = as_dict(cell_coverage(np.array([ring])))
    assert len(got) == 12  # the 4 cells of the hole are absent
    assert all(a == pytest.approx(1) for a in got.values())


def test_triangle_halves_a_cell():
    got = as_dict(cell_coverage(np.array([shapely.Polygon([(0, 0), (1, 0), (0, 1)])])))
    assert got == {(0, 0): pytest.approx(0.5)}


def test_orientation_does_not_matter():
    cw = shapely.Polygon([(0.5, 0.5), (0.5, 2.5), (2.5, 2.5), (2.5, 0.5)])
    ccw = shapely.Polygon(list(cw.exterior.coords)[::-1])
    assert as_dict(cell_coverage(np.array([cw]))) == as_dict(cell_coverage(np.array([ccw])))


def test_disjoint_polygons_in_one_cell_add_up():
    geoms = np.array([box(0.1, 0.1, 0.3, 0.3), box(0.6, 0.6, 0.9, 0.8)])
    got = as_dict(cell_coverage(geoms))
    assert got == {(0, 0): pytest.approx(0.04 + 0.06)}


def test_empty_input():
    assert cell_coverage(np.array([], dtype=object)).x.size == 0
    assert cell_coverage(np.array([shapely.Polygon()])).x.size == 0


def test_unique_sorted():
    assert unique_sorted(np.array([5, 1, 5, 3, 1])).tolist() == [1, 3, 5]
    assert unique_sorted(np.array([], dtype=np.int64)).size == 0
