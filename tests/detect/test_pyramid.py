import json
from pathlib import Path

import mercantile
import numpy as np
import pytest
from shapely.geometry import box

from minescan.config import section
from minescan.detect.backends import OnnxDetector
from minescan.detect.batch import BatchResult, Task, opened_children, scan_batch, screen_chip
from minescan.detect.checkpoint import Checkpoint
from minescan.detect.pyramid import batches, sweep, zorder
from minescan.detect.tools import make_tools
from minescan.grid.tiles import tiles_covering
from minescan.kernel.errors import MinescanError
from minescan.kernel.executor import Executor, WorkerContext
from tests.detect.fakes import BrightSquares, bright_screen, squares_at

DEMO_MODEL = Path(__file__).resolve().parents[2] / "models" / "demo"

# A 0.1 x 0.1 degree patch of Ghana with three "mines", one of them on a z15 tile corner.
AOI = box(-2.05, 6.0, -1.95, 6.1)
CORNER = mercantile.ul(*mercantile.tile(-2.0, 6.05, 15))


@pytest.fixture
def world():
    points = [(-2.03, 6.02), (-1.97, 6.08), (CORNER.lng, CORNER.lat)]
    return BrightSquares(squares_at(points, [300, 150, 400]))


@pytest.fixture
def tools(world, model_dir):
    return make_tools(world, OnnxDetector(model_dir), bright_screen())


def spec(**scan):
    return section("scan", **scan)


def test_opened_children_and_zorder_are_consistent():
    kids = opened_children((3, 5, 3), np.zeros((0, 5)), 256, 16, 4, None)
    assert {tuple(k) for k in kids} == {(x, y, 4) for x in (6, 7) for y in (10, 11)}
    assert (zorder(kids[::-1]) == zorder(kids)).all()
    assert len(zorder(np.concatenate([kids, kids]))) == 4


@pytest.mark.parametrize(
    ("box", "grow_px", "expected"),
    [
        ([20, 20, 30, 30], 0.0, {(6, 10)}),  # top-left child only
        ([150, 20, 160, 30], 0.0, {(7, 10)}),  # top-right child only (core split at px 144)
        ([100, 100, 200, 200], 0.0, {(6, 10), (7, 10), (6, 11), (7, 11)}),  # on the centre
        ([130, 20, 160, 30], 0.0, {(6, 10), (7, 10)}),  # across the vertical split
        ([20, 20, 30, 30], 157.0, {(6, 10), (7, 10), (6, 11), (7, 11)}),  # grown to all
        ([0, 0, 10, 10], 0.0, set()),  # in the margin only: no child of this tile
    ],
)
def test_a_hit_opens_only_the_children_its_boxes_cover(box, grow_px, expected):
    tile, split_zoom = (3 * 2**10, 5 * 2**10, 13), 14
    kids = opened_children(tile, np.array([[*box, 0.9]]), 256, 16, split_zoom, grow_px)
    x0, y0 = 2 * tile[0], 2 * tile[1]
    got = {(int(x) - x0 + 6, int(y) - y0 + 10) for x, y, _ in kids}
    assert got == expected
    assert all(z == split_zoom for *_, z in kids)


@pytest.mark.parametrize(
    ("also", "extra"),
    [([[False, True], [False, False]], (7, 10)), ([[False, False], [True, False]], (6, 11))],
)
def test_the_screen_opens_children_the_boxes_miss(also, extra):
    box = np.array([[20, 20, 30, 30, 0.9]])  # the top-left child: (6, 10)
    kids = opened_children((3, 5, 13), box, 256, 16, 14, 0.0, np.array(also))
    assert sorted(map(tuple, kids.tolist())) == sorted([(6, 10, 14), (*extra, 14)])


@pytest.mark.parametrize("subdivide_screen", [True, False])
@pytest.mark.parametrize("quarter", [1, 3])  # mercantile.children order: ul, ur, lr, ll
def test_a_mine_the_coarse_detector_misses_is_opened_by_the_screen(
    model_dir, subdivide_screen, quarter
):
    # A z13 tile with a bright square in its upper-right or lower-left quarter and a detector
    # that only ever boxes the upper-left corner: the square's child opens only by the screen.
    parent = mercantile.tile(-2.03, 6.02, 13)
    corner = [20, 20, 30, 30, 0.9]
    square = mercantile.xy_bounds(mercantile.children(parent)[quarter])
    cx, cy = (square.left + square.right) / 2, (square.bottom + square.top) / 2
    w = BrightSquares([[cx - 400, cy - 400, cx + 400, cy + 400]])
    tools = make_tools(w, FixedBoxes([corner], model_dir), bright_screen())
    cfg = spec(subdivide_screen=subdivide_screen, screen_boxes=False)
    r = scan_batch(Task(cfg, 13, 0, np.array([list(parent)]), 0.25, True, 14), tools)
    opened = set(map(tuple, r.opened.tolist()))
    ul = tuple(mercantile.children(parent)[0])
    mine = tuple(mercantile.children(parent)[quarter])
    assert ul in opened
    assert (mine in opened) == subdivide_screen
    assert len(opened) == (2 if subdivide_screen else 1)
    again = BatchResult.from_record(
        {"zoom": 13, "index": 0, **json.loads(json.dumps(r.to_record()))}
    )
    assert again.opened.dtype == np.int64 and np.array_equal(again.opened, r.opened)


