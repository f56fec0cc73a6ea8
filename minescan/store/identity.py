"""Mine identity across runs and periods: which polygons are the same mine.

A polygon of a new period is the same mine as an existing one when their
ground overlaps (touching edges do not count). Polygons and mines linked by
overlap form groups; in each group:

- no existing mine: every polygon is a new mine;
- one or more existing mines: the oldest (lowest id) is the survivor and the
  others are recorded as **merged** into it;
- two or more polygons: the largest keeps the survivor's id and each other one
  becomes a new mine recorded as **split** from it.

A mine is **confirmed** once it is seen in two consecutive periods (one ends
the day the next starts: 2019 then 2020, 2025Q1 then 2025Q2); until then it is
**provisional**, as every mine first seen in the newest period is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely

from minescan.kernel.period import Period

CONFIRMED, PROVISIONAL, MERGED, DRAFT = "confirmed", "provisional", "merged", "draft"


@dataclass
class Assignment:
    """The outcome of matching one period's polygons against the known mines.

    ``mine_ids[i]`` is polygon ``i``'s mine; ``new`` the ids created (with the
    polygon each came from); ``events`` the merges and splits as ``(kind,
    mine_id, other_id)``: ``mine_id`` merged into / split from ``other_id``.
    """

    mine_ids: list[int]
    new: dict[int, int] = field(default_factory=dict)
    events: list[tuple[str, int, int]] = field(default_factory=list)


def overlapping_pairs(left: Sequence, right: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs ``(i, j)`` where ``left[i]`` and ``right[j]`` share ground (area > 0).

    Examples
    --------
    >>> a = [shapely.box(0, 0, 1, 1)]
    >>> b = [shapely.box(1, 0, 2, 1), shapely.box(0.5, 0, 1.5, 1)]
    >>> [pair.tolist() for pair in overlapping_pairs(a, b)]
    [[0], [1]]
    """
    right = np.asarray(right, dtype=object)
    left = np.asarray(left, dtype=object)
    if len(left) == 0 or len(right) == 0:
        return np.zeros(0, int), np.zeros(0, int)
    i, j = shapely.STRtree(right).query(left, predicate="intersects")
    shared = shapely.area(shapely.intersection(left[i], right[j])) > 0
    return i[shared], j[shared]


def assign(polygons: Sequence, mines: Sequence[tuple[int, object]], next_id: int) -> Assignment:
    """Give each polygon a mine id, creating, merging and splitting as the module says.

    ``mines`` are ``(mine_id, footprint)`` of the known, unmerged mines near
    the polygons; new ids count up from ``next_id``.

    Examples
    --------
    >>> known = [(1, shapely.box(0, 0, 1, 1)), (2, shapely.box(2, 0, 3, 1))]
    >>> merged = assign([shapely.box(0.5, 0, 2.5, 1)], known, next_id=3)
    >>> merged.mine_ids, merged.events
    ([1], [('merge', 2, 1)])
    >>> split = assign([shapely.box(0, 0, 0.4, 1), shapely.box(0.5, 0, 1, 1)], known[:1], 3)
    >>> split.mine_ids, split.events
    ([3, 1], [('split', 3, 1)])
    """
    ids = [mine_id for mine_id, _ in mines]
    poly_idx, mine_idx = overlapping_pairs(polygons, [g for _, g in mines])
    groups = _components(len(polygons), poly_idx, mine_idx)
    areas = shapely.area(np.asarray(polygons, dtype=object))
    result = Assignment(mine_ids=[0] * len(polygons))
    for members, linked in groups:
        linked_ids = sorted({ids[j] for j in linked})
        if not linked_ids:
            for i in members:
                result.mine_ids[i], result.new[next_id] = next_id, i
                next_id += 1
            continue
        survivor = linked_ids[0]
        result.events += [("merge", other, survivor) for other in linked_ids[1:]]
        largest = max(members, key=lambda i: (areas[i], -i))
        for i in sorted(members):
            if i == largest:
                result.mine_ids[i] = survivor
                continue
            result.mine_ids[i], result.new[next_id] = next_id, i
            result.events.append(("split", next_id, survivor))
            next_id += 1
    return result


def _components(
    n_polygons: int, poly_idx: np.ndarray, mine_idx: np.ndarray
) -> list[tuple[list[int], list[int]]]:
    """Groups of polygons linked through shared mines: ``(polygon indices, mine indices)``."""
    parent = list(range(n_polygons))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_polygon: dict[int, int] = {}
    for i, j in zip(poly_idx.tolist(), mine_idx.tolist(), strict=True):
        if j in first_polygon:
            parent[root(i)] = root(first_polygon[j])
        else:
            first_polygon[j] = i
    groups: dict[int, tuple[list[int], set[int]]] = {}
    for i in range(n_polygons):
        groups.setdefault(root(i), ([], set()))[0].append(i)
    for j, i in first_polygon.items():
        groups[root(i)][1].add(j)
    return [(members, sorted(linked)) for members, linked in groups.values()]


def consecutive(first: Period, then: Period) -> bool:
    """Whether ``then`` starts the day ``first`` ends.

    Examples
    --------
    >>> consecutive(Period.parse("2019"), Period.parse("2020"))
    True
    >>> consecutive(Period.parse("2019"), Period.parse("2021"))
    False
    """
    return bool(first.end == then.start)


def status_of(periods: Sequence[Period]) -> str:
    """``confirmed`` when two of the periods follow each other, else ``provisional``.

    Examples
    --------
    >>> status_of([Period.parse("2024Q4"), Period.parse("2025Q1")])
    'confirmed'
    >>> status_of([Period.parse("2025Q1")])
    'provisional'
    """
    starts = {p.start for p in periods}
    return CONFIRMED if any(p.end in starts for p in periods) else PROVISIONAL
