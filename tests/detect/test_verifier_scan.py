"""The verifier in the scan: real sources only, boxes rescaled on the window around each."""

import numpy as np
import pytest
from affine import Affine

from minescan.detect.batch import chip_pixel_m, verify_boxes
from minescan.detect.run import verifier_note
from minescan.detect.tools import scan_verifier
from minescan.kernel.chip import Chip
from minescan.kernel.model import model_folder
from minescan.kernel.verifier import VERIFIER_BANDS, Verifier

SHIPPED = model_folder("models/demo")


def chip(size=64, res=10.0):
    data = np.random.default_rng(0).uniform(0.02, 0.4, (6, size, size)).astype(np.float32)
    return Chip(
        data=data, bands=VERIFIER_BANDS, transform=Affine(res, 0, 0, 0, -res, 0), period="2024"
    )


def constant(probability: float) -> Verifier:
    """A verifier that says ``probability`` of every window."""
    return Verifier(
        (0.0,) * 6, (1.0,) * 6, 0.5, 1.0, 480.0, 10.0, 15.0, 1e-4,
        net=lambda batch: np.full(len(batch), probability),
    )  # fmt: skip


def test_the_simulated_world_never_gets_the_verifier():
    assert scan_verifier("simulated", SHIPPED, VERIFIER_BANDS) is None
    assert scan_verifier("geotiff", SHIPPED, VERIFIER_BANDS[:4]) is None
    assert scan_verifier("geotiff", SHIPPED, VERIFIER_BANDS) is not None
    assert verifier_note(None, "simulated").startswith("off")


def test_boxes_are_rescaled_and_dropped_below_the_threshold():
    boxes = np.array([[10, 10, 20, 20, 0.3], [40, 40, 50, 50, 0.03]])
    kept = verify_boxes(constant(0.2), chip(), boxes, conf=0.02)
    assert len(kept) == 1 and 0.0 < kept[0, 4] < 0.3
    assert np.allclose(verify_boxes(constant(0.5), chip(), boxes, 0.02), boxes)
    assert verify_boxes(constant(0.9), chip(), boxes[:0], 0.02).shape == (0, 5)


def test_a_confident_verifier_lifts_a_weak_box_over_the_threshold():
    weak = np.array([[10, 10, 20, 20, 0.001]])
    lifted = verify_boxes(constant(0.9999), chip(), weak, conf=0.02)
    assert len(lifted) == 1 and lifted[0, 4] > 0.02


def test_boxes_around_one_feature_share_one_window():
    seen = []

    def net(batch):
        seen.append(len(batch))
        return np.full(len(batch), 0.9)

    v = Verifier((0.0,) * 6, (1.0,) * 6, 0.5, 1.0, 480.0, 10.0, 15.0, 1e-4, net=net)
    near = np.array([[30, 30, 34, 34, 0.01], [31, 31, 35, 35, 0.02], [29, 30, 33, 35, 0.01]])
    far = np.array([[200, 200, 210, 210, 0.01]])
    kept = verify_boxes(v, chip(size=256), np.vstack([near, far]), conf=0.0)
    assert seen == [2]  # one window for the three near boxes, one for the far one
    assert len(kept) == 4 and (kept[:, 4] > np.vstack([near, far])[:, 4]).all()


def test_the_chip_pixel_is_measured_on_the_ground():
    assert chip_pixel_m(chip(res=10.0)) == pytest.approx(10.0)
    far_north = Chip(
        data=np.zeros((6, 4, 4), np.float32),
        bands=VERIFIER_BANDS,
        transform=Affine(10, 0, 0, 0, -10, 8_399_737.89),  # ~60 N
        period="2024",
    )
    assert 4.9 < chip_pixel_m(far_north) < 5.1