@pytest.mark.parametrize(("margin_m", "opened"), [(2000.0, 1), (3000.0, 4), (None, 4)])
def test_subdivide_margin_is_in_map_metres(model_dir, margin_m, opened):
    # A z13 tile is 4,892 m wide, 19.1 m per pixel: a box at px 20-30 grown by 2,000 m
    # (105 px) stays in the top-left child, grown by 3,000 m (157 px) it covers all four.
    parent = mercantile.tile(-2.03, 6.02, 13)
    square = mercantile.xy_bounds(mercantile.children(parent)[0])
    w = BrightSquares([[square.left + 100, square.top - 500, square.left + 500, square.top - 100]])
    tools = make_tools(w, FixedBoxes([[20, 20, 30, 30, 0.9]], model_dir), bright_screen())
    cfg = spec(subdivide_margin_m=margin_m, subdivide_screen=False, screen_boxes=False)
    r = scan_batch(Task(cfg, 13, 0, np.array([list(parent)]), 0.25, True, 14), tools)
    assert len(r.opened) == opened


def test_a_zoom_jump_opens_grandchildren_under_the_box():
    # 4 x 4 grandchildren of 64 px; x 150-160 is column 2, y 20-30 row 0.
    kids = opened_children((1, 2, 13), np.array([[150, 20, 160, 30, 0.9]]), 256, 16, 15, 0.0)
    assert kids.tolist() == [[6, 8, 15]]


def test_batches_are_fixed_slices():
    tiles = np.arange(30).reshape(10, 3)
    parts = batches(tiles, 4)
    assert [len(p) for p in parts] == [4, 4, 2]
    assert (np.concatenate(parts) == tiles).all()


def test_scan_batch_screens_detects_and_keeps_owned_boxes(tools, world):
    mine = world.squares[0]
    t = mercantile.tile(-2.03, 6.02, 15)
    far = mercantile.tile(-2.0, 6.0, 15)
    task = Task(spec(), 15, 0, np.array([list(t), list(far)]), 0.25, True, None)
    r = scan_batch(task, tools)
    assert r.kept.tolist() == [True, False]
    assert r.hit.tolist() == [True, False]
    assert r.max_score[0] > 0.9
    assert (r.box_tile == 0).all() and len(r.boxes) > 0
    # Owned boxes sit on the square (cells are 8 px, so within one cell of its edges).
    cell = 8 * (mercantile.xy_bounds(t).right - mercantile.xy_bounds(t).left) / 256
    assert r.boxes[:, 0].min() >= mine[0] - cell and r.boxes[:, 2].max() <= mine[2] + cell
    again = BatchResult.from_record(
        {"zoom": 15, "index": 0, **json.loads(json.dumps(r.to_record()))}
    )
    assert np.array_equal(again.boxes, r.boxes) and np.array_equal(again.tiles, r.tiles)


def test_screen_off_sends_every_tile_to_the_detector(tools):
    far = mercantile.tile(-2.0, 6.0, 15)
    r = scan_batch(Task(spec(), 15, 0, np.array([list(far)]), 0.25, False, None), tools)
    assert r.kept.tolist() == [True] and r.hit.tolist() == [False]


class FixedBoxes:
    """A detector stand-in that returns the same pixel boxes for every chip."""

    def __init__(self, boxes, model_dir):
        self.boxes = np.asarray(boxes, dtype=np.float32)
        self.channels = OnnxDetector(model_dir).channels
        self.scaling = OnnxDetector(model_dir).scaling

    def predict(self, batch, conf, iou=0.5):
        return [self.boxes[self.boxes[:, 4] >= conf] for _ in batch]


@pytest.mark.parametrize("screen_boxes", [True, False])
def test_boxes_without_mine_like_pixels_are_dropped(world, model_dir, screen_boxes):
    from minescan.kernel.mercator import tile_transform

    t = mercantile.tile(-2.03, 6.02, 15)
    x0, y0, x1, y1 = world.squares[0]
    (c0, r0), (c1, r1) = (
        ~tile_transform(t, 256, 16) @ (x0, y1),
        ~tile_transform(t, 256, 16) @ (x1, y0),
    )
    on_mine = [max(c0, 16) + 2, max(r0, 16) + 2, min(c1, 272) - 2, min(r1, 272) - 2, 0.9]
    # A box on dark land, away from the square.
    on_land = [16, 16, 30, 30, 0.8] if c0 > 40 or r0 > 40 else [250, 250, 270, 270, 0.8]
    tools = make_tools(world, FixedBoxes([on_mine, on_land], model_dir), bright_screen())
    task = Task(spec(screen_boxes=screen_boxes), 15, 0, np.array([list(t)]), 0.25, True, None)
    r = scan_batch(task, tools)
    assert r.kept.tolist() == [True]
    assert sorted(r.boxes[:, 4].round(2).tolist()) == ([0.9] if screen_boxes else [0.8, 0.9])


