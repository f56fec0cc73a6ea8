"""Land cover of the simulated world: classes, vegetation fraction and texture per pixel.

Everything is thresholds on hashed noise in map coordinates (see :mod:`.noise`), so the
map is continuous across tiles and the same at every zoom. Large-scale noise sets the
climate (wet regions grow forest, dry ones bare soil); medium-scale noise draws patches;
zero-contours of smooth noise draw rivers and roads; a rectangular lattice draws fields.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from minescan.simulated.noise import (
    Grid,
    fbm,
    fbm_many,
    fbm_points,
    mix32,
    uniform,
)
from minescan.simulated.periods import peak_phase
from minescan.simulated.spectra import CLASSES, CODE

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
    season terms of :func:`.periods.season_terms`. Arrays are ``(H, W)`` for a grid, or
    ``(M, k)`` for the ``k`` sub-pixels of ``M`` mixed pixels (see :class:`Coarse`).
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
        return np.clip(f, np.float32(0), np.float32(1), out=f)


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
#: Rivers carry more sediment than lakes.
_RIVER_SILT = np.float32(0.35)


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


# ----------------------------------------------------------------------- decisions
# The class of a pixel is a function of a few yes/no tests on smooth noise fields and on
# the field and clearing lattices. Each test is one bit of a signature; a lookup table
# maps signatures to classes, so every grid, and the sub-pixels of coarse grids, are
# classified by the same rule.
(ABOVE_FOREST, ABOVE_CROP, ABOVE_BARE, FARM, RIVER_PLAIN, ROAD_TOWN, URBAN, BURN, LAKE,
 ROAD_LO, ROAD_HI, RIVER_LO, RIVER_HI, BANK_LO, BANK_HI, SAND,
 FIELD_BARE, HEDGE, CLEARED) = range(19)  # fmt: skip
_BITS = 19

#: (decision field, threshold, True if the bit means "above the threshold", bit).
_TESTS = (
    ("above", np.float32(0), True, ABOVE_FOREST),
    ("above", np.float32(0.1), False, ABOVE_CROP),
    ("above", np.float32(-0.35), False, ABOVE_BARE),
    ("agri", np.float32(0), True, FARM),
    ("agri", np.float32(-0.15), True, RIVER_PLAIN),
    ("town", np.float32(-0.1), True, ROAD_TOWN),
    ("town", np.float32(0.5), True, URBAN),
    ("burn", np.float32(0.62), True, BURN),
    ("lake", np.float32(0), False, LAKE),
    ("road", np.float32(-0.0004), True, ROAD_LO),
    ("road", np.float32(0.0004), False, ROAD_HI),
    ("river", -RIVER_HALF_WIDTH, True, RIVER_LO),
    ("river", RIVER_HALF_WIDTH, False, RIVER_HI),
    ("river", -RIVER_HALF_WIDTH * 2.2, True, BANK_LO),
    ("river", RIVER_HALF_WIDTH * 2.2, False, BANK_HI),
    ("sand", np.float32(0.1), True, SAND),
)
#: Bits of the tests on each decision field.
FIELD_BITS = {
    name: sum(1 << bit for field, _, _, bit in _TESTS if field == name)
    for name in dict.fromkeys(t[0] for t in _TESTS)
}
#: Tests of thin features (roads, rivers): left unset on grids too coarse to draw them.
_THIN_BITS = (1 << ROAD_HI) | (1 << RIVER_HI) | (1 << BANK_HI)


def _bit(sig: np.ndarray, bit: int) -> np.ndarray:
    return (sig & np.uint32(1 << bit)) != 0


def classify(sig: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Class codes and river flags of signatures (the rule, applied in this order)."""
    has = functools.partial(_bit, sig)
    codes = np.full(sig.shape, CODE["grassland"], np.uint8)
    codes[has(ABOVE_FOREST)] = CODE["forest"]
    codes[has(FARM) & has(ABOVE_CROP)] = CODE["cropland"]
    codes[has(ABOVE_BARE)] = CODE["bare_soil"]
    crop = codes == CODE["cropland"]
    codes[crop & has(FIELD_BARE)] = CODE["bare_field"]  # fallow or ploughed fields
    codes[crop & has(HEDGE)] = CODE["grassland"]
    codes[has(URBAN)] = CODE["urban"]
    green = (codes == CODE["grassland"]) | (codes == CODE["forest"])
    codes[has(BURN) & green] = CODE["burn_scar"]
    codes[has(CLEARED) & (codes == CODE["forest"])] = CODE["clearing"]
    codes[has(ROAD_LO) & has(ROAD_HI) & has(ROAD_TOWN)] = CODE["road"]
    river = has(RIVER_PLAIN) & has(RIVER_LO) & has(RIVER_HI)
    bank = has(RIVER_PLAIN) & ~river & has(BANK_LO) & has(BANK_HI)
    codes[bank & has(SAND)] = CODE["sandbar"]
    codes[has(LAKE) | river] = CODE["water"]
    return codes, river


