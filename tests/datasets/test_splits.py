import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minescan.datasets.splits import ancestor_keys, assign_groups, group_cells, make_split
from minescan.kernel.errors import MinescanError


def overlaps(a, b) -> bool:
    """Whether two tiles share ground: one is the other's ancestor (or the same tile)."""
    (za, xa, ya), (zb, xb, yb) = (a, b) if a[0] <= b[0] else (b, a)
    shift = zb - za
    return (xb >> shift, yb >> shift) == (xa, ya)


def assert_no_overlap(cells: pd.DataFrame, assignment: dict[str, str]) -> None:
    tiles = list(zip(cells["z"], cells["x"], cells["y"], cells["name"], strict=True))
    for (za, xa, ya, na), (zb, xb, yb, nb) in itertools.combinations(tiles, 2):
        if overlaps((za, xa, ya), (zb, xb, yb)):
            assert assignment[na] == assignment[nb], (na, nb)


@st.composite
def cell_tables(draw):
    """Cells at z13-15 around a few z11 roots, so parents, children and blocks collide."""
    n = draw(st.integers(3, 40))
    rows = []
    for i in range(n):
        z = draw(st.integers(13, 15))
        root = draw(st.sampled_from([(1000, 900), (1001, 900), (1400, 700)]))
        span = 1 << (z - 11)
        x = root[0] * span + draw(st.integers(0, span - 1))
        y = root[1] * span + draw(st.integers(0, span - 1))
        label = draw(st.sampled_from(["pos", "neg"]))
        rows.append({"name": f"c{i}", "z": z, "x": x, "y": y, "label": label,
                     "country": draw(st.sampled_from(["GHA", "BRA", "IDN"]))})  # fmt: skip
    return pd.DataFrame(rows).drop_duplicates(["z", "x", "y"]).reset_index(drop=True)


@settings(max_examples=60, deadline=None)
@given(cells=cell_tables(), seed=st.integers(0, 5), rule=st.sampled_from(["image", "block", "col"]))
def test_no_ground_in_two_splits(cells, seed, rule):
    column = "country" if rule == "col" else None
    try:
        split = make_split(cells, "block" if rule == "col" else rule, 0.2, 0.2, seed,
                           block_zoom=12, column=column)  # fmt: skip
    except MinescanError as exc:
        assert "val split" in str(exc)  # only when everything is one group
        assert len(set(group_cells(cells, 12 if rule == "block" else 13, column))) == 1
        return
    assert set(split.cells) == set(cells["name"])
    assert_no_overlap(cells, split.cells)
    if rule == "block":
        keys = ancestor_keys(cells["z"], cells["x"], cells["y"], 12)
        for key in set(keys):
            assert len({split.cells[n] for n in cells["name"][keys == key]}) == 1
    if column:
        for _, names in cells.groupby("country")["name"]:
            assert len({split.cells[n] for n in names}) == 1
    assert split.counts()["val"] > 0


def test_deterministic_and_row_order_independent():
    rng = np.random.default_rng(3)
    cells = pd.DataFrame(
        {
            "name": [f"c{i}" for i in range(200)],
            "z": 14,
            "x": rng.choice(5000, 200, replace=False) + 8000,
            "y": 7900,
        }  # fmt: skip
    )
    a = make_split(cells, "image", 0.15, 0.15, seed=1)
    b = make_split(cells.sample(frac=1, random_state=2), "image", 0.15, 0.15, seed=1)
    c = make_split(cells, "image", 0.15, 0.15, seed=2)
    assert a.cells == b.cells
    assert a.cells != c.cells
    counts = a.counts()
    assert counts == {"train": 140, "val": 30, "test": 30}


def test_parent_and_children_share_a_split():
    cells = pd.DataFrame(
        {
            "name": ["p", "c1", "c2", "gc", "far1", "far2", "far3"],
            "z": [13, 14, 14, 15, 13, 13, 13],
            "x": [4000, 8000, 8001, 16003, 4100, 4200, 4300],
            "y": [3000, 6000, 6001, 12002, 3000, 3000, 3000],
        }  # fmt: skip
    )
    split = make_split(cells, "image", 0.3, 0.3, seed=0)
    assert len({split.cells[n] for n in ("p", "c1", "c2", "gc")}) == 1
    assert split.group_zoom == 13
    assert split.to_dict()["groups"]["p"] == split.to_dict()["groups"]["gc"]


def test_positives_reach_val_and_test():
    n = 60
    cells = pd.DataFrame(
        {
            "name": [f"c{i}" for i in range(n)],
            "z": 14,
            "x": np.arange(n) + 8000,
            "y": 7900,
            "label": ["pos" if i < 10 else "neg" for i in range(n)],
        }  # fmt: skip
    )
    split = make_split(cells, "image", 0.2, 0.2, seed=0)
    pos = {split.cells[f"c{i}"] for i in range(10)}
    assert pos == {"train", "val", "test"}


def test_single_group_cannot_give_val():
    cells = pd.DataFrame({"name": ["a", "b"], "z": [13, 14], "x": [4000, 8000], "y": [3000, 6000]})
    with pytest.raises(MinescanError, match="cannot hold out a val split"):
        make_split(cells, "image")
    # No val wanted: fine.
    assert set(make_split(cells, "image", 0.0, 0.0).cells.values()) == {"train"}


def test_small_sets_still_get_val():
    cells = pd.DataFrame({"name": ["a", "b"], "z": 14, "x": [8000, 9000], "y": 6000})
    assert sorted(make_split(cells, "image").cells.values()) == ["train", "val"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"rule": "spatial"}, "unknown split rule"),
        ({"rule": "block", "column": "country"}, "no metadata column"),
        ({"rule": "image", "column": "name"}, "goes with --split block"),
        ({"val": 0.6, "test": 0.5}, "sum below 1"),
    ],
)
def test_bad_split_requests(kwargs, message):
    cells = pd.DataFrame({"name": ["a", "b", "c"], "z": 14, "x": [1, 2, 3], "y": 6})
    with pytest.raises(MinescanError, match=message):
        make_split(cells, **kwargs)


def test_assign_groups_is_whole_groups():
    groups = np.repeat(np.arange(20), 5)
    out = assign_groups(groups, 0.2, 0.2, seed=4)
    for g in range(20):
        assert len(set(out[groups == g])) == 1
