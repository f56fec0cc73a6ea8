import numpy as np
import pandas as pd

from minescan.evaluate import metrics


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
