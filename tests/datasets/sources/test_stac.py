"""StacSource: a real pystac-client + odc-stac round trip against a STAC API on 127.0.0.1."""

from __future__ import annotations

import mercantile
import numpy as np
import pystac
import pytest
from pyproj import Transformer
from rasterio.transform import from_origin
from shapely.geometry import Point

from minescan.config import section
from minescan.datasets.sources import open_source
from minescan.datasets.sources.fetch import RetryPolicy
from minescan.datasets.sources.stac import StacSource
from minescan.datasets.sources.stac_assets import asset_names, scale_offset
from minescan.kernel.bands import S2_BANDS
from minescan.kernel.errors import MinescanError
from tests.datasets.sources.stac_server import StacServer, write_scene_item

_T16 = mercantile.bounds(mercantile.Tile(32221, 24891, 16))
LON0, LAT0 = (_T16.west + _T16.east) / 2, (_T16.south + _T16.north) / 2
CRS = "EPSG:32630"
RES, HALF = 10.0, 1500.0
BACKGROUND = np.array([0.02 + 0.01 * i for i in range(12)], np.float32)
BRIGHT = 0.6
TILE = mercantile.tile(LON0, LAT0, 15)


def base_scene():
    cx, cy = Transformer.from_crs("EPSG:4326", CRS, always_xy=True).transform(LON0, LAT0)
    n = int(2 * HALF / RES)
    transform = from_origin(cx - HALF, cy + HALF, RES, RES)
    cols, rows = np.meshgrid(np.arange(n) + 0.5, np.arange(n) + 0.5)
    xs, ys = transform @ (cols, rows)
    inside = (np.abs(xs - cx) < 100) & (np.abs(ys - cy) < 100)
    refl = np.where(inside[None], BRIGHT, BACKGROUND[:, None, None]).astype(np.float32)
    west = xs < cx
    return refl, transform, west, cx


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stac")
    refl, transform, west, _ = base_scene()
    clear = np.full(west.shape, 4, "uint8")
    items = [
        # west half cloudy (SCL 9) in March
        write_scene_item(folder, "A", "2019-03-01", refl, np.where(west, 9, 4), transform, CRS, 30.0),
        write_scene_item(folder, "B", "2019-06-01", refl + 0.02, clear + 1, transform, CRS, 10.0),
        # too cloudy a scene: never searched with max_cloud 60
        write_scene_item(folder, "C", "2019-07-01", refl + 0.5, clear, transform, CRS, 90.0),
        write_scene_item(folder, "D", "2020-05-01", refl, np.full(west.shape, 9, "uint8"), transform, CRS, 50.0),
        # a catalogue keying assets B02.., without raster metadata and with no offset
        write_scene_item(
            folder, "P", "2019-06-01", refl, clear, transform, CRS, 5.0,
            collection="sentinel-2-l2a", keys={b: b for b in (*S2_BANDS, "SCL")},
            offset=0.0, raster_metadata=False,
        ),
    ]  # fmt: skip
    broken = write_scene_item(
        folder, "X", "2019-06-01", refl, clear, transform, CRS, 5.0, collection="broken"
    )
    del broken["assets"]["nir09"]
    with StacServer(folder, [*items, broken]) as srv:
        yield srv


@pytest.fixture
def source(server, tmp_path):
    server.faults.clear()
    return StacSource(
        server.url, cache_dir=tmp_path / "cache", policy=RetryPolicy(retries=3, backoff_s=0.0)
    )


def chip_utm_x(chip) -> np.ndarray:
    h, w = chip.shape
    cols, rows = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    xs, ys = chip.transform @ (cols, rows)
    return Transformer.from_crs("EPSG:3857", CRS, always_xy=True).transform(xs, ys)[0]


def test_median_of_clear_scenes(source):
    chip = source.read(TILE, size_px=128, period="2019", bands=("B02", "B11"))
    assert chip.meta["items"] == 2 and chip.meta["all_cloud"] is False
    assert chip.data.shape == (2, 128, 128) and chip.valid.all()
    x = chip_utm_x(chip)
    _, _, _, cx = base_scene()
    background = chip.band("B02") < 0.06  # away from the bright square and its blended edge
    east = background & (x > cx + 30)
    west = background & (x < cx - 30)
    assert east.sum() > 1000 and west.sum() > 1000
    # east: median of March (clear) and June (+0.02); west: March was cloud, June only
    np.testing.assert_allclose(chip.band("B02")[east], BACKGROUND[1] + 0.01, atol=2e-4)
    np.testing.assert_allclose(chip.band("B02")[west], BACKGROUND[1] + 0.02, atol=2e-4)
    np.testing.assert_allclose(chip.band("B11")[east], BACKGROUND[10] + 0.01, atol=2e-4)


