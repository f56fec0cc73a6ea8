"""The simulated world: determinism, continuity, zoom consistency, spectra, mines, clouds."""

from __future__ import annotations

import geopandas as gpd
import mercantile
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minescan.config import section
from minescan.datasets.sources import open_source
from minescan.kernel.errors import MinescanError
from minescan.kernel.mercator import to_lonlat
from minescan.kernel.period import Period
from minescan.simulated import CLASSES, CODE, SimulatedSentinel2

#: A z14 tile near Kumasi, Ghana; its right-hand neighbour shares the border x = RIGHT.
TILE = mercantile.tile(-1.6, 6.7, 14)
RIGHT = mercantile.xy_bounds(TILE).right
MARGIN = 16


def _ndvi(data, bands):
    nir, red = data[bands.index("B08")], data[bands.index("B04")]
    return (nir - red) / (nir + red)


def _ndwi(data, bands):
    green, nir = data[bands.index("B03")], data[bands.index("B08")]
    return (green - nir) / (green + nir)


def _square(cx: float, cy: float, half: float):
    """A square in EPSG:3857 metres, returned in EPSG:4326."""
    return to_lonlat(shapely.box(cx - half, cy - half, cx + half, cy + half))


@pytest.fixture(scope="module")
def given_mines() -> gpd.GeoDataFrame:
    """One mine per commodity along the tile's top half; the first crosses the tile border."""
    b = mercantile.xy_bounds(TILE)
    cy = b.top - 700
    rows = []
    for i, commodity in enumerate(["copper", "gold", "coal", "bauxite", "other"]):
        cx = RIGHT if i == 0 else b.left + 300 + 450 * (i - 1)
        rows.append((f"m{i}", commodity, 2015 + i, _square(cx, cy, 180)))
    return gpd.GeoDataFrame(
        {
            "mine_id": [r[0] for r in rows],
            "commodity": [r[1] for r in rows],
            "year": [r[2] for r in rows],
        },
        geometry=[r[3] for r in rows],
        crs="EPSG:4326",
    )


@pytest.fixture(scope="module")
def world(given_mines) -> SimulatedSentinel2:
    return SimulatedSentinel2(seed=3, mines=given_mines)


@pytest.fixture(scope="module")
def drawn() -> SimulatedSentinel2:
    return SimulatedSentinel2(seed=0, mine_density=0.05)


def test_read_is_bit_identical_for_the_same_inputs(given_mines):
    first = SimulatedSentinel2(seed=3, mines=given_mines).read(TILE, period="2021", margin_px=4)
    second = SimulatedSentinel2(seed=3, mines=given_mines).read(TILE, period="2021", margin_px=4)
    assert first.data.tobytes() == second.data.tobytes()
    assert np.array_equal(first.valid, second.valid)
    other_seed = SimulatedSentinel2(seed=4, mines=given_mines).read(TILE, period="2021")
    assert not np.array_equal(first.core().data, other_seed.data)


def test_chip_layout_bands_and_meta(world):
    chip = world.read(TILE, size_px=64, bands="B12,B02,B8A", margin_px=8)
    assert chip.data.shape == (3, 80, 80) and chip.data.dtype == np.float32
    assert chip.bands == ("B12", "B02", "B8A")
    assert chip.meta == {"source": "simulated", "seed": 3}
    assert chip.tile == TILE and chip.margin_px == 8
    full = world.read(TILE, size_px=64, margin_px=8)
    assert np.array_equal(chip.data[1], full.band("B02"))
    assert np.array_equal(chip.data[2], full.band("B8A"))
    assert np.nanmin(full.data) >= 0 and np.nanmax(full.data) <= 1
    assert chip.bounds == pytest.approx(full.bounds)