#: Flag bit of :func:`_lookup` entries: the pixel is a river (lakes are plain water).
_RIVER_FLAG = np.uint8(0x80)


@functools.cache
def _lookup() -> np.ndarray:
    """:func:`classify` of every signature: ``(2**19,)`` uint8 codes, river flag in bit 7."""
    codes, river = classify(np.arange(1 << _BITS, dtype=np.uint32))
    return codes | (river.astype(np.uint8) << 7)


def lookup(sig: np.ndarray) -> np.ndarray:
    """Class codes of signatures with the river flag in bit 7 (see :func:`split`)."""
    return np.take(_lookup(), sig)


def split(entries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Class codes (uint8) and river flags of :func:`lookup` entries."""
    return entries & np.uint8(0x7F), entries >= _RIVER_FLAG


def signature_codes(sig: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Class codes (uint8) and river flags of signatures, by table lookup."""
    return split(lookup(sig))


class Decisions(NamedTuple):
    """The smooth noise fields whose thresholds decide the class (see :data:`_TESTS`)."""

    above: np.ndarray  # height above the forest line
    agri: np.ndarray  # farming
    town: np.ndarray
    burn: np.ndarray
    lake: np.ndarray  # below zero: lake
    road: np.ndarray  # roads run along its zero contours
    river: np.ndarray  # rivers too
    sand: np.ndarray | None  # sandbars on river banks (None: no bank in sight)


def decisions(noises, seed: int, year: int) -> Decisions:
    """The decision fields from ``noises([(spacing, octaves, seed), ...])`` (on a grid or
    at points), which returns one noise field per request."""
    fs = lambda field: field_seed(seed, field)  # noqa: E731
    wet, above, edge, lake, river, meander, agri, town, burn, road = noises(
        [
            (64000, 2, fs(_CLIMATE)),
            (4000, 4, fs(_PATCH)),
            (150, 2, fs(_EDGE)),
            (6000, 3, fs(_LAKE)),
            (15000, 3, fs(_RIVER)),
            (600, 2, fs(_MEANDER)),
            (9000, 2, fs(_AGRI)),
            (7000, 2, fs(_URBAN)),
            (1800, 2, field_seed(seed, _BURN, year)),
            (25000, 2, fs(_ROAD)),
        ]
    )
    wet *= np.float32(1 / 0.22)
    # Height above the forest line: wetter places grow forest lower down, dry ones lie bare.
    edge *= np.float32(0.2)
    above += edge
    above += np.float32(0.12) * wet
    above -= np.float32(0.05)
    # Lakes in low spots; rivers on zero-contours, where most land is farmed (alluvial plains).
    lake -= np.float32(-0.56) + np.float32(0.04) * wet
    river += np.float32(0.02) * meander
    return Decisions(above, agri, town, burn, lake, road, river, sand=None)


def signature(d: Decisions, thin: bool = True) -> np.ndarray:
    """uint32 signature of the noise tests; thin features only when ``thin``."""
    sig = np.zeros(d.above.shape, np.uint32)
    test = np.empty(d.above.shape, bool)
    skip = 0 if thin else _THIN_BITS
    for name, threshold, above, bit in _TESTS:
        values = getattr(d, name)
        if values is None or (1 << bit) & skip:
            continue
        (np.greater if above else np.less)(values, threshold, out=test)
        np.bitwise_or(sig, np.uint32(1 << bit), out=sig, where=test)
    return sig


def _with_sand(d: Decisions, sig: np.ndarray, noise, seed: int) -> tuple[Decisions, np.ndarray]:
    """Add the sand test where a river bank is in sight (sand is drawn only on banks)."""
    banks = (1 << RIVER_PLAIN) | (1 << BANK_LO) | (1 << BANK_HI)
    if not ((sig & np.uint32(banks)) == banks).any():
        return d, sig
    d = d._replace(sand=noise(400, 2, field_seed(seed, _SAND)))
    np.bitwise_or(sig, np.uint32(1 << SAND), out=sig, where=d.sand > np.float32(0.1))
    return d, sig


def is_water(seed: int, xs, ys) -> np.ndarray:
    """Whether map points are lake or river (the same tests as :func:`surface`)."""
    d = decisions(lambda specs: [fbm_points(xs, ys, *spec) for spec in specs], seed, 0)
    codes, _ = signature_codes(signature(d))
    return codes == CODE["water"]


class _Plots(NamedTuple):
    """The crop-field and clearing lattices over a grid, and their per-pixel tests."""

    fields: _Lattice
    bare: np.ndarray  # (n_rows, n_cols) per field: lies bare this year
    hedge_row: np.ndarray  # (H,) within a hedge along x
    hedge_col: np.ndarray  # (W,)
    clearings: _Lattice
    cleared: np.ndarray  # (n_rows, n_cols) per clearing cell: cut this year
    inset_row: np.ndarray  # (H,) inside the cell's margin
    inset_col: np.ndarray

    @classmethod
    def over(cls, xs: np.ndarray, ys: np.ndarray, seed: int, year: int) -> _Plots:
        col_cell, col_edge = _cells(xs, FIELD_SIZE[0])
        row_cell, row_edge = _cells(ys, FIELD_SIZE[1])
        fields = _Lattice.over(row_cell, col_cell)
        ccol, ccol_edge = _cells(xs, CLEARING_CELL_M)
        crow, crow_edge = _cells(ys, CLEARING_CELL_M)
        clearings = _Lattice.over(crow, ccol)
        clearing_seed = field_seed(seed, _CLEARING, year)
        return cls(
            fields,
            uniform(field_seed(seed, _FIELD), fields.rows, fields.cols) < np.float32(0.15),
            row_edge < HEDGE_M,
            col_edge < HEDGE_M,
            clearings,
            uniform(clearing_seed, clearings.rows, clearings.cols) < np.float32(0.04),
            crow_edge > 60,
            ccol_edge > 40,
        )

    def bits(self, rows=None, cols=None) -> np.ndarray:
        """Signature bits of the lattice tests: on the whole grid, or at paired pixels."""
        if rows is None:
            bare = self.fields.spread(self.bare)
            hedge = self.hedge_row[:, None] | self.hedge_col[None, :]
            cut = self.clearings.spread(self.cleared)
            cut &= self.inset_row[:, None] & self.inset_col[None, :]
        else:
            bare = self.bare[self.fields.row_of[rows], self.fields.col_of[cols]]
            hedge = self.hedge_row[rows] | self.hedge_col[cols]
            cut = self.cleared[self.clearings.row_of[rows], self.clearings.col_of[cols]]
            cut &= self.inset_row[rows] & self.inset_col[cols]
        sig = bare.astype(np.uint32) << np.uint32(FIELD_BARE)
        sig |= hedge.astype(np.uint32) << np.uint32(HEDGE)
        sig |= cut.astype(np.uint32) << np.uint32(CLEARED)
        return sig

    def keys(self, axis: int) -> np.ndarray:
        """Per pixel row (axis 0) or column (axis 1): a number that changes exactly where a
        lattice test along that axis changes (cell, hedge, clearing cell, inset)."""
        if axis == 0:
            parts = (self.fields.row_of, self.hedge_row, self.clearings.row_of, self.inset_row)
        else:
            parts = (self.fields.col_of, self.hedge_col, self.clearings.col_of, self.inset_col)
        cell, hedge, clearing, inset = (p.astype(np.int64) for p in parts)
        return ((cell * 2 + hedge) * 4096 + clearing) * 2 + inset


def _textures(grid: Grid, seed: int, average: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Fine (40 m) and coarse (300 m) texture noise.

    With ``average > 1`` the fine texture is the mean over ``average x average``
    sub-pixels; the coarse one, smooth over a pixel, is taken at its centre.
    """
    fine = fbm(grid, 40, 2, field_seed(seed, _FINE), average=average)
    coarse = fbm(grid, 300, 2, field_seed(seed, _COARSE))
    return fine, coarse


def _base(codes: np.ndarray, river: np.ndarray, fine: np.ndarray, coarse: np.ndarray):
    """``f`` without season, and its seasonal swing, per class (broadcasting textures)."""
    index = codes.astype(np.intp)
    base = np.take(_BASE, index, mode="clip")
    weight = np.take(_FINE_W, index, mode="clip")
    weight *= fine
    base += weight
    np.take(_COARSE_W, index, mode="clip", out=weight)
    weight *= coarse
    base += weight
    base[river] += _RIVER_SILT
    return base, np.take(_SWING, index, mode="clip")


def _field_phases(fields: _Lattice, seed: int) -> np.ndarray:
    """Greenest-day angle of each crop field cell: its hemisphere's, +-30 days."""
    shift = uniform(field_seed(seed, _FIELD) + 1, fields.rows, fields.cols) - np.float32(0.5)
    return shift * np.float32(2 * np.pi * 60 / 365.25)


def _phases(grid: Grid, codes: np.ndarray, fields: _Lattice, seed: int):
    """cos and sin of each pixel's greenest-day angle: by hemisphere, crops per field."""
    shape = codes.shape
    north = grid.ys >= 0
    peak = np.where(north, peak_phase(1.0), peak_phase(-1.0)).astype(np.float32)
    phase_cos = np.broadcast_to(np.cos(peak)[:, None], shape).copy()
    phase_sin = np.broadcast_to(np.sin(peak)[:, None], shape).copy()
    crop = codes == CODE["cropland"]
    if crop.any():
        shift = _field_phases(fields, seed)
        for hemisphere, latitude in ((north, 1.0), (~north, -1.0)):
            if not hemisphere.any():
                continue
            angle = shift + np.float32(peak_phase(latitude))
            here = crop & hemisphere[:, None]
            phase_cos[here] = fields.spread(np.cos(angle))[here]
            phase_sin[here] = fields.spread(np.sin(angle))[here]
    return phase_cos, phase_sin


def surface(grid: Grid, seed: int, year: int) -> Surface:
    """Land cover of ``grid`` in ``year`` (burn scars and clearings change yearly)."""
    noise = lambda *a: fbm(grid, *a)  # noqa: E731
    d = decisions(lambda specs: fbm_many(grid, specs), seed, year)
    sig = signature(d, thin=grid.res <= THIN_FEATURES_MAX_RES)
    d, sig = _with_sand(d, sig, noise, seed)
    plots = _Plots.over(grid.xs, grid.ys, seed, year)
    sig |= plots.bits()
    codes, river = signature_codes(sig)
    fine, coarse = _textures(grid, seed)
    base, swing = _base(codes, river, fine, coarse)
    phase_cos, phase_sin = _phases(grid, codes, plots.fields, seed)
    brightness = fine * np.float32(0.25)
    brightness += np.float32(1)
    return Surface(codes, base, swing, phase_cos, phase_sin, brightness, fine)


# ------------------------------------------------------------------- coarse grids
class Coarse(NamedTuple):
    """Land surface of a coarse grid, as the area average of its sub-pixels would see it.

    ``pixels`` holds one class per pixel, right wherever all its sub-pixels share it;
    ``index`` (flat, into ``(H, W)``) lists the pixels whose sub-pixels mix classes, and
    ``mixed`` their ``k = factor**2`` sub-pixels ``(M, k)`` (texture per pixel, ``(M, 1)``).
    Textures are area averages in both.
    """

    pixels: Surface
    index: np.ndarray
    mixed: Surface


def _stencil(factor: int) -> np.ndarray:
    """``(9, factor**2)`` weights of the 3x3 pixel centres around a pixel (row-major,
    neighbour ``(dy + 1) * 3 + dx + 1``) at each of its sub-pixels (row-major).

    Biquadratic interpolation: the fields curve within a pixel (a 150 m lattice seen at
    20-40 m), and a bilinear guess would turn a pixel-sized bump into the wrong class.
    """
    u = (np.arange(factor) + 0.5) / factor - 0.5
    axis = np.stack([u * (u - 1) / 2, 1 - u * u, u * (u + 1) / 2])  # (3 neighbours, factor)
    weights = axis[:, None, :, None] * axis[None, :, None, :]  # (dy, dx, sy, sx)
    return weights.reshape(9, factor * factor).astype(np.float32)


def _around(values: np.ndarray, op) -> np.ndarray:
    """``op`` (bitwise or / and) over each interior pixel's 3x3 neighbourhood."""
    rows = op(op(values[:-2], values[1:-1]), values[2:])
    return op(op(rows[:, :-2], rows[:, 1:-1]), rows[:, 2:])


def _axis_keys(coords: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel row (axis 0) or column (axis 1): numbers that change exactly where the
    crop-field tests (cell, hedge) and the clearing tests (cell, inset) change."""
    cell, edge = _cells(coords, FIELD_SIZE[1 - axis])
    clearing, clearing_edge = _cells(coords, CLEARING_CELL_M)
    inset = clearing_edge > (60 if axis == 0 else 40)
    return cell * 2 + (edge < HEDGE_M), clearing * 2 + inset


def _mixed_lines(coords: np.ndarray, sub_coords: np.ndarray, axis: int, factor: int):
    """Which pixel rows (columns) hold sub-rows whose field or clearing tests differ from
    the pixel centre's: (field, clearing) bool arrays."""
    out = []
    for centre, sub in zip(_axis_keys(coords, axis), _axis_keys(sub_coords, axis), strict=True):
        out.append((sub.reshape(-1, factor) != centre[:, None]).any(axis=1))
    return out


def coarse_surface(grid: Grid, factor: int, seed: int, year: int) -> Coarse:
    """Land cover of ``grid`` as the average of ``grid.refine(factor)`` would give it.

    The decision fields are smooth at the sub-pixel scale (their finest lattice is 75 m),
    so they are evaluated at the pixel centres (and a one-pixel halo) only. A pixel whose
    3x3 neighbourhood sees one class, and no thin feature (road, river, bank, hedge,
    clearing edge) slipping between centres, is one class throughout. The others get
    their sub-pixels classified from the interpolation (:func:`_stencil`) of the fields
    that change around them, and the lattice tests at the sub-pixels themselves.
    The fine texture is an exact area average (:func:`.noise.fbm` with ``average``).
    """
    height, width = grid.height, grid.width
    halo = Grid(grid.col0 - 1, grid.row0 - 1, width + 2, height + 2, grid.res)
    noise = lambda *a: fbm(halo, *a)  # noqa: E731
    thin = grid.res / factor <= THIN_FEATURES_MAX_RES
    d = decisions(lambda specs: fbm_many(halo, specs), seed, year)
    sig = signature(d, thin)
    d, sig = _with_sand(d, sig, noise, seed)
    # Pixels that may mix classes: the noise tests give another class around them, a
    # thin feature lies between centres (both its tests change), or a lattice test
    # changes inside them (exactly known per sub-row and sub-column).
    natural = lookup(sig)
    suspect = _around(natural, np.maximum) != _around(natural, np.minimum)
    plots = _Plots.over(halo.xs, halo.ys, seed, year)
    sig |= plots.bits()
    entries = lookup(sig)
    anywhere = _around(sig, np.bitwise_or)
    vary = anywhere ^ _around(sig, np.bitwise_and)
    for both, gate in (
        ((1 << ROAD_LO) | (1 << ROAD_HI), ROAD_TOWN),
        ((1 << RIVER_LO) | (1 << RIVER_HI), RIVER_PLAIN),
        ((1 << BANK_LO) | (1 << BANK_HI), RIVER_PLAIN),
    ):
        suspect |= ((vary & np.uint32(both | 1 << gate)) == both) & _bit(anywhere, gate)
    fine_grid = grid.refine(factor)
    field_rows, clear_rows = _mixed_lines(grid.ys, fine_grid.ys, 0, factor)
    field_cols, clear_cols = _mixed_lines(grid.xs, fine_grid.xs, 1, factor)
    lattice = np.zeros((height, width), bool)
    if field_rows.any() or field_cols.any():
        farm = _bit(anywhere, FARM) & _bit(anywhere, ABOVE_CROP)
        lattice |= (field_rows[:, None] | field_cols[None, :]) & farm
    cut = _around(plots.clearings.spread(plots.cleared), np.bitwise_or)
    if cut.any():
        cut &= _bit(anywhere, ABOVE_FOREST)
        lattice |= (clear_rows[:, None] | clear_cols[None, :]) & cut
    suspect |= lattice
    candidates = np.flatnonzero(suspect)
    rows, cols = np.divmod(candidates, width)

    # Sub-pixel signatures of the candidates.
    k = factor * factor
    sub = np.repeat(sig[1:-1, 1:-1].ravel()[candidates][:, None], k, axis=1)
    varies = vary.ravel()[candidates]
    centre = (rows + 1) * (width + 2) + cols + 1
    neighbours = np.array([dy * (width + 2) + dx for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
    stencil = _stencil(factor)
    for name, bits in FIELD_BITS.items():
        values = getattr(d, name)
        pick = np.flatnonzero(varies & np.uint32(bits))
        if values is None or not len(pick):
            continue
        near = np.take(values, centre[pick][:, None] + neighbours)
        value = near @ stencil
        part = sub[pick] & np.uint32(~bits & 0xFFFFFFFF)
        test = np.empty(value.shape, bool)
        for field, threshold, above, bit in _TESTS:
            if field == name and (thin or not (1 << bit) & _THIN_BITS):
                (np.greater if above else np.less)(value, threshold, out=test)
                np.bitwise_or(part, np.uint32(1 << bit), out=part, where=test)
        sub[pick] = part
    lines = np.flatnonzero(lattice.ravel()[candidates])
    if len(lines):
        sy, sx = np.divmod(np.arange(k), factor)
        sub_plots = _Plots.over(fine_grid.xs, fine_grid.ys, seed, year)
        lattice_bits = sub_plots.bits(
            rows[lines][:, None] * factor + sy, cols[lines][:, None] * factor + sx
        )
        keep = np.uint32(~((1 << FIELD_BARE) | (1 << HEDGE) | (1 << CLEARED)) & 0xFFFFFFFF)
        sub[lines] = (sub[lines] & keep) | lattice_bits
    sub_entries = lookup(sub)
    same = _all_equal(sub_entries)

    pixel_entries = entries[1:-1, 1:-1].copy()
    pixel_entries.ravel()[candidates[same]] = sub_entries[same, 0]
    codes, river = split(pixel_entries)
    fine, coarse = _textures(grid, seed, average=factor)
    base, swing = _base(codes, river, fine, coarse)
    fields = plots.fields._replace(  # the crop fields under the pixels, halo cut off
        row_of=plots.fields.row_of[1:-1], col_of=plots.fields.col_of[1:-1]
    )
    phase_cos, phase_sin = _phases(grid, codes, fields, seed)
    brightness = fine * np.float32(0.25)
    brightness += np.float32(1)
    pixels = Surface(codes, base, swing, phase_cos, phase_sin, brightness, fine)

    index = candidates[~same]
    sub_codes, sub_river = split(sub_entries[~same])
    at = lambda a: a.ravel()[index][:, None]  # noqa: E731
    sub_base, sub_swing = _base(sub_codes, sub_river, at(fine), at(coarse))
    crop_cos, crop_sin = _crop_phases(grid, fields, seed, *np.divmod(index, width))
    crop = sub_codes == CODE["cropland"]
    mixed = Surface(
        sub_codes,
        sub_base,
        sub_swing,
        np.where(crop, crop_cos[:, None], at(phase_cos)),
        np.where(crop, crop_sin[:, None], at(phase_sin)),
        at(brightness),
        at(fine),
    )
    return Coarse(pixels, index, mixed)


def _all_equal(entries: np.ndarray) -> np.ndarray:
    """Rows of a uint8 ``(M, k)`` array whose entries are all equal."""
    m, k = entries.shape
    if k % 4:
        return (entries == entries[:, :1]).all(axis=1)
    words = np.ascontiguousarray(entries).view(np.uint32)
    same = words == entries[:, :1].astype(np.uint32) * np.uint32(0x01010101)
    return same.all(axis=1) if k > 4 else same[:, 0]


def _crop_phases(grid: Grid, fields: _Lattice, seed: int, rows: np.ndarray, cols: np.ndarray):
    """cos and sin of the greenest-day angle of the crop field under pixels ``(rows, cols)``."""
    shift = _field_phases(fields, seed)[fields.row_of[rows], fields.col_of[cols]]
    north = grid.ys[rows] >= 0
    angle = shift + np.where(north, peak_phase(1.0), peak_phase(-1.0)).astype(np.float32)
    return np.cos(angle), np.sin(angle)
