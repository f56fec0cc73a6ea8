"""Land cover of coarse grids, as the area average of their 10 m sub-pixels would see it.

A z13 pixel (about 19 m) spans 2 x 2 sub-pixels of the 10 m world, a z12 one 4 x 4.
Evaluating every sub-pixel would cost ``factor**2`` times a pixel; instead the smooth
decision fields are evaluated at pixel centres, and only pixels that may mix classes get
their sub-pixels classified (:func:`coarse_surface`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from minescan.simulated.decisions import (
    ABOVE_CROP,
    ABOVE_FOREST,
    BANK_HI,
    BANK_LO,
    CLEARED,
    FARM,
    FIELD_BARE,
    FIELD_BITS,
    HEDGE,
    RIVER_HI,
    RIVER_LO,
    RIVER_PLAIN,
    ROAD_HI,
    ROAD_LO,
    ROAD_TOWN,
    TESTS,
    THIN_BITS,
    THIN_FEATURES_MAX_RES,
    decisions,
    has_bit,
    lookup,
    signature,
    split,
    with_sand,
)
from minescan.simulated.landcover import Surface, base_fraction, field_phases, phases, textures
from minescan.simulated.noise import Grid, fbm, fbm_many
from minescan.simulated.periods import peak_phase
from minescan.simulated.plots import (
    CLEARING_CELL_M,
    FIELD_SIZE,
    HEDGE_M,
    Lattice,
    Plots,
    lattice_cells,
)
from minescan.simulated.spectra import CODE


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
    cell, edge = lattice_cells(coords, FIELD_SIZE[1 - axis])
    clearing, clearing_edge = lattice_cells(coords, CLEARING_CELL_M)
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
    d, sig = with_sand(d, sig, noise, seed)
    # Pixels that may mix classes: the noise tests give another class around them, a
    # thin feature lies between centres (both its tests change), or a lattice test
    # changes inside them (exactly known per sub-row and sub-column).
    natural = lookup(sig)
    suspect = _around(natural, np.maximum) != _around(natural, np.minimum)
    plots = Plots.over(halo.xs, halo.ys, seed, year)
    sig |= plots.bits()
    entries = lookup(sig)
    anywhere = _around(sig, np.bitwise_or)
    vary = anywhere ^ _around(sig, np.bitwise_and)
    for both, gate in (
        ((1 << ROAD_LO) | (1 << ROAD_HI), ROAD_TOWN),
        ((1 << RIVER_LO) | (1 << RIVER_HI), RIVER_PLAIN),
        ((1 << BANK_LO) | (1 << BANK_HI), RIVER_PLAIN),
    ):
        suspect |= ((vary & np.uint32(both | 1 << gate)) == both) & has_bit(anywhere, gate)
    fine_grid = grid.refine(factor)
    field_rows, clear_rows = _mixed_lines(grid.ys, fine_grid.ys, 0, factor)
    field_cols, clear_cols = _mixed_lines(grid.xs, fine_grid.xs, 1, factor)
    lattice = np.zeros((height, width), bool)
    if field_rows.any() or field_cols.any():
        farm = has_bit(anywhere, FARM) & has_bit(anywhere, ABOVE_CROP)
        lattice |= (field_rows[:, None] | field_cols[None, :]) & farm
    cut = _around(plots.clearings.spread(plots.cleared), np.bitwise_or)
    if cut.any():
        cut &= has_bit(anywhere, ABOVE_FOREST)
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
        for field, threshold, above, bit in TESTS:
            if field == name and (thin or not (1 << bit) & THIN_BITS):
                (np.greater if above else np.less)(value, threshold, out=test)
                np.bitwise_or(part, np.uint32(1 << bit), out=part, where=test)
        sub[pick] = part
    lines = np.flatnonzero(lattice.ravel()[candidates])
    if len(lines):
        sy, sx = np.divmod(np.arange(k), factor)
        sub_plots = Plots.over(fine_grid.xs, fine_grid.ys, seed, year)
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
    fine, coarse = textures(grid, seed, average=factor)
    base, swing = base_fraction(codes, river, fine, coarse)
    fields = plots.fields._replace(  # the crop fields under the pixels, halo cut off
        row_of=plots.fields.row_of[1:-1], col_of=plots.fields.col_of[1:-1]
    )
    phase_cos, phase_sin = phases(grid, codes, fields, seed)
    brightness = fine * np.float32(0.25)
    brightness += np.float32(1)
    pixels = Surface(codes, base, swing, phase_cos, phase_sin, brightness, fine)

    index = candidates[~same]
    sub_codes, sub_river = split(sub_entries[~same])
    at = lambda a: a.ravel()[index][:, None]  # noqa: E731
    sub_base, sub_swing = base_fraction(sub_codes, sub_river, at(fine), at(coarse))
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


def _crop_phases(grid: Grid, fields: Lattice, seed: int, rows: np.ndarray, cols: np.ndarray):
    """cos and sin of the greenest-day angle of the crop field under pixels ``(rows, cols)``."""
    shift = field_phases(fields, seed)[fields.row_of[rows], fields.col_of[cols]]
    north = grid.ys[rows] >= 0
    angle = shift + np.where(north, peak_phase(1.0), peak_phase(-1.0)).astype(np.float32)
    return np.cos(angle), np.sin(angle)
