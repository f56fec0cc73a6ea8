"""The published mines as the map reads them: one in-memory index per state of the store.

A map request asks "which mines, in this box, for this period and layer":
with 200,000 mines that must answer in milliseconds, so the server keeps each
published mine's id, onset, status, area and bounding box in numpy arrays
(:class:`MineIndex`), rebuilt only when the runs change (:func:`view_key`).
Outlines still come from the store, through its spatial index, and only when
the box holds few enough mines to draw.

Layers at period P: **cumulative** mines first seen before P ends, **new**
mines first seen within P, **provisional** the cumulative ones not yet
confirmed (:mod:`minescan.store.identity`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from minescan.kernel.errors import MinescanError
from minescan.kernel.period import Period
from minescan.store.backend import Backend, BBox
from minescan.store.identity import CONFIRMED, PROVISIONAL
from minescan.store.runs import current_pairs, in_time_order

LAYERS = ("cumulative", "new", "provisional")
#: The most outlines one map request draws; beyond it the map shows aggregated points.
OUTLINE_LIMIT = 1500
#: Zoom from which the map may draw outlines.
OUTLINE_ZOOM = 11
#: Cells across the box when aggregating points.
GRID_CELLS = 40


def view_key(backend: Backend) -> tuple:
    """What the index depends on: every run and whether it is published (a tiny table)."""
    rows = backend.select("runs", columns=["run_id", "published"], order_by=["run_id"])
    return tuple((r["run_id"], r["published"]) for r in rows)


def periods(backend: Backend) -> list[dict]:
    """The periods of the published view in time order, each with its start and end day."""
    labels = {label for _, label in current_pairs(backend)}
    parsed = [Period.parse(label) for label in in_time_order(labels)]
    return [{"period": p.label, "start": str(p.start), "end": str(p.end)} for p in parsed]


@dataclass(frozen=True)
class MineIndex:
    """Published mines (confirmed or provisional) as parallel arrays, and the view's periods."""

    ids: np.ndarray
    onset: np.ndarray  # onset period labels
    onset_start: np.ndarray  # datetime64[D]
    provisional: np.ndarray  # bool
    area_ha: np.ndarray
    bounds: np.ndarray  # (n, 4): min lon, min lat, max lon, max lat
    periods: tuple[dict, ...]

    @classmethod
    def build(cls, backend: Backend) -> MineIndex:
        """Read every published mine's state and footprint box from the store."""
        rows = backend.select(
            "mines",
            {"status": [CONFIRMED, PROVISIONAL]},
            columns=["mine_id", "onset", "onset_start", "status", "area_ha", "geometry"],
            order_by=["mine_id"],
        )
        geometries = np.array([r["geometry"] for r in rows], dtype=object)
        return cls(
            ids=np.array([r["mine_id"] for r in rows], dtype=np.int64),
            onset=np.array([r["onset"] for r in rows], dtype=object),
            onset_start=np.array([r["onset_start"] for r in rows], dtype="datetime64[D]"),
            provisional=np.array([r["status"] == PROVISIONAL for r in rows], dtype=bool),
            area_ha=np.array([r["area_ha"] or 0.0 for r in rows], dtype=float),
            bounds=shapely.bounds(geometries).reshape(-1, 4),
            periods=tuple(periods(backend)),
        )

    def period(self, label: str | None) -> dict:
        """The view's period ``label`` (the newest when ``None``), or a one-line error."""
        if not self.periods:
            raise MinescanError("the store has no published period yet")
        if label is None:
            return self.periods[-1]
        for found in self.periods:
            if found["period"] == label:
                return found
        known = ", ".join(p["period"] for p in self.periods)
        raise MinescanError(f"the store has no period {label!r}; it has {known}")

    def select(self, period: str | None, layer: str, bbox: BBox | None = None) -> np.ndarray:
        """Positions of the mines in ``layer`` at ``period``, within ``bbox`` when given."""
        if layer not in LAYERS:
            raise MinescanError(f"unknown layer {layer!r}; expected one of {', '.join(LAYERS)}")
        found = self.period(period)
        start, end = np.datetime64(found["start"]), np.datetime64(found["end"])
        keep = self.onset_start < end
        if layer == "new":
            keep &= self.onset_start >= start
        elif layer == "provisional":
            keep &= self.provisional
        if bbox is not None:
            b = self.bounds
            keep &= (b[:, 0] <= bbox[2]) & (b[:, 2] >= bbox[0])
            keep &= (b[:, 1] <= bbox[3]) & (b[:, 3] >= bbox[1])
        return np.flatnonzero(keep)

    def counts(self, period: str | None, bbox: BBox | None = None) -> dict:
        """How many mines each layer holds at ``period`` (in ``bbox``), and their area."""
        found = self.period(period)["period"]
        cumulative = self.select(found, "cumulative", bbox)
        return {
            "period": found,
            "cumulative": int(len(cumulative)),
            "new": int(len(self.select(found, "new", bbox))),
            "provisional": int(len(self.select(found, "provisional", bbox))),
            "footprint_ha": round(float(self.area_ha[cumulative].sum()), 2),
        }

    def clusters(self, positions: np.ndarray, bbox: BBox) -> list[dict]:
        """``positions`` aggregated on a grid over ``bbox``: GeoJSON points with counts."""
        if not len(positions):
            return []
        box = self.bounds[positions]
        x, y = (box[:, 0] + box[:, 2]) / 2, (box[:, 1] + box[:, 3]) / 2
        size = max(bbox[2] - bbox[0], bbox[3] - bbox[1], 1e-9) / GRID_CELLS
        cells = np.stack([np.floor((x - bbox[0]) / size), np.floor((y - bbox[1]) / size)], axis=1)
        _, group = np.unique(cells, axis=0, return_inverse=True)
        group = group.reshape(-1)
        count = np.bincount(group)
        mean_x, mean_y = np.bincount(group, x) / count, np.bincount(group, y) / count
        area = np.bincount(group, self.area_ha[positions])
        order = np.lexsort((self.onset_start[positions], group))
        first = positions[order[np.searchsorted(group[order], np.arange(len(count)))]]
        features = []
        for g in range(len(count)):
            features.append(
                {
                    "type": "Feature",
                    "geometry": {
                        "type": "Point",
                        "coordinates": [round(float(mean_x[g]), 6), round(float(mean_y[g]), 6)],
                    },
                    "properties": {
                        "count": int(count[g]),
                        "area_ha": round(float(area[g]), 2),
                        "onset": str(self.onset[first[g]]),
                        "mine_id": int(self.ids[first[g]]) if count[g] == 1 else None,
                    },
                }
            )
        return features


