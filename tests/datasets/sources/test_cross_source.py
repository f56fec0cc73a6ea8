"""Cross-source checks: simulator pixels written to COG and read back through geotiff and stac.

The simulator is the reference: a chip it writes to disk (as a user's mosaic,
or as the assets of a STAC item) and reads back through a real source must
equal the simulator's own chip, within the storage quantisation.
"""

from __future__ import annotations

import mercantile
import numpy as np
import pytest
import rasterio
import yaml

from minescan.datasets.sources.fetch import RetryPolicy
from minescan.datasets.sources.geotiff import GeoTiffSource
from minescan.datasets.sources.stac import StacSource
from minescan.kernel.bands import S2_BANDS
from minescan.kernel.raster import write_cog
from minescan.simulated import SimulatedSentinel2
from tests.datasets.conftest import write_cells
from tests.datasets.sources.stac_server import StacServer, write_scene_item

TILE = mercantile.Tile(8100, 7900, 14)  # Ghana
QUANTUM = 1e-4  # uint16 storage at scale 0.0001


@pytest.fixture(scope="module")
def sim():
    return SimulatedSentinel2(seed=3)


def masked(chip) -> np.ndarray:
    return np.where(chip.valid_mask(), chip.data, np.nan)


def write_uint16_mosaic(path, chip) -> None:
    """The chip as a user would store it: uint16 reflectance x 10000, nodata 0."""
    data = masked(chip)
    stored = np.where(np.isnan(data), 0, np.clip(np.round(data / QUANTUM), 1, 65535)).astype(
        "uint16"
    )
    write_cog(path, stored, chip.transform, band_names=chip.bands, nodata=0)


def test_geotiff_reads_the_simulator_cog_back(sim, tmp_path):
    chip = sim.read(TILE, size_px=128, period="2019")
    write_cog(
        tmp_path / "sim.tif", masked(chip), chip.transform, band_names=S2_BANDS, nodata=float("nan")
    )
    got = GeoTiffSource(files=[str(tmp_path / "sim.tif")], scale=1.0).read(
        TILE, size_px=128, period="2019"
    )
    np.testing.assert_array_equal(got.valid, chip.valid_mask())
    np.testing.assert_allclose(got.data, masked(chip), atol=1e-6)


def test_geotiff_uint16_mosaic_of_a_parent_tile_gives_each_child_chip(sim, tmp_path):
    parent = mercantile.parent(TILE)  # z13 at 256 px has the pixels of z14 at 128 px
    write_uint16_mosaic(tmp_path / "mosaic.tif", sim.read(parent, size_px=256, period="2019"))
    source = GeoTiffSource(files=[str(tmp_path / "mosaic.tif")], scale=QUANTUM)
    for child in mercantile.children(parent):
        own = sim.read(child, size_px=128, period="2019")
        got = source.read(child, size_px=128, period="2019")
        assert got.meta["resampling"] == {"mosaic.tif": "bilinear"}  # same pixel size
        both = got.valid & own.valid_mask()
        assert both.mean() > 0.9
        np.testing.assert_allclose(got.data[:, both], own.data[:, both], atol=QUANTUM / 2 + 1e-6)


def test_geotiff_coarser_zoom_is_the_area_average(sim, tmp_path):
    fine = sim.read(TILE, size_px=256, period="2019")
    write_uint16_mosaic(tmp_path / "fine.tif", fine)
    got = GeoTiffSource(files=[str(tmp_path / "fine.tif")], scale=QUANTUM).read(TILE, size_px=64)
    own = sim.read(TILE, size_px=64, period="2019")
    assert got.meta["resampling"] == {"fine.tif": "average"}
    both = got.valid & own.valid_mask()
    diff = np.abs(got.data[:, both] - own.data[:, both])
    assert np.median(diff) < 0.002 and np.percentile(diff, 99) < 0.02


@pytest.fixture(scope="module")
def stac_world(sim, tmp_path_factory):
    """Two simulator chips of TILE as STAC items (SCL 9 where the simulator says invalid)."""
    folder = tmp_path_factory.mktemp("stac_sim")
    chip = sim.read(TILE, size_px=128, period="2019")
    scl = np.where(chip.valid_mask(), 4, 9).astype("uint8")
    items = [
        write_scene_item(
            folder, "S1", "2019-04-01", masked(chip), scl, chip.transform, "EPSG:3857", 10.0
        ),
        write_scene_item(
            folder, "S2", "2019-08-01", masked(chip), scl, chip.transform, "EPSG:3857", 10.0
        ),
    ]
    with StacServer(folder, items) as server:
        yield server, chip


def test_stac_round_trip_equals_the_simulator_chip(stac_world, tmp_path):
    server, chip = stac_world
    source = StacSource(server.url, cache_dir=tmp_path, policy=RetryPolicy(retries=0))
    got = source.read(TILE, size_px=128, period="2019")
    assert got.meta["items"] == 2
    np.testing.assert_array_equal(got.valid, chip.valid_mask())
    np.testing.assert_allclose(got.data, masked(chip), atol=QUANTUM / 2 + 1e-6)
    cached = source.read(TILE, size_px=128, period="2019")
    np.testing.assert_array_equal(cached.data, got.data)


def test_datasets_chips_from_a_geotiff_mosaic_equal_simulator_chips(sim, tmp_path, run_cli):
    """minescan datasets chips --source geotiff --config that.yaml == --source simulated."""
    parent = mercantile.parent(TILE, zoom=12)  # z12 at 256 px has the pixels of z14 at 64 px
    mosaic = tmp_path / "mosaic_2019.tif"
    write_uint16_mosaic(mosaic, sim.read(parent, size_px=256, period="2019"))
    config = tmp_path / "that.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "source": {
                    "kind": "geotiff",
                    "seed": 3,
                    "files": [str(mosaic)],
                    "bands": list(S2_BANDS),
                    "scale": QUANTUM,
                }
            }
        )
    )
    cells = tmp_path / "cells.parquet"
    tiles = [TILE, mercantile.Tile(TILE.x + 1, TILE.y, 14), mercantile.Tile(TILE.x, TILE.y + 1, 14)]
    write_cells(cells, tiles)
    common = [
        "datasets",
        "chips",
        "--cells",
        cells,
        "--config",
        config,
        "--period",
        "2019",
        "--size",
        64,
        "--quiet",
    ]
    code, _, err = run_cli(*common, "--source", "geotiff", "--out", tmp_path / "real")
    assert code == 0, err
    code, _, err = run_cli(*common, "--source", "simulated", "--out", tmp_path / "sim")
    assert code == 0, err
    for tile in tiles:
        name = f"cell_{tile.z}_{tile.x}_{tile.y}.tif"
        with (
            rasterio.open(tmp_path / "real" / "z14" / name) as real,
            rasterio.open(tmp_path / "sim" / "z14" / name) as ref,
        ):
            assert real.crs == ref.crs and real.transform.almost_equals(ref.transform)
            assert real.descriptions[:12] == ref.descriptions[:12] == S2_BANDS
            assert real.tags()["source"] == "geotiff" and ref.tags()["source"] == "simulated"
            a, b = real.read()[:12], ref.read()[:12]
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
        np.testing.assert_allclose(a, b, atol=QUANTUM / 2 + 1e-6, equal_nan=True)
