"""Scoring an excavation history against known truth (dated growth polygons).

The figures are the issue's targets: IoU of the last-date map, the median
relative error of the area profile, the false excavation rate on pixels that
only change with seasons and clouds, and precision / recall / F1 over every
(pixel, date) pair, so both where and when count.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage

from minescan.kernel.errors import MinescanError
from minescan.kernel.source import truth_of
from minescan.monitor.nogo import rasterise

#: Pixels this close (in pixels) to a truth edge are mixed and left out of the false-excavation rate.
EDGE_PX = 2


def part_dates(growth) -> np.ndarray:
    """Excavation date of each growth polygon from ``start_date``, ``date`` or ``year``."""
    for column in ("start_date", "date"):
        if column in growth.columns:
            dates = pd.to_datetime(growth[column], errors="coerce")
            break
    else:
        if "year" not in growth.columns:
            raise MinescanError("growth polygons need a `year`, `date` or `start_date` column")
        year = growth["year"]
        if pd.api.types.is_datetime64_any_dtype(year):
            dates = pd.to_datetime(year)
        else:
            years = pd.to_numeric(year, errors="coerce").astype("Int64").astype(str)
            dates = pd.to_datetime(years + "-01-01", errors="coerce")
    if dates.isna().any():
        raise MinescanError("growth polygons have a missing or unreadable date")
    return dates.to_numpy().astype("datetime64[D]")


def truth_first_date(growth, shape, transform, crs: str) -> np.ndarray:
    """``(H, W)`` datetime64[D] of each pixel's first excavation, NaT where never."""
    dates = part_dates(growth)
    out = np.full(shape, np.datetime64("NaT"), dtype="datetime64[D]")
    for day in np.unique(dates)[::-1]:  # earliest last, so it wins
        mask = rasterise(growth.geometry[dates == day], shape, transform, crs)
        out[mask] = day
    return out


def truth_state(first_date: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """``(T, H, W)`` bool: excavated by each date."""
    known = ~np.isnat(first_date)
    return known[None] & (first_date[None] <= np.asarray(dates, "datetime64[D]")[:, None, None])


def scores(
    state: np.ndarray, truth: np.ndarray, ignore: np.ndarray | None = None
) -> dict[str, float]:
    """Target figures of one mine (see the module docstring).

    ``ignore`` ``(H, W)`` marks pixels that are neither mine nor plain land
    (the simulator's haul roads), left out of the false-excavation rate.
    """
    last_pred, last_true = state[-1], truth[-1]
    union = (last_pred | last_true).sum()
    true_area = truth.sum(axis=(1, 2)).astype(float)
    pred_area = state.sum(axis=(1, 2)).astype(float)
    dug = true_area > 0
    rel = np.abs(pred_area[dug] - true_area[dug]) / true_area[dug]
    ever_true = truth.any(axis=0)
    plain = ~ndimage.binary_dilation(ever_true, iterations=EDGE_PX)
    if ignore is not None:
        plain &= ~ignore
    tp = float((state & truth).sum())
    fp = float((state & ~truth).sum())
    fn = float((~state & truth).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {
        "iou_last": float((last_pred & last_true).sum() / union) if union else 1.0,
        "area_error_median": float(np.median(rel)) if len(rel) else 0.0,
        "false_excavation_rate": float(state.any(axis=0)[plain].mean()) if plain.any() else 0.0,
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "truth_ha_last": float(last_true.sum() / 100),
        "excavated_ha_last": float(last_pred.sum() / 100),
    }


def ignore_mask(source, geometry, shape, transform, crs: str) -> np.ndarray | None:
    """Haul roads of the simulated world (outside the growth polygons), when the source knows them."""
    if truth_of(source) is None:
        return None
    parts = source.components_in(geometry)
    if len(parts) == 0:
        return None
    roads = parts[parts["component"] == "road"]
    return rasterise(roads.geometry, shape, transform, crs) if len(roads) else None


def summarise(per_mine: list[dict]) -> dict:
    """Across mines: medians of each figure, and pooled precision / recall / F1."""
    if not per_mine:
        return {}
    keys = ("iou_last", "area_error_median", "false_excavation_rate", "precision", "recall", "f1")
    return {
        "mines": len(per_mine),
        **{f"{k}_median": float(np.median([m[k] for m in per_mine])) for k in keys},
        "iou_last_min": float(min(m["iou_last"] for m in per_mine)),
    }
