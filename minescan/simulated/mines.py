"""Mines of the simulated world: where they are, how they grow, what they are made of.

A mine is a final footprint (EPSG:3857) plus a schedule. Given polygons are excavated
part by part from each part's date; drawn mines grow outwards from their centre, from
a third of their radius on the start date to the full outline a few years later. Each
mine is cut into components (pit, benches, dumps, tailings, ponds, a haul road), each with
its own spectra, so a pixel's look depends on the component and the commodity.
"""

from __future__ import annotations

import math
import threading
import zlib
from collections import OrderedDict
from collections.abc import Iterable
from typing import NamedTuple

import numpy as np
import shapely
from affine import Affine
from rasterio.features import rasterize
from shapely.geometry import LineString, Point, Polygon
from shapely.geometry.base import BaseGeometry

from minescan.kernel.errors import MinescanError
from minescan.kernel.mercator import ground_scale, tile_bounds_m, tile_span
from minescan.simulated.noise import Grid
from minescan.simulated.spectra import COMMODITIES, mine_code

#: Day number (since 1970-01-01) used for parts with no date: excavated since always.
ALWAYS = -(2**30)
#: Day number of "never": pixels outside every mine.
NEVER = np.iinfo(np.int32).max
NO_MINE = 255
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
#: Drawn mines start at this share of their radius and reach the outline after 2-8 years.
START_RADIUS = 0.3
#: Furthest a haul road runs beyond its mine's edge, in ground metres.
ROAD_OUTSIDE_M = 700.0
#: Furthest a drawn mine (with its haul road) reaches from its centre, in ground metres.
MAX_REACH_M = 3.0 * math.sqrt(AREA_HA[3] * 1e4 / math.pi) + ROAD_OUTSIDE_M
#: Burn order (last wins) of components on the raster.
BURN_ORDER = ("bench", "dump", "pit", "tailings", "pond", "road")


class Mine(NamedTuple):
    """One mine in map coordinates (EPSG:3857).

    ``parts`` are ``(polygon, day)`` pairs for given polygons; None for drawn mines,
    which grow radially from ``centre`` over ``growth_days``, from
    ``START_RADIUS * radius`` to ``radius`` (the outline's furthest point).
    """

    mine_id: str
    commodity: str
    artisanal: bool
    start: int
    footprint: BaseGeometry
    centre: tuple[float, float]
    radius: float
    growth_days: int
    parts: tuple | None = None

    @property
    def reach(self) -> float:
        """How far from ``centre`` the mine and its haul road extend (map metres)."""
        return self.radius + ROAD_OUTSIDE_M / ground_scale(self.centre[1])


def _key(text: str) -> int:
    return zlib.crc32(text.encode())


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


def footprint_at(mine: Mine, day: int | None) -> BaseGeometry:
    """The ground excavated by ``day`` (None: the final footprint); empty before the start."""
    if day is None:
        return mine.footprint
    if day < mine.start:
        return Polygon()
    if mine.parts is not None:
        return shapely.union_all([g for g, d in mine.parts if d <= day])
    frac = min(1.0, (day - mine.start) / mine.growth_days)
    if frac >= 1.0:
        return mine.footprint
    radius = mine.radius * (START_RADIUS + (1 - START_RADIUS) * frac)
    return mine.footprint.intersection(Point(mine.centre).buffer(radius, 128))


