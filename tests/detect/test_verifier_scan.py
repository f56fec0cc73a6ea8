"""The verifier in the scan: real sources only, boxes rescaled on the window around each."""

import numpy as np
from affine import Affine

from minescan.detect.batch import verify_boxes
from minescan.detect.run import verifier_note
from minescan.detect.tools import scan_verifier
from minescan.kernel.chip import Chip
from minescan.kernel.model import model_folder
from minescan.kernel.verifier import VERIFIER_BANDS, Verifier

SHIPPED = model_folder("models/demo")


def chip(size=64):
    data = np.random.default_rng(0).uniform(0.02, 0.4, (6, size, size)).astype(np.float32)
    return Chip(
        data=data, bands=VERIFIER_BANDS, transform=Affine(10, 0, 0, 0, -10, 0), period="2024"
    )


def constant(probability: float) -> Verifier:
    """A verifier that says ``probability`` of every window (no feature weighs anything)."""
    odds = np.log(probability / (1 - probability))
    return Verifier(("tex_B04",), (0.0,), (1.0,), (0.0,), float(odds), prior=0.5, weight=1.0)


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
