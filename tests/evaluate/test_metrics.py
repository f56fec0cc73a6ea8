import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from minescan.evaluate import metrics


def test_auc_matches_sklearn_with_ties():
    rng = np.random.default_rng(3)
    labels = rng.random(200) < 0.4
    scores = np.round(rng.random(200) + labels * 0.3, 1)  # rounding makes many ties
    assert metrics.auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores))


def test_auc_of_one_class_is_none_and_perfect_is_one():
    assert metrics.auc([0, 0, 0], [0.1, 0.2, 0.3]) is None
    assert metrics.auc([1, 1, 0], [0.9, 0.8, 0.1]) == 1.0
    assert metrics.auc([1, 1, 0], [0.1, 0.2, 0.9]) == 0.0


def test_confusion_counts_and_undefined_rates():
    c = metrics.confusion([1, 1, 1, 0], [1, 1, 0, 1])
    assert (c["tp"], c["fn"], c["fp"], c["tn"]) == (2, 1, 1, 0)
    assert c["sensitivity"] == pytest.approx(2 / 3)
    assert c["specificity"] == 0.0
    assert metrics.confusion([1], [0])["specificity"] is None


def test_sensitivity_at_specificity_picks_the_best_allowed_threshold():
    labels = np.array([1] * 10 + [0] * 20, bool)
    scores = np.r_[np.linspace(0.5, 0.95, 10), np.linspace(0.0, 0.6, 20)]
    best = metrics.sensitivity_at_specificity(labels, scores, 0.95)
    assert best["specificity"] >= 0.95
    # the lowest allowed cut sits just above the 19th negative
    brute = max(
        (scores[labels] >= c).mean() for c in scores if (scores[~labels] < c).mean() >= 0.95
    )
    assert best["sensitivity"] == pytest.approx(brute)


def test_roc_points_run_from_origin_to_one():
    fpr, tpr, cuts = metrics.roc_points([1, 0, 1, 0], [0.9, 0.8, 0.3, 0.1])
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0, 0, 1, 1)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert np.isinf(cuts[0])


def test_threshold_table_holds_the_extra_threshold_and_monotone_rates():
    table = metrics.threshold_table([1, 1, 0, 0], [0.9, 0.03, 0.5, 0.01], extra=(0.033,))
    assert 0.033 in table["threshold"].tolist()
    assert table["sensitivity"].is_monotonic_decreasing
    assert table["specificity"].is_monotonic_increasing


def test_breakdown_per_column_value():
    table = pd.DataFrame(
        {
            "label": [True, False, True, False],
            "score": [0.9, 0.1, 0.2, 0.8],
            "detected": [True, False, False, True],
            "region": ["a", "a", "b", "b"],
        }
    )
    part = metrics.breakdown(table, "region").set_index("region")
    assert part.loc["a", "auc"] == 1.0 and part.loc["b", "auc"] == 0.0
    assert part.loc["b", "sensitivity"] == 0.0


def test_box_matches_counts_parts_and_boxes():
    mine = np.zeros((20, 20), bool)
    mine[2:5, 2:5] = True
    mine[12:18, 12:18] = True
    boxes = np.array([[0, 0, 3, 3, 0.9], [13, 13, 14, 14, 0.8], [6, 6, 10, 10, 0.5]])
    assert metrics.box_matches(boxes, mine) == (2, 2, 2, 3)
    assert metrics.box_matches(np.zeros((0, 5)), mine) == (0, 2, 0, 0)