def layout(mine: Mine, seed: int) -> list[tuple[str, BaseGeometry]]:
    """Cut a mine's final footprint into components, in burn order (see :data:`BURN_ORDER`)."""
    shape = mine.footprint
    rng = np.random.default_rng([seed & 0xFFFFFFFF, _key(mine.mine_id)])
    centre = Point(mine.centre)
    if not shape.contains(centre):
        centre = shape.representative_point()
    cx, cy = centre.x, centre.y
    k = ground_scale(cy)
    radius = math.sqrt(shape.area / math.pi)
    turn = rng.uniform(0, 2 * np.pi)
    parts: dict[str, BaseGeometry] = {}
    if mine.artisanal:
        parts["dump"] = shape
        n = int(np.clip(shape.area * k * k / 1e4 * 1.5, 3, 80))
        xmin, ymin, xmax, ymax = shape.bounds
        pts = shapely.points(rng.uniform(xmin, xmax, 4 * n), rng.uniform(ymin, ymax, 4 * n))
        pts = pts[shapely.contains(shape, pts)][:n]
        radii = rng.uniform(8, 25, len(pts)) / k
        ponds = shapely.buffer(pts, radii, quad_segs=4)
        parts["pond"] = shapely.intersection(shapely.union_all(ponds), shape)
    else:
        pit = shape.buffer(-0.3 * radius)
        if pit.area < 0.1 * shape.area:
            pit = shape.buffer(-0.12 * radius)
        tail_centre = (cx + 0.7 * radius * math.cos(turn), cy + 0.7 * radius * math.sin(turn))
        tailings = Point(tail_centre).buffer(0.3 * radius, 16).intersection(shape).difference(pit)
        away = turn + math.pi
        wedge = Polygon(
            [(cx, cy)]
            + [
                (cx + 4 * radius * math.cos(a), cy + 4 * radius * math.sin(a))
                for a in np.linspace(away - 0.9, away + 0.9, 8)
            ]
        )
        dump = shape.intersection(wedge).difference(pit).difference(tailings)
        parts["bench"] = shape.difference(pit).difference(tailings).difference(dump)
        parts["dump"] = dump
        parts["pit"] = pit
        parts["tailings"] = tailings
    parts["road"] = _haul_road(shape, cx, cy, turn + rng.uniform(0.8, 2.2), rng, k)
    return [
        (name, parts[name]) for name in BURN_ORDER if name in parts and not parts[name].is_empty
    ]


def _haul_road(shape, cx: float, cy: float, angle: float, rng, k: float) -> BaseGeometry:
    """A 10 m road from inside the mine out through its edge, 200-600 m into the country."""
    direction = np.array([math.cos(angle), math.sin(angle)])
    far = float(shapely.hausdorff_distance(Point(cx, cy), shape)) * 2 + 1.0
    ray = LineString([(cx, cy), (cx + far * direction[0], cy + far * direction[1])])
    hits = shapely.get_coordinates(ray.intersection(shape.boundary))
    edge = float(np.hypot(*(hits - (cx, cy)).T).max()) if len(hits) else 0.0
    start = np.array([cx, cy]) + 0.6 * edge * direction
    end = np.array([cx, cy]) + (edge + rng.uniform(200, ROAD_OUTSIDE_M - 100) / k) * direction
    return LineString([start, end]).buffer(5.0 / k, 2)


class MineLayer(NamedTuple):
    """Per-pixel mine raster of one grid.

    ``codes``: class code of the component drawn there (255 none); ``day``: first day the
    pixel is dug (the earliest over overlapping mines); ``inside``: within a final footprint
    (haul roads leading out of a mine are dug but lie outside).
    """

    codes: np.ndarray
    day: np.ndarray
    inside: np.ndarray
    #: (rows, cols) slices of the grid that hold every mine pixel (outside: no mine)
    window: tuple[slice, slice] = (slice(None), slice(None))

    def at(self, day: int) -> np.ndarray:
        """Pixels dug by ``day``."""
        return self.day <= day


def grid_transform(grid: Grid) -> Affine:
    """The affine of ``grid`` (EPSG:3857, north up)."""
    xmin, _, _, ymax = grid.bounds
    return Affine(grid.res, 0.0, xmin, 0.0, -grid.res, ymax)


def _window(grid: Grid, bounds) -> tuple[slice, slice, Affine] | None:
    """Rows, columns and affine of the part of ``grid`` under map ``bounds``."""
    gx0, _, _, gy1 = grid.bounds
    xmin, ymin, xmax, ymax = bounds
    c0 = max(0, math.floor((xmin - gx0) / grid.res))
    c1 = min(grid.width, math.ceil((xmax - gx0) / grid.res))
    r0 = max(0, math.floor((gy1 - ymax) / grid.res))
    r1 = min(grid.height, math.ceil((gy1 - ymin) / grid.res))
    if c0 >= c1 or r0 >= r1:
        return None
    transform = Affine(grid.res, 0.0, gx0 + c0 * grid.res, 0.0, -grid.res, gy1 - r0 * grid.res)
    return slice(r0, r1), slice(c0, c1), transform