def test_neighbouring_tiles_agree_on_shared_ground(world):
    left = world.read(TILE, period="2022", margin_px=MARGIN)
    right = world.read(mercantile.Tile(TILE.x + 1, TILE.y, 14), period="2022", margin_px=MARGIN)
    below = world.read(mercantile.Tile(TILE.x, TILE.y + 1, 14), period="2022", margin_px=MARGIN)
    m, n = MARGIN, 256
    # left's right margin is right's first columns; the mine m0 straddles that border.
    # Bit-identical on the development machine; a float tolerance allows other BLAS kernels.
    same = lambda a, b: np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)  # noqa: E731
    same(left.data[:, m : m + n, m + n :], right.data[:, m : m + n, m : 2 * m])
    same(left.data[:, m : m + n, n : m + n], right.data[:, m : m + n, :m])
    same(left.data[:, m + n :, m : m + n], below.data[:, m : 2 * m, m : m + n])
    mask_left = world.mine_mask(TILE, period="2022", margin_px=MARGIN)
    mask_right = world.mine_mask(mercantile.Tile(TILE.x + 1, TILE.y, 14), period="2022")
    assert mask_left[m : m + n, m + n :].any() and mask_right[:, :m].any()
    assert np.array_equal(mask_left[m : m + n, m + n :], mask_right[:, :m])


@pytest.mark.parametrize("period", ["2022", "2022-04"])
def test_z13_chip_is_the_area_average_of_its_z14_children(world, period):
    """z13 pixels are the 2x2 means of the 10 m field, within radiometric noise.

    A coarse read classifies sub-pixels only where classes meet, from the class-deciding
    fields interpolated between pixel centres, so next to a class edge one sub-pixel in
    four may take the neighbouring class. Tolerances, in reflectance: mean absolute
    error under 0.002 (a tenth of the ~0.02 uncertainty of L2A surface reflectance),
    99th percentile under 0.01, fewer than 0.5 % of values off by more than 0.02, and
    none by more than a quarter of the strongest class contrast (~0.6), 0.15.
    """
    parent = mercantile.parent(TILE)
    coarse = world.read(parent, period=period)
    mosaic = np.zeros((12, 512, 512), np.float32)
    for child in mercantile.children(parent):
        r, c = (child.y - 2 * parent.y) * 256, (child.x - 2 * parent.x) * 256
        mosaic[:, r : r + 256, c : c + 256] = world.read(child, period=period).data
    error = np.abs(mosaic.reshape(12, 256, 2, 256, 2).mean(axis=(2, 4)) - coarse.data)
    assert error.mean() < 0.002
    assert np.percentile(error, 99) < 0.01
    assert (error > 0.02).mean() < 0.005
    assert error.max() < 0.15
    inside = world.mine_mask(parent, period=period)  # mines are averaged the same way
    assert inside.sum() > 500 and error[:, inside].mean() < 0.005


def _class_values(source, tiles, period="2020"):
    """Per-class NDVI and NDWI over ``tiles``, clear pixels only."""
    out: dict[str, tuple[list, list]] = {}
    for tile in tiles:
        chip = source.read(tile, period=period)
        codes = source.landcover(tile, period=period)
        clear = chip.valid_mask()
        ndvi, ndwi = _ndvi(chip.data, chip.bands), _ndwi(chip.data, chip.bands)
        for code in np.unique(codes):
            sel = (codes == code) & clear
            entry = out.setdefault(CLASSES[code], ([], []))
            entry[0].append(ndvi[sel])
            entry[1].append(ndwi[sel])
    return {k: (np.concatenate(a), np.concatenate(b)) for k, (a, b) in out.items()}


