"""The simulated Sentinel-2 source: a deterministic 10 m world anywhere on Earth.

Every pixel value is a pure function of (world seed, EPSG:3857 coordinates, date). Chips
are evaluated on a global pixel grid, so neighbouring tiles agree on shared ground, and
coarse zooms average the field over 2x2 or 4x4 sub-pixels, so a z13 chip is the area
average of its z14 children.

The source composes the world's parts: land cover (:mod:`.landcover`, :mod:`.coarse`),
mines (:mod:`.catalogue`, :mod:`.mine_layer`), clouds (:mod:`.clouds`), reflectance
(:mod:`.reflectance`) and, for scoring, the truth tables (:mod:`.truth`).
"""

from __future__ import annotations

import functools

import mercantile
import numpy as np
import shapely

from minescan.kernel.bands import S2_BANDS, parse_bands
from minescan.kernel.chip import Chip
from minescan.kernel.errors import MinescanError
from minescan.kernel.mercator import (
    ground_scale,
    lattice_res,
    lattice_window,
    tile_index,
    tile_transform,
    to_mercator,
)
from minescan.kernel.period import DEFAULT_PERIOD, Period, parse_day
from minescan.kernel.source import Cube
from minescan.simulated import clouds, landcover, truth
from minescan.simulated.catalogue import DrawnMines, GivenMines
from minescan.simulated.coarse import coarse_surface
from minescan.simulated.mine_layer import render
from minescan.simulated.noise import Grid, grid_transform
from minescan.simulated.periods import day_number, season_terms
from minescan.simulated.reflectance import (
    SeriesYear,
    apply_sky,
    block_mean,
    dig_sub_pixels,
    dug_fraction,
    reflectance,
    supersample,
)
from minescan.simulated.spectra import BAND_INDEX, LOW, SPAN

#: Highest zoom a chip may be read at.
MAX_ZOOM = 22
#: Largest per-date cube ``series`` builds (values), to fail early instead of swapping.
MAX_SERIES_VALUES = 600_000_000
#: Ground metres added around a series geometry.
SERIES_BUFFER_M = 100.0
#: Coarsest sub-pixel, in map metres, at which mines are drawn (z9 at 256 px and finer):
#: beyond it a mine is a pixel or two and the z10 mine catalogue of a chip would be huge.
MAX_MINE_RES = 80.0


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


def _tile_grid(tile, size_px: int, margin_px: int) -> Grid:
    """The output grid of a tile read; raises on impossible tiles."""
    x, y, z = tile_index(tile, MAX_ZOOM)
    if size_px < 1 or margin_px < 0:
        raise MinescanError(f"bad chip size {size_px} px with margin {margin_px} px")
    res = lattice_res(z, size_px)
    side = size_px + 2 * margin_px
    return Grid(x * size_px - margin_px, y * size_px - margin_px, side, side, res)


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
            self.catalogue = DrawnMines(self.seed, self.mine_density, self._is_water)
        else:
            self.catalogue = GivenMines(mines, self.seed)

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
                f[dug] = dug_fraction(surf.fine[dug])
        return codes, f, surf.brightness

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
            data = reflectance(codes, f, brightness, band_idx)
        else:
            data = self._coarse_reflectance(grid, factor, days, band_idx)
        invalid = None
        if self.clouds:
            key = int(day_number(days.start)) * 100_000 + int(day_number(days.end)) % 100_000
            haze = clouds.residue(grid, self.seed, key)
            apply_sky(data, haze, band_idx)
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
        scene = coarse_surface(grid, factor, self.seed, int(str(ref)[:4]))
        terms = season_terms(period)
        codes, f = scene.pixels.codes, scene.pixels.fraction(*terms)
        mixed = (scene.index, scene.mixed.codes, scene.mixed.fraction(*terms))
        layer = self._mines(grid.refine(factor))
        if layer is not None:
            day = int(day_number(ref))
            mixed = dig_sub_pixels(grid, factor, scene.pixels, f, mixed, layer, day)
        index, sub_codes, sub_f = mixed
        brightness = scene.pixels.brightness
        data = reflectance(codes, f, brightness, band_idx)
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
        """Class codes ``(H, W)`` uint8 (names in :data:`.spectra.CLASSES`), mines included.

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
        return block_mean(inside.astype(np.float32), factor) >= 0.5

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
        years: dict[int, SeriesYear] = {}
        for t, date in enumerate(dates):
            year = int(str(date)[:4])
            if year not in years:
                years = {year: SeriesYear(landcover.surface(fine, self.seed, year), layer)}
            frame = years[year].observe(date, band_idx)
            if self.clouds:
                sky = clouds.sky(fine, self.seed, int(date.astype(np.int64)))
                if sky is not None:
                    apply_sky(frame, sky, band_idx)
                    valid[t] = block_mean(sky.invalid.astype(np.float32), factor) < 0.5
            data[t] = block_mean(frame, factor)
        return dates, Cube(data, valid, names, grid_transform(grid))

    # ------------------------------------------------------------------ truth
    def mines_in(self, geometry, date=None):
        """Truth: one row per mine whose footprint by ``date`` (None: final) meets ``geometry``.

        Columns ``mine_id``, ``commodity``, ``artisanal``, ``start_date``, ``area_ha``,
        ``geometry`` (EPSG:4326 footprint excavated by ``date``); see :func:`.truth.mines_table`.
        """
        return truth.mines_table(self.catalogue, to_mercator(_geometry(geometry)), date)

    def components_in(self, geometry, date=None):
        """Truth per component: ``mine_id``, ``component``, ``start_date``, ``geometry``.

        ``component`` is pit, bench, dump, tailings, pond or road; geometries are clipped
        to the mine's footprint by ``date`` (roads appear whole once the mine starts).
        """
        return truth.components_table(self.catalogue, to_mercator(_geometry(geometry)), date)

    @single_threaded
    def confusers_in(self, geometry, date=None, max_pixels: int = 4_000_000):
        """Truth of look-alikes: ``kind`` (bare_field, sandbar, burn_scar, clearing, road,
        urban) and ``geometry``, vectorised from the land cover by ``date``
        (default: the reference date of :data:`~minescan.kernel.period.DEFAULT_PERIOD`).

        The land cover is sampled at about 10 m, coarser when the area would exceed
        ``max_pixels`` (then thin roads may drop out).
        """
        merc = to_mercator(_geometry(geometry))
        when = Period.parse(DEFAULT_PERIOD).reference_date if date is None else date
        grid = truth.confuser_grid(merc.bounds, max_pixels)
        codes, _, _ = self._scene(grid, Period.parse(np.datetime64(when, "D")))
        return truth.confusers_table(codes, grid, merc)

    def _mines(self, grid: Grid):
        """The mine layer of ``grid``; none where pixels are far coarser than any mine."""
        if grid.res > MAX_MINE_RES:
            return None
        return render(self.catalogue, grid)

    def _footprints(self, grid: Grid, day: int) -> np.ndarray:
        layer = self._mines(grid)
        if layer is None:
            return np.zeros((grid.height, grid.width), bool)
        return layer.inside & layer.at(day)


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


__all__ = ["SimulatedSentinel2"]
