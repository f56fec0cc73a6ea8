"""Mined area per jurisdiction and period, with provenance, computed once and then served.

For every boundary layer (kind), jurisdiction and period of a view:

- ``new_area_ha``: the ground that period adds (the increments of its
  observations, :mod:`minescan.store.runs`), split exactly at the borders;
- ``area_ha``: the cumulative mined area up to and including the period;
- ``concession_ha`` / ``outside_concession_ha`` / ``nogo_ha``: how much of
  ``area_ha`` lies inside and outside concessions and inside no-go zones;
- ``run_id``: the run that supplied the period (the newest, when several
  sources cover it); ``as_of_run``: the newest run the view includes.

Areas are EPSG:6933 hectares. Each layer is a partition
(:func:`minescan.store.boundaries.partition`) and an ``unattributed`` row takes
what falls outside it, so a layer's rows sum to the ``total`` row. Figures are
cached in the ``stats`` table per view; publishing or importing boundaries
drops the stale ones.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd
import shapely

from minescan.kernel.errors import MinescanError
from minescan.kernel.period import Period
from minescan.store.areas import M2_PER_HA, increments, to_equal_area
from minescan.store.backend import Backend, Row
from minescan.store.boundaries import kinds_in, layer_union, partition
from minescan.store.runs import current_observations, current_pairs, in_time_order, run_row

UNATTRIBUTED, TOTAL = "unattributed", "total"
COLUMNS = [
    "kind",
    "jurisdiction",
    "period",
    "area_ha",
    "new_area_ha",
    "concession_ha",
    "outside_concession_ha",
    "nogo_ha",
    "run_id",
    "as_of_run",
]
#: What the ``stats`` table keeps per row; the other two columns are derived when read.
STORED = [c for c in COLUMNS if c not in ("outside_concession_ha", "as_of_run")]


def latest_run(backend: Backend) -> Row:
    """The newest published run: the one the current view is "as of"."""
    runs = backend.select("runs", {"published": 1}, columns=["run_id", "seq"], order_by=["seq"])
    if not runs:
        raise MinescanError("the store has no published run yet; ingest one first")
    return runs[-1]


def statistics(
    backend: Backend, kind: str | None = None, period: str | None = None, as_of: str | None = None
) -> pd.DataFrame:
    """The statistics table (columns :data:`COLUMNS`) of the current view or as of run ``as_of``.

    Served from the cache when there; computed and cached in one transaction otherwise.
    """
    view = run_row(backend, as_of) if as_of else latest_run(backend)
    with backend.transaction():
        rows = backend.select("stats", {"as_of_run": view["run_id"]}, columns=STORED)
        if not rows:
            rows = compute(backend, view)
            backend.insert("stats", [{**r, "as_of_run": view["run_id"]} for r in rows])
    table = pd.DataFrame(rows, columns=STORED)
    table["as_of_run"] = view["run_id"]
    table["outside_concession_ha"] = (table["area_ha"] - table["concession_ha"]).round(6)
    if kind is not None:
        table = table[table["kind"] == kind]
    if period is not None:
        label = Period.parse(period).label
        if label not in set(table["period"]):
            raise MinescanError(
                f"the store has no period {label}; it has {', '.join(pd.unique(table['period']))}"
            )
        table = table[table["period"] == label]
    return table[COLUMNS].reset_index(drop=True)


def compute(backend: Backend, view: Row) -> list[Row]:
    """Every figure of the view as of run ``view`` (see the module docstring)."""
    current = view["run_id"] == latest_run(backend)["run_id"]
    pairs = current_pairs(backend, None if current else view)
    periods = _periods(backend, pairs)
    pieces = _pieces(backend, pairs, current)
    projected = to_equal_area([p["geometry"] for p in pieces])
    period_of = np.array([p["period"] for p in pieces], dtype=object)
    layers = {
        "concession": layer_union(backend, "concession"),
        "nogo": layer_union(backend, "nogo"),
    }
    everything = _hectares(["all"] * len(projected), projected, period_of, layers)
    rows = _cumulated(TOTAL, ["all"], everything, periods)
    for kind in kinds_in(backend):
        names, shapes = partition(backend, kind)
        new = _split(names, shapes, projected, period_of, layers, everything)
        rows += _cumulated(kind, [*names, UNATTRIBUTED], new, periods)
    return rows


def _periods(backend: Backend, pairs) -> dict[str, str]:
    """The view's periods in time order, each with the run that supplied it."""
    seq = {r["run_id"]: r["seq"] for r in backend.select("runs", columns=["run_id", "seq"])}
    newest: dict[str, str] = {}
    for run_id, label in pairs:
        if label not in newest or seq[newest[label]] < seq[run_id]:
            newest[label] = run_id
    return {label: newest[label] for label in in_time_order(newest)}