def test_screen_chip_agrees_with_the_shipped_screen():
    from minescan.kernel.screen import Screen, keeps_tile, mine_share
    from minescan.simulated import SimulatedSentinel2

    if not (DEMO_MODEL / "screen.json").is_file():
        pytest.skip(f"shipped model {DEMO_MODEL} is absent")
    screen, world = Screen.load(DEMO_MODEL), SimulatedSentinel2(seed=0)
    fractions = []
    for lon, lat, z in [(-2.1093, 6.1266, 15), (-2.12, 6.12, 14), (-2.0, 6.0, 13)]:
        chip = world.read(mercantile.tile(lon, lat, z), period="2024", bands=screen.bands,
                          margin_px=16)  # fmt: skip
        fraction, flagged, valid = screen_chip(screen, chip)
        core = chip.core()  # the tile's own pixels, scored alone, give the same share
        assert fraction == mine_share(screen.mine_like(core.data, core.bands), core.valid_mask())
        assert flagged.shape == valid.shape == chip.data.shape[1:]
        fractions.append(fraction)
    assert keeps_tile(fractions[0], screen.tile_min_fraction, 15)  # a tile on a mine is kept


def test_missing_band_in_the_source_is_one_clear_error(world, model_dir):
    poor = BrightSquares(world.squares, bands=("B02", "B03", "B04"))
    with pytest.raises(MinescanError, match="B08,B11,B12"):
        make_tools(poor, OnnxDetector(model_dir), None)


def run_sweep(tools, folder, zooms=(13, 14, 15), use_screen=True, **scan):
    cfg = section("scan", zooms=list(zooms), batch_size=4, **scan)
    first = tiles_covering(AOI, zooms[0])
    ck = Checkpoint(folder, "test")
    ck.open()
    levels = sweep(
        first,
        list(zooms),
        lambda z, i, t, nz: Task(
            spec(batch_size=4, **scan), z, i, t, cfg.conf_at(z), use_screen, nz
        ),
        Executor(WorkerContext.given(tools)),
        ck,
        lambda t: np.ones(len(t), bool),
        cfg.batch_size,
        progress=False,
    )
    return levels


def boxes_of(level):
    return np.concatenate([r.boxes for r in level.results])


def test_pyramid_finds_what_exhaustive_finds_with_fewer_calls(tools, tmp_path):
    pyramid = run_sweep(tools, tmp_path / "p")
    exhaustive = run_sweep(tools, tmp_path / "e", zooms=(15,), use_screen=False)
    p_calls = sum(lv.summary()["detector_calls"] for lv in pyramid)
    e_calls = exhaustive[0].summary()["detector_calls"]
    assert p_calls < e_calls / 4
    assert np.array_equal(boxes_of(pyramid[-1]), boxes_of(exhaustive[0]))
    s13 = pyramid[0].summary()
    assert s13["screened_out"] > 0 and s13["hits"] >= 1


def test_a_rerun_reuses_finished_batches_and_gives_the_same_boxes(tools, world, tmp_path):
    first = run_sweep(tools, tmp_path / "ck")
    # Lose a batch of z14 and two of z15: z15's tiles then come from the z14 batches that
    # were kept and the one done again, and must be the same.
    files = sorted((tmp_path / "ck" / "z14").glob("b*.json"))[:1]
    files += sorted((tmp_path / "ck" / "z15").glob("b*.json"))[:2]
    lost = sum(len(json.loads(f.read_text())["tiles"]) for f in files)
    for f in files:
        f.unlink()
    reads = world.reads
    second = run_sweep(tools, tmp_path / "ck")
    assert world.reads - reads == lost  # only the lost batches were read again
    assert np.array_equal(boxes_of(first[-1]), boxes_of(second[-1]))
    for a, b in zip(first, second, strict=True):
        assert np.array_equal(a.tiles, b.tiles)


def test_a_checkpoint_batch_with_other_tiles_is_refused(tools, tmp_path):
    run_sweep(tools, tmp_path / "ck")
    path = sorted((tmp_path / "ck" / "z13").glob("b*.json"))[0]
    record = json.loads(path.read_text())
    record["tiles"][0][0] += 1
    path.write_text(json.dumps(record))
    with pytest.raises(MinescanError, match="does not match"):
        run_sweep(tools, tmp_path / "ck")


def test_a_source_without_the_screen_bands_runs_unscreened(world, model_dir):
    """Six-band imagery (as the real patches) must never be screened on made-up bands."""
    from minescan.kernel.screen import Screen, missing_bands

    six = BrightSquares(world.squares, bands=("B02", "B03", "B04", "B08", "B11", "B12"))
    needs_b01 = Screen(**{**bright_screen().__dict__, "features": ["B01"]})
    assert missing_bands(needs_b01, six.bands) == ("B01",)
    tools = make_tools(six, OnnxDetector(model_dir), needs_b01)
    assert tools.screen is None
    assert "B01" not in tools.bands
    assert make_tools(six, OnnxDetector(model_dir), bright_screen()).screen is not None
