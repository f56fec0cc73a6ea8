"""Detector training: input checks, the model folder, and ONNX agreeing with the .pt model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from minescan.config import section
from minescan.kernel.errors import MinescanError
from minescan.train.detector import TrainOptions, train_detector
from minescan.train.yolo_data import check_images, data_hash, image_zoom, label_file, read_data


@pytest.fixture
def yolo_copy(yolo_set, tmp_path) -> Path:
    """A private copy of the session YOLO set that a test may damage."""
    root = tmp_path / "y"
    shutil.copytree(yolo_set.parent, root)
    doc = yaml.safe_load((root / "data.yaml").read_text())
    doc["path"] = str(root)
    (root / "data.yaml").write_text(yaml.safe_dump(doc))
    return root / "data.yaml"


def test_read_data_lists_splits_and_bands(yolo_set):
    data = read_data(yolo_set)
    assert data.channels == 6 and data.bands == ("B02", "B03", "B04", "B08", "B11", "B12")
    assert {k: len(v) for k, v in data.images.items()} == {"train": 8, "val": 4, "test": 4}
    check_images(data)  # every image opens with 6 channels


def test_read_data_relative_path_is_relative_to_the_yaml(yolo_copy):
    doc = yaml.safe_load(yolo_copy.read_text())
    doc["path"] = "."
    yolo_copy.write_text(yaml.safe_dump(doc))
    assert read_data(yolo_copy).root == yolo_copy.parent.resolve()


def test_bad_inputs_are_one_line_errors(yolo_copy, tmp_path):
    with pytest.raises(MinescanError, match="data.yaml not found"):
        read_data(tmp_path / "missing" / "data.yaml")
    with pytest.raises(MinescanError, match="does not match the YOLO set's channels"):
        read_data(yolo_copy, channels=("B02", "B03", "B04"))
    doc = yaml.safe_load(yolo_copy.read_text())
    yolo_copy.write_text(yaml.safe_dump({**doc, "channels": 4}))
    with pytest.raises(MinescanError, match="channels: 4 but scaling.json lists 6"):
        read_data(yolo_copy)
    yolo_copy.write_text(yaml.safe_dump(doc))
    image = sorted((yolo_copy.parent / "images" / "val").glob("*.tif"))[0]
    image.write_bytes(b"II*\x00garbage")
    with pytest.raises(MinescanError, match="corrupt or unreadable image"):
        check_images(read_data(yolo_copy))


def test_image_with_wrong_channel_count(yolo_copy):
    import cv2

    image = sorted((yolo_copy.parent / "images" / "train").glob("*.tif"))[0]
    cv2.imwritemulti(str(image), [np.zeros((64, 64), np.uint8)] * 4)
    with pytest.raises(MinescanError, match="has 4 channels"):
        check_images(read_data(yolo_copy))


def test_data_hash_follows_labels(yolo_copy):
    before = data_hash(read_data(yolo_copy))
    assert before == data_hash(read_data(yolo_copy))
    lbl = sorted((yolo_copy.parent / "labels" / "train").glob("*.txt"))[0]
    lbl.write_text("0 0.5 0.5 0.1 0.1")
    assert data_hash(read_data(yolo_copy)) != before


def test_label_file_and_zoom_from_cell_names():
    assert label_file(Path("/d/images/train/a.tif")) == Path("/d/labels/train/a.tif").with_suffix(
        ".txt"
    )
    assert image_zoom(Path("029500_145200_14_012.tif")) == 14
    assert image_zoom(Path("029500_145200_13_neg.tif")) == 13
    assert image_zoom(Path("chip.tif")) is None


def test_cli_detector_errors(run_cli, tmp_path, yolo_set):
    code, _, err = run_cli(
        "train", "detector", "--data", tmp_path / "d.yaml", "--out", tmp_path / "m"
    )
    assert code == 2 and err.strip() == f"error: data.yaml not found: {tmp_path / 'd.yaml'}"
    code, _, err = run_cli(
        "train",
        "detector",
        "--data",
        yolo_set,
        "--out",
        tmp_path / "m",
        "--channels",
        "B02,B03,B04",
    )
    assert code == 2 and "does not match" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(
        "train", "detector", "--data", yolo_set, "--out", tmp_path / "m", "--resume"
    )
    assert code == 2 and "nothing to resume" in err


# --- a real (tiny) training run ---------------------------------------------------------------

TINY = TrainOptions.from_settings(section("train", imgsz=64, epochs=2, batch=8, workers=0))


@pytest.fixture(scope="module")
def trained(yolo_set, tmp_path_factory):
    out = tmp_path_factory.mktemp("model")
    card = train_detector(yolo_set, out, TINY, command="minescan train detector (test)")
    return out, card


@pytest.mark.slow
def test_model_folder_and_card(trained, yolo_set):
    out, card = trained
    for name in (
        "detector.pt",
        "detector.onnx",
        "scaling.json",
        "model_card.md",
        "model_card.json",
    ):
        assert (out / name).stat().st_size > 0, name
    assert (out / "scaling.json").read_text() == (yolo_set.parent / "scaling.json").read_text()
    doc = json.loads((out / "model_card.json").read_text())
    assert doc == json.loads(json.dumps(card))
    assert doc["data"]["sha256"] == data_hash(read_data(yolo_set))
    assert doc["data"]["split_rule"] == "synthetic"
    for split in ("val", "test"):
        m = doc["metrics"][split]["all"]
        assert set(m) == {"mAP50", "mAP50-95", "precision", "recall", "images"}
        assert 0 <= m["mAP50-95"] <= m["mAP50"] <= 1
    assert doc["metrics"]["test"]["all"]["images"] == 4
    assert doc["training_seconds"] > 0 and doc["device"].startswith("cpu")
    assert "minescan train detector" in (out / "model_card.md").read_text()


@pytest.mark.slow
def test_onnx_metadata_and_dynamic_shape(trained, yolo_set):
    import onnx

    out, _ = trained
    model = onnx.load(str(out / "detector.onnx"))
    props = {p.key: p.value for p in model.metadata_props}
    assert props["minescan_channels"] == "B02,B03,B04,B08,B11,B12"
    assert json.loads(props["minescan_scaling"])["bands"] == props["minescan_channels"].split(",")
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert model.graph.input[0].name == "images" and dims[1].dim_value == 6
    assert all(d.dim_param for d in (dims[0], dims[2], dims[3]))  # batch and size are dynamic


def _nms_boxes(raw: np.ndarray, conf: float, size: int, iou: float = 0.7) -> np.ndarray:
    """Decode one image's raw (4+nc, anchors) output: xywh -> xyxy, score filter, NMS, clip."""
    scores = raw[4:].max(axis=0)
    keep = scores >= conf
    xywh, scores = raw[:4, keep].T, scores[keep]
    boxes = np.column_stack([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2])
    order = np.argsort(-scores)
    chosen = []
    while order.size:
        i, rest = order[0], order[1:]
        chosen.append(i)
        lt = np.maximum(boxes[i, :2], boxes[rest, :2])
        rb = np.minimum(boxes[i, 2:], boxes[rest, 2:])
        inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
        area = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
        order = rest[inter / (area[i] + area[rest] - inter) <= iou]
    return np.column_stack([np.clip(boxes[chosen], 0, size), scores[chosen]])


