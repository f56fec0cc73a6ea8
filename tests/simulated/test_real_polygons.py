"""The simulated world dressed with real mine outlines from ../shared/data (skipped without it)."""

from __future__ import annotations

import mercantile
import numpy as np
import pytest
import shapely

from minescan.kernel.io import read_vector
from minescan.simulated import SimulatedSentinel2

pytestmark = pytest.mark.needs_shared


def _tile_over(geometry, zoom=14):
    point = geometry.representative_point()
    return mercantile.tile(point.x, point.y, zoom)


def test_yearly_amw_polygons_are_dug_from_their_year(shared_data):
    frame = read_vector(shared_data / "polygons" / "amw_ghana_ashanti_2017_2020.gpkg")
    source = SimulatedSentinel2(seed=0, mines=frame)
    late = frame[frame.year.dt.year == 2020].geometry
    early = frame[frame.year.dt.year == 2017].geometry.union_all()
    fresh = late[~late.intersects(early.buffer(0.01))]  # 2020 parts ~1 km from any 2017 part
    assert len(fresh) > 0
    site = fresh.iloc[int(np.argmax(fresh.area.to_numpy()))]
    tile = _tile_over(site)
    assert not source.mine_mask(tile, period="2018").any()
    assert source.mine_mask(tile, period="2021").sum() > 10
    dug_2018 = source.mines_in(site, date="2018-07-01")
    dug_2021 = source.mines_in(site, date="2021-07-01")
    assert len(dug_2018) == 0 and len(dug_2021) >= 1
    assert dug_2021.start_date.min() == np.datetime64("2020-01-01")


def test_the_45k_polygon_world_reads_chips_over_its_mines(shared_data):
    frame = read_vector(shared_data / "polygons" / "global_benchmark_45k.gpkg")
    source = SimulatedSentinel2(seed=0, mines=frame)
    for geometry in frame.geometry.iloc[[0, 1000, 30000]]:
        tile = _tile_over(geometry)
        mask = source.mine_mask(tile)
        bounds = mercantile.bounds(tile)
        inside = geometry.intersection(shapely.box(*bounds)).area / shapely.box(*bounds).area
        assert mask.mean() == pytest.approx(inside, abs=0.05)
        assert len(source.mines_in(geometry.buffer(-1e-4))) >= 1
