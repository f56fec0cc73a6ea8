"""Calibrating the screen's tile rule on whole validation chips: pixel threshold and per-zoom floors.

The scorer's pixels are counted per chip (:func:`score_chips`), and
:func:`calibrate` picks the pixel threshold and the floor per zoom so that at
least :data:`KEEP_MINE_TILES` of the tiles that hold a mine are kept while as
many empty tiles as possible are dropped; :func:`tile_figures` reports how
the rule does. Keeping a tile is the kernel's rule
(:func:`~minescan.kernel.screen.keeps_tile`), the one the scan applies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from minescan.datasets.chip_files import chip_path
from minescan.kernel.bands import S2_BANDS
from minescan.kernel.errors import MinescanError
from minescan.kernel.screen import Screen, keeps_tile, mine_share

#: Share of validation tiles holding a mine that the tile rule must keep.
KEEP_MINE_TILES = 0.99
#: Share of empty validation tiles the floor should drop at least (the target is 60% at test).
DROP_EMPTY_TILES = 0.8
#: Where mine and empty tiles overlap at every threshold, the floor is this share of the
#: largest floor that keeps 99% of mine tiles, so weaker unseen mine tiles are still kept.
SAFETY = 0.5


@dataclass(frozen=True)
class TileScores:
    """Pixel scores of one whole chip (subsampled) and whether it holds a mine."""

    cell: str
    zoom: int
    split: str
    scores: np.ndarray  # valid pixels only, 1-D
    has_mine: bool


def score_chips(
    screen: Screen, chips_dir: Path, cells: pd.DataFrame, stride: int = 2
) -> list[TileScores]:
    """Score every chip named in ``cells`` (columns cell, z, split); missing chips are an error."""
    from tqdm import tqdm

    from minescan.kernel.raster import read_cog

    out = []
    for cell, zoom, split in tqdm(
        cells[["cell", "z", "split"]].itertuples(index=False),
        total=len(cells),
        desc="screen: scoring chips",
        disable=None,
    ):
        p = chip_path(chips_dir, str(cell), int(zoom))
        if not p.exists():
            raise MinescanError(f"chip not found for calibration: {p} (pass --chips DIR)")
        data, _, names, _ = read_cog(p)
        names = list(names)
        if "_mine" not in names:
            raise MinescanError(f"chip {p} has no _mine band")
        mine = data[names.index("_mine"), ::stride, ::stride] > 0.5
        bands = [n for n in names if n in S2_BANDS]
        pix = data[[names.index(b) for b in bands], ::stride, ::stride]
        valid = np.isfinite(pix).all(axis=0)
        s = screen.score(pix, bands)[valid]
        out.append(TileScores(str(cell), int(zoom), str(split), s, bool((mine & valid).any())))
    return out


def tile_floor(fractions: np.ndarray, keep: float = KEEP_MINE_TILES) -> float:
    """Largest floor that keeps at least ``keep`` of the tiles with these mine fractions.

    Examples
    --------
    >>> tile_floor(np.array([0.0, 0.1, 0.2, 0.3]))
    0.0
    >>> round(tile_floor(np.linspace(0.01, 1, 200)), 4)  # 198 of 200 kept: the 3rd smallest
    0.0199
    """
    if fractions.size == 0:
        return 0.0
    allowed = int(math.floor((1 - keep) * fractions.size + 1e-9))
    return float(np.sort(fractions)[allowed])


@dataclass(frozen=True)
class TileRule:
    pixel_threshold: float
    tile_min_fraction: dict[int, float]


def calibrate(tiles: list[TileScores], n_thresholds: int = 100) -> TileRule:
    """Pick the pixel threshold and per-zoom floors from validation tiles.

    For a candidate pixel threshold, each zoom has a gap between ``high``, the
    largest floor that still keeps :data:`KEEP_MINE_TILES` of its mine tiles,
    and ``low``, the smallest floor that drops :data:`DROP_EMPTY_TILES` of its
    empty tiles (never below one pixel). The floor goes in the middle of the
    gap on a log scale, and the threshold with the widest gap (worst zoom)
    wins: the most room for unseen tiles on both sides. Where no threshold opens
    a gap, keeping wins: the floor is :data:`SAFETY` times ``high``.
    """
    if not any(t.has_mine for t in tiles):
        raise MinescanError(
            "screen: no validation chip holds a mine; cannot calibrate the tile rule"
        )
    all_scores = np.concatenate([t.scores for t in tiles if t.scores.size])
    n_tail = n_thresholds * 2 // 3
    levels = np.concatenate(
        [np.linspace(0.05, 0.9, n_thresholds - n_tail), 1 - np.logspace(-1, -5, n_tail)]
    )
    # midpoints between quantiles: scores are discrete (quantised reflectance), and a threshold
    # sitting exactly on a crowded value would make the fractions jump with rounding
    q = np.unique(np.round(np.quantile(all_scores, levels), 3))
    candidates = (q[:-1] + q[1:]) / 2 if q.size > 1 else q
    zooms = sorted({t.zoom for t in tiles})
    one_pixel = 1.0 / max(max(t.scores.size for t in tiles), 1)
    best = None
    for thr in candidates:
        floors, gaps = {}, []
        for z in zooms:
            mine = np.array([_fraction(t, thr) for t in tiles if t.zoom == z and t.has_mine])
            empty = np.array([_fraction(t, thr) for t in tiles if t.zoom == z and not t.has_mine])
            high = tile_floor(mine)
            low = max(float(np.quantile(empty, DROP_EMPTY_TILES)) if empty.size else 0.0, one_pixel)
            if high > low:
                floors[z] = float(np.sqrt(high * low))
                gaps.append(high / low)
            else:
                floors[z] = SAFETY * high
                gaps.append(high / low if low > 0 else 0.0)
        rule = TileRule(float(thr), floors)
        key = (min(gaps), _drop_rate(tiles, rule))
        if best is None or key > best[0]:
            best = (key, rule)
    return best[1]


def _fraction(t: TileScores, threshold: float) -> float:
    # t.scores holds the chip's clear pixels only
    return mine_share(t.scores >= threshold)


def _kept(t: TileScores, rule: TileRule) -> bool:
    return keeps_tile(_fraction(t, rule.pixel_threshold), rule.tile_min_fraction, t.zoom)


def _drop_rate(tiles: list[TileScores], rule: TileRule) -> float:
    empty = [t for t in tiles if not t.has_mine]
    return float(np.mean([not _kept(t, rule) for t in empty])) if empty else 0.0


def tile_figures(tiles: list[TileScores], rule: TileRule) -> dict:
    """Keep rate of mine tiles and drop rate of empty tiles, overall and per zoom."""

    def figs(ts: list[TileScores]) -> dict:
        mine = [t for t in ts if t.has_mine]
        return {
            "mine_tiles": len(mine),
            "empty_tiles": len(ts) - len(mine),
            "mine_tiles_kept": float(np.mean([_kept(t, rule) for t in mine])) if mine else None,
            "empty_tiles_dropped": _drop_rate(ts, rule) if len(ts) > len(mine) else None,
        }

    out = figs(tiles)
    out["per_zoom"] = {
        str(z): figs([t for t in tiles if t.zoom == z]) for z in sorted({t.zoom for t in tiles})
    }
    return out