@pytest.mark.slow
def test_onnx_and_pt_give_the_same_boxes(trained, yolo_set):
    import onnxruntime as ort

    from minescan.datasets.yolo import read_image
    from minescan.kernel import offline

    out, _ = trained
    images = sorted((yolo_set.parent / "images" / "test").glob("*.tif"))
    batch = np.stack([read_image(p) for p in images]).astype(np.float32) / 255.0  # (N, 6, 64, 64)
    session = ort.InferenceSession(str(out / "detector.onnx"), providers=["CPUExecutionProvider"])
    raw_onnx = session.run(None, {"images": batch})[0]

    ul = offline.ultralytics()
    import torch

    model = ul.YOLO(str(out / "detector.pt"))
    with torch.no_grad():
        net = model.model.float().eval()
        raw_pt = net(torch.from_numpy(batch))[0].numpy()
    assert raw_onnx.shape == raw_pt.shape == (len(images), 5, raw_pt.shape[2])
    np.testing.assert_allclose(raw_onnx, raw_pt, atol=2e-3, rtol=1e-3)

    # and after decoding: ultralytics' own predict on the .pt vs our NMS on the ONNX output
    conf = float(np.quantile(raw_pt[:, 4].max(axis=1), 0.5)) * 0.9  # some boxes on most images
    results = model.predict(torch.from_numpy(batch), conf=conf, iou=0.7, verbose=False)
    for raw, res in zip(raw_onnx, results, strict=True):
        ours = _nms_boxes(raw, conf, batch.shape[-1])
        theirs = np.column_stack([res.boxes.xyxy.numpy(), res.boxes.conf.numpy()])
        ours, theirs = ours[np.argsort(-ours[:, 4])], theirs[np.argsort(-theirs[:, 4])]
        n = min(len(ours), len(theirs), 5)
        assert abs(len(ours) - len(theirs)) <= 1
        np.testing.assert_allclose(ours[:n], theirs[:n], atol=0.5)


@pytest.mark.slow
def test_refuses_to_overwrite(trained, yolo_set):
    out, _ = trained
    before = (out / "detector.pt").read_bytes()
    with pytest.raises(MinescanError, match="--force"):
        train_detector(yolo_set, out, TINY)
    assert (out / "detector.pt").read_bytes() == before


@pytest.mark.slow
def test_interrupted_run_resumes(yolo_set, tmp_path, monkeypatch):
    from ultralytics.utils.callbacks import base

    def interrupt_after_first_save(trainer):
        if trainer.epoch == 0:
            raise KeyboardInterrupt

    monkeypatch.setitem(base.default_callbacks, "on_model_save", [interrupt_after_first_save])
    opts = TINY
    with pytest.raises(KeyboardInterrupt):
        train_detector(yolo_set, tmp_path, opts)
    assert not (tmp_path / "detector.pt").exists()
    with pytest.raises(MinescanError, match="--resume"):
        train_detector(yolo_set, tmp_path, opts)  # neither resumed nor forced
    monkeypatch.setitem(base.default_callbacks, "on_model_save", [])
    card = train_detector(yolo_set, tmp_path, opts, resume=True)
    assert (tmp_path / "detector.onnx").exists() and card["metrics"]["test"]["all"]["images"] == 4
    results = (tmp_path / "_runs" / "train" / "results.csv").read_text().splitlines()
    assert len(results) == 1 + 2  # header + both epochs, the second one after the resume
    # resuming a finished run finishes the folder again instead of failing
    card = train_detector(yolo_set, tmp_path, opts, resume=True)
    assert card["data"]["sha256"]


def test_train_seconds_add_up_over_resumed_sessions(tmp_path):
    from minescan.train.detector import _train_seconds

    (tmp_path / "results.csv").write_text("epoch,time\n1,10.0\n2,20.5\n3,8.0\n4,16.0\n")
    assert _train_seconds(tmp_path) == 36.5
    (tmp_path / "results.csv").write_text("epoch,time\n1,10.0\n2,20.5\n")
    assert _train_seconds(tmp_path) == 20.5
