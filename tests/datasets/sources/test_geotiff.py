"""GeoTiffSource against fixture mosaics in UTM and EPSG:4326 with nodata edges."""

from __future__ import annotations

import mercantile
import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from rasterio.transform import from_origin
from shapely.geometry import Point

from minescan.config import section
from minescan.datasets.sources import open_source
from minescan.datasets.sources.geotiff import GeoTiffSource
from minescan.datasets.sources.windows import choose_resampling
from minescan.kernel.bands import S2_BANDS
from minescan.kernel.errors import MinescanError
from minescan.kernel.raster import write_cog

# the bright square's centre: the middle of z16 tile (32221, 24891), UTM zone 30N
_T16 = mercantile.bounds(mercantile.Tile(32221, 24891, 16))
LON0, LAT0 = (_T16.west + _T16.east) / 2, (_T16.south + _T16.north) / 2
SQUARE_M = 200.0
BACKGROUND = np.array([0.02 + 0.01 * i for i in range(12)])  # reflectance per S2 band
BRIGHT = 0.6
NODATA_COLS = 60  # west edge of the mosaic is nodata


def scene(crs: str, res: float, half_extent: float) -> tuple[np.ndarray, rasterio.Affine]:
    """uint16 (12, H, W) around (LON0, LAT0) in ``crs``: background, a bright square, nodata west edge."""
    to = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    cx, cy = to.transform(LON0, LAT0)
    n = int(round(2 * half_extent / res))
    transform = from_origin(cx - half_extent, cy + half_extent, res, res)
    cols, rows = np.meshgrid(np.arange(n) + 0.5, np.arange(n) + 0.5)
    xs, ys = transform @ (cols, rows)
    if crs == "EPSG:4326":  # square in metres around the centre
        dx = (xs - cx) * 111_320 * np.cos(np.radians(LAT0))
        dy = (ys - cy) * 110_574
    else:
        dx, dy = xs - cx, ys - cy
    inside = (np.abs(dx) < SQUARE_M / 2) & (np.abs(dy) < SQUARE_M / 2)
    refl = np.where(inside[None], BRIGHT, BACKGROUND[:, None, None])
    stored = np.round(refl / 0.0001).astype("uint16")
    stored[:, :, :NODATA_COLS] = 0
    return stored, transform


@pytest.fixture(scope="module")
def mosaics(tmp_path_factory):
    folder = tmp_path_factory.mktemp("geotiff")
    out = {}
    for crs, res, half in [("EPSG:32630", 10.0, 2500.0), ("EPSG:4326", 0.0001, 0.03)]:
        data, transform = scene(crs, res, half)
        path = folder / f"mosaic_{crs.replace(':', '')}.tif"
        write_cog(path, data, transform, crs=crs, band_names=S2_BANDS, nodata=0)
        out[crs] = path
    return out


def centre_tile(z: int) -> mercantile.Tile:
    return mercantile.tile(LON0, LAT0, z)


def source_for(path, **kw) -> GeoTiffSource:
    return GeoTiffSource(files=[str(path)], bands=S2_BANDS, scale=0.0001, **kw)


def bright_centre_lonlat(chip) -> tuple[float, float]:
    rows, cols = np.nonzero(chip.band("B04") > (BRIGHT + BACKGROUND[3]) / 2)
    x, y = chip.transform @ (cols.mean() + 0.5, rows.mean() + 0.5)
    return Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True).transform(x, y)


@pytest.mark.parametrize("crs", ["EPSG:32630", "EPSG:4326"])
@pytest.mark.parametrize("z", [14, 16])
def test_bright_square_lands_at_its_lonlat(mosaics, crs, z):
    chip = source_for(mosaics[crs]).read(centre_tile(z), size_px=256, period="2019")
    assert chip.data.shape == (12, 256, 256) and chip.data.dtype == np.float32
    lon, lat = bright_centre_lonlat(chip)
    metres = np.hypot((lon - LON0) * 111_320 * np.cos(np.radians(LAT0)), (lat - LAT0) * 110_574)
    assert metres < 10.0  # within one source pixel
    # the bright area has the square's size (z14: ~7.3 m ground pixels, so +- a pixel ring)
    px_ground = chip.transform.a * np.cos(np.radians(LAT0))
    bright = (chip.band("B04") > (BRIGHT + BACKGROUND[3]) / 2).sum() * px_ground**2
    assert bright == pytest.approx(SQUARE_M**2, rel=0.25)


