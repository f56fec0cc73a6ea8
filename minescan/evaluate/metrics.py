"""Patch- and box-level figures from scored patches: small pure functions.

Patch level: a patch is detected when its best box scores at or above the
threshold; sensitivity is the share of mine patches detected, specificity
the share of other patches not detected. AUC is the area under the ROC of the
best-box score (ties count half), so it needs no threshold.

Box level, where outlines are given: an outline part is recalled when a box
at the threshold overlaps it by at least one pixel; a box is a true positive
when it overlaps any outline pixel. Mine patches that no outline touches are
left out (their boxes cannot be judged); every box on another patch is false.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from minescan.kernel.roc import auc, confusion, sensitivity_at_specificity

#: Thresholds of the per-threshold table, besides each patch's own threshold.
TABLE_THRESHOLDS: tuple[float, ...] = (
    0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9,
)  # fmt: skip


def threshold_table(labels, scores, extra: tuple[float, ...] = ()) -> pd.DataFrame:
    """One row per threshold: counts, sensitivity, specificity, precision."""
    rows = []
    for cut in sorted(set(TABLE_THRESHOLDS) | set(extra)):
        rows.append({"threshold": cut, **confusion(labels, np.asarray(scores) >= cut)})
    return pd.DataFrame(rows)


def summary(table: pd.DataFrame) -> dict:
    """AUC, the decision at each patch's own threshold, and sensitivity at 95% specificity."""
    out = {"patches": int(len(table)), "auc": auc(table["label"], table["score"])}
    out["at_model_threshold"] = {
        "threshold": sorted(set(table["threshold"].round(6))),
        **confusion(table["label"], table["detected"]),
    }
    out["at_specificity_0.95"] = sensitivity_at_specificity(table["label"], table["score"], 0.95)
    return out


def breakdown(table: pd.DataFrame, column: str) -> pd.DataFrame:
    """The summary per value of ``column`` (region, date ...), one flat row each."""
    rows = []
    for value, part in table.groupby(column, sort=True, dropna=False):
        s = confusion(part["label"], part["detected"])
        rows.append({column: value, "auc": auc(part["label"], part["score"]), **s})
    return pd.DataFrame(rows)


def box_matches(boxes: np.ndarray, mine: np.ndarray) -> tuple[int, int, int, int]:
    """Outline parts recalled / total, and boxes on a mine / total, for one patch.

    Examples
    --------
    >>> m = np.zeros((10, 10), bool); m[1:3, 1:3] = True; m[7:9, 7:9] = True
    >>> box_matches(np.array([[0, 0, 4, 4, 0.9], [4, 4, 6, 6, 0.5]]), m)
    (1, 2, 1, 2)
    """
    from scipy import ndimage

    parts, n_parts = ndimage.label(mine)
    hit_parts: set[int] = set()
    on_mine = 0
    h, w = mine.shape
    for x0, y0, x1, y1, _ in boxes:
        c0, c1 = int(np.floor(max(x0, 0))), int(np.ceil(min(x1, w)))
        r0, r1 = int(np.floor(max(y0, 0))), int(np.ceil(min(y1, h)))
        inside = parts[r0:r1, c0:c1]
        labels = set(np.unique(inside[inside > 0]).tolist())
        hit_parts |= labels
        on_mine += bool(labels)
    return len(hit_parts), int(n_parts), on_mine, int(len(boxes))


def box_level(patches, scores, thresholds) -> dict | None:
    """Box recall and precision over every patch that has an outline mask, None when none has."""
    recalled = parts = good = total = 0
    seen = 0
    for patch, s in zip(patches, scores, strict=True):
        # A mine patch whose outline misses it says nothing about where its boxes should be.
        if patch.mine is None or (patch.label and not patch.mine.any()):
            continue
        seen += 1
        boxes = s.boxes[s.boxes[:, 4] >= thresholds(s.zoom)]
        r, p, g, t = box_matches(boxes, patch.mine)
        recalled, parts, good, total = recalled + r, parts + p, good + g, total + t
    if not seen:
        return None
    return {
        "patches_with_outlines": seen,
        "outline_parts": parts,
        "recalled_parts": recalled,
        "recall": recalled / parts if parts else None,
        "boxes": total,
        "boxes_on_a_mine": good,
        "precision": good / total if total else None,
    }


def screen_summary(table: pd.DataFrame) -> dict:
    """What the screen keeps: of mine patches, of other patches, and whether it could run."""
    ran = table["screen_fraction"].notna()
    out = {"patches_screened": int(ran.sum()), "patches_without_screen_bands": int((~ran).sum())}
    for name, rows in (("mine", table["label"]), ("other", ~table["label"])):
        part = table[rows.astype(bool)]
        out[f"{name}_patches_kept"] = float(part["screen_kept"].mean()) if len(part) else None
    return out


def verifier_summary(table: pd.DataFrame, verifier) -> dict:
    """Whether the verifier ran, on how many patches, and the detector's own figures beside it.

    ``score`` in ``table`` is the verified score; ``detector_score`` the best box before it.
    ``patches_in_fitted_regions`` counts the patches whose ``region_5deg`` the
    verifier was fitted on (``verifier.json`` ``info.fitted_on``): figures on those
    say little about land it has not seen.
    """
    if verifier is None:
        return {"rule": "off: the model folder holds no verifier.json"}
    ran = table["verifier_probability"].notna()
    detector_only = table.assign(
        score=table["detector_score"], detected=table["detector_score"] >= table["threshold"]
    )
    fitted = set(verifier.info.get("fitted_on", {}).get("regions", []))
    seen = table["region_5deg"].isin(fitted)
    return {
        "rule": "on: scores are the verifier's verdicts where a patch has its bands",
        "patches_verified": int(ran.sum()),
        "patches_in_fitted_regions": int(seen.sum()),
        "threshold": verifier.threshold,
        "detector_alone": summary(detector_only),
        "verifier_alone_auc": auc(table.loc[ran, "label"], table.loc[ran, "verifier_probability"]),
    }