def _dig_days(mine: Mine, grid: Grid, rows: slice, cols: slice, transform: Affine):
    """First dig day of each pixel of a window for one mine (NEVER outside its footprint)."""
    shape = (rows.stop - rows.start, cols.stop - cols.start)
    if mine.parts is not None:
        parts = sorted(mine.parts, key=lambda gd: -gd[1])  # earliest part burnt last, so it wins
        return rasterize(
            [(g, max(d, ALWAYS)) for g, d in parts],
            shape,
            fill=NEVER,
            transform=transform,
            dtype="int32",
        ).astype(np.int64)
    day = np.full(shape, NEVER, np.int64)
    inside = rasterize([(mine.footprint, 1)], shape, fill=0, transform=transform, dtype="uint8")
    r, c = np.nonzero(inside)
    if len(r):
        dist = (
            np.hypot(grid.xs[cols][c] - mine.centre[0], grid.ys[rows][r] - mine.centre[1])
            / mine.radius
        )
        frac = np.clip((dist - START_RADIUS) / (1 - START_RADIUS), 0, 1)
        day[r, c] = mine.start + np.round(frac * mine.growth_days).astype(np.int64)
    return day


def render(catalogue: Catalogue, grid: Grid) -> MineLayer | None:
    """Rasterise the mines near ``grid`` (pixel-centre rule); None when no mine touches it.

    The work is done on the part of the grid the mines cover (``MineLayer.window``), then
    pasted into full-size arrays.
    """
    mines = catalogue.near(grid.bounds)
    if not mines:
        return None
    placed = []
    for mine in mines:
        layout = catalogue.components(mine)
        road = [g for name, g in layout if name == "road"]
        bounds = shapely.bounds([mine.footprint, *road])
        window = _window(grid, (*bounds[:, :2].min(axis=0), *bounds[:, 2:].max(axis=0)))
        if window is not None:
            placed.append((mine, layout, road, window))
    if not placed:
        return None
    r0 = min(w[0].start for *_, w in placed)
    r1 = max(w[0].stop for *_, w in placed)
    c0 = min(w[1].start for *_, w in placed)
    c1 = max(w[1].stop for *_, w in placed)
    part = Grid(grid.col0 + c0, grid.row0 + r0, c1 - c0, r1 - r0, grid.res)
    shape = (part.height, part.width)
    day = np.full(shape, NEVER, np.int64)
    inside = np.zeros(shape, bool)
    base, shapes = [], []
    for mine, layout, road, (rows, cols, transform) in placed:
        rows, cols = slice(rows.start - r0, rows.stop - r0), slice(cols.start - c0, cols.stop - c0)
        dug = _dig_days(mine, part, rows, cols, transform)
        inside[rows, cols] |= dug != NEVER
        if road:
            on_road = rasterize(road, dug.shape, fill=0, transform=transform, dtype="uint8")
            dug[on_road == 1] = mine.start
        np.minimum(day[rows, cols], dug, out=day[rows, cols])
        ground = "dump" if mine.artisanal else "bench"
        base.append((mine.footprint, mine_code(mine.commodity, ground)))
        shapes.extend((g, mine_code(mine.commodity, name)) for name, g in layout)
    if not inside.any() and (day == NEVER).all():
        return None
    # footprints first (so no dug pixel lacks a look), then components in burn order
    ordered = base + sorted(shapes, key=lambda gc: _BURN_RANK[gc[1]])
    codes = rasterize(ordered, shape, fill=NO_MINE, transform=grid_transform(part), dtype="uint8")
    day[codes == NO_MINE] = NEVER
    window = (slice(r0, r1), slice(c0, c1))
    full = (grid.height, grid.width)
    layer = MineLayer(
        np.full(full, NO_MINE, np.uint8),
        np.full(full, NEVER, np.int32),
        np.zeros(full, bool),
        window,
    )
    layer.codes[window], layer.day[window], layer.inside[window] = codes, day, inside
    return layer


_BURN_RANK = {
    mine_code(commodity, name): rank
    for commodity in COMMODITIES
    for rank, name in enumerate(BURN_ORDER)
}


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
        u = float(np.random.default_rng([self.seed & 0xFFFFFFFF, _key(name)]).uniform(size=2)[0])
        commodity = _pick_commodity(u)
        if self.commodity is not None and self.commodity[rows[0]] in COMMODITIES:
            commodity = self.commodity[rows[0]]
        artisanal = commodity == "gold" and (_key(name) % 1000) / 1000 < ARTISANAL_GOLD
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
