import json

import numpy as np
import pytest

from minescan.kernel.errors import MinescanError
from minescan.kernel.scaling import DEFAULT_HIGH, Scaling


def test_default_ranges():
    s = Scaling.default("B02,B03,B04,B08,B11,B12")
    assert s.bands == ("B02", "B03", "B04", "B08", "B11", "B12")
    assert s.low == (0.0,) * 6
    assert s.high == (0.3, 0.3, 0.3, 0.6, 0.6, 0.6)
    assert set(DEFAULT_HIGH) == {
        "B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12",
    }  # fmt: skip


def test_to_uint8_formula_clip_and_nan():
    s = Scaling(("B04", "B08"), (0.0, 0.1), (0.2, 0.5))
    data = np.array([[[0.0, 0.1, 0.2, 0.5, -0.1, np.nan]], [[0.1, 0.31, 0.5, 0.7, 0.0, np.nan]]])
    out = s.to_uint8(data)
    assert out.dtype == np.uint8
    expected = np.rint(np.clip((data - [[[0.0]], [[0.1]]]) / [[[0.2]], [[0.4]]], 0, 1) * 255)
    expected = np.nan_to_num(expected, nan=0)
    np.testing.assert_array_equal(out, expected.astype(np.uint8))
    assert out[0, 0].tolist() == [0, 128, 255, 255, 0, 0]


def test_to_uint8_saturates_infinities_and_leaves_its_input_alone():
    s = Scaling(("B04",), (0.0,), (0.2,))
    data = np.array([[[np.inf, -np.inf, np.nan, 1e30, -1e30, 0.1]]], np.float32)
    kept = data.copy()
    assert s.to_uint8(data).ravel().tolist() == [255, 0, 0, 255, 0, 128]
    np.testing.assert_array_equal(data, kept)  # scaled in a scratch array, not in place


def test_batch_equals_per_image():
    s = Scaling.default(("B02", "B03", "B11"))
    batch = np.random.default_rng(0).random((4, 3, 8, 8)).astype(np.float32) * 0.7
    np.testing.assert_array_equal(s.to_uint8(batch), np.stack([s.to_uint8(b) for b in batch]))
    with pytest.raises(ValueError):
        s.to_uint8(batch[:, :2])


def test_save_load_roundtrip(tmp_path):
    s = Scaling(("B02", "B8A"), (0.01, 0.0), (0.25, 0.55))
    path = s.save(tmp_path / "scaling.json")
    assert json.loads(path.read_text()) == {
        "bands": ["B02", "B8A"], "low": [0.01, 0.0], "high": [0.25, 0.55], "method": "linear",
    }  # fmt: skip
    assert Scaling.load(path) == s


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"bands": ["B02"], "low": [0.0]}', "malformed scaling"),
        ('{"bands": ["B99"], "low": [0.0], "high": [1.0]}', "unknown band"),
        ('{"bands": ["B02"], "low": [0.5], "high": [0.1]}', "high must exceed low"),
        ('{"bands": ["B02"], "low": [0], "high": [1], "method": "log"}', "unknown scaling method"),
        ("not json", "cannot read scaling file"),
    ],
)
def test_bad_scaling_files(tmp_path, content, message):
    path = tmp_path / "scaling.json"
    path.write_text(content)
    with pytest.raises(MinescanError, match=message):
        Scaling.load(path)
    with pytest.raises(MinescanError, match="not found"):
        Scaling.load(tmp_path / "missing.json")
