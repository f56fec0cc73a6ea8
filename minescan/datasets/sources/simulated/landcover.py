"""Land cover of the simulated world: classes, vegetation fraction and texture per pixel.

Everything is thresholds on hashed noise in map coordinates (see :mod:`.noise`), so the
map is continuous across tiles and the same at every zoom. Large-scale noise sets the
climate (wet regions grow forest, dry ones bare soil); medium-scale noise draws patches;
zero-contours of smooth noise draw rivers and roads; a rectangular lattice draws fields.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from minescan.datasets.sources.simulated.noise import Grid, fbm, fbm_points, mix32, uniform
from minescan.datasets.sources.simulated.periods import peak_phase
from minescan.datasets.sources.simulated.spectra import CLASSES, CODE

# One id per noise field, so each field has its own stream of the world seed.
_CLIMATE, _PATCH, _EDGE, _AGRI, _URBAN, _LAKE, _RIVER = range(1, 8)
_MEANDER, _SAND, _ROAD, _FIELD, _BURN, _CLEARING, _FINE, _COARSE = range(9, 17)

#: Size of crop fields (map metres) and the hedge between them.
FIELD_SIZE = (320.0, 240.0)
HEDGE_M = 8.0
#: Half width of rivers, in units of the river noise field (about 20-30 m).
RIVER_HALF_WIDTH = np.float32(0.0017)
#: Coarsest sub-pixel (map metres) at which rivers and roads, zero-contours of smooth noise,
#: are drawn; on coarser grids they would be sampled as noise (a z5 tile and above).
THIN_FEATURES_MAX_RES = 2000.0
#: Cell size of the lattice on which forest clearings are cut.
CLEARING_CELL_M = 400.0


def field_seed(seed: int, field: int, year: int = 0) -> int:
    """The seed of one noise field of a world (and year, for things that change yearly)."""
    return int(mix32(seed, field, year)) & 0x7FFFFFFF


class Surface(NamedTuple):
    """Per-pixel land surface of one grid, before mines and clouds.

    ``fraction(c, s)`` gives the end-member fraction ``f`` of :mod:`.spectra` for the
    season terms of :func:`.periods.season_terms`.
    """

    codes: np.ndarray  # uint8 class codes (H, W)
    base: np.ndarray  # float32 f without season
    swing: np.ndarray  # float32 seasonal amplitude of f
    phase_cos: np.ndarray  # float32 cos of each pixel's greenest-day angle
    phase_sin: np.ndarray
    brightness: np.ndarray  # float32 multiplicative texture
    fine: np.ndarray  # float32 fine texture noise in about [-1, 1], reused by mines

    def fraction(self, c: float, s: float) -> np.ndarray:
        """``f`` in [0, 1] for season terms ``(c, s)``."""
        season = self.phase_cos * np.float32(c)
        season += self.phase_sin * np.float32(s)
        f = self.swing * season
        f += self.base
        return np.clip(f, 0, 1, out=f)


def _table(values: dict[str, float], default: float = 0.0) -> np.ndarray:
    table = np.full(len(CLASSES), default, np.float32)
    for name, value in values.items():
        table[CODE[name]] = value
    return table


# f = BASE + FINE_W * fine texture + COARSE_W * coarse texture, then +- SWING * season.
_BASE = _table(
    {"forest": 0.7, "cropland": 0.45, "grassland": 0.45, "bare_soil": 0.5, "water": 0.25,
     "urban": 0.25, "bare_field": 0.5, "sandbar": 0.5, "burn_scar": 0.5, "clearing": 0.5,
     "road": 0.1},
    default=0.5,
)  # fmt: skip
_FINE_W = _table(
    {"forest": 0.4, "cropland": 0.2, "grassland": 0.3, "bare_soil": 0.4, "water": 0.2,
     "urban": 0.8, "bare_field": 1.0, "sandbar": 1.0, "burn_scar": 1.0, "clearing": 1.2,
     "road": 0.3},
    default=1.5,
)  # fmt: skip
_COARSE_W = _table({"forest": 0.6, "grassland": 0.5, "bare_soil": 1.2, "water": 1.0, "urban": 0.5})
_SWING = _table({"forest": 0.1, "cropland": 0.45, "grassland": 0.3})


def _cells(coords: np.ndarray, size: float) -> tuple[np.ndarray, np.ndarray]:
    """Index of the lattice cell along one axis, and the distance to the nearest cell edge."""
    u = coords / size
    cell = np.floor(u)
    frac = u - cell
    return cell.astype(np.int64), np.minimum(frac, 1 - frac) * size


class _Lattice(NamedTuple):
    """A rectangular lattice of cells over a grid: each pixel row's and column's cell."""

    rows: np.ndarray  # lattice rows under the grid, (n_rows, 1)
    cols: np.ndarray  # lattice columns under the grid, (1, n_cols)
    row_of: np.ndarray  # intp (H,): position in ``rows`` of each pixel row
    col_of: np.ndarray  # intp (W,)

    @classmethod
    def over(cls, row_cell: np.ndarray, col_cell: np.ndarray) -> _Lattice:
        """The cells under the pixels (never more cells than pixels, at any zoom)."""
        rows, row_of = np.unique(row_cell, return_inverse=True)
        cols, col_of = np.unique(col_cell, return_inverse=True)
        return cls(rows[:, None], cols[None, :], row_of.astype(np.intp), col_of.astype(np.intp))

    def spread(self, table: np.ndarray) -> np.ndarray:
        """Per-cell ``table`` (n_rows, n_cols) to pixels (H, W)."""
        by_row = np.take(table, self.row_of, axis=0, mode="clip")
        return np.take(by_row, self.col_of, axis=1, mode="clip")


def _water(noise, seed: int, wet: np.ndarray, agri: np.ndarray):
    """Lakes, rivers and river banks from ``noise(spacing, octaves, seed)``, wetness and the
    farming field (rivers run where most land is farmed: alluvial plains)."""
    fs = lambda field: field_seed(seed, field)  # noqa: E731
    lake = noise(6000, 3, fs(_LAKE)) < np.float32(-0.56) + np.float32(0.04) * wet
    river_field = noise(15000, 3, fs(_RIVER))
    river_field += np.float32(0.02) * noise(600, 2, fs(_MEANDER))
    distance = np.abs(river_field)
    has_river = agri > -0.15
    river = has_river & (distance < RIVER_HALF_WIDTH)
    bank = has_river & ~river & (distance < RIVER_HALF_WIDTH * 2.2)
    return lake, river, bank


def is_water(seed: int, xs, ys) -> np.ndarray:
    """Whether map points are lake or river (cheap: only the fields that draw water)."""
    wet = fbm_points(xs, ys, 64000, 2, field_seed(seed, _CLIMATE)) * np.float32(1 / 0.22)
    agri = fbm_points(xs, ys, 9000, 2, field_seed(seed, _AGRI))
    lake, river, _ = _water(lambda *a: fbm_points(xs, ys, *a), seed, wet, agri)
    return lake | river


def surface(grid: Grid, seed: int, year: int) -> Surface:
    """Land cover of ``grid`` in ``year`` (burn scars and clearings change yearly)."""
    shape = (grid.height, grid.width)
    fs = lambda field: field_seed(seed, field)  # noqa: E731

    wet = fbm(grid, 64000, 2, fs(_CLIMATE))
    wet *= np.float32(1 / 0.22)
    edge = fbm(grid, 150, 2, fs(_EDGE))
    edge *= np.float32(0.2)
    agri = fbm(grid, 9000, 2, fs(_AGRI))

    # Height above the forest line: wetter places grow forest lower down, dry ones lie bare.
    above = fbm(grid, 4000, 4, fs(_PATCH))
    above += edge
    above += np.float32(0.12) * wet
    above -= np.float32(0.05)
    codes = np.full(shape, CODE["grassland"], np.uint8)
    codes[above > 0] = CODE["forest"]
    codes[(agri > 0) & (above < np.float32(0.1))] = CODE["cropland"]
    codes[above < np.float32(-0.35)] = CODE["bare_soil"]

    # Fields: a rectangular lattice; some fields lie bare (fallow or ploughed), hedges between.
    col_cell, col_edge = _cells(grid.xs, FIELD_SIZE[0])
    row_cell, row_edge = _cells(grid.ys, FIELD_SIZE[1])
    fields = _Lattice.over(row_cell, col_cell)
    field_u = fields.spread(uniform(fs(_FIELD), fields.rows, fields.cols))
    crop = codes == CODE["cropland"]
    codes[crop & (field_u < 0.15)] = CODE["bare_field"]
    hedge = (row_edge[:, None] < HEDGE_M) | (col_edge[None, :] < HEDGE_M)
    codes[crop & hedge] = CODE["grassland"]

    town = fbm(grid, 7000, 2, fs(_URBAN))
    codes[town > 0.5] = CODE["urban"]

    # Yearly disturbances: burn scars in grass and forest, rectangular clearings in forest.
    burn = fbm(grid, 1800, 2, field_seed(seed, _BURN, year)) > 0.62
    codes[burn & ((codes == CODE["grassland"]) | (codes == CODE["forest"]))] = CODE["burn_scar"]
    ccol, ccol_edge = _cells(grid.xs, CLEARING_CELL_M)
    crow, crow_edge = _cells(grid.ys, CLEARING_CELL_M)
    clearing_seed = field_seed(seed, _CLEARING, year)
    clearing_cells = _Lattice.over(crow, ccol)
    cleared = clearing_cells.spread(
        uniform(clearing_seed, clearing_cells.rows, clearing_cells.cols) < 0.04
    )
    inset = (crow_edge[:, None] > 60) & (ccol_edge[None, :] > 40)
    codes[cleared & inset & (codes == CODE["forest"])] = CODE["clearing"]

    # Roads: thin zero-contours of smooth noise, around towns.
    if grid.res <= THIN_FEATURES_MAX_RES:
        road = np.abs(fbm(grid, 25000, 2, fs(_ROAD))) < 0.0004
        codes[road & (town > -0.1)] = CODE["road"]

    # Water: lakes in low spots, rivers on zero-contours with sandbars on their banks.
    lake, river, bank = _water(lambda *a: fbm(grid, *a), seed, wet, agri)
    if grid.res > THIN_FEATURES_MAX_RES:
        river[:] = bank[:] = False
    if bank.any():
        codes[bank & (fbm(grid, 400, 2, fs(_SAND)) > 0.1)] = CODE["sandbar"]
    codes[lake | river] = CODE["water"]

    fine = fbm(grid, 40, 2, fs(_FINE))
    coarse = fbm(grid, 300, 2, fs(_COARSE))
    index = codes.astype(np.intp)
    base = np.take(_BASE, index, mode="clip")
    weight = np.take(_FINE_W, index, mode="clip")
    weight *= fine
    base += weight
    np.take(_COARSE_W, index, mode="clip", out=weight)
    weight *= coarse
    base += weight
    base[river] += np.float32(0.35)  # rivers carry more sediment than lakes
    swing = np.take(_SWING, index, mode="clip")

    # Seasons peak by hemisphere; each field greens up on its own schedule (+-30 days).
    north = grid.ys >= 0
    peak = np.where(north, peak_phase(1.0), peak_phase(-1.0)).astype(np.float32)
    phase_cos = np.broadcast_to(np.cos(peak)[:, None], shape).copy()
    phase_sin = np.broadcast_to(np.sin(peak)[:, None], shape).copy()
    crop = codes == CODE["cropland"]
    if crop.any():
        shift = (uniform(fs(_FIELD) + 1, fields.rows, fields.cols) - np.float32(0.5)) * np.float32(
            2 * np.pi * 60 / 365.25
        )
        for hemisphere, latitude in ((north, 1.0), (~north, -1.0)):
            if not hemisphere.any():
                continue
            angle = shift + np.float32(peak_phase(latitude))
            here = crop & hemisphere[:, None]
            phase_cos[here] = fields.spread(np.cos(angle))[here]
            phase_sin[here] = fields.spread(np.sin(angle))[here]
    brightness = fine * np.float32(0.25)
    brightness += np.float32(1)
    return Surface(codes, base, swing, phase_cos, phase_sin, brightness, fine)