@pytest.mark.parametrize("crs", ["EPSG:32630", "EPSG:4326"])
def test_scale_applied_and_background_values(mosaics, crs):
    chip = source_for(mosaics[crs]).read(centre_tile(15), size_px=128, bands=("B02", "B11"))
    assert chip.bands == ("B02", "B11")
    corner = chip.data[:, :10, :10]
    np.testing.assert_allclose(corner[0], BACKGROUND[1], atol=2e-4)
    np.testing.assert_allclose(corner[1], BACKGROUND[10], atol=2e-4)
    assert chip.valid.all()


def test_resampling_average_when_downsampling_bilinear_otherwise(mosaics):
    src = source_for(mosaics["EPSG:32630"])
    coarse = src.read(centre_tile(13), size_px=256)  # ~14.6 m ground pixels > 10 m
    fine = src.read(centre_tile(16), size_px=256)  # ~1.8 m
    assert set(coarse.meta["resampling"].values()) == {"average"}
    assert set(fine.meta["resampling"].values()) == {"bilinear"}
    assert choose_resampling(300, 256).name == "average"


def test_nodata_edge_and_outside_mosaic_are_nan_and_invalid(mosaics):
    path = mosaics["EPSG:32630"]
    with rasterio.open(path) as ds:
        west, south, east, north = rasterio.warp.transform_bounds(ds.crs, "EPSG:4326", *ds.bounds)
    # a z15 tile straddling the mosaic's west edge: nodata columns, then outside the file
    tile = mercantile.tile(west + 0.0001, (south + north) / 2, 15)
    chip = source_for(path).read(tile, size_px=256, margin_px=8)
    assert chip.shape == (272, 272)
    assert not chip.valid.all() and chip.valid.any()
    assert np.isnan(chip.data[:, ~chip.valid]).all()
    assert np.isfinite(chip.data[:, chip.valid]).all()
    # everything within NODATA_COLS * 10 m of the file's west edge is invalid
    x_edge = chip.transform.c  # tile west edge lies left of the file edge + nodata strip
    cols_invalid = ~chip.valid.any(axis=0)
    assert cols_invalid[0] and not cols_invalid[-1]
    assert (
        x_edge
        < Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True).transform(
            west + (NODATA_COLS * 10) / (111_320 * np.cos(np.radians(LAT0))), LAT0
        )[0]
    )


def test_tile_outside_every_file_is_all_nan(mosaics):
    chip = source_for(mosaics["EPSG:32630"]).read(mercantile.tile(10.0, 10.0, 14), size_px=64)
    assert np.isnan(chip.data).all() and not chip.valid.any()
    assert chip.valid_fraction == 0.0


def test_margin_grid_matches_core(mosaics):
    src = source_for(mosaics["EPSG:32630"])
    tile = centre_tile(15)
    plain = src.read(tile, size_px=128)
    wide = src.read(tile, size_px=128, margin_px=16)
    assert wide.core().transform.almost_equals(plain.transform)
    np.testing.assert_allclose(wide.core().data, plain.data, atol=5e-3)  # GDAL 0.125 px approx


def test_multi_file_mosaic_and_band_files(mosaics, tmp_path):
    path = mosaics["EPSG:32630"]
    with rasterio.open(path) as ds:
        data, transform, crs = ds.read(), ds.transform, ds.crs.to_string()
    half = data.shape[2] // 2
    east_transform = transform @ rasterio.Affine.translation(half, 0)
    write_cog(tmp_path / "west.tif", data[:, :, :half], transform, crs=crs, nodata=0)
    write_cog(tmp_path / "east.tif", data[:, :, half:], east_transform, crs=crs, nodata=0)
    write_cog(tmp_path / "b04.tif", data[3], transform, crs=crs, nodata=0)
    tile = centre_tile(15)  # the square sits on the seam
    whole = source_for(path).read(tile, size_px=128, bands=("B03", "B04"))
    parts = GeoTiffSource(
        files=[str(tmp_path / "west.tif"), str(tmp_path / "east.tif")],
        bands=S2_BANDS,
        scale=0.0001,
    ).read(tile, size_px=128, bands=("B03", "B04"))
    np.testing.assert_allclose(parts.data, whole.data, atol=1e-3)
    per_band = GeoTiffSource(band_files={"B04": str(tmp_path / "b04.tif")}, scale=0.0001)
    np.testing.assert_allclose(per_band.read(tile, 128, bands=("B04",)).data[0], whole.data[1])