def test_bright_square_at_its_lonlat_and_average_when_coarse(source):
    for z, size in [(15, 128), (14, 128)]:
        chip = source.read(mercantile.tile(LON0, LAT0, z), size_px=size, bands=("B04",))
        rows, cols = np.nonzero(chip.band("B04") > 0.3)
        x, y = chip.transform @ (cols.mean() + 0.5, rows.mean() + 0.5)
        lon, lat = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True).transform(x, y)
        metres = np.hypot((lon - LON0) * 111_320 * np.cos(np.radians(LAT0)), (lat - LAT0) * 110_574)
        assert metres < 10.0


def test_all_cloud_period_gives_flagged_nan_chip(source):
    chip = source.read(TILE, size_px=64, period="2020", bands=("B04",))
    assert chip.meta["items"] == 1 and chip.meta["all_cloud"] is True
    assert np.isnan(chip.data).all() and not chip.valid.any()


def test_period_without_scenes_gives_nan_chip(source):
    chip = source.read(TILE, size_px=64, period="2016-02", bands=("B04",))
    assert chip.meta["items"] == 0 and chip.meta["all_cloud"] is False
    assert np.isnan(chip.data).all() and chip.valid_fraction == 0.0


def test_second_read_comes_from_cache_without_any_request(source, server):
    first = source.read(TILE, size_px=64, bands=("B03",))
    before = len(server.log)
    second = source.read(TILE, size_px=64, bands=("B03",))
    assert len(server.log) == before
    assert first.meta["cached"] is False and second.meta["cached"] is True
    np.testing.assert_array_equal(first.data, second.data)
    np.testing.assert_array_equal(first.valid, second.valid)


def test_cog_reads_use_http_range_requests(source, server):
    source.read(TILE, size_px=32, bands=("B02",))
    assert server.requests_to("/search") >= 1
    assert (
        server.requests_to("/files/A_blue.tif") >= 1 and server.requests_to("/files/A_scl.tif") >= 1
    )
    assert server.requests_to("/files/C_") == 0  # filtered by eo:cloud_cover


def test_retries_rate_limits_and_server_errors(server, tmp_path):
    waits = []
    source = StacSource(
        server.url,
        cache_dir=tmp_path,
        policy=RetryPolicy(retries=3, backoff_s=0.5, jitter=0),
        sleep=waits.append,
    )
    server.faults["/search"] = [429, 503]
    chip = source.read(TILE, size_px=32, bands=("B02",))
    assert chip.valid.all()
    assert waits == [0.5, 1.0]


def test_rate_limit_after_retries_is_one_line_error_naming_the_tile(server, source):
    server.faults["/search"] = [429] * 10
    with pytest.raises(MinescanError) as err:
        source.read(TILE, size_px=32, bands=("B02",))
    message = str(err.value)
    assert message.startswith(f"tile 15/{TILE.x}/{TILE.y}: failed after 4 attempts")
    assert "\n" not in message
    server.faults.clear()
    assert source.read(TILE, size_px=32, bands=("B02",)).valid.all()  # resumable


def test_network_down_is_one_line_error(tmp_path):
    source = StacSource(
        "http://127.0.0.1:9", cache_dir=tmp_path, policy=RetryPolicy(retries=1, backoff_s=0)
    )
    with pytest.raises(
        MinescanError, match=rf"^tile 15/{TILE.x}/{TILE.y}: failed after 2 attempts"
    ) as err:
        source.read(TILE, size_px=32, bands=("B02",))
    assert "\n" not in str(err.value)


def test_missing_band_asset_is_one_line_error(server, tmp_path):
    source = StacSource(
        server.url, collection="broken", cache_dir=tmp_path, policy=RetryPolicy(retries=0)
    )
    with pytest.raises(
        MinescanError, match=r"tile 15/.*band B09: asset 'nir09' is missing from STAC item X"
    ):
        source.read(TILE, size_px=32, bands=("B04", "B09"))


def test_band_id_asset_keys_and_default_scale(server, tmp_path):
    source = StacSource(server.url, collection="sentinel-2-l2a", cache_dir=tmp_path)
    chip = source.read(TILE, size_px=32, bands=("B02", "B8A"))
    corner = chip.data[:, :4, :4]
    np.testing.assert_allclose(corner[0], BACKGROUND[1], atol=2e-4)
    np.testing.assert_allclose(corner[1], BACKGROUND[8], atol=2e-4)


