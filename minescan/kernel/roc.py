"""ROC figures of a yes/no label against a score: one owner for evaluate and train.

``minescan evaluate`` reports them per patch (:mod:`minescan.evaluate.metrics`)
and ``minescan train verifier`` sets and reports its threshold with them
(:mod:`minescan.train.verifier`); both sit above the kernel, so the functions
live here. A score at or above a threshold counts as a detection.
"""

from __future__ import annotations

import numpy as np


def auc(labels, scores) -> float | None:
    """Area under the ROC curve (Mann-Whitney, ties half); None without both classes.

    Examples
    --------
    >>> auc([1, 1, 0, 0], [0.9, 0.8, 0.1, 0.8])
    0.875
    >>> auc([1, 1], [0.2, 0.3]) is None
    True
    """
    labels = np.asarray(labels, dtype=bool)
    scores = np.asarray(scores, dtype=float)
    pos, neg = scores[labels], scores[~labels]
    if len(pos) == 0 or len(neg) == 0:
        return None
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    ranks = np.empty(len(order))
    values = np.concatenate([pos, neg])[order]
    # average ranks over ties
    _, first, counts = np.unique(values, return_index=True, return_counts=True)
    mean_rank = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(mean_rank, counts)
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def confusion(labels, detected) -> dict:
    """Counts and rates of a yes/no decision per patch.

    Examples
    --------
    >>> confusion([1, 1, 0, 0], [1, 0, 0, 1])["sensitivity"]
    0.5
    """
    labels = np.asarray(labels, dtype=bool)
    detected = np.asarray(detected, dtype=bool)
    tp, fn = int((labels & detected).sum()), int((labels & ~detected).sum())
    fp, tn = int((~labels & detected).sum()), int((~labels & ~detected).sum())
    return {
        "mines": tp + fn,
        "others": fp + tn,
        "tp": tp,
        "fn": fn,
        "fp": fp,
        "tn": tn,
        "sensitivity": tp / (tp + fn) if tp + fn else None,
        "specificity": tn / (tn + fp) if tn + fp else None,
        "precision": tp / (tp + fp) if tp + fp else None,
    }


def roc_points(labels, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False-positive rate, true-positive rate and threshold at every distinct score, high first."""
    labels = np.asarray(labels, dtype=bool)
    scores = np.asarray(scores, dtype=float)
    cuts = np.unique(scores)[::-1]
    tpr = np.array([(scores[labels] >= c).mean() if labels.any() else 0.0 for c in cuts])
    fpr = np.array([(scores[~labels] >= c).mean() if (~labels).any() else 0.0 for c in cuts])
    return np.r_[0.0, fpr, 1.0], np.r_[0.0, tpr, 1.0], np.r_[np.inf, cuts, -np.inf]


def sensitivity_at_specificity(labels, scores, specificity: float = 0.95) -> dict:
    """The best sensitivity among thresholds that keep specificity at or above the target."""
    labels = np.asarray(labels, dtype=bool)
    scores = np.asarray(scores, dtype=float)
    best = {"specificity_target": specificity, "threshold": None, "sensitivity": None}
    if not labels.any() or labels.all():
        return best
    for cut in np.unique(scores):
        spec = float((scores[~labels] < cut).mean())
        if spec >= specificity:
            sens = float((scores[labels] >= cut).mean())
            if best["sensitivity"] is None or sens > best["sensitivity"]:
                best.update(threshold=float(cut), sensitivity=sens, specificity=spec)
    return best
