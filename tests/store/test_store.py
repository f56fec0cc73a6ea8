"""What the store must get right, on every backend: identity, onset, confirmation, statistics,
new ground, provenance and restatements, publishing, audit, safety."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from minescan.kernel.errors import MinescanError
from minescan.store import open_store
from minescan.store.audit import verify
from minescan.store.boundaries import import_boundaries
from minescan.store.ingest import ingest_periods, ingest_scan
from minescan.store.monitor import ingest_monitor
from minescan.store.query import diff_runs, mine, mines_as_of, mines_in_bbox, new_ground, runs_table
from minescan.store.runs import publish
from minescan.store.stats import statistics
from tests.store.builders import boundary_file, monitor_run, polygon_file, scan_run, square


@pytest.fixture
def store(store_url):
    with open_store(store_url) as backend:
        yield backend


def mines_by_onset(store):
    return {m["mine_id"]: (m["onset"], m["status"]) for m in mines_as_of(store).to_dict("records")}


def test_the_same_ground_over_years_is_one_mine_with_its_onset(store, tmp_path):
    # mine A seen 2019 and 2020 (grown), B first seen 2020, C seen 2019 and 2021 only
    geometries = [square(0), square(0.005), square(1), square(2), square(2)]
    path = polygon_file(tmp_path, "maps", ["2019", "2020", "2020", "2019", "2021"], geometries)
    ingest_periods(store, path, period_column="year")
    state = mines_by_onset(store)
    assert sorted(state.values()) == [
        ("2019", "confirmed"),
        ("2019", "provisional"),
        ("2020", "provisional"),
    ]
    assert len(state) == 3


def test_merges_and_splits_are_recorded(store, tmp_path):
    merge = polygon_file(
        tmp_path,
        "m",
        ["2019", "2019", "2020"],
        [square(0), square(0.02), shapely.box(0.005, 0, 0.025, 0.01)],
    )
    ingest_periods(store, merge, period_column="year")
    merged = [
        m
        for m in store.select("mines", columns=["mine_id", "status", "merged_into"])
        if m["status"] == "merged"
    ]
    assert merged == [{"mine_id": 2, "status": "merged", "merged_into": 1}]
    assert mines_by_onset(store) == {1: ("2019", "confirmed")}
    split = polygon_file(
        tmp_path, "s", ["2021", "2021"], [square(0, side=0.004), square(0.015, side=0.008)]
    )
    ingest_periods(store, split, period_column="year")
    page = mine(store, 1)
    kinds = sorted((e["kind"], e["mine_id"], e["other_id"]) for e in page["events"])
    assert kinds == [("merge", 2, 1), ("split", 3, 1)]
    assert mine(store, 3)["mine"]["onset"] == "2019"  # first seen as part of mine 1


def test_stats_sum_to_the_total_with_an_unattributed_row_and_split_at_borders(store, tmp_path):
    # a mine straddling the W/E border at lon 0.005, one outside both, one in W
    path = polygon_file(
        tmp_path, "maps", ["2019", "2020", "2020"], [square(0), square(5, 5), square(-0.5)]
    )
    ingest_periods(store, path, period_column="year")
    west, east = shapely.box(-1, -1, 0.005, 1), shapely.box(0.005, -1, 1, 1)
    import_boundaries(
        store, boundary_file(tmp_path, "b", ["W", "E"], [west, east]), "country", "name"
    )
    table = statistics(store)
    total = table[table.kind == "total"].set_index("period")
    countries = table[table.kind == "country"]
    sums = countries.groupby("period")[["area_ha", "new_area_ha"]].sum()
    assert np.allclose(sums["area_ha"], total.loc[sums.index, "area_ha"], rtol=1e-3)
    assert np.allclose(sums["new_area_ha"], total.loc[sums.index, "new_area_ha"], rtol=1e-3)
    row = countries.set_index(["jurisdiction", "period"])
    assert row.loc[("W", "2019"), "area_ha"] == pytest.approx(
        row.loc[("E", "2019"), "area_ha"], rel=1e-3
    )
    assert row.loc[("unattributed", "2020"), "new_area_ha"] > 100
    assert row.loc[("W", "2020"), "new_area_ha"] > 100  # the mine at -0.5
    assert set(table.run_id) == {store.select("runs")[0]["run_id"]}


def test_concessions_and_nogo_zones_split_the_area(store, tmp_path):
    ingest_periods(
        store, polygon_file(tmp_path, "maps", ["2019"], [square(0)]), period_column="year"
    )
    import_boundaries(
        store,
        boundary_file(tmp_path, "c", ["lease"], [shapely.box(-1, -1, 0.005, 1)]),
        "concession",
        "name",
    )
    import_boundaries(
        store,
        boundary_file(tmp_path, "n", ["river"], [shapely.box(0.0075, -1, 1, 1)]),
        "No-go zone",
        "name",
    )
    total = statistics(store, kind="total").iloc[0]
    assert total.concession_ha == pytest.approx(total.area_ha / 2, rel=1e-3)
    assert total.outside_concession_ha == pytest.approx(total.area_ha / 2, rel=1e-3)
    assert total.nogo_ha == pytest.approx(total.area_ha / 4, rel=1e-3)


def test_new_ground_between_periods(store, tmp_path):
    path = polygon_file(
        tmp_path, "maps", ["2019", "2020", "2021"], [square(0), square(0.005), square(3)]
    )
    ingest_periods(store, path, period_column="year")
    new = new_ground(store, "2019", "2021")
    assert sorted(new.mine_id) == [1, 2]
    assert new.set_index("mine_id").loc[1, "new_area_ha"] == pytest.approx(61.5, rel=0.01)
    with pytest.raises(MinescanError, match="no period 2018"):
        new_ground(store, "2018", "2021")


def test_a_restating_run_replaces_its_period_and_diff_runs_shows_the_move(store, tmp_path):
    first = ingest_scan(store, scan_run(tmp_path, "run-a", "2024", [square(0), square(1)]))
    assert statistics(store, kind="total").iloc[0].area_ha == pytest.approx(246, rel=0.01)
    second = ingest_scan(store, scan_run(tmp_path, "run-b", "2024", [square(0)]))
    assert statistics(store, kind="total").iloc[0].area_ha == pytest.approx(123, rel=0.01)
    moved = diff_runs(store, first["run_id"], second["run_id"])
    assert moved.iloc[0].area_ha_change == pytest.approx(-123, rel=0.01)
    assert list(runs_table(store).run_id) == ["run-a", "run-b"]
    with pytest.raises(MinescanError, match="already in the store"):
        ingest_scan(store, tmp_path / "run-a")


def test_a_draft_is_invisible_until_published(store, tmp_path):
    ingest_scan(store, scan_run(tmp_path, "run-a", "2024", [square(0)]))
    ingest_scan(store, scan_run(tmp_path, "run-b", "2025", [square(0), square(1)]), draft=True)
    assert len(mines_as_of(store)) == 1
    assert len(mines_in_bbox(store, (-1, -1, 2, 1))) == 1
    publish(store, "run-b")
    assert len(mines_in_bbox(store, (-1, -1, 2, 1))) == 2
    assert statistics(store, kind="total").period.tolist() == ["2024", "2025"]
    with pytest.raises(MinescanError, match="already published"):
        publish(store, "run-b")


def test_a_failure_mid_ingest_leaves_the_store_as_it_was(store, tmp_path, monkeypatch):
    ingest_scan(store, scan_run(tmp_path, "run-a", "2024", [square(0)]))
    before = {
        name: len(store.select(name))
        for name in ("runs", "mines", "observations", "increments", "audit")
    }

    def killed(*args, **kwargs):
        raise RuntimeError("killed mid-ingest")

    monkeypatch.setattr("minescan.store.ingest.publish", killed)
    with pytest.raises(RuntimeError):
        ingest_scan(store, scan_run(tmp_path, "run-b", "2025", [square(0), square(1)]))
    after = {name: len(store.select(name)) for name in before}
    assert after == before


def test_the_audit_chain_detects_tampering(store, tmp_path):
    ingest_scan(store, scan_run(tmp_path, "run-a", "2024", [square(0)]))
    import_boundaries(
        store, boundary_file(tmp_path, "b", ["W"], [shapely.box(-1, -1, 1, 1)]), "country", "name"
    )
    rows = store.select("audit", order_by=["seq"])
    assert [r["action"] for r in rows] == ["ingest", "publish", "boundaries"]
    assert verify(store) == 3
    store.update("audit", [{"seq": 2, "actor": "mallory"}])
    with pytest.raises(MinescanError, match="broken at row 2"):
        verify(store)


def test_monitor_results_join_the_mine_history(store, tmp_path):
    summary = ingest_monitor(store, monitor_run(tmp_path))
    assert summary["records"] == {"area_profile": 2, "summary": 1, "alert": 1}
    records = store.select("monitor", {"mine_id": "demo"}, columns=["record"])
    assert len(records) == 4
    with pytest.raises(MinescanError, match="already in the store"):
        ingest_monitor(store, tmp_path / "monitor")


def test_bad_inputs_are_one_line_errors(store, tmp_path):
    path = polygon_file(tmp_path, "maps", ["2019", "soon"], [square(0), square(1)])
    with pytest.raises(MinescanError, match="bad period 'soon'"):
        ingest_periods(store, path, period_column="year")
    with pytest.raises(MinescanError, match="no column 'yr'"):
        ingest_periods(store, path, period_column="yr")
    with pytest.raises(MinescanError, match="unknown boundary kind"):
        import_boundaries(store, path, "planet", "year")
    with pytest.raises(MinescanError, match="no published run"):
        statistics(store)
    with pytest.raises(MinescanError, match="not found"):
        ingest_scan(store, tmp_path / "nothing")
    assert store.select("runs") == []