def test_band_names_from_descriptions(mosaics):
    src = GeoTiffSource(files=[str(mosaics["EPSG:4326"])], scale=0.0001)
    assert src.bands == S2_BANDS


def test_open_source_from_settings(mosaics):
    settings = section(
        "source", kind="geotiff", files=[str(mosaics["EPSG:32630"])], bands=list(S2_BANDS)
    )
    src = open_source(settings)
    assert src.name == "geotiff"
    assert np.nanmax(src.read(centre_tile(15), 64, bands=("B04",)).data) == pytest.approx(
        BRIGHT, abs=1e-3
    )


def test_nodata_override_for_files_without_a_nodata_tag(tmp_path):
    data, transform = scene("EPSG:32630", 10.0, 2500.0)
    data[data == 0] = 65535  # an untagged fill value
    path = tmp_path / "untagged.tif"
    write_cog(path, data, transform, crs="EPSG:32630")
    tile = mercantile.Tile(*mercantile.tile(LON0, LAT0, 13)[:2], 13)  # covers the west fill strip
    tagged = source_for(path, nodata=65535).read(tile, 128, bands=("B02", "B04"))
    untagged = source_for(path).read(tile, 128, bands=("B02", "B04"))
    assert tagged.meta["resampling"] == {"untagged.tif": "average"}
    fill = np.isclose(untagged.data[0], 6.5535, atol=1e-4)  # pure fill, read as data
    assert fill.any() and not tagged.valid[fill].any()
    assert np.nanmax(tagged.data) < 1.0


def test_no_crs_is_a_one_line_error_naming_the_file(tmp_path):
    path = tmp_path / "nocrs.tif"
    with rasterio.open(path, "w", driver="GTiff", width=8, height=8, count=1, dtype="uint16") as ds:
        ds.write(np.ones((1, 8, 8), "uint16"))
    with pytest.raises(MinescanError, match="nocrs.tif has no CRS") as err:
        GeoTiffSource(files=[str(path)], bands=["B04"])
    assert "\n" not in str(err.value)


def test_band_mapping_to_missing_file(tmp_path):
    with pytest.raises(
        MinescanError, match="band B04 maps to a file that does not exist: .*b04.tif"
    ):
        GeoTiffSource(band_files={"B04": str(tmp_path / "b04.tif")})


def test_missing_file_band_count_mismatch_and_missing_band(mosaics, tmp_path):
    with pytest.raises(MinescanError, match="source file does not exist"):
        GeoTiffSource(files=[str(tmp_path / "nope.tif")], bands=S2_BANDS)
    with pytest.raises(MinescanError, match="has 12 bands but source.bands lists 3"):
        GeoTiffSource(files=[str(mosaics["EPSG:32630"])], bands=["B02", "B03", "B04"])
    src = GeoTiffSource(band_files={"B04": str(mosaics["EPSG:32630"])})
    with pytest.raises(MinescanError, match="band B08 is not in the geotiff source"):
        src.read(centre_tile(15), 64, bands=("B04", "B08"))
    with pytest.raises(MinescanError, match="no files"):
        GeoTiffSource()


def test_series_not_supported_for_a_single_mosaic(mosaics):
    with pytest.raises(MinescanError, match="not supported for a single mosaic"):
        source_for(mosaics["EPSG:32630"]).series(
            Point(LON0, LAT0).buffer(0.002), "2019-01-01", "2019-12-31"
        )