def test_series_one_observation_per_day(source):
    dates, cube = source.series(
        Point(LON0, LAT0).buffer(0.003), "2019-01-01", "2019-12-31", bands=("B04",)
    )
    assert dates.tolist() == [np.datetime64("2019-03-01"), np.datetime64("2019-06-01")]
    assert cube.data.shape[:2] == (2, 1)
    assert cube.transform.a * np.cos(np.radians(LAT0)) == pytest.approx(10.0, rel=1e-3)
    assert 0.3 < cube.valid[0].mean() < 0.7  # March: west half cloud
    assert cube.valid[1].all()
    assert np.isnan(cube.data[0, 0][~cube.valid[0]]).all()
    empty_dates, empty = source.series(Point(LON0, LAT0).buffer(0.003), "2016-01-01", "2016-12-31")
    assert len(empty_dates) == 0 and empty.data.shape[0] == 0


def test_read_many_returns_every_tile(source):
    tiles = list(mercantile.children(mercantile.parent(TILE)))
    got = dict(source.read_many(tiles, size_px=16, bands=("B04",)))
    assert set(got) == set(tiles)
    assert all(chip.tile == tile for tile, chip in got.items())


def test_open_source_from_settings(server, tmp_path):
    settings = section(
        "source", kind="stac", stac_url=server.url, cache_dir=str(tmp_path), max_cloud=95
    )
    source = open_source(settings)
    assert isinstance(source, StacSource)
    chip = source.read(TILE, size_px=16, bands=("B02",))
    assert chip.meta["items"] == 3  # the 90 % cloud scene now passes the filter


def test_asset_names_and_scale_offset_metadata_forms():
    class Item:
        assets = {"B02": 0, "SCL": 0}

    assert asset_names([Item()])["B02"] == "B02" and asset_names([Item()])["SCL"] == "SCL"
    assert asset_names([])["B02"] == "blue"
    raster_1x = pystac.Asset(
        "a", extra_fields={"raster:bands": [{"scale": 0.0002, "offset": -0.2}]}
    )
    stac_11 = pystac.Asset(
        "a", extra_fields={"bands": [{"raster:scale": 0.001, "raster:offset": 0.5}]}
    )
    bare = pystac.Asset("a")
    assert scale_offset(raster_1x, "x") == (0.0002, -0.2)
    assert scale_offset(stac_11, "x") == (0.001, 0.5)
    assert scale_offset(bare, "sentinel-2-c1-l2a") == (0.0001, -0.1)
    assert scale_offset(bare, "sentinel-2-l2a") == (0.0001, 0.0)


def test_neighbours_share_one_search_and_one_read_per_scene_asset(server):
    """16 z16 tiles (one cluster): one search, one window read per scene and asset instead of
    one per tile, and the same pixels. Each way runs against its own server (new URLs), so
    GDAL's range cache starts cold for both; these 300 px scenes fit in GDAL's first range
    reads, so HTTP requests only tie here (benchmarks/bench_real_sweep.py counts them on
    scenes of realistic size)."""
    tiles = list(mercantile.children(mercantile.parent(TILE, zoom=14), zoom=16))
    with StacServer(server.folder, server.items) as cold:
        grouped = StacSource(cold.url, cache_dir="", policy=RetryPolicy(retries=0))
        chips = grouped.read_tiles(tiles, size_px=32, bands=("B04",), margin_px=2)
        assert cold.requests_to("/search") == 1 and grouped.io.requests == 1
        assert grouped.io.reads == 2 * 2  # scenes A and B (C is too cloudy), B04 and SCL
        grouped_files = cold.requests_to("/files/")
        # a neighbouring cluster under the same search tile asks the catalogue nothing new
        far = [mercantile.Tile(t.x + 4, t.y, 16) for t in tiles[:2]]
        grouped.read_tiles(far, 32, bands=("B04",))
        assert cold.requests_to("/search") == 1 and grouped.io.reads == 2 * 2 * 2
    with StacServer(server.folder, server.items) as cold:
        single = StacSource(cold.url, cache_dir="", policy=RetryPolicy(retries=0))
        alone = [single.read(t, size_px=32, bands=("B04",), margin_px=2) for t in tiles]
        assert single.io.reads == 16 * 2 * 2 and single.io.requests == 1  # searches per area
        assert 0 < grouped_files <= cold.requests_to("/files/")
    for a, b in zip(chips, alone, strict=True):
        assert a.tile == b.tile and a.meta["items"] == b.meta["items"] == 2
        np.testing.assert_allclose(a.data, b.data, atol=1e-6, equal_nan=True)
