"""Boxes from chip pixels to map space, tile ownership, and merging across tiles.

A chip is read with a margin for context, so the same mine can be seen by two
neighbouring chips. Each box therefore belongs to exactly one tile, the one that
holds its centre; and a mine that spans several tiles, seen as one box per tile,
is merged back into one candidate in map space (EPSG:3857).
"""

from __future__ import annotations

import numpy as np
import shapely
from affine import Affine
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


def to_map(boxes_px: np.ndarray, transform: Affine) -> np.ndarray:
    """``(k, 5)`` pixel boxes (x1, y1, x2, y2, score) to map boxes (xmin, ymin, xmax, ymax, score).

    ``transform`` is the chip's pixel -> EPSG:3857 affine (north-up).

    Examples
    --------
    >>> t = Affine(10, 0, 1000, 0, -10, 5000)
    >>> to_map(np.array([[0, 0, 2, 1, 0.5]]), t).tolist()
    [[1000.0, 4990.0, 1020.0, 5000.0, 0.5]]
    """
    boxes_px = np.asarray(boxes_px, dtype=np.float64).reshape(-1, 5)
    t = transform
    xa = t.a * boxes_px[:, 0] + t.b * boxes_px[:, 1] + t.c
    ya = t.d * boxes_px[:, 0] + t.e * boxes_px[:, 1] + t.f
    xb = t.a * boxes_px[:, 2] + t.b * boxes_px[:, 3] + t.c
    yb = t.d * boxes_px[:, 2] + t.e * boxes_px[:, 3] + t.f
    return np.stack(
        [
            np.minimum(xa, xb),
            np.minimum(ya, yb),
            np.maximum(xa, xb),
            np.maximum(ya, yb),
            boxes_px[:, 4],
        ],
        axis=1,
    )


def owned(boxes_px: np.ndarray, size_px: int, margin_px: int) -> np.ndarray:
    """Which boxes have their centre inside the tile's own pixels (not in the margin).

    The core spans ``[margin, margin + size)`` on both axes, so a centre on the
    shared edge of two tiles belongs to exactly one of them.

    Examples
    --------
    >>> owned(np.array([[0, 0, 10, 10, 1], [20, 20, 30, 30, 1]]), size_px=256, margin_px=16).tolist()
    [False, True]
    """
    boxes_px = np.asarray(boxes_px, dtype=np.float64).reshape(-1, 5)
    cx = (boxes_px[:, 0] + boxes_px[:, 2]) / 2
    cy = (boxes_px[:, 1] + boxes_px[:, 3]) / 2
    lo, hi = margin_px, margin_px + size_px
    return (cx >= lo) & (cx < hi) & (cy >= lo) & (cy < hi)


def touches_core(boxes_px: np.ndarray, size_px: int, margin_px: int) -> np.ndarray:
    """Which boxes reach into the tile's own pixels; such a box opens the tile's children.

    Opening every tile a box reaches, not only its owner, keeps the whole of a
    mine that straddles a tile edge in the next level.
    """
    boxes_px = np.asarray(boxes_px, dtype=np.float64).reshape(-1, 5)
    lo, hi = margin_px, margin_px + size_px
    return (
        (boxes_px[:, 2] > lo)
        & (boxes_px[:, 0] < hi)
        & (boxes_px[:, 3] > lo)
        & (boxes_px[:, 1] < hi)
    )


