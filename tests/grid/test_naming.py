import mercantile
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minescan.grid import naming
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
    name = naming.cell_name(tile, overlap)
    assert naming.tile_from_name(name) == tile
    parsed = naming.parse_cell_name(name)
    assert parsed.z == tile.z
    if overlap is None:
        assert parsed.overlap is None and name.endswith("_neg")
    else:
        assert parsed.overlap == pytest.approx(overlap, abs=0.0005)


@settings(max_examples=300, deadline=None)
@given(any_tile(), overlaps)
def test_name_to_tile_to_name(tile, overlap):
    name = naming.cell_name(tile, overlap)
    again = naming.cell_name(naming.tile_from_name(name), naming.parse_cell_name(name).overlap)
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
    names = naming.cell_names(x, y, z, np.nan)
    assert len(set(names)) == len(names)


def test_name_rule_by_hand():
    # Centre of tile (16383, 16384, 15) is at -0.0055 lon and lat: x1000 rounds to -5.
    assert naming.cell_name(mercantile.Tile(16383, 16384, 15), 0.375) == "05_05_15_37.5"
    tile = mercantile.tile(-1.9, 5.3, 14)
    lon, lat = mercantile.ul(tile.x + 0.5, tile.y + 0.5, 14)
    expected = f"{round(lat * 1000)}_0{-round(lon * 1000)}_14_100.0"
    assert naming.cell_name(tile, 1.0) == expected
    assert naming.parse_cell_name("029500_1234_15_37.5") == (-29.5, 1.234, 15, 0.375)


def test_more_digits_beyond_zoom_15():
    assert [naming.name_factor(z) for z in (0, 15, 16, 18, 19, 20)] == [
        1000,
        1000,
        10_000,
        10_000,
        100_000,
        100_000,
    ]
    # zoom 15 near the mercator limit: tiles are shorter than 0.001 degree, lat gets a digit more
    lat_field = naming.cell_name(mercantile.Tile(0, 0, 15), None).split("_")[0]
    assert int(lat_field) > 850_000
    assert naming.tile_from_name(naming.cell_name(mercantile.Tile(0, 1, 15), None)) == (0, 1, 15)


@pytest.mark.parametrize(
    "bad", ["", "1_2_3", "a_b_15_neg", "1_2_21_neg", "1_2_15_x", "-5_2_15_neg"]
)
def test_bad_names(bad):
    with pytest.raises(MinescanError, match="bad cell name"):
        naming.tile_from_name(bad)
