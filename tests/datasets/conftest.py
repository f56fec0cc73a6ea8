"""A tiny deterministic stand-in source and a cells.parquet fixture for the dataset tests."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import mercantile
import numpy as np
import pytest
from shapely.geometry import box

from minescan.config import section
from minescan.datasets.chip_files import ChipJob, read_cells, write_chips
from minescan.kernel.bands import S2_BANDS
from minescan.kernel.chip import Chip
from minescan.kernel.mercator import tile_transform

#: The test tile (z14, in Ghana) and its neighbours.
TILE = mercantile.Tile(8100, 7900, 14)
EAST = mercantile.Tile(8101, 7900, 14)
CLOUDY = mercantile.Tile(8100, 7902, 14)
SIZE = 64
MIN_VALID = section("datasets").min_valid_fraction
#: The known rectangle mine on TILE, in pixels of a SIZE grid: cols 10-29, rows 20-39 (edges).
MINE_PX = (10, 20, 30, 40)
#: A mine straddling TILE's east edge: cols 56-71 of TILE's grid, rows 4-11.
EDGE_MINE_PX = (56, 4, 72, 12)
#: A 2-px-wide sliver on TILE: cols 40-41, rows 50-59.
SLIVER_PX = (40, 50, 42, 60)


def pixel_box_4326(tile: mercantile.Tile, size: int, px: tuple[int, int, int, int]):
    """The 4326 polygon of pixel edges ``(col0, row0, col1, row1)`` of ``tile``'s grid."""
    t = tile_transform(tile, size)
    x0, y0 = t @ (px[0], px[1])
    x1, y1 = t @ (px[2], px[3])
    (lon0, lat0), (lon1, lat1) = mercantile.lnglat(x0, y0), mercantile.lnglat(x1, y1)
    return box(min(lon0, lon1), min(lat0, lat1), max(lon0, lon1), max(lat0, lat1))


def truth() -> gpd.GeoDataFrame:
    """The stand-in world's mines, EPSG:4326."""
    polys = [pixel_box_4326(TILE, SIZE, p) for p in (MINE_PX, EDGE_MINE_PX, SLIVER_PX)]
    return gpd.GeoDataFrame(
        {"mine_id": ["m1", "m2", "m3"], "start_date": np.datetime64("2015-01-01")},
        geometry=polys,
        crs=4326,
    )


class StandInSource:
    """Deterministic arrays: band i holds 0.02 * (i + 1) plus a ramp; CLOUDY is all cloud."""

    name = "standin"

    def __init__(self, *_, **__):
        self.reads = 0

    @classmethod
    def from_settings(cls, settings):
        return cls()

    def read(self, tile, size_px=256, period="2019", bands=None, margin_px=0) -> Chip:
        self.reads += 1
        bands = tuple(bands or S2_BANDS)
        ramp = np.linspace(0, 0.1, size_px, dtype=np.float32)[None, :] * np.ones((size_px, 1))
        data = np.stack([0.02 * (S2_BANDS.index(b) + 1) + ramp for b in bands]).astype(np.float32)
        data += (tile.x % 7) * 0.001
        valid = np.full((size_px, size_px), tile != CLOUDY)
        return Chip(data, bands, tile_transform(tile, size_px), period, tile, 0, valid)

    def mines_in(self, geometry, date=None) -> gpd.GeoDataFrame:
        mines = truth()
        return mines[mines.intersects(geometry)]

    def components_in(self, geometry, date=None) -> gpd.GeoDataFrame:
        """No parts: the stand-in's mines are whole pits (the truth protocol asks for both)."""
        return gpd.GeoDataFrame({"mine_id": [], "component": []}, geometry=[], crs="EPSG:4326")


@pytest.fixture
def standin(monkeypatch):
    """Route ``--source simulated`` to the stand-in (in this process only)."""
    from minescan.datasets import sources

    monkeypatch.setitem(sources.SOURCES, "simulated", "tests.datasets.conftest:StandInSource")
    return StandInSource


def write_cells(path, tiles, labels=None) -> None:
    """A cells.parquet like ``minescan grid`` writes, for ``tiles``."""
    rows = [
        {
            "name": f"cell_{t.z}_{t.x}_{t.y}",
            "z": t.z,
            "x": t.x,
            "y": t.y,
            "quadkey": mercantile.quadkey(t),
            "label": (labels or {}).get(t, "neg"),
            "overlap": 0.0,
            "pair": "",
        }
        for t in tiles
    ]
    gdf = gpd.GeoDataFrame(rows, geometry=[box(*mercantile.bounds(t)) for t in tiles], crs=4326)
    gdf.to_parquet(path)


def write_standin_chips(root, tiles) -> Path:
    """Chips of the stand-in world for ``tiles`` (TILE and EAST positive) in ``root/chips``."""
    cells = root / "cells.parquet"
    write_cells(cells, tiles, {TILE: "pos", EAST: "pos"})
    job = ChipJob(
        root / "chips", "2019", SIZE, StandInSource, truth(), min_valid_fraction=MIN_VALID
    )
    write_chips(read_cells(cells), job, progress=False)
    return root / "chips"


@pytest.fixture
def cells_file(tmp_path):
    """TILE (pos), its east neighbour (pos), a cloudy tile (neg)."""
    path = tmp_path / "cells.parquet"
    write_cells(path, [TILE, EAST, CLOUDY], {TILE: "pos", EAST: "pos"})
    return path


def name(tile: mercantile.Tile) -> str:
    return f"cell_{tile.z}_{tile.x}_{tile.y}"
