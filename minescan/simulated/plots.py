"""Crop fields and forest clearings: rectangular lattices laid over the map.

Fields (:data:`FIELD_SIZE`, hedges of :data:`HEDGE_M` between them) lie bare some years;
forest clearings are cut in cells of :data:`CLEARING_CELL_M`. Their tests are exact per
pixel row and column, which is what lets :mod:`.coarse` find the pixels they cross.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from minescan.simulated import seeds
from minescan.simulated.decisions import CLEARED, FIELD_BARE, HEDGE
from minescan.simulated.noise import uniform
from minescan.simulated.seeds import field_seed

#: Size of crop fields (map metres) and the hedge between them.
FIELD_SIZE = (320.0, 240.0)
HEDGE_M = 8.0
#: Cell size of the lattice on which forest clearings are cut.
CLEARING_CELL_M = 400.0


def lattice_cells(coords: np.ndarray, size: float) -> tuple[np.ndarray, np.ndarray]:
    """Index of the lattice cell along one axis, and the distance to the nearest cell edge."""
    u = coords / size
    cell = np.floor(u)
    frac = u - cell
    return cell.astype(np.int64), np.minimum(frac, 1 - frac) * size


class Lattice(NamedTuple):
    """A rectangular lattice of cells over a grid: each pixel row's and column's cell."""

    rows: np.ndarray  # lattice rows under the grid, (n_rows, 1)
    cols: np.ndarray  # lattice columns under the grid, (1, n_cols)
    row_of: np.ndarray  # intp (H,): position in ``rows`` of each pixel row
    col_of: np.ndarray  # intp (W,)

    @classmethod
    def over(cls, row_cell: np.ndarray, col_cell: np.ndarray) -> Lattice:
        """The cells under the pixels (never more cells than pixels, at any zoom)."""
        rows, row_of = np.unique(row_cell, return_inverse=True)
        cols, col_of = np.unique(col_cell, return_inverse=True)
        return cls(rows[:, None], cols[None, :], row_of.astype(np.intp), col_of.astype(np.intp))

    def spread(self, table: np.ndarray) -> np.ndarray:
        """Per-cell ``table`` (n_rows, n_cols) to pixels (H, W)."""
        by_row = np.take(table, self.row_of, axis=0, mode="clip")
        return np.take(by_row, self.col_of, axis=1, mode="clip")


class Plots(NamedTuple):
    """The crop-field and clearing lattices over a grid, and their per-pixel tests."""

    fields: Lattice
    bare: np.ndarray  # (n_rows, n_cols) per field: lies bare this year
    hedge_row: np.ndarray  # (H,) within a hedge along x
    hedge_col: np.ndarray  # (W,)
    clearings: Lattice
    cleared: np.ndarray  # (n_rows, n_cols) per clearing cell: cut this year
    inset_row: np.ndarray  # (H,) inside the cell's margin
    inset_col: np.ndarray

    @classmethod
    def over(cls, xs: np.ndarray, ys: np.ndarray, seed: int, year: int) -> Plots:
        col_cell, col_edge = lattice_cells(xs, FIELD_SIZE[0])
        row_cell, row_edge = lattice_cells(ys, FIELD_SIZE[1])
        fields = Lattice.over(row_cell, col_cell)
        ccol, ccol_edge = lattice_cells(xs, CLEARING_CELL_M)
        crow, crow_edge = lattice_cells(ys, CLEARING_CELL_M)
        clearings = Lattice.over(crow, ccol)
        clearing_seed = field_seed(seed, seeds.CLEARING, year)
        return cls(
            fields,
            uniform(field_seed(seed, seeds.FIELD), fields.rows, fields.cols) < np.float32(0.15),
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