def outlines(backend: Backend, index: MineIndex, positions: np.ndarray, bbox: BBox) -> list[dict]:
    """The footprints of the mines at ``positions`` in ``bbox``, as GeoJSON features."""
    wanted = {int(i): p for i, p in zip(index.ids[positions], positions, strict=True)}
    rows = backend.select("mines", bbox=bbox, columns=["mine_id", "geometry"])
    features = []
    for row in rows:
        position = wanted.get(row["mine_id"])
        if position is None:
            continue
        features.append(
            {
                "type": "Feature",
                "geometry": shapely.geometry.mapping(row["geometry"]),
                "properties": {
                    "mine_id": row["mine_id"],
                    "onset": str(index.onset[position]),
                    "provisional": bool(index.provisional[position]),
                    "area_ha": round(float(index.area_ha[position]), 2),
                },
            }
        )
    return features


def map_features(
    backend: Backend, index: MineIndex, period: str | None, layer: str, bbox: BBox, zoom: int
) -> dict:
    """What the map draws for a view: outlines when zoomed in on few mines, else points."""
    positions = index.select(period, layer, bbox)
    if zoom >= OUTLINE_ZOOM and len(positions) <= OUTLINE_LIMIT:
        mode, features = "outlines", outlines(backend, index, positions, bbox)
    else:
        mode, features = "points", index.clusters(positions, bbox)
    return {
        "type": "FeatureCollection",
        "mode": mode,
        "count": int(len(positions)),
        "features": features,
    }
