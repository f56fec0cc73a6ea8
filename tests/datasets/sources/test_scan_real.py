"""``minescan scan --source geotiff`` end to end: a simulator mosaic of two files read as a user's.

The simulated world around two mines the shipped model finds is written as two
uint16 COG parts (scale 0.0001, offset -0.1, internal overviews); the scan over
them must write its cost estimate before the sweep, count what each level read,
and find the same mines as the simulated run.
"""

from pathlib import Path

import geopandas as gpd
import mercantile
import numpy as np
import pytest
import yaml

from minescan.kernel.bands import S2_BANDS
from minescan.kernel.raster import write_cog
from minescan.simulated import SimulatedSentinel2

REPO = Path(__file__).resolve().parents[3]
DEMO_MODEL = REPO / "models" / "demo"
# ~17 km2 (2 tiles at z13) holding two simulator-drawn mines that the shipped model finds
MINES_BBOX = "bbox:-2.15,6.115,-2.095,6.14"
PARTS = [mercantile.Tile(2023, 1978, 12), mercantile.Tile(2024, 1978, 12)]


@pytest.fixture
def mosaic(tmp_path):
    sim = SimulatedSentinel2(seed=0)
    files = []
    for tile in PARTS:
        chip = sim.read(tile, size_px=1024, period="2024")  # the pixels of z14
        refl = np.where(chip.valid_mask(), chip.data, np.nan)
        stored = np.where(np.isnan(refl), 0, np.clip(np.round((refl + 0.1) / 1e-4), 1, 65535))
        path = tmp_path / f"part_{tile.x}.tif"
        write_cog(path, stored.astype("uint16"), chip.transform, band_names=S2_BANDS, nodata=0)
        files.append(str(path))
    config = tmp_path / "geotiff.yaml"
    source = {"kind": "geotiff", "files": files, "scale": 0.0001, "offset": -0.1}
    # the verifier runs on real sources only: off, so both sources meet the same detector
    config.write_text(yaml.safe_dump({"source": source, "scan": {"verifier": False}}))
    return config


def test_scan_over_a_geotiff_mosaic(run_cli, mosaic, tmp_path):
    if not (DEMO_MODEL / "detector.onnx").is_file():
        pytest.skip(f"shipped model {DEMO_MODEL} is absent")
    common = ["scan", "--aoi", MINES_BBOX, "--model", DEMO_MODEL, "--period", "2024"]
    code, _, err = run_cli(
        *common, "--config", mosaic, "--source", "geotiff", "--out", tmp_path / "g"
    )
    assert code == 0, err
    assert "cost estimate (geotiff), before the sweep:" in err
    estimate = yaml.safe_load((tmp_path / "g" / "cost_estimate.json").read_text())
    report = yaml.safe_load((tmp_path / "g" / "scan_report.json").read_text())
    z13 = report["levels"]["z13"]
    # the first level's estimate is exactly what it read: the 2 tiles lie in 2 clusters (their
    # ancestors 3 zooms up differ), and each tile's margin reaches into the other part
    assert estimate["levels"]["z13"] == {"tiles": z13["tiles"], "exact": True, **z13["io"]}
    assert z13["tiles"] == 2 and z13["io"]["reads"] == 2 * 2 and z13["io"]["bytes"] > 0
    assert report["cost_estimate"] == estimate
    code, _, err = run_cli(*common, "--source", "simulated", "--out", tmp_path / "s")
    assert code == 0, err
    real = gpd.read_parquet(tmp_path / "g" / "candidates.parquet")
    sim = gpd.read_parquet(tmp_path / "s" / "candidates.parquet")
    assert len(sim) >= 2
    assert real.intersects(sim.union_all()).all() and sim.intersects(real.union_all()).all()
