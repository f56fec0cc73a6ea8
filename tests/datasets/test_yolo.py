import json

import cv2
import mercantile
import numpy as np
import pytest
import rasterio
import yaml

from minescan.datasets.chip_files import chip_path
from minescan.datasets.yolo import mine_boxes, read_image, write_image, yolo_label_text
from minescan.kernel.scaling import Scaling
from tests.datasets.conftest import (
    CLOUDY,
    EAST,
    SIZE,
    TILE,
    name,
    write_standin_chips,
)

PARENT = mercantile.parent(TILE)
OTHERS = [mercantile.Tile(8100 + 4 * i, 7890, 14) for i in range(1, 7)]


@pytest.fixture(scope="module")
def chips_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("yolo")
    return write_standin_chips(root, [TILE, EAST, CLOUDY, PARENT, *OTHERS])


def label_file(ydir, tile):
    split = json.loads((ydir / "split.json").read_text())["cells"][name(tile)]
    return ydir / "labels" / split / f"{name(tile)}.txt", split


def test_labels_are_hand_computed_boxes(chips_dir, run_cli, tmp_path):
    ydir = tmp_path / "y"
    code, stdout, stderr = run_cli(
        "datasets", "yolo", "--chips", chips_dir, "--out", ydir, "--quiet"
    )
    assert code == 0, stderr
    # TILE: the edge mine clipped to cols 56-64 rows 4-12, the rectangle cols 10-30 rows 20-40;
    # the 2-px sliver is dropped.
    path, _ = label_file(ydir, TILE)
    assert path.read_text() == (
        "0 0.937500 0.125000 0.125000 0.125000\n0 0.312500 0.468750 0.312500 0.312500\n"
    )
    # EAST holds the rest of the edge mine: cols 0-8 rows 4-12.
    assert label_file(ydir, EAST)[0].read_text() == "0 0.062500 0.125000 0.125000 0.125000\n"
    # Negatives are background images with empty label files; the cloudy chip is left out.
    assert label_file(ydir, OTHERS[0])[0].read_text() == ""
    split = json.loads((ydir / "split.json").read_text())
    assert name(CLOUDY) not in split["cells"]
    assert "1 empty chips left out" in stdout
    # The parent and its children sit in one split (same ground).
    assert len({split["cells"][name(t)] for t in (TILE, EAST, PARENT)}) == 1
    assert split["rule"] == "image" and split["counts"]["val"] > 0


def test_images_data_yaml_and_scaling(chips_dir, run_cli, tmp_path):
    from ultralytics.data.utils import check_det_dataset
    from ultralytics.utils.patches import imread

    ydir = tmp_path / "y"
    assert run_cli("datasets", "yolo", "--chips", chips_dir, "--out", ydir, "--quiet")[0] == 0
    doc = yaml.safe_load((ydir / "data.yaml").read_text())
    assert doc == {
        "path": str(ydir.resolve()), "train": "images/train", "val": "images/val",
        "test": "images/test", "nc": 1, "names": {0: "mine"}, "channels": 6,
    }  # fmt: skip
    scaling = Scaling.load(ydir / "scaling.json")
    assert scaling == Scaling.default("B02,B03,B04,B08,B11,B12")
    _, split = label_file(ydir, TILE)
    image_path = ydir / "images" / split / f"{name(TILE)}.tif"
    with rasterio.open(chip_path(chips_dir, name(TILE), 14)) as src:
        chip = src.read([2, 3, 4, 8, 11, 12])
    expected = scaling.to_uint8(chip)
    # ultralytics' own reader (IMREAD_UNCHANGED for 6 channels) gives (H, W, 6) in page order.
    im = imread(str(image_path), cv2.IMREAD_UNCHANGED)
    assert im.shape == (SIZE, SIZE, 6) and im.dtype == np.uint8
    np.testing.assert_array_equal(im.transpose(2, 0, 1), expected)
    ok, pages = cv2.imreadmulti(str(image_path))
    assert ok and len(pages) == 6
    data = check_det_dataset(str(ydir / "data.yaml"), autodownload=False)
    assert data["channels"] == 6 and data["nc"] == 1
    # ultralytics' own training dataset loads the images as 6 channels with our boxes.
    from ultralytics.data.dataset import YOLODataset

    dataset = YOLODataset(img_path=data[split], data=data, imgsz=SIZE, augment=False, task="detect")
    item = dataset[dataset.im_files.index(str(image_path))]
    assert tuple(item["img"].shape) == (6, SIZE, SIZE)
    np.testing.assert_array_equal(item["img"].numpy(), expected)
    assert len(item["bboxes"]) == 2


