"""Train/val/test splits that never put the same ground in two splits.

Cells are web-mercator tiles at several zooms, so a z13 cell and its z14
children are the same ground. Both rules therefore group cells first and
hold out whole groups:

- ``image`` (no pixel in two splits): one group per ancestor
  tile at the coarsest zoom present;
- ``block`` (a spatial-block split): one group per ancestor tile at
  ``block_zoom`` (default 9, about 78 km at the equator), or one group per
  value of a metadata column (country, commodity), merged with any group it
  shares ground with.

Groups are shuffled with the seed and dealt out by cell count, separately
for groups holding a positive cell and groups without, so val and test get
positives too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from minescan.kernel.errors import MinescanError

SPLITS: tuple[str, ...] = ("train", "val", "test")


@dataclass(frozen=True)
class Split:
    """Which cell goes where, and the rule that decided it (written as ``split.json``)."""

    rule: str
    seed: int
    group_zoom: int
    column: str | None
    fractions: dict[str, float]
    cells: dict[str, str]
    groups: dict[str, str] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Number of cells per split."""
        values = list(self.cells.values())
        return {s: values.count(s) for s in SPLITS}

    def to_dict(self) -> dict:
        """The ``split.json`` content."""
        return {
            "rule": self.rule,
            "seed": self.seed,
            "group_zoom": self.group_zoom,
            "column": self.column,
            "fractions": self.fractions,
            "counts": self.counts(),
            "cells": self.cells,
            "groups": self.groups,
        }


def ancestor_keys(z: np.ndarray, x: np.ndarray, y: np.ndarray, zoom: int) -> np.ndarray:
    """One int64 key per cell: its ancestor tile at ``zoom`` (every ``z`` must be >= ``zoom``).

    Examples
    --------
    >>> ancestor_keys(np.array([14, 13]), np.array([8001, 4000]), np.array([5, 2]), 13).tolist()
    [17179869184002, 17179869184002]
    """
    z = np.asarray(z, np.int64)
    if (z < zoom).any():
        raise ValueError(f"cells coarser than zoom {zoom}")
    shift = z - zoom
    return (np.asarray(x, np.int64) >> shift) * (1 << 32) + (np.asarray(y, np.int64) >> shift)


def group_cells(cells: pd.DataFrame, zoom: int, column: str | None = None) -> np.ndarray:
    """Group index per cell: cells that share ground (or a ``column`` value) share a group.

    ``zoom`` is capped at the coarsest zoom present, so a parent and its
    children always land in one group. Group indices are numbered in order of
    the cells' ``(z, x, y)``, so they do not depend on row order.
    """
    zoom = min(zoom, int(cells["z"].min()))
    keys = ancestor_keys(cells["z"].to_numpy(), cells["x"].to_numpy(), cells["y"].to_numpy(), zoom)
    if column is None:
        links = [keys]
    else:
        values = cells[column].astype(str).to_numpy()
        links = [keys, values]
    # Bipartite graph cell <-> key: connected components are the groups.
    n = len(cells)
    rows, cols, offset = [], [], n
    for key in links:
        _, inverse = np.unique(key, return_inverse=True)
        rows.append(np.arange(n))
        cols.append(inverse + offset)
        offset += int(inverse.max()) + 1
    r, c = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((np.ones(len(r), bool), (r, c)), shape=(offset, offset))
    _, labels = connected_components(graph, directed=False)
    order = np.lexsort((cells["y"].to_numpy(), cells["x"].to_numpy(), cells["z"].to_numpy()))
    # Renumber by first appearance in (z, x, y) order: independent of row order.
    first = {}
    for i in order:
        first.setdefault(labels[i], len(first))
    return np.array([first[label] for label in labels[:n]], dtype=np.int64)


def assign_groups(
    groups: np.ndarray,
    val: float,
    test: float,
    seed: int = 0,
    strata: np.ndarray | None = None,
) -> np.ndarray:
    """Deal whole groups to ``train``/``val``/``test``; one split name per cell.

    Within each stratum, groups are shuffled with ``seed`` and a group goes to
    test, val or train by where the middle of its cells falls on the
    cumulative share ``[0, test)``, ``[test, test + val)``, ``[test + val, 1]``.
    Val (and test) are never left empty when there are enough groups.
    """
    if val < 0 or test < 0 or val + test >= 1:
        raise MinescanError(f"--val {val} and --test {test} must be >= 0 and sum below 1")
    groups = np.asarray(groups)
    ids, inverse, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    group_strata = np.zeros(len(ids), bool)
    if strata is not None:
        np.logical_or.at(group_strata, inverse, np.asarray(strata, bool))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(ids))
    split_of_group = np.empty(len(ids), dtype=object)
    for stratum in (True, False):
        members = order[group_strata[order] == stratum]
        if len(members) == 0:
            continue
        size = sizes[members]
        middle = (np.cumsum(size) - size / 2) / size.sum()
        split_of_group[members] = np.where(
            middle < test, "test", np.where(middle < test + val, "val", "train")
        )
    # Never leave val (then test) empty when another split can spare a group: val borrows
    # from test first, and train always keeps at least one group.
    for name, share, donors in (("val", val, ("test", "train")), ("test", test, ("train",))):
        if share == 0 or name in split_of_group:
            continue
        donor = next(
            (d for d in donors if (split_of_group == d).sum() >= (1 if d == "test" else 2)), None
        )
        if donor is None:
            if name == "val":
                raise MinescanError(
                    f"cannot hold out a val split: the {len(groups)} cells form only "
                    f"{len(ids)} group(s) of shared ground; add cells, use --split image "
                    "or a finer --block-zoom"
                )
            continue
        split_of_group[next(g for g in order if split_of_group[g] == donor)] = name
    return split_of_group[inverse].astype(str)


def make_split(
    cells: pd.DataFrame,
    rule: str = "image",
    val: float = 0.15,
    test: float = 0.15,
    seed: int = 0,
    block_zoom: int = 9,
    column: str | None = None,
) -> Split:
    """Split ``cells`` (columns ``name, z, x, y``, optional ``label`` and ``column``).

    ``rule`` is ``"image"`` (group by the coarsest zoom's ancestor) or
    ``"block"`` (group by the ancestor at ``block_zoom``, or by ``column``).
    Deterministic for a given seed and set of cells.
    """
    if len(cells) == 0:
        raise MinescanError("no cells to split")
    if rule == "image":
        if column is not None:
            raise MinescanError("--split-column goes with --split block")
        zoom = int(cells["z"].min())
    elif rule == "block":
        # With a column, tiles only link cells that overlap (coarsest zoom), not whole blocks.
        zoom = min(block_zoom, int(cells["z"].min())) if column is None else int(cells["z"].min())
        if column is not None and column not in cells.columns:
            raise MinescanError(
                f"no metadata column {column!r} in the chips; have: "
                + ", ".join(sorted(c for c in cells.columns if c not in {"z", "x", "y"}))
            )
    else:
        raise MinescanError(f"unknown split rule {rule!r}; expected image or block")
    groups = group_cells(cells, zoom, column)
    strata = cells["label"].astype(str).eq("pos").to_numpy() if "label" in cells else None
    splits = assign_groups(groups, val, test, seed, strata)
    names = cells["name"].astype(str).tolist()
    return Split(
        rule=rule,
        seed=seed,
        group_zoom=zoom,
        column=column,
        fractions={"train": round(1 - val - test, 6), "val": val, "test": test},
        cells=dict(zip(names, splits.tolist(), strict=True)),
        groups={n: f"g{g}" for n, g in zip(names, groups.tolist(), strict=True)},
    )
