"""The simulated Sentinel-2 source: a deterministic 10 m world anywhere on Earth.

Every pixel value is a pure function of (world seed, EPSG:3857 coordinates, date). Chips
are evaluated on a global pixel grid, so neighbouring tiles agree on shared ground, and
coarse zooms average the field over 2x2 or 4x4 sub-pixels, so a z13 chip is the area
average of its z14 children.
"""

from __future__ import annotations

import functools
import math

import mercantile
import numpy as np
import shapely
from rasterio.features import shapes

from minescan.kernel.bands import S2_BANDS, parse_bands
from minescan.kernel.chip import Chip
from minescan.kernel.errors import MinescanError
from minescan.kernel.mercator import (
    ground_scale,
    lattice_res,
    lattice_window,
    tile_index,
    tile_transform,
    to_lonlat,
    to_mercator,
)
from minescan.kernel.period import DEFAULT_PERIOD, Period, parse_day
from minescan.kernel.source import Cube
from minescan.simulated import clouds, landcover
from minescan.simulated import mines as minelib
from minescan.simulated.noise import Grid
from minescan.simulated.periods import day_number, season_terms
from minescan.simulated.spectra import (
    BAND_INDEX,
    CLASSES,
    CLOUD,
    CODE,
    LOW,
    SHADOW_FACTOR,
    SPAN,
)

#: Highest zoom a chip may be read at, and the most sub-pixels averaged per side.
MAX_ZOOM = 22
MAX_SUPERSAMPLE = 4
#: Largest per-date cube ``series`` builds (values), to fail early instead of swapping.
MAX_SERIES_VALUES = 600_000_000
#: Ground metres added around a series geometry.
SERIES_BUFFER_M = 100.0
#: Coarsest sub-pixel, in map metres, at which mines are drawn (z9 at 256 px and finer):
#: beyond it a mine is a pixel or two and the z10 mine catalogue of a chip would be huge.
MAX_MINE_RES = 80.0
#: Confuser classes exported as truth (urban patches count: they are bright and bare).
CONFUSER_KINDS = ("bare_field", "sandbar", "burn_scar", "clearing", "road", "urban")


