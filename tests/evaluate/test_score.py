from pathlib import Path

import numpy as np
import pytest

from minescan.datasets.patches import Patch, read_patch
from minescan.evaluate import score as sc
from minescan.kernel.errors import MinescanError
from minescan.kernel.scaling import Scaling

from .conftest import BANDS, bright_patch, write_patch


class BrightestCell:
    """A stand-in detector: one 8x8 box on the brightest B04 cell, scored by its brightness."""

    channels = BANDS

    def __init__(self):
        self.scaling = Scaling.default(BANDS)
        self.shapes = []

    def predict(self, batch, conf, iou=0.5):
        self.shapes.append(batch.shape)
        out = []
        for image in batch:
            red = image[2].astype(float) / 255
            h, w = red.shape
            cells = red[: h // 8 * 8, : w // 8 * 8].reshape(h // 8, 8, w // 8, 8).mean((1, 3))
            i, j = np.unravel_index(np.argmax(cells), cells.shape)
            s = float(cells[i, j])
            box = np.array([[j * 8, i * 8, j * 8 + 8, i * 8 + 8, s]], np.float32)
            out.append(box[box[:, 4] >= conf])
        return out


def make_patch(data, label=True):
    from rasterio.transform import from_origin

    return Patch(Path("x.tif"), data, BANDS, from_origin(0, 0, 10, 10), None, label)


def test_a_48px_patch_is_padded_to_64_not_resampled():
    det = BrightestCell()
    data = bright_patch(bright=(8, 16, 24, 32))
    boxes = sc.detect_patch(det, data, 0.0, 0.5, 256)
    assert det.shapes == [(1, 6, 64, 64)]
    # the box lands on the bright square in the patch's own pixels (padding offset removed)
    x0, y0, x1, y1, _ = boxes[0]
    assert (x0, y0, x1, y1) == (24, 8, 32, 16)


def test_a_large_patch_is_read_in_overlapping_windows():
    det = BrightestCell()
    data = bright_patch(size=300, bright=(280, 296, 280, 296))
    boxes = sc.detect_patch(det, data, 0.0, 0.5, 128)
    assert all(shape[2] <= 128 and shape[3] <= 128 for shape in det.shapes)
    assert len(det.shapes) == len(sc.windows(300, 300, 128)) > 1
    best = boxes[np.argmax(boxes[:, 4])]
    assert best[0] >= 272 and best[2] <= 300


def test_score_is_the_best_box_and_zoom_follows_resolution():
    det = BrightestCell()
    mine = make_patch(bright_patch(bright=(10, 30, 10, 30)))
    forest = make_patch(bright_patch(), label=False)
    s_mine, s_forest = sc.score_patches([mine, forest], det, progress=False)
    assert s_mine.score > s_forest.score
    assert s_mine.score == pytest.approx(float(s_mine.boxes[:, 4].max()))
    assert s_mine.zoom == 14
    assert s_mine.screen_fraction is None and s_mine.screen_kept  # no screen given


def test_screen_without_its_bands_keeps_the_patch():
    from minescan.kernel.screen import Screen
    from tests.detect.fakes import bright_screen  # flags B02 above 0.15

    data = bright_patch()
    data[0, 10:30, 10:30] = 0.3
    patch = make_patch(data)
    fraction, kept = sc.screen_patch(bright_screen(), patch, 14)
    assert fraction == pytest.approx(400 / 48**2) and kept
    assert sc.screen_patch(bright_screen(min_fraction=0.5), patch, 14) == (fraction, False)
    needs_b01 = Screen(**{**bright_screen().__dict__, "features": ["B01"]})
    assert sc.screen_patch(needs_b01, patch, 14) == (None, True)


def test_missing_model_band_is_a_one_line_error(tmp_path):
    path = write_patch(tmp_path / "rgb.tif", bright_patch()[:3], descriptions=BANDS[:3])
    patch = read_patch(path, True)
    with pytest.raises(MinescanError, match="needs B08,B11,B12"):
        sc.score_patches([patch], BrightestCell(), progress=False)


class NoBoxes(BrightestCell):
    """A stand-in detector that never finds anything."""

    def predict(self, batch, conf, iou=0.5):
        return [np.zeros((0, 5), np.float32) for _ in batch]


def saying(probability):
    from minescan.kernel.verifier import Verifier

    net = lambda batch: np.full(len(batch), probability)  # noqa: E731
    return Verifier((0.0,) * 6, (1.0,) * 6, 0.5, 480.0, 10.0, 15.0, 1e-4, net=net)


def test_the_verifier_judges_every_box_and_proposes_the_patch_where_there_is_none():
    patch = make_patch(bright_patch(bright=(10, 30, 10, 30)))
    conf_at = lambda zoom: 0.02  # noqa: E731
    (s,) = sc.score_patches([patch], NoBoxes(), verifier=saying(0.9), conf_at=conf_at,
                            progress=False)  # fmt: skip
    assert s.boxes[:, :4].tolist() == [[0, 0, 48, 48]] and s.score > 0.02
    assert s.detector_score == 0.0 and s.verifier_probability == pytest.approx(0.9)
    (doubtful,) = sc.score_patches([patch], BrightestCell(), verifier=saying(0.1),
                                   conf_at=conf_at, progress=False)  # fmt: skip
    # the detector's bright box is kept, but the verdict puts it under the scan's threshold
    assert len(doubtful.boxes) == 1 and doubtful.score < 0.02 < doubtful.detector_score
    with pytest.raises(ValueError, match="conf_at"):
        sc.score_patches([patch], NoBoxes(), verifier=saying(0.9), progress=False)
