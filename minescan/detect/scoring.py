"""Score candidate boxes against truth mine polygons.

The matching rule (also written into ``scan_report.json``): a truth mine is
found when at least one candidate box intersects its polygon (touching
counts); a candidate is correct when it intersects at least one truth polygon.
Recall is found / truth mines, also for mines of at least ``large_ha``;
precision is correct / candidates; area recall is the truth area inside
candidate boxes over the truth area, in an equal-area projection (EPSG:6933).
"""

from __future__ import annotations

import numpy as np
import shapely

EQUAL_AREA = "EPSG:6933"

MATCHING_RULE = (
    "a truth mine is found when any candidate box intersects (touches or overlaps) its polygon; "
    "a candidate is correct when it intersects any truth polygon; recall = found / truth mines "
    "(recall_large: truth mines of at least {large_ha} ha); precision = correct / candidates; "
    "area_recall = truth area inside candidate boxes / truth area (EPSG:6933)"
)


def _ratio(num: int | float, den: int | float) -> float | None:
    return None if den == 0 else round(float(num) / float(den), 4)


def matches(candidates, truth) -> tuple[np.ndarray, np.ndarray]:
    """Which truth mines are found and which candidates are correct (the matching rule above).

    Returns
    -------
    found
        Bool per truth row: some candidate box intersects it.
    correct
        Bool per candidate row: it intersects some truth polygon.
    """
    cand_geoms = np.asarray(candidates.geometry.values)
    truth_geoms = np.asarray(truth.geometry.values)
    t_idx, c_idx = shapely.STRtree(cand_geoms).query(truth_geoms, predicate="intersects")
    found = np.zeros(len(truth_geoms), dtype=bool)
    found[t_idx] = True
    correct = np.zeros(len(cand_geoms), dtype=bool)
    correct[c_idx] = True
    return found, correct


def score(candidates, truth, large_ha: float = 5.0) -> dict:
    """Recall, recall of mines >= ``large_ha``, precision and area recall.

    Parameters
    ----------
    candidates, truth
        GeoDataFrames in EPSG:4326. ``truth`` may carry ``area_ha``; it is
        computed from the polygons otherwise.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> truth = gpd.GeoDataFrame(geometry=[box(0, 0, .01, .01), box(1, 1, 1.01, 1.01)], crs=4326)
    >>> cand = gpd.GeoDataFrame(geometry=[box(.005, 0, .02, .01), box(5, 5, 5.1, 5.1)], crs=4326)
    >>> s = score(cand, truth)
    >>> s["recall"], s["precision"], s["area_recall"]
    (0.5, 0.5, 0.25)
    """
    truth = truth[~truth.geometry.is_empty & truth.geometry.notna()]
    found, correct = matches(candidates, truth)

    truth_ea = truth.to_crs(EQUAL_AREA)
    area_ha = (
        truth["area_ha"].to_numpy(dtype=float)
        if "area_ha" in truth
        else truth_ea.geometry.area.to_numpy() / 1e4
    )
    large = area_ha >= large_ha
    truth_union = shapely.union_all(truth_ea.geometry.values)
    boxes_union = shapely.union_all(candidates.to_crs(EQUAL_AREA).geometry.values)
    inside = shapely.intersection(truth_union, boxes_union).area if len(correct) else 0.0
    return {
        "truth_mines": int(len(found)),
        "truth_mines_found": int(found.sum()),
        "recall": _ratio(found.sum(), len(found)),
        f"truth_mines_{large_ha:g}ha": int(large.sum()),
        "recall_large": _ratio(found[large].sum(), large.sum()),
        "large_ha": large_ha,
        "candidates": int(len(correct)),
        "candidates_correct": int(correct.sum()),
        "precision": _ratio(correct.sum(), len(correct)),
        "truth_area_km2": round(truth_union.area / 1e6, 4),
        "area_recall": _ratio(inside, truth_union.area),
        "matching_rule": MATCHING_RULE.format(large_ha=f"{large_ha:g}"),
    }
