"""Where the simulated world's mines are: drawn by the simulator, or given as polygons.

A :class:`Catalogue` answers which mines may touch an area (``near``) and caches each
mine's components. :class:`DrawnMines` draws its own mines, z10 cell by z10 cell (Poisson
count, lognormal areas, irregular outlines), the same every time for a world seed;
:class:`GivenMines` places a user's polygons, excavated part by part from their dates.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Iterable

import numpy as np
import shapely
from shapely.geometry import Point, Polygon
from shapely.geometry.base import BaseGeometry

from minescan.kernel.errors import MinescanError
from minescan.kernel.mercator import ground_scale, tile_bounds_m, tile_span
from minescan.simulated.components import layout
from minescan.simulated.mines import ALWAYS, ROAD_OUTSIDE_M, Mine, mine_key
from minescan.simulated.spectra import COMMODITIES

#: Guards the catalogues' caches when a scan reads tiles from several threads.
_LOCK = threading.Lock()

#: Drawn mines: owned by the z10 cell holding their centre.
CELL_ZOOM = 10
#: Share of each commodity among drawn mines, and of artisanal sites among gold mines.
COMMODITY_WEIGHTS = {"gold": 0.35, "coal": 0.15, "bauxite": 0.15, "copper": 0.15, "other": 0.2}
ARTISANAL_GOLD = 0.6
#: Drawn mine size: lognormal area in hectares, clipped.
AREA_HA = (15.0, 1.1, 2.0, 500.0)  # median, sigma, min, max
FIRST_START, LAST_START = np.datetime64("2010-01-01"), np.datetime64("2024-12-31")
#: Furthest a drawn mine (with its haul road) reaches from its centre, in ground metres.
MAX_REACH_M = 3.0 * math.sqrt(AREA_HA[3] * 1e4 / math.pi) + ROAD_OUTSIDE_M


def _day(value) -> int:
    return int(np.datetime64(value, "D").astype(np.int64))


def _pick_commodity(u: float) -> str:
    edges = np.cumsum(list(COMMODITY_WEIGHTS.values()))
    return list(COMMODITY_WEIGHTS)[int(np.searchsorted(edges, u * edges[-1], side="right"))]


def _blob(rng: np.random.Generator, centre, radius: float) -> Polygon:
    """An irregular star-shaped outline of about ``radius``: harmonics, stretch and rotation."""
    theta = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    r = np.ones_like(theta)
    for h in range(2, 10):
        r += rng.uniform(0, 0.45 / h) * np.cos(h * theta + rng.uniform(0, 2 * np.pi))
    r *= rng.uniform(0.9, 1.1, theta.size)  # ragged edge
    r = np.maximum(r, 0.25)
    stretch = rng.uniform(1.0, 1.8)
    turn = rng.uniform(0, np.pi)
    x, y = r * np.cos(theta) * stretch, r * np.sin(theta) / stretch
    xr = x * np.cos(turn) - y * np.sin(turn)
    yr = x * np.sin(turn) + y * np.cos(turn)
    return Polygon(np.column_stack([centre[0] + radius * xr, centre[1] + radius * yr]))


def draw_cell(seed: int, density: float, x: int, y: int, is_water) -> list[Mine]:
    """The mines the simulator draws in z10 cell ``(x, y)``: Poisson count, lognormal areas.

    ``is_water(xs, ys)`` tells which map points are water; no mine is centred on water.
    """
    left, bottom, right, top = tile_bounds_m((x, y, CELL_ZOOM))
    k = ground_scale((top + bottom) / 2)
    area_km2 = (right - left) * (top - bottom) * k * k / 1e6
    rng = np.random.default_rng([seed & 0xFFFFFFFF, x, y, 0x6D696E65])
    drawn = []
    for i in range(rng.poisson(density * area_km2)):
        cx, cy = rng.uniform(left, right), rng.uniform(bottom, top)
        median, sigma, low, high = AREA_HA
        area_ha = float(np.clip(rng.lognormal(math.log(median), sigma), low, high))
        start = _day(FIRST_START) + int(
            rng.integers(0, int((LAST_START - FIRST_START).astype(np.int64)) + 1)
        )
        growth = int(rng.uniform(2, 8) * 365)
        commodity = _pick_commodity(rng.uniform())
        artisanal = commodity == "gold" and rng.uniform() < ARTISANAL_GOLD
        kc = ground_scale(cy)
        outline = _blob(rng, (cx, cy), math.sqrt(area_ha * 1e4 / math.pi) / kc)
        outline = shapely.affinity.scale(
            outline, *(2 * [math.sqrt(area_ha * 1e4 / (kc * kc) / outline.area)]), origin=(cx, cy)
        )
        radius = float(shapely.hausdorff_distance(Point(cx, cy), outline))
        drawn.append(
            Mine(f"sim-{x}-{y}-{i}", commodity, artisanal, start, outline, (cx, cy), radius, growth)
        )
    if not drawn:
        return drawn
    wet = is_water(np.array([m.centre[0] for m in drawn]), np.array([m.centre[1] for m in drawn]))
    return [m for m, w in zip(drawn, wet, strict=True) if not w]


class Catalogue:
    """Where mines are (``near``) and what they are made of (``components``, cached)."""

    seed: int

    def near(self, bounds: tuple[float, float, float, float], within=None) -> list[Mine]:
        """Mines that may touch map ``bounds``; ``within`` (a map geometry) may prune the search."""
        raise NotImplementedError

    def components(self, mine: Mine) -> tuple[tuple[str, BaseGeometry], ...]:
        """The mine's components in burn order, computed once per mine."""
        cache = self.__dict__.setdefault("_layouts", OrderedDict())
        with _LOCK:
            found = cache.get(mine.mine_id)
        if found is None:
            found = tuple(layout(mine, self.seed))
            with _LOCK:
                cache[mine.mine_id] = found
                if len(cache) > 8192:
                    cache.popitem(last=False)
        return found