def _pieces(backend: Backend, pairs, current: bool) -> list[Row]:
    """The increments of the view: stored for the current one, cut afresh for an older one."""
    if current:
        runs = sorted({r for r, _ in pairs})
        rows = backend.select(
            "increments", {"run_id": runs}, columns=["run_id", "period", "geometry"]
        )
        return [r for r in rows if (r["run_id"], r["period"]) in pairs]
    view = current_observations(backend, pairs)
    parts = increments([r["geometry"] for r in view])
    return [
        {"period": r["period"], "geometry": g}
        for r, g in zip(view, parts, strict=True)
        if not g.is_empty
    ]


def _split(names, shapes, pieces, period_of, layers, everything) -> dict:
    """New hectares per (jurisdiction, period): pieces cut at the borders, the rest unattributed."""
    if len(pieces):
        hit_piece, hit_shape = shapely.STRtree(shapes).query(pieces, predicate="intersects")
    else:
        hit_piece = hit_shape = np.zeros(0, int)
    parts = shapely.intersection(pieces[hit_piece], shapes[hit_shape])
    new = _hectares([names[j] for j in hit_shape], parts, period_of[hit_piece], layers)
    inside = defaultdict(lambda: np.zeros(3))
    for (_, label), value in new.items():
        inside[label] += value
    for (_, label), value in everything.items():
        new[(UNATTRIBUTED, label)] = np.maximum(value - inside[label], 0)
    return new


def _cumulated(kind: str, names: list[str], new: dict, periods: dict[str, str]) -> list[Row]:
    """One layer's rows: each jurisdiction's new hectares per period and their running sum."""
    rows = []
    for name in names:
        total = np.zeros(3)
        for label, run_id in periods.items():
            added = new.get((name, label), np.zeros(3))
            total = total + added
            rows.append(
                {
                    "kind": kind,
                    "jurisdiction": name,
                    "period": label,
                    "area_ha": round(float(total[0]), 6),
                    "new_area_ha": round(float(added[0]), 6),
                    "concession_ha": round(float(total[1]), 6),
                    "nogo_ha": round(float(total[2]), 6),
                    "run_id": run_id,
                }
            )
    return rows


def _hectares(names, geometries, period_of, layers) -> dict:
    """Hectares (all, in concessions, in no-go zones) of each geometry, summed per (name, period)."""
    geometries = np.asarray(geometries, dtype=object)
    columns = [shapely.area(geometries)]
    for layer in (layers["concession"], layers["nogo"]):
        if layer is None or len(geometries) == 0:
            columns.append(np.zeros(len(geometries)))
        else:
            shapely.prepare(layer)
            columns.append(shapely.area(shapely.intersection(geometries, layer)))
    values = np.column_stack(columns) / M2_PER_HA if len(geometries) else np.zeros((0, 3))
    into = defaultdict(lambda: np.zeros(3))
    for name, label, value in zip(names, period_of, values, strict=True):
        into[(name, label)] += value
    return into
