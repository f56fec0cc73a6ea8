import json

import numpy as np
import onnx
import pytest

from minescan.detect.backends import OnnxDetector, decode, load_detector, nms
from minescan.kernel.errors import MinescanError
from tests.detect.fakes import bright_model


def test_decode_thresholds_converts_and_suppresses():
    raw = np.zeros((2, 5, 3), np.float32)
    raw[0, :, 0] = [50, 50, 20, 10, 0.9]
    raw[0, :, 1] = [51, 50, 20, 10, 0.6]  # overlaps the first: suppressed
    raw[0, :, 2] = [10, 10, 4, 4, 0.1]  # below conf
    out = decode(raw, conf=0.25, iou=0.5)
    assert len(out) == 2 and out[1].shape == (0, 5)
    assert out[0][0].tolist() == pytest.approx([40, 45, 60, 55, 0.9])


def test_decode_takes_the_best_class_score():
    raw = np.zeros((1, 6, 1), np.float32)
    raw[0, :, 0] = [5, 5, 2, 2, 0.2, 0.7]
    assert decode(raw, 0.5)[0][0, 4] == pytest.approx(0.7)


def test_nms_keeps_disjoint_boxes():
    b = np.array([[0, 0, 1, 1, 0.9], [2, 2, 3, 3, 0.8], [0, 0, 1, 1.1, 0.7]])
    assert nms(b, 0.5).tolist() == [0, 1]


def test_onnx_detector_finds_a_bright_square(model_dir):
    det = OnnxDetector(model_dir)
    assert det.channels == ("B02", "B03", "B04", "B08", "B11", "B12")
    batch = np.full((2, 6, 288, 288), 20, np.uint8)
    batch[1, :, 100:140, 60:90] = 250
    out = det.predict(batch, conf=0.5)
    assert len(out[0]) == 0
    # 8 px cells at least half bright over cols 60-90: 56-64 (half) to 80-88 (all).
    assert out[1][:, 0].min() == 56 and out[1][:, 2].max() == 88
    assert det.predict(np.zeros((0, 6, 288, 288), np.uint8), 0.5) == []


def test_missing_model_files_are_one_line_errors(tmp_path, model_dir):
    with pytest.raises(MinescanError, match="model folder not found"):
        OnnxDetector(tmp_path / "nope")
    (tmp_path / "m").mkdir()
    with pytest.raises(MinescanError, match="detector.onnx"):
        OnnxDetector(tmp_path / "m")
    with pytest.raises(MinescanError, match="detector.pt"):
        load_detector(model_dir, backend="ultralytics")


def test_channels_declared_by_the_onnx_must_match_the_scaling(tmp_path):
    folder = bright_model(tmp_path / "m")
    scaling = json.loads((folder / "scaling.json").read_text())
    scaling["bands"], scaling["low"], scaling["high"] = ["B02"], [0.0], [0.3]
    (folder / "scaling.json").write_text(json.dumps(scaling))
    with pytest.raises(MinescanError, match="declares channels"):
        OnnxDetector(folder)


def test_input_width_must_match_the_channels(tmp_path):
    folder = bright_model(tmp_path / "m")
    model = onnx.load(folder / "detector.onnx")
    del model.metadata_props[:]
    onnx.save(model, folder / "detector.onnx")
    (folder / "scaling.json").write_text(
        json.dumps({"bands": ["B02", "B03"], "low": [0, 0], "high": [0.3, 0.3]})
    )
    with pytest.raises(MinescanError, match="takes 6 channels"):
        OnnxDetector(folder)


def test_cuda_without_a_cuda_runtime_is_a_clear_error(model_dir):
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    with pytest.raises(MinescanError, match="no CUDA provider"):
        OnnxDetector(model_dir, device="cuda")


@pytest.mark.slow
def test_onnx_and_ultralytics_backends_agree_on_the_shipped_model():
    from pathlib import Path

    import mercantile

    from minescan.simulated import SimulatedSentinel2

    demo = Path(__file__).resolve().parents[2] / "models" / "demo"
    if not (demo / "detector.pt").is_file() or not (demo / "detector.onnx").is_file():
        pytest.skip("models/demo (detector.pt + detector.onnx) is not shipped yet")
    onnx_det, torch_det = OnnxDetector(demo), load_detector(demo, backend="ultralytics")
    assert onnx_det.channels == torch_det.channels
    world = SimulatedSentinel2(seed=0)
    # Simulated chips at the three scan zooms over a mine the model finds, plus random noise.
    chips = [
        world.read(mercantile.tile(-2.1093, 6.1266, z), period="2024", bands=onnx_det.channels,
                   margin_px=16).data
        for z in (13, 14, 15)
    ]  # fmt: skip
    batch = onnx_det.scaling.to_uint8(np.stack(chips))
    noise = np.random.default_rng(0).integers(0, 255, (1, *batch.shape[1:]), dtype=np.uint8)
    batch = np.concatenate([batch, noise])
    a, b = onnx_det.raw(batch), torch_det.raw(batch)
    assert a.shape == b.shape
    assert np.allclose(a[:, :4], b[:, :4], atol=0.05) and np.allclose(a[:, 4:], b[:, 4:], atol=1e-4)
    boxes_a, boxes_b = onnx_det.predict(batch, 0.02), torch_det.predict(batch, 0.02)
    assert sum(len(x) for x in boxes_a[:3]) > 0  # the mine is seen
    for x, y in zip(boxes_a, boxes_b, strict=True):
        assert x.shape == y.shape and np.allclose(x, y, atol=0.05)