class DrawnMines(Catalogue):
    """Mines the simulator draws itself, cell by cell, cached."""

    def __init__(self, seed: int, density: float, is_water):
        self.seed, self.density, self.is_water = seed, density, is_water
        self._cache: OrderedDict[tuple[int, int], list[Mine]] = OrderedDict()

    def cell(self, x: int, y: int) -> list[Mine]:
        """The mines of z10 cell ``(x, y)``, drawn once."""
        with _LOCK:
            found = self._cache.get((x, y))
        if found is None:
            found = draw_cell(self.seed, self.density, x, y, self.is_water)
            with _LOCK:
                self._cache[(x, y)] = found
                if len(self._cache) > 4096:
                    self._cache.popitem(last=False)
        return found

    def near(self, bounds: tuple[float, float, float, float], within=None) -> list[Mine]:
        """Mines whose reach overlaps map ``bounds`` (xmin, ymin, xmax, ymax).

        With ``within`` (a prepared map geometry), z10 cells far from it are not drawn:
        a long, thin country costs its own area, not its bounding box.
        """
        if self.density <= 0:
            return []
        xmin, ymin, xmax, ymax = bounds
        pad = MAX_REACH_M / ground_scale(max(abs(ymin), abs(ymax)))
        out = []
        for x, y in _cells_in((xmin - pad, ymin - pad, xmax + pad, ymax + pad)):
            if within is not None:
                left, bottom, right, top = tile_bounds_m((x, y, CELL_ZOOM))
                cell = shapely.box(left - pad, bottom - pad, right + pad, top + pad)
                if not within.intersects(cell):
                    continue
            for mine in self.cell(x, y):
                mx, my = mine.centre
                r = mine.reach
                if mx + r >= xmin and mx - r <= xmax and my + r >= ymin and my - r <= ymax:
                    out.append(mine)
        return out


def _cells_in(bounds) -> Iterable[tuple[int, int]]:
    """z10 cells overlapping map bounds (clamped to the world)."""
    c0, r0, c1, r1 = tile_span(bounds, CELL_ZOOM)
    if (c1 - c0 + 1) * (r1 - r0 + 1) > 200_000:
        raise MinescanError("area too large for the simulator's mine catalogue")
    for y in range(r0, r1 + 1):
        for x in range(c0, c1 + 1):
            yield x, y