def test_series_over_dated_files(mosaics, tmp_path):
    path = mosaics["EPSG:32630"]
    with rasterio.open(path) as ds:
        data, transform, crs = ds.read(), ds.transform, ds.crs.to_string()
    later = data.copy()
    later[later > 0] += 1000  # +0.1 reflectance
    write_cog(tmp_path / "d2.tif", later, transform, crs=crs, nodata=0)
    src = GeoTiffSource(
        bands=S2_BANDS,
        scale=0.0001,
        dated_files={
            "2019-06-01": str(path),
            "2019-09-01": str(tmp_path / "d2.tif"),
            "2021-01-01": str(path),
        },
    )
    dates, cube = src.series(
        Point(LON0, LAT0).buffer(0.002), "2019-01-01", "2019-12-31", bands=("B04",)
    )
    assert dates.tolist() == [np.datetime64("2019-06-01"), np.datetime64("2019-09-01")]
    assert cube.data.shape[:2] == (2, 1) and cube.valid.shape == (2, *cube.data.shape[2:])
    ground = cube.transform.a * np.cos(np.radians(LAT0))
    assert ground == pytest.approx(10.0, rel=1e-3)
    np.testing.assert_allclose(cube.data[1] - cube.data[0], 0.1, atol=2e-3)
    with pytest.raises(MinescanError, match="needs a mosaic"):
        src.read(centre_tile(15), 64)


def test_untagged_file_outside_the_file_is_nan_and_invalid(tmp_path):
    """A file without a nodata tag: its pixels are all data, the ground beyond it is not."""
    data, transform = scene("EPSG:32630", 10.0, 2500.0)
    path = tmp_path / "untagged.tif"
    write_cog(path, np.maximum(data, 1), transform, crs="EPSG:32630")
    with rasterio.open(path) as ds:
        assert ds.nodata is None
        west, south, east, north = rasterio.warp.transform_bounds(ds.crs, "EPSG:4326", *ds.bounds)
    tile = mercantile.tile(west + 0.0001, (south + north) / 2, 15)  # straddles the west edge
    chip = source_for(path).read(tile, size_px=128, bands=("B02", "B04"))
    assert chip.valid.any() and not chip.valid.all()
    outside = ~chip.valid
    assert np.isnan(chip.data[:, outside]).all()
    assert outside[:, 0].all() and not outside[:, -1].any()  # west of the file, inside it
    assert np.nanmin(chip.data) > 0


@pytest.fixture(scope="module")
def textured(tmp_path_factory):
    """A 2-band 10 m UTM mosaic of 1,600 px with noise (so blocks do not compress to nothing),
    written with internal overviews (factors 2, 4, 8) and once without."""
    folder = tmp_path_factory.mktemp("textured")
    to = Transformer.from_crs("EPSG:4326", "EPSG:32630", always_xy=True)
    cx, cy = to.transform(LON0, LAT0)
    n = 1600
    transform = from_origin(cx - n * 5.0, cy + n * 5.0, 10.0, 10.0)
    rng = np.random.default_rng(0)
    data = (1000 + rng.integers(0, 2000, size=(2, n, n))).astype("uint16")
    out = {}
    for name, overviews in [("ovr", True), ("flat", False)]:
        path = folder / f"{name}.tif"
        write_cog(path, data, transform, crs="EPSG:32630", nodata=0, overviews=overviews)
        out[name] = path
    return out


def textured_source(path) -> GeoTiffSource:
    return GeoTiffSource(files=[str(path)], bands=["B02", "B04"], scale=0.0001)


def test_coarse_tile_reads_the_matching_overview(textured):
    with rasterio.open(textured["ovr"]) as ds:
        assert ds.overviews(1) == [2, 4, 8]
    tile = centre_tile(13)  # 128 px: ~29 m pixels at this latitude, the 20 m overview (factor 2)
    ovr, flat = textured_source(textured["ovr"]), textured_source(textured["flat"])
    a = ovr.read(tile, size_px=128, margin_px=8, bands=("B02", "B04"))
    b = flat.read(tile, size_px=128, margin_px=8, bands=("B02", "B04"))
    assert ovr.io.snapshot()["reads"] == flat.io.snapshot()["reads"] == 1
    assert ovr.io.bytes <= flat.io.bytes / 3  # a quarter of the pixels, plus block rounding
    both = a.valid & b.valid
    assert both.mean() > 0.95
    # the same mean reflectance either way (noise averages out differently per level)
    assert abs(np.mean(a.data[:, both]) - np.mean(b.data[:, both])) < 2e-3
    # z14 (~9.5 m pixels) reads full resolution: the same bytes from both files
    ovr, flat = textured_source(textured["ovr"]), textured_source(textured["flat"])
    ovr.read(centre_tile(14), size_px=128, bands=("B02",))
    flat.read(centre_tile(14), size_px=128, bands=("B02",))
    assert ovr.io.bytes == pytest.approx(flat.io.bytes, rel=0.05)


