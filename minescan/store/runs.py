"""Runs, what the store currently says, and publishing.

A run restates its ``source`` (a scan's AOI, a yearly map's name) for the
periods it covers. What readers see, the **current view**, is for every
``(source, period)`` the observations of the newest published run (newest by
ingest order, ``seq``). The view "as of" a run R keeps only runs up to R, which
is how ``diff-runs`` shows what an earlier run said before it was restated.

Publishing a run is one transaction: it marks the run published, refreshes
the increments ("new ground") it changes and every mine it touches, and
drops the cached statistics it makes stale. Readers see the store before or
after it, never half a run. Unpublishing is the same switch the other way.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import numpy as np
import shapely

from minescan.kernel.errors import MinescanError
from minescan.kernel.period import Period
from minescan.store import audit
from minescan.store.areas import area_ha, increments
from minescan.store.backend import Backend, Row
from minescan.store.identity import DRAFT, MERGED, status_of

#: What identifies an observation's place in the view: ``(run_id, period)``.
Pair = tuple[str, str]
OBS_COLUMNS = ["obs_id", "mine_id", "run_id", "period", "period_start", "period_end"]


def run_row(backend: Backend, run_id: str) -> Row:
    """The run ``run_id``, or a one-line error naming the runs there are."""
    rows = backend.select(
        "runs", {"run_id": run_id}, columns=["run_id", "seq", "published", "kind", "source"]
    )
    if not rows:
        known = [r["run_id"] for r in backend.select("runs", columns=["run_id"], order_by=["seq"])]
        hint = f"; the store has {', '.join(known[-5:])}" if known else "; the store has no runs"
        raise MinescanError(f"no run {run_id!r} in the store{hint}")
    return rows[0]


def current_pairs(backend: Backend, as_of: Row | None = None) -> set[Pair]:
    """The ``(run_id, period)`` pairs of the current view, or of the view as of run ``as_of``.

    As of a run R: the published runs up to R, and R itself even when it is a
    draft, so ``diff-runs`` can show what publishing a draft would change.
    """
    runs = backend.select("runs", columns=["run_id", "seq", "source", "published"])
    runs = {
        r["run_id"]: r
        for r in runs
        if (r["published"] and (as_of is None or r["seq"] <= as_of["seq"]))
        or (as_of is not None and r["run_id"] == as_of["run_id"])
    }
    if not runs:
        return set()
    covered = backend.select("run_periods", {"run_id": list(runs)}, columns=["run_id", "period"])
    newest: dict[tuple[str, str], Row] = {}
    for row in covered:
        run = runs[row["run_id"]]
        key = (run["source"], row["period"])
        if key not in newest or newest[key]["seq"] < run["seq"]:
            newest[key] = run
    return {(run["run_id"], period) for (_, period), run in newest.items()}


def current_observations(
    backend: Backend, pairs: set[Pair], bbox=None, geometry: bool = True
) -> list[Row]:
    """The observations in the view ``pairs``, ordered as increments are cut (oldest first)."""
    if not pairs:
        return []
    columns = OBS_COLUMNS + (["area_ha", "geometry"] if geometry else ["area_ha"])
    rows = backend.select(
        "observations", {"run_id": sorted({r for r, _ in pairs})}, bbox=bbox, columns=columns
    )
    return sorted((r for r in rows if (r["run_id"], r["period"]) in pairs), key=order_key)


@functools.lru_cache(maxsize=4096)
def stored_period(label: str) -> Period:
    """A stored period label parsed once: a rebuild reads the same few labels 100,000 times."""
    return Period.parse(label)


def in_time_order(labels: Iterable[str]) -> list[str]:
    """Period labels by start, then by end (a year before its quarters' successors).

    Examples
    --------
    >>> in_time_order(["2020", "2019Q4", "2019"])
    ['2019', '2019Q4', '2020']
    """
    return sorted(labels, key=lambda p: (stored_period(p).start, stored_period(p).end))


def order_key(row: Row) -> tuple:
    """Older periods first, then shorter ones, then ingest order: who owns shared ground."""
    return row["period_start"], row["period_end"], row["obs_id"]


def publish(backend: Backend, run_id: str, actor: str | None = None) -> dict:
    """Publish ``run_id`` atomically (see the module docstring); what changed. Audited."""
    return _switch(backend, run_id, published=True, actor=actor)


def unpublish(backend: Backend, run_id: str, actor: str | None = None) -> dict:
    """Withdraw published run ``run_id`` atomically, the mirror of :func:`publish`. Audited.

    The run leaves the view and the periods it restated fall back to the
    newest earlier published run; readers see it all or none.
    """
    return _switch(backend, run_id, published=False, actor=actor)


def _switch(backend: Backend, run_id: str, published: bool, actor: str | None) -> dict:
    """Move ``run_id`` into (or out of) the view in one transaction.

    Refreshes the increments the move changes and every mine it touches, and
    drops the cached statistics of every view that includes the run.
    """
    with backend.transaction():
        run = run_row(backend, run_id)
        if bool(run["published"]) == published:
            state = "already published" if published else "not published"
            raise MinescanError(f"run {run_id} is {state}")
        before = current_pairs(backend)
        backend.update(
            "runs",
            [
                {
                    "run_id": run_id,
                    "published": int(published),
                    "published_at": audit.now() if published else None,
                }
            ],
        )
        after = current_pairs(backend)
        mines = refresh_increments(backend, before ^ after, after)
        rebuild_mines(backend, mines, after)
        stale = [
            r["run_id"]
            for r in backend.select("runs", columns=["run_id", "seq"])
            if r["seq"] >= run["seq"]
        ]
        backend.delete("stats", {"as_of_run": stale})
        action = "publish" if published else "unpublish"
        audit.record(backend, action, {"run_id": run_id, "mines": len(mines)}, actor)
    return {"run_id": run_id, "mines_updated": len(mines)}


def refresh_increments(backend: Backend, changed: set[Pair], pairs: set[Pair]) -> set[int]:
    """Recut the increments that ``changed`` pairs entering or leaving the view alter.

    Increments of observations that left the view are deleted; those of the
    ones that entered, and of every later observation overlapping either, are
    cut again. Returns the ids of the mines whose observations changed.
    """
    if not changed:
        return set()
    moved = [
        r
        for r in backend.select("observations", {"run_id": sorted({r for r, _ in changed})})
        if (r["run_id"], r["period"]) in changed
    ]
    if not moved:
        return set()
    moved_ids = {r["obs_id"] for r in moved}
    backend.delete("increments", {"obs_id": sorted(moved_ids)})
    bounds = shapely.total_bounds(np.array([r["geometry"] for r in moved], dtype=object))
    view = current_observations(backend, pairs, bbox=tuple(bounds))
    targets = _affected(view, moved)
    backend.delete("increments", {"obs_id": [view[i]["obs_id"] for i in targets]})
    parts = increments([r["geometry"] for r in view], targets)
    cut = [parts[i] for i in targets]
    areas = area_ha(cut)
    rows = []
    for i, geometry, area in zip(targets, cut, areas, strict=True):
        rows.append(
            {**{k: view[i][k] for k in OBS_COLUMNS}, "area_ha": float(area), "geometry": geometry}
        )
    backend.insert("increments", [r for r in rows if not r["geometry"].is_empty])
    return {r["mine_id"] for r in moved} | {r["mine_id"] for r in rows}


def _affected(view: list[Row], moved: list[Row]) -> list[int]:
    """Indices in ``view`` whose increments ``moved`` observations change."""
    moved_ids = {r["obs_id"] for r in moved}
    index = {r["obs_id"]: i for i, r in enumerate(view)}
    targets = {index[i] for i in moved_ids if i in index}
    geometries = np.array([r["geometry"] for r in view], dtype=object)
    moved_geoms = np.array([r["geometry"] for r in moved], dtype=object)
    if len(geometries):
        hit_moved, hit_view = shapely.STRtree(geometries).query(moved_geoms, predicate="intersects")
        for m, v in zip(hit_moved.tolist(), hit_view.tolist(), strict=True):
            if order_key(view[v]) > order_key(moved[m]):
                targets.add(v)
    return sorted(targets)


def rebuild_mines(backend: Backend, mine_ids: Iterable[int], pairs: set[Pair]) -> None:
    """Recompute each mine's onset, last period, status, footprint and area from the view."""
    ids = sorted(set(mine_ids))
    if not ids:
        return
    mines = {
        m["mine_id"]: m
        for m in backend.select("mines", {"mine_id": ids}, columns=["mine_id", "status"])
    }
    observations: dict[int, list[Row]] = {}
    for row in backend.select("observations", {"mine_id": ids}):
        observations.setdefault(row["mine_id"], []).append(row)
    parents = {
        e["mine_id"]: e["other_id"]
        for e in backend.select("events", {"kind": "split", "mine_id": ids})
    }
    onsets = _onsets_of(backend, set(parents.values()))
    seq = {r["run_id"]: r["seq"] for r in backend.select("runs", columns=["run_id", "seq"])}
    updates = []
    for mine_id in ids:
        if mines.get(mine_id, {}).get("status") == MERGED:
            continue
        rows = observations.get(mine_id, [])
        seen = [r for r in rows if (r["run_id"], r["period"]) in pairs]
        updates.append(_state(mine_id, seen, rows, onsets.get(parents.get(mine_id)), seq))
    updates = [u for u in updates if u is not None]
    measured = [u for u in updates if "area_ha" in u]
    for update, area in zip(measured, area_ha([u["geometry"] for u in measured]), strict=True):
        update["area_ha"] = round(float(area), 6)
    backend.update("mines", updates)


def _onsets_of(backend: Backend, ids: set[int]) -> dict[int, tuple[str, str]]:
    rows = backend.select(
        "mines", {"mine_id": sorted(ids)}, columns=["mine_id", "onset", "onset_start"]
    )
    return {r["mine_id"]: (r["onset_start"], r["onset"]) for r in rows if r["onset"]}


def _state(mine_id: int, seen: list[Row], every: list[Row], parent_onset, seq) -> Row | None:
    """One mine's row from its observations in the view (``seen``) and all of them."""
    if not seen:
        if not every:
            return None
        footprint = shapely.union_all([r["geometry"] for r in every])
        return {"mine_id": mine_id, "status": DRAFT, "geometry": footprint, "periods": 0}
    periods = {r["period"]: stored_period(r["period"]) for r in seen}
    first = min(periods.values(), key=lambda p: (p.start, p.end))
    onset = (str(first.start), first.label)
    if parent_onset is not None and parent_onset < onset:
        onset = parent_onset  # a split-off part was first seen as part of its parent
    footprint = shapely.union_all([r["geometry"] for r in seen])
    return {
        "mine_id": mine_id,
        "onset": onset[1],
        "onset_start": onset[0],
        "last_period": max(periods.values(), key=lambda p: (p.end, p.start)).label,
        "periods": len(periods),
        "status": status_of(list(periods.values())),
        "area_ha": None,  # measured for all mines at once by the caller
        "run_id": max((r["run_id"] for r in seen), key=lambda r: seq.get(r, 0)),
        "geometry": footprint,
    }