def test_rerun_with_other_seed_moves_files(chips_dir, run_cli, tmp_path):
    ydir = tmp_path / "y"
    for seed in ("0", "1"):
        assert run_cli("datasets", "yolo", "--chips", chips_dir, "--out", ydir,
                       "--seed", seed, "--quiet")[0] == 0  # fmt: skip
    cells = json.loads((ydir / "split.json").read_text())["cells"]
    images = sorted(ydir.glob("images/*/*.tif"))
    assert len(images) == len(cells)  # nothing stale left in another split
    for path in images:
        assert cells[path.stem] == path.parent.name
        assert (ydir / "labels" / path.parent.name / f"{path.stem}.txt").exists()


@pytest.mark.parametrize(
    "channels", [("B04",), ("B04", "B03", "B02"), ("B02", "B03", "B04", "B08")]
)
def test_write_image_reads_back_in_ultralytics_channel_order(tmp_path, channels):
    from ultralytics.utils.patches import imread

    n = len(channels)
    image = np.random.default_rng(n).integers(0, 256, (n, 16, 16), dtype=np.uint8)
    path = tmp_path / "i.tif"
    write_image(path, image)
    np.testing.assert_array_equal(read_image(path), image)
    # What ultralytics' dataset does: its cv2 flag per channel count, then BGR->RGB for 3.
    flag = {1: cv2.IMREAD_GRAYSCALE, 3: cv2.IMREAD_COLOR}.get(n, cv2.IMREAD_UNCHANGED)
    seen = imread(str(path), flag).transpose(2, 0, 1)
    seen = seen[::-1] if n == 3 else seen
    np.testing.assert_array_equal(seen, image)


def test_mine_boxes_connectivity_clipping_and_slivers():
    mine = np.zeros((20, 20), np.uint8)
    mine[2:6, 2:6] = 1
    mine[6:9, 6:9] = 1  # touches the first part at a corner: same part
    mine[15:20, 10:20] = 1  # cut by the chip edge
    mine[0:10, 14:16] = 1  # 2 px wide: a sliver
    boxes = mine_boxes(mine, min_box_px=3)
    assert boxes.tolist() == [[2, 2, 9, 9], [10, 15, 20, 20]]
    assert mine_boxes(mine, min_box_px=1).tolist() == [
        [14, 0, 16, 10],
        [2, 2, 9, 9],
        [10, 15, 20, 20],
    ]
    assert mine_boxes(np.zeros((4, 4)), 1).shape == (0, 4)
    assert yolo_label_text(boxes[1:], 20, 20) == "0 0.750000 0.875000 0.500000 0.250000\n"


@pytest.mark.parametrize(
    "args, message",
    [
        (("--channels", "B02,B99"), "unknown band 'B99'"),
        (("--split", "block", "--split-column", "country"), "no metadata column 'country'"),
        (("--split-column", "country"), "needs --split block"),
        (("--val", "0.7", "--test", "0.5"), "sum below 1"),
    ],
)
def test_bad_yolo_requests(chips_dir, run_cli, tmp_path, args, message):
    code, _, stderr = run_cli(
        "datasets", "yolo", "--chips", chips_dir, "--out", tmp_path / "y", *args
    )
    assert code == 2 and message in stderr and len(stderr.strip().splitlines()) == 1, stderr


def test_missing_chips_folder(run_cli, tmp_path):
    code, _, stderr = run_cli(
        "datasets", "yolo", "--chips", tmp_path / "nope", "--out", tmp_path / "y"
    )
    assert code == 2 and "chips folder not found" in stderr
    (tmp_path / "empty").mkdir()
    code, _, stderr = run_cli(
        "datasets", "yolo", "--chips", tmp_path / "empty", "--out", tmp_path / "y"
    )
    assert code == 2 and "no chips in" in stderr
