"""Land cover of the simulated world: classes, vegetation fraction and texture per pixel.

Everything is thresholds on hashed noise in map coordinates (see :mod:`.noise`), so the
map is continuous across tiles and the same at every zoom. Large-scale noise sets the
climate (wet regions grow forest, dry ones bare soil); medium-scale noise draws patches;
zero-contours of smooth noise draw rivers and roads; a rectangular lattice draws fields.

The class rule lives in :mod:`.decisions`, the field and clearing lattices in :mod:`.plots`;
this module turns classes into the per-pixel surface (:func:`surface`) that
:mod:`.coarse` also builds, by area average, for grids coarser than about 10 m.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from minescan.simulated import seeds
from minescan.simulated.decisions import (
    THIN_FEATURES_MAX_RES,
    decisions,
    signature,
    signature_codes,
    with_sand,
)
from minescan.simulated.noise import (
    Grid,
    fbm,
    fbm_many,
    fbm_points,
    uniform,
)
from minescan.simulated.periods import peak_phase
from minescan.simulated.plots import Lattice, Plots
from minescan.simulated.seeds import field_seed
from minescan.simulated.spectra import CLASSES, CODE


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


def is_water(seed: int, xs, ys) -> np.ndarray:
    """Whether map points are lake or river (the same tests as :func:`surface`)."""
    d = decisions(lambda specs: [fbm_points(xs, ys, *spec) for spec in specs], seed, 0)
    codes, _ = signature_codes(signature(d))
    return codes == CODE["water"]


def textures(grid: Grid, seed: int, average: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Fine (40 m) and coarse (300 m) texture noise.

    With ``average > 1`` the fine texture is the mean over ``average x average``
    sub-pixels; the coarse one, smooth over a pixel, is taken at its centre.
    """
    fine = fbm(grid, 40, 2, field_seed(seed, seeds.FINE), average=average)
    coarse = fbm(grid, 300, 2, field_seed(seed, seeds.COARSE))
    return fine, coarse


def base_fraction(codes: np.ndarray, river: np.ndarray, fine: np.ndarray, coarse: np.ndarray):
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


def field_phases(fields: Lattice, seed: int) -> np.ndarray:
    """Greenest-day angle of each crop field cell: its hemisphere's, +-30 days."""
    shift = uniform(field_seed(seed, seeds.FIELD) + 1, fields.rows, fields.cols) - np.float32(0.5)
    return shift * np.float32(2 * np.pi * 60 / 365.25)


def phases(grid: Grid, codes: np.ndarray, fields: Lattice, seed: int):
    """cos and sin of each pixel's greenest-day angle: by hemisphere, crops per field."""
    shape = codes.shape
    north = grid.ys >= 0
    peak = np.where(north, peak_phase(1.0), peak_phase(-1.0)).astype(np.float32)
    phase_cos = np.broadcast_to(np.cos(peak)[:, None], shape).copy()
    phase_sin = np.broadcast_to(np.sin(peak)[:, None], shape).copy()
    crop = codes == CODE["cropland"]
    if crop.any():
        shift = field_phases(fields, seed)
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
    d, sig = with_sand(d, sig, noise, seed)
    plots = Plots.over(grid.xs, grid.ys, seed, year)
    sig |= plots.bits()
    codes, river = signature_codes(sig)
    fine, coarse = textures(grid, seed)
    base, swing = base_fraction(codes, river, fine, coarse)
    phase_cos, phase_sin = phases(grid, codes, plots.fields, seed)
    brightness = fine * np.float32(0.25)
    brightness += np.float32(1)
    return Surface(codes, base, swing, phase_cos, phase_sin, brightness, fine)