@functools.lru_cache(maxsize=1)
def _blas():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def single_threaded(method):
    """Run ``method`` with one BLAS thread: its matrix products are tiny, and threads
    spinning up for each of them cost ten times the work on a busy machine."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with _blas().limit(limits=1, user_api="blas"):
            return method(*args, **kwargs)

    return wrapper


def supersample(res: float) -> int:
    """Sub-pixels per side so each sub-pixel is at most about 10 map metres.

    Examples
    --------
    >>> [supersample(r) for r in (4.8, 9.55, 19.1, 38.2, 76.4)]
    [1, 1, 2, 4, 4]
    """
    return int(max(1, min(MAX_SUPERSAMPLE, math.ceil(res / 10.0 - 0.45))))


def _tile_grid(tile, size_px: int, margin_px: int) -> Grid:
    """The output grid of a tile read; raises on impossible tiles."""
    x, y, z = tile_index(tile, MAX_ZOOM)
    if size_px < 1 or margin_px < 0:
        raise MinescanError(f"bad chip size {size_px} px with margin {margin_px} px")
    res = lattice_res(z, size_px)
    side = size_px + 2 * margin_px
    return Grid(x * size_px - margin_px, y * size_px - margin_px, side, side, res)


def _block_mean(values: np.ndarray, factor: int) -> np.ndarray:
    """Average ``factor x factor`` blocks over the last two axes (as float32)."""
    if factor == 1:
        return values
    total = None
    for dy in range(factor):
        for dx in range(factor):
            part = values[..., dy::factor, dx::factor]
            total = part.astype(np.float32) if total is None else np.add(total, part, out=total)
    total *= np.float32(1 / factor**2)
    return total


def _band_indices(bands) -> tuple[tuple[str, ...], list[int]]:
    names = S2_BANDS if bands is None else parse_bands(bands)
    return names, [BAND_INDEX[b] for b in names]


class SimulatedSentinel2:
    """A deterministic simulated Sentinel-2 L2A world (the default imagery source).

    Parameters
    ----------
    seed
        World seed: the same seed gives the same world everywhere.
    mines
        Mine polygons (GeoDataFrame, EPSG:4326), optional ``year`` or ``start_date``
        (excavated from then) and ``mine_id`` (groups parts) columns. None: the
        simulator draws ``mine_density`` mines per km2 of land itself.
    clouds
        Clouds and shadows in ``series`` and residual clouds in composites.
    revisit_days
        Days between overpasses in ``series``.

    Examples
    --------
    >>> import mercantile
    >>> chip = SimulatedSentinel2(seed=1).read(mercantile.Tile(8000, 7900, 14), size_px=32)
    >>> chip.data.shape, chip.data.dtype.name
    ((12, 32, 32), 'float32')
    """

    name = "simulated"

    def __init__(
        self,
        seed: int = 0,
        mines=None,
        mine_density: float = 0.02,
        clouds: bool = True,
        revisit_days: int = 5,
    ):
        if revisit_days < 1:
            raise MinescanError(f"revisit_days must be at least 1, not {revisit_days}")
        if mine_density < 0:
            raise MinescanError(f"mine_density must be >= 0, not {mine_density}")
        self.seed = int(seed)
        self.clouds = bool(clouds)
        self.revisit_days = int(revisit_days)
        self.mine_density = float(mine_density)
        if mines is None:
            self.catalogue = minelib.DrawnMines(self.seed, self.mine_density, self._is_water)
        else:
            self.catalogue = minelib.GivenMines(mines, self.seed)

    @classmethod
    def from_settings(cls, settings) -> SimulatedSentinel2:
        """Build from the ``source:`` settings; reads ``settings.mines`` when given."""
        frame = None
        if settings.mines:
            from minescan.kernel.io import read_vector

            frame = read_vector(settings.mines)
        return cls(
            seed=settings.seed,
            mines=frame,
            mine_density=settings.mine_density,
            clouds=settings.clouds,
            revisit_days=settings.revisit_days,
        )

    # ----------------------------------------------------------------- pixels
    def _is_water(self, xs, ys) -> np.ndarray:
        return landcover.is_water(self.seed, xs, ys)

    def _scene(self, grid: Grid, period: Period):
        """Class codes, end-member fraction and brightness of ``grid`` for ``period``."""
        ref = period.reference_date
        surf = landcover.surface(grid, self.seed, int(str(ref)[:4]))
        f = surf.fraction(*season_terms(period))
        codes = surf.codes
        layer = self._mines(grid)
        if layer is not None:
            dug = layer.at(int(day_number(ref)))
            if dug.any():
                codes = np.where(dug, layer.codes, codes)
                f[dug] = _dug_fraction(surf.fine[dug])
        return codes, f, surf.brightness

    @staticmethod
    def _reflectance(codes, f, brightness, band_idx) -> np.ndarray:
        """``(LOW + f * SPAN)[band, code] * brightness`` for each requested band."""
        codes = codes.astype(np.intp)
        out = np.empty((len(band_idx), *codes.shape), np.float32)
        low = np.empty(codes.shape, np.float32)
        for i, b in enumerate(band_idx):
            band = out[i]
            np.take(SPAN[b], codes, out=band, mode="clip")
            band *= f
            band += np.take(LOW[b], codes, out=low, mode="clip")
            band *= brightness
        return out

    @single_threaded
    def read(
        self, tile, size_px: int = 256, period=DEFAULT_PERIOD, bands=None, margin_px: int = 0
    ) -> Chip:
        """A period composite of ``tile``: float32 reflectance ``(bands, H, W)``.

        Mines excavated by the period's :attr:`~minescan.kernel.period.Period.reference_date` are visible; ``valid`` is False under the
        few residual clouds a median composite keeps. Pixels coarser than about 10 m are
        area averages of the 10 m field (see :meth:`_coarse_reflectance`).
        """
        names, band_idx = _band_indices(bands)
        grid = _tile_grid(tile, size_px, margin_px)
        days = Period.parse(period)
        factor = supersample(grid.res)
        if factor == 1:
            codes, f, brightness = self._scene(grid, days)
            data = self._reflectance(codes, f, brightness, band_idx)
        else:
            data = self._coarse_reflectance(grid, factor, days, band_idx)
        invalid = None
        if self.clouds:
            key = int(day_number(days.start)) * 100_000 + int(day_number(days.end)) % 100_000
            haze = clouds.residue(grid, self.seed, key)
            _apply_sky(data, haze, band_idx)
            invalid = haze.invalid
        return Chip(
            data=data,
            bands=names,
            transform=tile_transform(mercantile.Tile(*map(int, tile)), size_px, margin_px),
            period=str(period),
            tile=mercantile.Tile(*map(int, tile)),
            margin_px=margin_px,
            valid=None if invalid is None else ~invalid,
            meta={"source": self.name, "seed": self.seed},
        )

    def _coarse_reflectance(self, grid: Grid, factor: int, period: Period, band_idx):
        """Reflectance of pixels made of ``factor x factor`` sub-pixels of about 10 m.

        Pixels of one class are evaluated once, with area-averaged textures; pixels that
        mix classes (edges, hedges, roads, mines) average the reflectance of their
        sub-pixels. Within a few thousandths of the block mean of the 10 m field, at the
        cost of about one pixel per pixel instead of ``factor**2``.
        """
        ref = period.reference_date
        scene = landcover.coarse_surface(grid, factor, self.seed, int(str(ref)[:4]))
        terms = season_terms(period)
        codes, f = scene.pixels.codes, scene.pixels.fraction(*terms)
        mixed = (scene.index, scene.mixed.codes, scene.mixed.fraction(*terms))
        layer = self._mines(grid.refine(factor))
        if layer is not None:
            day = int(day_number(ref))
            mixed = _dig_sub_pixels(grid, factor, scene.pixels, f, mixed, layer, day)
        index, sub_codes, sub_f = mixed
        brightness = scene.pixels.brightness
        data = self._reflectance(codes, f, brightness, band_idx)
        if len(index):
            rows, cols = np.divmod(index, grid.width)
            sub_codes = sub_codes.astype(np.intp)
            mean = np.full(sub_codes.shape[1], 1 / sub_codes.shape[1], np.float32)
            bright = brightness[rows, cols]
            for i, b in enumerate(band_idx):
                mixed = np.take(SPAN[b], sub_codes, mode="clip")
                mixed *= sub_f
                mixed += np.take(LOW[b], sub_codes, mode="clip")
                data[i, rows, cols] = (mixed @ mean) * bright
        return data

    @single_threaded
    def landcover(
        self, tile, size_px: int = 256, period=DEFAULT_PERIOD, margin_px: int = 0
    ) -> np.ndarray:
        """Class codes ``(H, W)`` uint8 (names in :data:`CLASSES`), mines included.

        Each pixel reports the class at its centre (at coarse zooms, the pixel may mix it
        with others).
        """
        codes, _, _ = self._scene(_tile_grid(tile, size_px, margin_px), Period.parse(period))
        return codes

    @single_threaded
    def mine_mask(
        self, tile, size_px: int = 256, period=DEFAULT_PERIOD, margin_px: int = 0
    ) -> np.ndarray:
        """Bool ``(H, W)``: inside a mine's footprint as excavated by the period's date."""
        grid = _tile_grid(tile, size_px, margin_px)
        factor = supersample(grid.res)
        fine = grid.refine(factor)
        inside = self._footprints(fine, int(day_number(Period.parse(period).reference_date)))
        return _block_mean(inside.astype(np.float32), factor) >= 0.5

    # ----------------------------------------------------------------- series
    def overpasses(self, start, end) -> np.ndarray:
        """Overpass dates between ``start`` and ``end`` (inclusive): every ``revisit_days``,
        on a fixed global cycle so two requests agree on shared dates."""
        first, last = (parse_day(str(d)[:10]) for d in (start, end))  # a Timestamp's day
        if last < first:
            raise MinescanError(f"series start {first} is after its end {last}")
        d0 = int(first.astype(np.int64))
        d0 += (-d0) % self.revisit_days
        days = np.arange(d0, int(last.astype(np.int64)) + 1, self.revisit_days)
        return days.astype("datetime64[D]")

    @single_threaded
    def series(self, geometry, start, end, bands=None) -> tuple[np.ndarray, Cube]:
        """Per-overpass observations over ``geometry`` (EPSG:4326) from ``start`` to ``end``.

        The grid has about 10 m ground pixels (EPSG:3857, resolution ``10 / cos(lat)``
        rounded to 0.5 m, snapped to the global origin) over the geometry's bounds plus
        100 m. Vegetation follows the seasons, mines grow, and on cloudy days clouds and
        their shadows are drawn into ``data`` and flagged False in ``valid``.
        """
        names, band_idx = _band_indices(bands)
        dates = self.overpasses(start, end)
        grid = _series_grid(to_mercator(_geometry(geometry)).bounds)
        if len(dates) * len(names) * grid.width * grid.height > MAX_SERIES_VALUES:
            raise MinescanError(
                f"series too large: {len(dates)} dates x {grid.height}x{grid.width} pixels; "
                "ask for a smaller area or a shorter period"
            )
        factor = supersample(grid.res)
        fine = grid.refine(factor)
        data = np.empty((len(dates), len(names), grid.height, grid.width), np.float32)
        valid = np.ones((len(dates), grid.height, grid.width), bool)
        layer = self._mines(fine)
        years: dict[int, _SeriesYear] = {}
        for t, date in enumerate(dates):
            year = int(str(date)[:4])
            if year not in years:
                years = {year: _SeriesYear(landcover.surface(fine, self.seed, year), layer)}
            frame = years[year].observe(date, band_idx)
            if self.clouds:
                sky = clouds.sky(fine, self.seed, int(date.astype(np.int64)))
                if sky is not None:
                    _apply_sky(frame, sky, band_idx)
                    valid[t] = _block_mean(sky.invalid.astype(np.float32), factor) < 0.5
            data[t] = _block_mean(frame, factor)
        return dates, Cube(data, valid, names, minelib.grid_transform(grid))

    # ------------------------------------------------------------------ truth
    def _near(self, geometry):
        """Mines near a geometry (EPSG:4326), with the geometry in EPSG:3857."""
        merc = to_mercator(_geometry(geometry))
        shapely.prepare(merc)
        return self.catalogue.near(merc.bounds, within=merc), merc

    def mines_in(self, geometry, date=None):
        """Truth: one row per mine whose footprint by ``date`` (None: final) meets ``geometry``.

        Columns ``mine_id``, ``commodity``, ``artisanal``, ``start_date``, ``area_ha``,
        ``geometry`` (EPSG:4326 footprint excavated by ``date``).
        """
        import geopandas as gpd

        near, merc = self._near(geometry)
        day = None if date is None else int(day_number(date))
        rows = []
        for mine in near:
            shape = minelib.footprint_at(mine, day)
            if shape.is_empty or not shape.intersects(merc):
                continue
            k = ground_scale(mine.centre[1])
            start = (
                np.datetime64("NaT")
                if mine.start <= minelib.ALWAYS
                else np.datetime64(mine.start, "D")
            )
            rows.append(
                (
                    mine.mine_id,
                    mine.commodity,
                    mine.artisanal,
                    start,
                    shape.area * k * k / 1e4,
                    shape,
                )
            )
        columns = ["mine_id", "commodity", "artisanal", "start_date", "area_ha"]
        frame = gpd.GeoDataFrame(
            {c: [r[i] for r in rows] for i, c in enumerate(columns)},
            geometry=to_lonlat(np.array([r[-1] for r in rows], dtype=object)),
            crs="EPSG:4326",
        )
        return frame.astype(
            {"mine_id": str, "commodity": str, "artisanal": bool, "start_date": "datetime64[ns]",
             "area_ha": float}
        )  # fmt: skip

    def components_in(self, geometry, date=None):
        """Truth per component: ``mine_id``, ``component``, ``start_date``, ``geometry``.

        ``component`` is pit, bench, dump, tailings, pond or road; geometries are clipped
        to the mine's footprint by ``date`` (roads appear whole once the mine starts).
        """
        import geopandas as gpd

        near, merc = self._near(geometry)
        day = None if date is None else int(day_number(date))
        rows = []
        for mine in near:
            dug = minelib.footprint_at(mine, day)
            if dug.is_empty:
                continue
            start = (
                np.datetime64("NaT")
                if mine.start <= minelib.ALWAYS
                else np.datetime64(mine.start, "D")
            )
            for name, shape in self.catalogue.components(mine):
                part = shape if name == "road" else shape.intersection(dug)
                if not part.is_empty and part.intersects(merc):
                    rows.append((mine.mine_id, name, start, part))
        frame = gpd.GeoDataFrame(
            {
                "mine_id": [r[0] for r in rows],
                "component": [r[1] for r in rows],
                "start_date": np.array([r[2] for r in rows], "datetime64[ns]"),
            },
            geometry=to_lonlat(np.array([r[3] for r in rows], dtype=object)),
            crs="EPSG:4326",
        )
        return frame.astype({"mine_id": str, "component": str})

    @single_threaded
    def confusers_in(self, geometry, date=None, max_pixels: int = 4_000_000):
        """Truth of look-alikes: ``kind`` (bare_field, sandbar, burn_scar, clearing, road,
        urban) and ``geometry``, vectorised from the land cover by ``date``
        (default: the reference date of :data:`~minescan.kernel.period.DEFAULT_PERIOD`).

        The land cover is sampled at about 10 m, coarser when the area would exceed
        ``max_pixels`` (then thin roads may drop out).
        """
        import geopandas as gpd

        merc = to_mercator(_geometry(geometry))
        when = Period.parse(DEFAULT_PERIOD).reference_date if date is None else date
        xmin, ymin, xmax, ymax = merc.bounds
        res = lattice_res(14, 256)  # about 9.55 m
        while (xmax - xmin) * (ymax - ymin) / res**2 > max_pixels:
            res *= 2
        grid = Grid(*lattice_window(merc.bounds, res), res)
        codes, _, _ = self._scene(grid, Period.parse(np.datetime64(when, "D")))
        wanted = np.isin(codes, [CODE[k] for k in CONFUSER_KINDS])
        kinds, geoms = [], []
        for geom, value in shapes(
            codes, mask=wanted, transform=minelib.grid_transform(grid), connectivity=8
        ):
            kinds.append(CLASSES[int(value)])
            geoms.append(shapely.geometry.shape(geom))
        geoms = np.array(geoms, dtype=object)
        keep = shapely.intersects(geoms, merc) if len(geoms) else np.zeros(0, bool)
        return gpd.GeoDataFrame(
            {"kind": np.array(kinds, dtype=object)[keep].astype(str)},
            geometry=to_lonlat(geoms[keep]) if keep.any() else [],
            crs="EPSG:4326",
        )

    def _mines(self, grid: Grid):
        """The mine layer of ``grid``; none where pixels are far coarser than any mine."""
        if grid.res > MAX_MINE_RES:
            return None
        return minelib.render(self.catalogue, grid)

    def _footprints(self, grid: Grid, day: int) -> np.ndarray:
        layer = self._mines(grid)
        if layer is None:
            return np.zeros((grid.height, grid.width), bool)
        return layer.inside & layer.at(day)


def _dug_fraction(fine: np.ndarray) -> np.ndarray:
    """End-member fraction of dug ground: patchy, from its fine texture."""
    return np.clip(np.float32(0.5) + np.float32(1.5) * fine, 0, 1)


def _dig_sub_pixels(grid: Grid, factor: int, pixels, f, mixed, layer, day: int):
    """Add the sub-pixels a mine layer (on ``grid.refine(factor)``) has dug by ``day`` to
    the mixed pixels of a coarse scene (``pixels``, a :class:`.landcover.Surface`, and its
    fraction ``f``): ``(index, sub-pixel codes, sub-pixel f)``."""
    index, sub_codes, sub_f = mixed
    rows, cols = layer.window
    r0, c0 = rows.start // factor, cols.start // factor
    r1, c1 = -(-rows.stop // factor), -(-cols.stop // factor)
    dug = layer.day[r0 * factor : r1 * factor, c0 * factor : c1 * factor] <= day
    blocks = dug.reshape(r1 - r0, factor, c1 - c0, factor)
    touched_rows, touched_cols = np.nonzero(blocks.any(axis=3).any(axis=1))
    if not len(touched_rows):
        return mixed
    touched_rows += r0
    touched_cols += c0
    k, width = factor * factor, grid.width
    mine_pixels = touched_rows * width + touched_cols
    union = np.union1d(index, mine_pixels)
    all_codes = np.repeat(pixels.codes.ravel()[union][:, None], k, axis=1)
    all_f = np.repeat(f.ravel()[union][:, None], k, axis=1)
    at = np.searchsorted(union, index)
    all_codes[at], all_f[at] = sub_codes, sub_f
    sy, sx = np.divmod(np.arange(k), factor)
    fine = ((touched_rows[:, None] * factor + sy) * width + touched_cols[:, None]) * factor + sx
    here = layer.day.ravel()[fine] <= day
    at = np.searchsorted(union, mine_pixels)
    all_codes[at] = np.where(here, layer.codes.ravel()[fine], all_codes[at])
    texture = _dug_fraction(pixels.fine.ravel()[mine_pixels])[:, None]
    all_f[at] = np.where(here, texture, all_f[at])
    return union, all_codes, all_f


class _SeriesYear:
    """One year of a series: the static land surface and mine layer, observed per date."""

    def __init__(self, surf: landcover.Surface, layer):
        self.surf, self.layer = surf, layer
        self.codes = surf.codes.astype(np.intp)
        if layer is not None:
            self.mine_rows, self.mine_cols = np.nonzero(layer.day != minelib.NEVER)
            self.mine_day = layer.day[self.mine_rows, self.mine_cols]
            self.mine_codes = layer.codes[self.mine_rows, self.mine_cols].astype(np.intp)
            self.mine_f = _dug_fraction(surf.fine[self.mine_rows, self.mine_cols])

    def observe(self, date: np.datetime64, band_idx) -> np.ndarray:
        """Cloud-free reflectance ``(bands, H, W)`` on ``date``."""
        f = self.surf.fraction(*season_terms(Period.parse(date)))
        codes = self.codes
        if self.layer is not None:
            dug = self.mine_day <= int(date.astype(np.int64))
            if dug.any():
                codes = codes.copy()
                rows, cols = self.mine_rows[dug], self.mine_cols[dug]
                codes[rows, cols] = self.mine_codes[dug]
                f[rows, cols] = self.mine_f[dug]
        return SimulatedSentinel2._reflectance(codes, f, self.surf.brightness, band_idx)


def _series_grid(bounds) -> Grid:
    """A ~10 m ground grid over map ``bounds`` plus :data:`SERIES_BUFFER_M`, globally snapped."""
    k = ground_scale((bounds[1] + bounds[3]) / 2)
    res = max(0.5, round(2 * 10.0 / k) / 2)
    return Grid(*lattice_window(bounds, res, pad=SERIES_BUFFER_M / k), res)


def _geometry(geometry):
    """A shapely geometry from a shapely geometry, a GeoSeries/GeoDataFrame or bounds."""
    if hasattr(geometry, "union_all"):
        geometry = geometry.union_all()
    elif isinstance(geometry, tuple | list) and len(geometry) == 4:
        geometry = shapely.box(*geometry)
    if not isinstance(geometry, shapely.Geometry) or geometry.is_empty:
        raise MinescanError("expected a non-empty geometry in EPSG:4326")
    return geometry


def _apply_sky(data: np.ndarray, sky: clouds.Sky, band_idx) -> None:
    """Blend clouds over ``data`` and darken shadows, in place, where the sky is not clear."""
    rows, cols = np.nonzero((sky.cloud > 0) | (sky.shadow > 0))
    if not len(rows):
        return
    alpha = sky.cloud[rows, cols]
    dark = 1 - sky.shadow[rows, cols] * (1 - SHADOW_FACTOR)
    for i, b in enumerate(band_idx):
        values = data[i, rows, cols] * dark
        data[i, rows, cols] = values * (1 - alpha) + CLOUD[b] * alpha


__all__ = ["CLASSES", "SimulatedSentinel2", "supersample"]
