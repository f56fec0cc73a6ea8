import numpy as np
import pytest
from affine import Affine
from hypothesis import given
from hypothesis import strategies as st

from minescan.detect.boxes import (
    box_fractions,
    cell_boxes,
    children_under,
    components,
    merge,
    owned,
    to_map,
    touches_core,
)


def test_to_map_flips_rows_to_north_up_bounds():
    t = Affine(2.0, 0, 100.0, 0, -2.0, 50.0)
    out = to_map(np.array([[1, 2, 3, 5, 0.7]]), t)
    assert out.tolist() == [[102.0, 40.0, 106.0, 46.0, 0.7]]


def test_to_map_empty():
    assert to_map(np.zeros((0, 5)), Affine.identity()).shape == (0, 5)


@given(st.floats(0, 288 - 1e-6), st.floats(0, 288 - 1e-6))
def test_a_centre_on_the_shared_edge_belongs_to_exactly_one_of_two_neighbours(cx, cy):
    # Tile B sits one tile (256 px) east of tile A; the same map box in each one's pixels.
    size, margin = 256, 16
    box_a = np.array([[cx - 2, cy - 2, cx + 2, cy + 2, 1.0]])
    box_b = box_a - np.array([[size, 0, size, 0, 0]])
    in_a, in_b = owned(box_a, size, margin)[0], owned(box_b, size, margin)[0]
    assert not (in_a and in_b)
    if margin <= cy < margin + size and margin + size - 2 <= cx <= margin + size + 2:
        assert in_a or in_b


def test_margin_boxes_are_not_owned_but_can_touch_the_core():
    size, margin = 256, 16
    b = np.array([[0, 100, 20, 110, 0.9], [0, 100, 10, 110, 0.9]])
    assert owned(b, size, margin).tolist() == [False, False]
    assert touches_core(b, size, margin).tolist() == [True, False]


def test_components_touching_and_apart():
    b = np.array([[0, 0, 1, 1], [1, 1, 2, 2], [3, 0, 4, 1], [3.5, 0.5, 5, 1]])
    assert components(b).tolist() == [0, 0, 1, 1]
    assert components(b, gap=1.5).tolist() == [0, 0, 0, 0]
    assert components(np.zeros((0, 4))).tolist() == []


def test_merge_takes_the_envelope_and_the_best_score():
    b = np.array([[0, 0, 2, 2, 0.3], [2, 1, 4, 3, 0.8], [10, 10, 11, 11, 0.5]])
    merged, best = merge(b)
    assert len(merged) == 2
    big = merged[np.argmax(merged[:, 2] - merged[:, 0])]
    assert big.tolist() == [0, 0, 4, 3, 0.8]
    assert sorted(best.tolist()) == [1, 2]


def test_merge_repeats_when_an_envelope_reaches_another_box():
    # An L of two boxes; its envelope covers a third box that touches neither.
    b = np.array([[0, 0, 10, 1, 0.5], [9, 0, 10, 10, 0.5], [2, 5, 3, 6, 0.9]])
    merged, best = merge(b)
    assert merged.tolist() == [[0, 0, 10, 10, 0.9]]
    assert best.tolist() == [2]


@given(st.lists(st.tuples(st.floats(0, 100), st.floats(0, 100), st.floats(0.1, 20)), max_size=30))
def test_merged_boxes_never_touch_each_other_and_cover_every_input(specs):
    b = np.array([[x, y, x + w, y + w, 0.5] for x, y, w in specs]).reshape(-1, 5)
    merged, _ = merge(b)
    assert (components(merged[:, :4]) == np.arange(len(merged))).all()
    for x0, y0, x1, y1, _ in b:
        assert (
            (merged[:, 0] <= x0)
            & (merged[:, 1] <= y0)
            & (merged[:, 2] >= x1)
            & (merged[:, 3] >= y1)
        ).any()


def test_box_fractions_count_the_valid_pixel_centres_inside_each_box():
    rng = np.random.default_rng(1)
    flagged, valid = rng.random((40, 50)) < 0.3, rng.random((40, 50)) < 0.8
    corners = rng.uniform(-10, 60, (200, 4))
    boxes = np.column_stack([np.sort(corners[:, [0, 2]], 1), np.sort(corners[:, [1, 3]], 1)])
    boxes = np.column_stack([boxes[:, [0, 2, 1, 3]], np.ones(200)])
    cx, cy = np.arange(50) + 0.5, np.arange(40) + 0.5
    expected = []
    for x1, y1, x2, y2, _ in boxes:
        inside = ((cy >= y1) & (cy < y2))[:, None] & ((cx >= x1) & (cx < x2))[None, :] & valid
        expected.append(flagged[inside].mean() if inside.any() else 0.0)
    assert np.allclose(box_fractions(boxes, flagged, valid), expected)


def test_box_fractions_outside_the_chip_or_on_invalid_pixels_are_zero():
    flagged = np.ones((8, 8), bool)
    boxes = np.array([[20, 20, 30, 30, 1], [0, 0, 4, 4, 1], [4, 4, 8, 8, 1]], dtype=float)
    valid = np.ones((8, 8), bool)
    valid[:4, :4] = False
    assert box_fractions(boxes, flagged, valid).tolist() == [0.0, 0.0, 1.0]
    assert box_fractions(np.zeros((0, 5)), flagged, valid).shape == (0,)


@pytest.mark.parametrize(
    ("box", "split", "grow", "expected"),
    [
        ([143, 20, 145, 30], 2, 0, [[1, 1], [0, 0]]),  # across the split at px 144
        ([144, 20, 144, 30], 2, 0, [[0, 1], [0, 0]]),  # zero width on the split: one cell
        ([0, 0, 20, 20], 2, 0, [[1, 0], [0, 0]]),  # mostly in the margin
        ([270, 270, 300, 300], 2, 0, [[0, 0], [0, 1]]),  # reaching out of the chip
        ([20, 20, 30, 30], 2, 120, [[1, 1], [1, 1]]),  # grown over the split
        ([150, 20, 160, 30], 4, 0, [[0, 0, 1, 0], [0] * 4, [0] * 4, [0] * 4]),  # 64 px cells
    ],
)
def test_children_under_covers_the_cells_a_box_touches(box, split, grow, expected):
    got = children_under(np.array([[*box, 0.9]]), 256, 16, split, grow)
    assert got.astype(int).tolist() == expected


def test_cell_boxes_tile_the_core_row_by_row():
    cells = cell_boxes(256, 16, 4)
    assert cells.shape == (16, 5)
    assert cells[1, :4].tolist() == [80.0, 16.0, 144.0, 80.0]  # row 0, column 1
    assert cells[4, :4].tolist() == [16.0, 80.0, 80.0, 144.0]  # row 1, column 0
    assert cells[:, 0].min() == 16 and cells[:, 2].max() == 272
