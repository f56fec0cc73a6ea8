"""benchmarks/bench_real.py: the simulated twin of a patch, tiles, features, and the exit message.

The benchmark's helpers live in the script (no user needs them); these tests
pin what its figures rest on without ``../shared/data``: a twin is the same
place, 48x48 px of about 10 m on the ground, labelled like the real patch,
with the outlines on its own grid.
"""

from __future__ import annotations

import doctest
import importlib.util
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.transform import from_origin
from shapely.geometry import box

from minescan.datasets.patches import Patch, patch_centres
from minescan.simulated import SimulatedSentinel2

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_real.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_real", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def utm_patch(lon: float, lat: float, label: bool = True, size: int = 48) -> Patch:
    """A blank 10 m UTM patch centred on ``lon, lat``."""
    crs = CRS.from_epsg(32700 + int((lon + 180) // 6) + 1)
    x, y = Transformer.from_crs(4326, crs, always_xy=True).transform(lon, lat)
    transform = from_origin(x - size * 5, y + size * 5, 10.0, 10.0)
    data = np.zeros((6, size, size), np.float32)
    bands = ("B02", "B03", "B04", "B08", "B11", "B12")
    attrs = {"file": "p.tif", "date": "2021-01-01/2021-12-31"}
    return Patch(Path("p.tif"), data, bands, transform, crs, label, None, attrs)


def test_doctests(bench):
    assert doctest.testmod(bench).failed == 0


def test_twin_is_the_same_place_at_10_m(bench):
    lon, lat = -56.6486, -7.8423
    mine = gpd.GeoDataFrame(geometry=[box(lon - 0.0005, lat - 0.0005, lon + 0.0005, lat + 0.0005)],
                            crs=4326)  # fmt: skip
    world = SimulatedSentinel2(seed=0, mines=mine)
    patch = utm_patch(lon, lat)
    twin, codes = bench.read_twin(world, patch, lon, lat, mine)
    assert twin.data.shape == (12, 48, 48) and codes.shape == (48, 48)
    assert np.isfinite(twin.data).all()
    ground = twin.res_m * math.cos(math.radians(lat))
    assert abs(ground - 10.0) < 0.2
    centre = patch_centres([twin])[0]
    assert abs(centre[0] - lon) < 1e-4 and abs(centre[1] - lat) < 1e-4
    assert twin.label is True and twin.attrs["date"] == patch.attrs["date"]
    # the ~110 m square outline sits in the middle of the twin, and the simulator dug it
    assert 50 < twin.mine.sum() < 200 and twin.mine[20:28, 20:28].all()
    assert bench.dominant_cover(codes) != "mine"
    assert bench.dominant_cover(codes[20:28, 20:28]) == "mine"


def test_tiles_and_features(bench):
    patch = utm_patch(-60.0, -5.0, size=120)
    tiles = bench.tiles_of(patch, 48)
    assert len(tiles) == 4 and all(t.data.shape == (6, 48, 48) for t in tiles)
    assert tiles[1].transform.c == patch.transform.c + 480
    patch.data[:, :, :] = np.arange(120, dtype=np.float32)[None, None, :] / 1000
    patch.data[0, :5] = np.nan
    values = bench.patch_features(patch)
    assert values.shape == (6 * len(bench.FEATURES),) and np.isfinite(values).all()
    tex1 = bench.FEATURES.index("tex1")
    assert values[tex1] == pytest.approx(0.0005, rel=0.05)  # half the pairs differ by 0.001


def test_realism_tells_apart_and_not(bench):
    rng = np.random.default_rng(0)
    n = 60
    regions = np.repeat([f"r{i}" for i in range(6)], n // 6)
    labels = np.arange(n) % 2 == 0
    real = rng.normal(0, 1, (n, 6 * len(bench.FEATURES)))
    same = bench.realism(real, rng.normal(0, 1, real.shape), regions, {"mine": labels})
    apart = bench.realism(real, real + 3, regions, {})
    assert same["overall"]["logistic"] < 0.7
    assert apart["overall"]["logistic"] > 0.95 and apart["band B02"]["gradient_boosting"] > 0.95
    assert same["kind mine"]["pairs"] == 30 and "overall_classifier" in same["kind mine"]


def test_exits_clearly_without_the_data(bench, tmp_path):
    with pytest.raises(SystemExit, match="real data not found"):
        bench.main(["--data", str(tmp_path)])
