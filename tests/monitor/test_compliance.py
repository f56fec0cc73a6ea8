import numpy as np
import pandas as pd
from affine import Affine

from minescan.monitor.compliance import (
    PIXEL_M2,
    alerts,
    category_map,
    severity,
    violations,
)
from minescan.monitor.nogo import Zones

SHAPE = (6, 6)


def _zones(lease=True, **zones):
    lease_mask = np.zeros(SHAPE, bool)
    lease_mask[:, :3] = True  # the left half is the concession
    masks = {}
    for name, cols in zones.items():
        m = np.zeros(SHAPE, bool)
        m[:, cols] = True
        masks[name.replace("_", " ")] = m
    return Zones(lease_mask if lease else None, masks)


def test_categories_as_seed_004():
    zones = _zones(production_forest=[1], riparian=[2], protected_forest=[0, 4], conservation=[5])
    cat = category_map(zones, SHAPE)
    assert cat[0, 0] == 3  # inside the lease but protected forest
    assert cat[0, 1] == 2  # inside the lease, production forest
    assert cat[0, 2] == 2  # inside the lease, riparian
    assert cat[0, 3] == 3  # outside every lease
    assert cat[0, 4] == 3 and cat[0, 5] == 3
    clean = category_map(_zones(), SHAPE)
    assert (clean[:, :3] == 1).all() and (clean[:, 3:] == 3).all()


def test_production_forest_outside_the_lease_is_category_3():
    cat = category_map(_zones(production_forest=[3]), SHAPE)
    assert cat[0, 3] == 3


def test_no_lease_layer_means_inside():
    assert (category_map(_zones(lease=False), SHAPE) == 1).all()
    assert (category_map(_zones(lease=False, riparian=[0]), SHAPE)[:, 0] == 2).all()


def test_violation_area_is_100_m2_per_pixel():
    first = np.full(SHAPE, -1)
    first[1:3, 2:5] = 0  # 6 pixels: 2 inside the lease (col 2), 4 outside (cols 3-4)
    first[1, 4] = 2
    dates = np.array(["2019-01-01", "2019-02-01", "2019-03-01"], dtype="datetime64[D]")
    conf = np.full(SHAPE, 0.8, np.float32)
    table = violations(
        "m1", first, dates, conf, _zones(riparian=[2]), Affine(10, 0, 0, 0, -10, 60), "EPSG:3857"
    )
    assert set(table["zone"]) == {"riparian", "outside lease"}
    row = table.set_index("zone").loc["outside lease"]
    assert row.area_m2 == 4 * PIXEL_M2 and row.category == 3
    assert row.first_violation_date == pd.Timestamp("2019-01-01")
    assert table.set_index("zone").loc["riparian"].area_m2 == 2 * PIXEL_M2
    assert table.crs.to_epsg() == 4326 and table.geometry.is_valid.all()
    out = alerts(table)
    assert list(out.columns) == [
        "mine_id", "zone", "category", "first_violation_date", "area_m2", "severity", "confidence",
    ]  # fmt: skip
    assert out.iloc[0]["category"] == 3 and out["area_m2"].sum() == 6 * PIXEL_M2


def test_category_1_is_no_violation():
    first = np.zeros(SHAPE, int)
    first[:, 3:] = -1
    table = violations(
        "m", first, np.array(["2019-01-01"], "datetime64[D]"), np.ones(SHAPE), _zones(),
        Affine(10, 0, 0, 0, -10, 60), "EPSG:3857",
    )  # fmt: skip
    assert len(table) == 0 and len(alerts(table)) == 0


def test_severity():
    assert severity(3, 1e6) == "high" and severity(3, 100) == "medium"
    assert severity(2, 1e6) == "medium" and severity(2, 100) == "low"
