"""The dashboards' questions the store does not answer as they are asked.

Each is built on the store's public functions (:mod:`minescan.store.query`,
:mod:`minescan.store.stats`, :mod:`minescan.store.runs`) and its backend
primitives: statistics of one jurisdiction over a range of periods with its
compliance share, search, and a mine's page with its name, alerts and verdicts.
"""

from __future__ import annotations

import pandas as pd
import shapely

from minescan.kernel.errors import MinescanError
from minescan.kernel.period import Period
from minescan.store.backend import Backend
from minescan.store.boundaries import KINDS
from minescan.store.query import mine
from minescan.store.reviews import alerts, mine_names
from minescan.store.runs import in_time_order
from minescan.store.stats import TOTAL, statistics

SEARCH_LIMIT = 20


def jurisdictions(backend: Backend) -> list[dict]:
    """Every boundary layer's jurisdictions: ``[{kind, names}]`` in the store's kind order."""
    by_kind: dict[str, set[str]] = {}
    for row in backend.select("boundaries", columns=["kind", "name"]):
        by_kind.setdefault(row["kind"], set()).add(row["name"])
    return [{"kind": k, "names": sorted(by_kind[k])} for k in KINDS if k in by_kind]


def jurisdiction_stats(
    backend: Backend,
    kind: str = TOTAL,
    name: str | None = None,
    start: str | None = None,
    end: str | None = None,
) -> pd.DataFrame:
    """The statistics rows of one jurisdiction (all of ``total``), periods ``start``..``end``.

    The period bounds are inclusive and compare by time, so the figures
    follow the dashboard's date filter.
    """
    table = statistics(backend, kind=kind)
    if kind != TOTAL:
        if name is None:
            raise MinescanError(f"give the jurisdiction of layer {kind}")
        table = table[table["jurisdiction"] == name]
        if table.empty:
            raise MinescanError(f"layer {kind} has no jurisdiction {name!r}")
    ends = table["period"].map(lambda p: Period.parse(p).end)
    if start is not None:
        table = table[ends > Period.parse(start).start]
        ends = ends[table.index]
    if end is not None:
        table = table[ends <= Period.parse(end).end]
    return table.reset_index(drop=True)


def compliance_share(row: dict) -> dict:
    """How one period's cumulative mined area splits into compliance categories.

    Category 1: inside a concession and outside no-go zones; category 3:
    outside every concession or inside a no-go zone. Category 2 (production
    forest, riparian land) needs the monitor's zones and is on each mine's page.

    Examples
    --------
    >>> compliance_share({"area_ha": 10.0, "concession_ha": 6.0, "nogo_ha": 1.0})
    {'category_1': 5.0, 'category_3': 5.0}
    """
    inside = max(row["concession_ha"] - row["nogo_ha"], 0.0)
    return {"category_1": round(inside, 6), "category_3": round(row["area_ha"] - inside, 6)}


def search(backend: Backend, text: str) -> list[dict]:
    """Mines whose id is ``text`` or whose name contains it (case-insensitive)."""
    text = text.strip()
    found = []
    if text.isdigit():
        rows = backend.select("mines", {"mine_id": int(text)}, columns=["mine_id", "status"])
        found += [{"mine_id": r["mine_id"], "status": r["status"]} for r in rows]
    names = mine_names(backend)
    if text:
        needle = text.casefold()
        found += [
            {"mine_id": m, "name": n} for m, n in sorted(names.items()) if needle in n.casefold()
        ]
    for hit in found:
        hit["name"] = names.get(hit["mine_id"])
    unique = {hit["mine_id"]: hit for hit in found}
    return list(unique.values())[:SEARCH_LIMIT]


def mine_page(backend: Backend, mine_id: int) -> dict:
    """The store's page of one mine with its name, alerts (with verdicts) and area profile."""
    page = mine(backend, mine_id)
    page["name"] = mine_names(backend, [mine_id]).get(int(mine_id))
    records = page.pop("monitor")
    page["alerts"] = alerts(backend, str(mine_id))
    page["violations"] = [r["payload"] for r in records if r["record"] == "violation"]
    page["area_profile"] = [r["payload"] for r in records if r["record"] == "area_profile"]
    page["periods"] = _observed_periods(page["observations"])
    wkt = page["mine"]["geometry"]
    page["outline"] = shapely.geometry.mapping(shapely.from_wkt(wkt)) if wkt else None
    return page


def _observed_periods(observations: list[dict]) -> list[dict]:
    """The mine's observed area per period, in time order (the timeline chart)."""
    area: dict[str, float] = {}
    for row in observations:
        area[row["period"]] = area.get(row["period"], 0.0) + (row["area_ha"] or 0.0)
    return [{"period": p, "area_ha": round(area[p], 6)} for p in in_time_order(area)]