def _tiles_showing(source, names, zoom=14):
    """z14 tiles holding each class in ``names``, found on a coarse land-cover map around TILE."""
    area = mercantile.parent(TILE, zoom=10)
    codes = source.landcover(area, size_px=128)
    transform = mercantile.xy_bounds(area)
    res = (transform.right - transform.left) / 128
    tiles = set()
    for name in names:
        rows, cols = np.nonzero(codes == CODE[name])
        assert len(rows), f"no {name} near the test tile"
        x = transform.left + (cols[len(cols) // 2] + 0.5) * res
        y = transform.top - (rows[len(rows) // 2] + 0.5) * res
        lon, lat = to_lonlat(shapely.Point(x, y)).coords[0]
        tiles.add(mercantile.tile(lon, lat, zoom))
    return sorted(tiles)


def test_class_spectra_sit_in_plausible_l2a_ranges(world):
    tiles = [TILE, *_tiles_showing(world, ["forest", "water", "bare_soil"])]
    values = _class_values(world, tiles)
    for name in ("forest", "water", "bare_soil"):
        assert len(values[name][0]) > 50, f"no {name} in the test tiles"
    assert values["forest"][0].min() > 0.6
    assert values["water"][1].min() > 0.2
    assert values["bare_soil"][0].max() < 0.2
    dug = np.concatenate([v[0] for k, v in values.items() if k.endswith(("_pit", "_bench"))])
    assert len(dug) > 500
    assert 0.05 <= dug.mean() <= 0.2
    assert np.percentile(dug, 95) < 0.25
    for commodity in ("copper", "coal", "bauxite", "other"):
        pit = values[f"mine_{commodity}_pit"][0]
        assert 0.0 < pit.mean() < 0.2, commodity


def test_commodities_look_different(world):
    chip = world.read(TILE, period="2022")
    codes = world.landcover(TILE, period="2022")
    brightness = {
        c: chip.data[:, codes == CODE[f"mine_{c}_pit"]].mean(axis=1)
        for c in ("copper", "coal", "bauxite")
    }
    red_over_blue = {c: v[3] / v[1] for c, v in brightness.items()}
    assert brightness["coal"].mean() < 0.5 * brightness["copper"].mean()
    assert red_over_blue["bauxite"] > red_over_blue["copper"]


def test_given_mines_are_excavated_only_from_their_date(world, given_mines):
    # m1 (gold) starts 2016, m3 (bauxite) 2018
    before = world.landcover(TILE, period="2017")
    after = world.landcover(TILE, period="2019")
    bauxite = [CODE[f"mine_bauxite_{k}"] for k in ("pit", "bench", "dump", "tailings", "road")]
    assert not np.isin(before, bauxite).any()
    assert np.isin(after, bauxite).sum() > 500
    assert Period.parse("2019").reference_date == np.datetime64("2019-07-02")
    truth = world.mines_in(given_mines.union_all(), date="2017-07-02")
    assert set(truth.mine_id) == {"m0", "m1", "m2"}
    assert set(world.mines_in(given_mines.union_all()).mine_id) == set(given_mines.mine_id)
    row = truth.set_index("mine_id").loc["m2"]
    assert row.commodity == "coal" and row.start_date == np.datetime64("2017-01-01")
    assert 10 < row.area_ha < 15  # a 360 m map square at 6.7 N: 12.8 ha of ground


def _green_site(seed: int, half: float):
    """A square of ``half`` metres half-side, all forest or grass in the world of ``seed``."""
    from scipy.ndimage import binary_erosion

    area = mercantile.parent(TILE)
    codes = SimulatedSentinel2(seed=seed, mine_density=0).landcover(area, 512, period="2020")
    side = int(2 * half / 9.55) + 3
    green = np.isin(codes, [CODE["forest"], CODE["grassland"]])
    rows, cols = np.nonzero(binary_erosion(green, np.ones((side, side), bool)))
    assert len(rows), "no forest or grass large enough near the test tile"
    b = mercantile.xy_bounds(area)
    res = (b.right - b.left) / 512
    i = len(rows) // 2
    return _square(b.left + (cols[i] + 0.5) * res, b.top - (rows[i] + 0.5) * res, half)


def test_series_ndvi_drops_after_the_start_date():
    site = _green_site(5, 150)
    frame = gpd.GeoDataFrame({"start_date": ["2020-03-01"]}, geometry=[site], crs="EPSG:4326")
    source = SimulatedSentinel2(seed=5, mines=frame)
    dates, cube = source.series(site, "2019-09-01", "2020-09-01")
    assert np.all(np.diff(dates.astype(int)) == 5)
    h, w = cube.valid.shape[1:]
    inside = np.zeros((h, w), bool)
    inside[h // 2 - 8 : h // 2 + 8, w // 2 - 8 : w // 2 + 8] = True  # well inside the 300 m square
    ndvi = _ndvi(np.moveaxis(cube.data, 1, 0), cube.bands)
    before, after = [], []
    for t, date in enumerate(dates):
        ok = cube.valid[t] & inside
        if ok.sum() > 100:
            (before if date < np.datetime64("2020-03-01") else after).append(ndvi[t][ok].mean())
    assert before and after
    assert min(before) > 0.3 and max(after) < 0.2


def test_series_clouds_are_flagged_invalid(drawn):
    area = mercantile.bounds(TILE)
    geometry = shapely.box(area.west, area.south, area.east, area.north)
    dates, cube = drawn.series(geometry, "2021-01-01", "2021-06-30", bands=["B02", "B08"])
    assert cube.data.shape[:2] == (len(dates), 2) and cube.bands == ("B02", "B08")
    cloudy = ~cube.valid
    assert cloudy.any(axis=(1, 2)).sum() >= 3  # some dates have clouds
    assert cube.valid.all(axis=(1, 2)).sum() >= 3  # and some are clear
    blue = cube.data[:, 0]
    assert np.median(blue[cloudy]) > 2 * np.median(blue[cube.valid])
    assert abs(cube.transform.a - 10 / np.cos(np.radians(6.7))) <= 0.25


def test_series_grids_of_two_calls_agree(drawn):
    a = mercantile.bounds(TILE)
    first = shapely.box(a.west, a.south, a.east, a.north)
    second = shapely.box(a.west + 0.004, a.south + 0.003, a.east + 0.01, a.north)
    _, one = drawn.series(first, "2021-02-01", "2021-02-10")
    _, two = drawn.series(second, "2021-02-01", "2021-02-10")
    assert one.transform.a == two.transform.a
    dc = round((two.transform.c - one.transform.c) / one.transform.a)
    dr = round((one.transform.f - two.transform.f) / one.transform.a)
    assert two.transform.c == pytest.approx(one.transform.c + dc * one.transform.a, abs=1e-6)
    h = min(one.data.shape[2] - dr, two.data.shape[2])
    w = min(one.data.shape[3] - dc, two.data.shape[3])
    assert h > 100 and w > 100
    assert np.allclose(one.data[..., dr : dr + h, dc : dc + w], two.data[..., :h, :w], atol=1e-6)


def test_drawn_mines_are_deterministic_on_land_and_at_density(drawn):
    box = shapely.box(-2.0, 6.0, -1.5, 6.5)
    mines = drawn.mines_in(box)
    again = SimulatedSentinel2(seed=0, mine_density=0.05).mines_in(box)
    assert mines.mine_id.tolist() == again.mine_id.tolist()
    assert mines.geometry.geom_equals_exact(again.geometry, tolerance=0).all()
    area_km2 = 0.5 * 0.5 * 111.32**2 * np.cos(np.radians(6.25))
    assert 0.5 * 0.05 * area_km2 < len(mines) < 1.5 * 0.05 * area_km2
    assert mines.area_ha.between(1.5, 600).all()
    starts = mines.start_date
    assert starts.min() >= np.datetime64("2010-01-01") and starts.max() <= np.datetime64(
        "2025-01-01"
    )
    assert set(mines.commodity) <= {"gold", "coal", "bauxite", "copper", "other"}
    # no mine is centred on water (the point check agrees with the rendered land cover)
    area = mercantile.parent(TILE, zoom=12)
    natural = SimulatedSentinel2(seed=0, mine_density=0).landcover(area, size_px=1024)
    b = mercantile.xy_bounds(area)
    res = (b.right - b.left) / 1024
    centres = [m.centre for m in drawn.catalogue.near(b)]
    cells = [
        (int((b.top - y) // res), int((x - b.left) // res))
        for x, y in centres
        if b.left < x < b.right and b.bottom < y < b.top
    ]
    assert len(cells) >= 2
    assert all(natural[r, c] != CODE["water"] for r, c in cells)
    # growth: fewer and smaller mines earlier
    early = drawn.mines_in(box, date="2015-01-01")
    assert len(early) < len(mines)
    assert early.area_ha.sum() < mines.area_ha.sum()


def test_components_cover_the_mine(world, given_mines):
    parts = world.components_in(given_mines.union_all())
    assert {"pit", "bench", "dump", "road"} <= set(parts.component)
    assert set(parts.mine_id) == set(given_mines.mine_id)
    gold = parts[parts.mine_id == "m1"]
    assert "pond" in set(gold.component) or "tailings" in set(gold.component)


def test_confusers_are_exported_with_their_kind(drawn):
    area = mercantile.bounds(mercantile.parent(TILE))
    found = drawn.confusers_in(shapely.box(area.west, area.south, area.east, area.north))
    assert len(found) > 0
    assert set(found.kind) <= {"bare_field", "sandbar", "burn_scar", "clearing", "road", "urban"}
    assert found.crs.to_epsg() == 4326
    assert found.geometry.is_valid.all()


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.read(TILE, bands=["B02", "B10"]),
        lambda s: s.read(mercantile.Tile(20, 3, 4)),
        lambda s: s.read(mercantile.Tile(-1, 0, 3)),
        lambda s: s.read(TILE, period="2019-13"),
        lambda s: s.read(TILE, period="last year"),
        lambda s: s.series(shapely.box(0, 0, 0.01, 0.01), "2020-05-01", "2020-04-01"),
        lambda s: s.series(shapely.box(0, 0, 0.01, 0.01), "2020-05-01", "soon"),
        lambda s: s.mines_in(shapely.Polygon()),
    ],
)
def test_bad_input_is_a_minescan_error(drawn, call):
    with pytest.raises(MinescanError):
        call(drawn)


def test_bad_settings_are_minescan_errors(tmp_path):
    with pytest.raises(MinescanError):
        SimulatedSentinel2(revisit_days=0)
    with pytest.raises(MinescanError):
        SimulatedSentinel2(mine_density=-1)
    with pytest.raises(MinescanError):
        open_source(section("source", kind="simulated", mines=str(tmp_path / "missing.gpkg")))


def test_from_settings_reads_the_mines_file(tmp_path, given_mines):
    path = tmp_path / "mines.gpkg"
    given_mines.to_file(path)
    source = open_source(section("source", kind="simulated", seed=3, mines=str(path)))
    assert source.name == "simulated"
    assert set(source.mines_in(given_mines.union_all()).mine_id) == set(given_mines.mine_id)


@pytest.mark.parametrize("zoom", [0, 4, 9, 19])
def test_every_zoom_reads_a_finite_plausible_chip(drawn, zoom):
    chip = drawn.read(mercantile.tile(-1.6, 6.7, zoom), size_px=32)
    assert np.isfinite(chip.data).all()
    assert 0.02 < chip.data.mean() < 0.4
    assert chip.valid_fraction > 0.8


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lon=st.floats(-179, 179),
    lat=st.floats(-70, 70),
    zoom=st.integers(13, 16),
    below=st.booleans(),
)
def test_any_two_neighbours_agree_on_their_shared_margin(drawn, lon, lat, zoom, below):
    """Neighbours agree on their shared margin at 32 px chips of z13-z16 (38-150 m pixels).

    Much coarser pixels (z11 at 32 px is 611 m) can disagree on a rare pixel by up to
    0.01 reflectance: the mixed-pixel test of :func:`minescan.simulated.coarse.coarse_surface`
    is a heuristic at 4x4 sub-pixels (seed 0, lon 32, lat 0, z11 is one such pixel). The
    scan never reads pixels coarser than about 20 m.
    """
    tile = mercantile.tile(lon, lat, zoom)
    other = (
        mercantile.Tile(tile.x, tile.y + 1, zoom)
        if below
        else mercantile.Tile((tile.x + 1) % 2**zoom, tile.y, zoom)
    )
    if other.y >= 2**zoom or other.x == 0:
        return  # the edge of the map, or across the antimeridian
    m, n = 6, 32
    first = drawn.read(tile, size_px=n, margin_px=m, period="2021")
    second = drawn.read(other, size_px=n, margin_px=m, period="2021")
    if below:
        shared = first.data[:, m + n - m : 2 * m + n, :], second.data[:, : 2 * m, :]
    else:
        shared = first.data[:, :, m + n - m : 2 * m + n], second.data[:, :, : 2 * m]
    assert np.allclose(*shared, atol=1e-5)