def components(bounds: np.ndarray, gap: float = 0.0) -> np.ndarray:
    """Label boxes so that boxes touching or overlapping (or within ``gap``) share a label.

    Pairs come from an STRtree query; the labels are the connected components of
    that pair graph (a union-find in effect), numbered 0..n-1 in first-seen order.

    Examples
    --------
    >>> components(np.array([[0, 0, 1, 1], [1, 0, 2, 1], [5, 5, 6, 6]])).tolist()
    [0, 0, 1]
    """
    bounds = np.asarray(bounds, dtype=np.float64).reshape(-1, 4)
    n = len(bounds)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    geoms = shapely.box(bounds[:, 0], bounds[:, 1], bounds[:, 2], bounds[:, 3])
    tree = shapely.STRtree(geoms)
    if gap > 0:
        left, right = tree.query(geoms, predicate="dwithin", distance=gap)
    else:
        left, right = tree.query(geoms, predicate="intersects")
    graph = coo_matrix((np.ones(len(left), dtype=np.int8), (left, right)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return labels.astype(np.int64)


def merge(boxes: np.ndarray, gap: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Merge touching or overlapping map boxes into one box each; score = the highest.

    Merged boxes are the envelopes of their groups. An envelope can reach a box
    of another group, so merging repeats until no two results touch.

    Parameters
    ----------
    boxes
        ``(n, 5)``: xmin, ymin, xmax, ymax, score.
    gap
        Boxes closer than this merge too (map units).

    Returns
    -------
    merged
        ``(m, 5)`` boxes, sorted north to south, then west to east.
    best
        ``(m,)`` index into ``boxes`` of the highest-scoring member of each group.

    Examples
    --------
    >>> b = np.array([[0, 0, 2, 2, .4], [2, 0, 4, 2, .9], [9, 9, 10, 10, .5]])
    >>> merged, best = merge(b)
    >>> merged.tolist(), best.tolist()
    ([[9.0, 9.0, 10.0, 10.0, 0.5], [0.0, 0.0, 4.0, 2.0, 0.9]], [2, 1])
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 5)
    group = np.arange(len(boxes))  # group of each input box
    current = boxes
    while True:
        labels = components(current[:, :4], gap)
        group = labels[group]
        if labels.max(initial=-1) + 1 == len(current):
            break
        current = _envelopes(boxes, group)
    merged = _envelopes(boxes, group)
    best = np.array(
        [np.flatnonzero(group == g)[np.argmax(boxes[group == g, 4])] for g in range(len(merged))],
        dtype=np.int64,
    )
    order = np.lexsort((merged[:, 0], -merged[:, 3]))
    return merged[order], best[order]


def _envelopes(boxes: np.ndarray, group: np.ndarray) -> np.ndarray:
    n = group.max(initial=-1) + 1
    out = np.empty((n, 5))
    out[:, 0] = np.full(n, np.inf)
    out[:, 1] = np.full(n, np.inf)
    out[:, 2:] = -np.inf
    np.minimum.at(out[:, 0], group, boxes[:, 0])
    np.minimum.at(out[:, 1], group, boxes[:, 1])
    np.maximum.at(out[:, 2], group, boxes[:, 2])
    np.maximum.at(out[:, 3], group, boxes[:, 3])
    np.maximum.at(out[:, 4], group, boxes[:, 4])
    return out


def box_fractions(boxes_px: np.ndarray, flagged: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Share of each box's valid pixels that are ``flagged``; 0 for a box with no valid pixel.

    A pixel counts when its centre lies inside the box; boxes are clipped to the
    chip. Summed-area tables make each box O(1), however large.

    Examples
    --------
    >>> flagged = np.zeros((4, 4), bool)
    >>> flagged[0, 0] = True
    >>> box_fractions(np.array([[0, 0, 2, 2, .9], [2, 2, 4, 4, .9]]), flagged, np.ones((4, 4), bool)).tolist()
    [0.25, 0.0]
    """
    boxes_px = np.asarray(boxes_px, dtype=np.float64).reshape(-1, 5)
    h, w = valid.shape
    counts = np.zeros((2, h + 1, w + 1), dtype=np.int64)
    counts[0, 1:, 1:] = (flagged & valid).cumsum(0).cumsum(1)
    counts[1, 1:, 1:] = valid.cumsum(0).cumsum(1)
    # Pixel j's centre j + 0.5 is inside [a, b) when ceil(a - 0.5) <= j < ceil(b - 0.5).
    x0, x1 = (np.clip(np.ceil(boxes_px[:, [0, 2]] - 0.5), 0, w).astype(np.int64)).T
    y0, y1 = (np.clip(np.ceil(boxes_px[:, [1, 3]] - 0.5), 0, h).astype(np.int64)).T
    sums = counts[:, y1, x1] - counts[:, y0, x1] - counts[:, y1, x0] + counts[:, y0, x0]
    return np.where(sums[1] > 0, sums[0] / np.maximum(sums[1], 1), 0.0)


def cell_boxes(size_px: int, margin_px: int, split: int) -> np.ndarray:
    """Pixel boxes ``(split * split, 5)`` of a tile's children in its chip, row by row (score 1).

    Examples
    --------
    >>> cell_boxes(256, 16, 2)[:, :4].tolist()
    [[16.0, 16.0, 144.0, 144.0], [144.0, 16.0, 272.0, 144.0], [16.0, 144.0, 144.0, 272.0], [144.0, 144.0, 272.0, 272.0]]
    """
    edges = margin_px + np.arange(split + 1) * (size_px / split)
    rows, cols = np.divmod(np.arange(split * split), split)
    return np.column_stack(
        [edges[cols], edges[rows], edges[cols + 1], edges[rows + 1], np.ones(split * split)]
    )


def children_under(boxes_px: np.ndarray, size_px: int, margin_px: int, split: int, grow_px: float):
    """Which of a tile's ``split x split`` children the boxes cover, each box grown by ``grow_px``.

    The pyramid opens only these children at the next level: a mine seen at a
    coarse zoom is refined where it lies, not over the whole tile. Boxes are in
    chip pixels (core from ``margin_px`` to ``margin_px + size_px``); the result
    is a ``(split, split)`` boolean array indexed ``[row, column]``.

    Examples
    --------
    >>> children_under(np.array([[20, 20, 30, 30, 0.9]]), 256, 16, 2, 0).astype(int).tolist()
    [[1, 0], [0, 0]]
    >>> children_under(np.array([[20, 20, 30, 30, 0.9]]), 256, 16, 2, 200).astype(int).tolist()
    [[1, 1], [1, 1]]
    """
    boxes_px = np.asarray(boxes_px, dtype=np.float64).reshape(-1, 5)
    cell = size_px / split
    lo = np.floor((boxes_px[:, :2] - grow_px - margin_px) / cell)
    hi = np.ceil((boxes_px[:, 2:4] + grow_px - margin_px) / cell)
    hi = np.maximum(hi, lo + 1)  # a zero-width box on a cell border still covers a cell
    lo = np.clip(lo, 0, split).astype(np.int64)
    hi = np.clip(hi, 0, split).astype(np.int64)
    out = np.zeros((split, split), dtype=bool)
    for (c0, r0), (c1, r1) in zip(lo, hi, strict=True):
        out[r0:r1, c0:c1] = True
    return out