def test_neighbouring_tiles_share_one_window_read_and_open_datasets(textured, monkeypatch):
    import minescan.datasets.sources.windows as windows

    src, alone = textured_source(textured["ovr"]), textured_source(textured["ovr"])
    opened = []
    real_open = windows.rasterio.open
    monkeypatch.setattr(
        windows.rasterio, "open", lambda *a, **kw: opened.append(a[0]) or real_open(*a, **kw)
    )
    parent = mercantile.parent(centre_tile(15), zoom=13)
    tiles = list(mercantile.children(parent, zoom=15))  # one cluster of 4 x 4
    together = src.read_tiles(tiles, size_px=64, margin_px=4, bands=("B04",))
    assert src.io.reads == 1
    grouped_bytes = src.io.bytes
    singles = [alone.read(t, size_px=64, margin_px=4, bands=("B04",)) for t in tiles]
    # one window instead of 16, and no block counted twice either way (caches serve repeats)
    assert alone.io.reads == 16 and grouped_bytes == alone.io.bytes
    for a, b in zip(together, singles, strict=True):
        assert a.tile == b.tile and a.transform == b.transform
        np.testing.assert_allclose(a.data, b.data, atol=2e-4)
    # datasets are reused: each source opened the file once (64 px z15 tiles have ~15 m
    # pixels at this latitude: full resolution)
    assert opened.count(str(textured["ovr"])) == 2
    # tiles of another cluster cost one more read, and nothing is reopened
    far = [mercantile.Tile(t.x + 8, t.y, 15) for t in tiles[:2]]
    src.read_tiles(far, size_px=64, bands=("B04",))
    assert src.io.reads == 2 and opened.count(str(textured["ovr"])) == 2


def test_estimate_counts_the_reads_without_reading(textured, monkeypatch):
    from minescan.datasets.sources.extent import Grid

    src = textured_source(textured["ovr"])
    tiles = list(mercantile.children(mercantile.parent(centre_tile(14), zoom=12), zoom=14))
    with monkeypatch.context() as m:  # nor building a chip per tile: a level's plan stays cheap
        m.setattr(Grid, "nan_stack", lambda *a: pytest.fail("estimate built a NaN chip"))
        est = src.estimate(tiles, size_px=128, margin_px=8, bands=("B02", "B04"))
    assert src.io.reads == 0 and src.io.bytes == 0
    src.read_tiles(tiles, size_px=128, margin_px=8, bands=("B02", "B04"))
    assert est == {"reads": src.io.reads, "bytes": src.io.bytes, "requests": 0}


def test_cost_estimate_before_a_sweep(textured):
    """The first level's estimate is exactly what reading it costs; deeper levels are bounds."""
    from minescan.detect.batch import read_tiles
    from minescan.detect.cost import cost_estimate, describe_cost

    src = textured_source(textured["ovr"])
    first = np.array([list(t) for t in mercantile.children(mercantile.parent(centre_tile(13)))])
    bands = ("B02", "B04")
    est = cost_estimate(src, first, [13, 14], 128, 8, "2019", bands, batch_size=32)
    assert src.io.reads == 0  # nothing read to estimate
    z13, z14 = est["levels"]["z13"], est["levels"]["z14"]
    read_tiles(src, first, 128, "2019", bands, 8)
    assert z13 == {"tiles": 4, "exact": True, **src.io.snapshot()}
    assert z14["tiles"] == 16 and not z14["exact"] and z14["bytes"] > z13["bytes"]
    text = describe_cost(est)
    assert "z13: 4 tiles" in text and "z14: at most 16 tiles" in text
    assert cost_estimate(SimulatedLike(), first, [13], 128, 8, "2019", bands, 32) == {}
    # batch by batch, as the sweep reads: 4 batches of one tile cost 4 window reads
    per_tile = cost_estimate(src, first, [13], 128, 8, "2019", bands, batch_size=1)
    assert per_tile["levels"]["z13"]["reads"] == 4


class SimulatedLike:
    """A source with nothing to fetch (no ``estimate``), like the simulator."""

    name = "simulated"