class GivenMines(Catalogue):
    """Mines from a polygon table (EPSG:4326), indexed with an STRtree for fast reads."""

    def __init__(self, frame, seed: int):
        if frame.crs is None:
            raise MinescanError("mine polygons have no CRS")
        frame = frame[frame.geometry.notna() & ~frame.geometry.is_empty]
        frame = frame[frame.geom_type.isin(["Polygon", "MultiPolygon"])]
        if frame.empty:
            raise MinescanError("no mine polygons to place in the simulated world")
        frame = frame.to_crs("EPSG:3857").reset_index(drop=True)
        geoms = shapely.make_valid(frame.geometry.values)
        self.seed = seed
        self.geoms = np.asarray(geoms)
        self.days = _part_days(frame)
        self.tree = shapely.STRtree(self.geoms)
        self.group = _groups(frame, self.tree, self.geoms)
        members: dict[int, list[int]] = {}
        for i, g in enumerate(self.group):
            members.setdefault(int(g), []).append(i)
        self.members = members
        self.names = (
            frame["mine_id"].astype(str).to_numpy()
            if "mine_id" in frame
            else np.array([f"mine-{g}" for g in self.group])
        )
        self.commodity = (
            frame["commodity"].astype(str).str.lower().to_numpy() if "commodity" in frame else None
        )
        self._cache: OrderedDict[int, Mine] = OrderedDict()

    def mine(self, group: int) -> Mine:
        """Mine number ``group``: its parts united, commodity and schedule (built once)."""
        with _LOCK:
            found = self._cache.get(group)
        if found is not None:
            return found
        rows = self.members[group]
        name = str(self.names[rows[0]])
        footprint = shapely.union_all(self.geoms[rows])
        u = float(
            np.random.default_rng([self.seed & 0xFFFFFFFF, mine_key(name)]).uniform(size=2)[0]
        )
        commodity = _pick_commodity(u)
        if self.commodity is not None and self.commodity[rows[0]] in COMMODITIES:
            commodity = self.commodity[rows[0]]
        artisanal = commodity == "gold" and (mine_key(name) % 1000) / 1000 < ARTISANAL_GOLD
        c = footprint.centroid
        mine = Mine(
            name,
            commodity,
            artisanal,
            int(min(self.days[rows])),
            footprint,
            (c.x, c.y),
            float(shapely.hausdorff_distance(c, footprint)),
            1,
            tuple((self.geoms[r], int(self.days[r])) for r in rows),
        )
        with _LOCK:
            self._cache[group] = mine
            if len(self._cache) > 20000:
                self._cache.popitem(last=False)
        return mine

    def near(self, bounds, within=None) -> list[Mine]:
        """Mines with a part (or road, ~1 km) overlapping map ``bounds``."""
        xmin, ymin, xmax, ymax = bounds
        pad = (ROAD_OUTSIDE_M + 100.0) / ground_scale(max(abs(ymin), abs(ymax)))
        hits = self.tree.query(shapely.box(xmin - pad, ymin - pad, xmax + pad, ymax + pad))
        return [self.mine(int(g)) for g in sorted({int(self.group[i]) for i in hits})]


def _part_days(frame) -> np.ndarray:
    """Excavation day of each row: ``start_date``, else 1 January of ``year``, else always.

    ``year`` may hold integers (2019) or dates (2019-01-01, as some published layers do).
    """
    import pandas as pd

    column = "start_date" if "start_date" in frame else "year" if "year" in frame else None
    if column is None:
        return np.full(len(frame), ALWAYS, np.int64)
    values = frame[column]
    if pd.api.types.is_datetime64_any_dtype(values):
        dates = pd.to_datetime(values, errors="coerce")
    elif column == "year" and pd.api.types.is_numeric_dtype(values):
        years = values.astype("Float64").round().astype("Int64")
        dates = pd.to_datetime(years.astype("string") + "-01-01", errors="coerce")
    else:
        text = values.astype("string").str.strip()
        if column == "year":
            text = text.where(~text.str.fullmatch(r"\d{4}", na=False), text + "-01-01")
        dates = pd.to_datetime(text, errors="coerce", format="mixed")
    if values.notna().any() and dates.isna().all():
        raise MinescanError(f"mine polygons: column {column!r} holds no readable dates")
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_localize(None)
    days = dates.to_numpy().astype("datetime64[D]").astype(np.int64)
    return np.where(dates.isna().to_numpy(), ALWAYS, days)


def _groups(frame, tree, geoms) -> np.ndarray:
    """Mine number of each row: its ``mine_id``, else its group of touching polygons."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if "mine_id" in frame:
        _, codes = np.unique(frame["mine_id"].astype(str).to_numpy(), return_inverse=True)
        return codes
    left, right = tree.query(geoms, predicate="intersects")
    n = len(geoms)
    graph = coo_matrix((np.ones(len(left), bool), (left, right)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return labels
