import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from minescan.kernel import roc


def test_auc_matches_sklearn_with_ties():
    rng = np.random.default_rng(3)
    labels = rng.random(200) < 0.4
    scores = np.round(rng.random(200) + labels * 0.3, 1)  # rounding makes many ties
    assert roc.auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores))


def test_auc_of_one_class_is_none_and_perfect_is_one():
    assert roc.auc([0, 0, 0], [0.1, 0.2, 0.3]) is None
    assert roc.auc([1, 1, 0], [0.9, 0.8, 0.1]) == 1.0
    assert roc.auc([1, 1, 0], [0.1, 0.2, 0.9]) == 0.0


def test_confusion_counts_and_undefined_rates():
    c = roc.confusion([1, 1, 1, 0], [1, 1, 0, 1])
    assert (c["tp"], c["fn"], c["fp"], c["tn"]) == (2, 1, 1, 0)
    assert c["sensitivity"] == pytest.approx(2 / 3)
    assert c["specificity"] == 0.0
    assert roc.confusion([1], [0])["specificity"] is None


def test_sensitivity_at_specificity_picks_the_best_allowed_threshold():
    labels = np.array([1] * 10 + [0] * 20, bool)
    scores = np.r_[np.linspace(0.5, 0.95, 10), np.linspace(0.0, 0.6, 20)]
    best = roc.sensitivity_at_specificity(labels, scores, 0.95)
    assert best["specificity"] >= 0.95
    # the lowest allowed cut sits just above the 19th negative
    brute = max(
        (scores[labels] >= c).mean() for c in scores if (scores[~labels] < c).mean() >= 0.95
    )
    assert best["sensitivity"] == pytest.approx(brute)


def test_roc_points_run_from_origin_to_one():
    fpr, tpr, cuts = roc.roc_points([1, 0, 1, 0], [0.9, 0.8, 0.3, 0.1])
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0, 0, 1, 1)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert np.isinf(cuts[0])
