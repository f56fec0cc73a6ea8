"""The verifier in the scan: real sources only, boxes judged on the window around each, proposals."""

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


def chip(size=64, res=10.0, margin=0):
    data = np.random.default_rng(0).uniform(0.02, 0.4, (6, size, size)).astype(np.float32)
    transform = Affine(res, 0, 0, 0, -res, 0)
    return Chip(data=data, bands=VERIFIER_BANDS, transform=transform, period="2024",
                margin_px=margin)  # fmt: skip


def constant(probability: float, threshold: float = 0.5, seen=None) -> Verifier:
    """A verifier that says ``probability`` of every window (and records its batch sizes)."""

    def net(batch):
        if seen is not None:
            seen.append(len(batch))
        return np.full(len(batch), probability)

    return Verifier((0.0,) * 6, (1.0,) * 6, threshold, 480.0, 10.0, 15.0, 1e-4, net=net)


def test_the_simulated_world_never_gets_the_verifier():
    assert scan_verifier("simulated", SHIPPED, VERIFIER_BANDS) is None
    assert scan_verifier("geotiff", SHIPPED, VERIFIER_BANDS[:4]) is None
    assert scan_verifier("geotiff", SHIPPED, VERIFIER_BANDS) is not None
    assert verifier_note(None, "simulated").startswith("off")


def test_the_verdict_scores_each_box_whatever_the_detector_said():
    boxes = np.array([[10, 10, 20, 20, 0.3], [40, 40, 50, 50, 0.0002]])
    assert verify_boxes(constant(0.2), chip(), boxes, conf=0.02).shape == (0, 5)
    kept = verify_boxes(constant(0.9), chip(), boxes, conf=0.02)
    # the 64 px chip is one 48 px window, which holds both boxes: no proposal
    assert np.allclose(kept[:, :4], boxes[:, :4])
    assert kept[0, 4] == pytest.approx(kept[1, 4]) and kept[0, 4] > 0.02
    at = verify_boxes(constant(0.5), chip(), boxes, conf=0.02)
    assert np.allclose(at[:, 4], 0.02)  # a verdict at the verifier's threshold is the scan's


def test_windows_with_no_box_are_proposed_as_boxes_the_size_of_a_window():
    empty = np.zeros((0, 5))
    assert verify_boxes(constant(0.2), chip(size=256), empty, 0.02).shape == (0, 5)
    found = verify_boxes(constant(0.9), chip(size=256), empty, 0.02)
    assert len(found) == 25  # 5 x 5 windows of 48 px tile the 256 px chip
    sides = found[:, 2:4] - found[:, :2]
    assert (sides == 48).all() and (found[:, 4] > 0.02).all()

    def bright_window(batch):  # "mine" only where the window holds the bright square
        return np.where(batch[:, 4].max(axis=(1, 2)) > 3.0, 0.9, 0.1)

    c = chip(size=256)
    c.data[4, 120:130, 215:225] = 5.0  # inside one window of the 5 x 5
    v = Verifier((0.0,) * 6, (1.0,) * 6, 0.5, 480.0, 10.0, 15.0, 1e-4, net=bright_window)
    (box,) = verify_boxes(v, c, empty, 0.02)
    assert box[0] <= 215 and box[2] >= 225 and box[1] <= 120 and box[3] >= 130


def test_proposals_respect_the_margin_and_a_window_without_pixels_keeps_the_detector_score():
    c = chip(size=96, margin=24)  # a 48 px core: one proposal, centred on it
    found = verify_boxes(constant(0.9), c, np.zeros((0, 5)), 0.02)
    assert found[:, :4].tolist() == [[24, 24, 72, 72]]
    blank = chip()
    blank.data[:] = np.nan
    box = np.array([[10, 10, 20, 20, 0.3]])
    assert np.allclose(verify_boxes(constant(0.01), blank, box, 0.02), box)


def test_boxes_around_one_feature_share_one_window():
    seen = []
    near = np.array([[30, 30, 34, 34, 0.01], [31, 31, 35, 35, 0.02], [29, 30, 33, 35, 0.01]])
    far = np.array([[200, 200, 210, 210, 0.01]])
    kept = verify_boxes(constant(0.9, seen=seen), chip(size=256), np.vstack([near, far]), 0.02)
    # one window for the three near boxes, one for the far one, and the 24 of the 25
    # proposal windows that hold no box centre
    assert seen == [2 + 24]
    assert len(kept) == 4 + 24


def test_the_chip_pixel_is_measured_on_the_ground():
    assert chip_pixel_m(chip(res=10.0)) == pytest.approx(10.0)
    far_north = Chip(
        data=np.zeros((6, 4, 4), np.float32),
        bands=VERIFIER_BANDS,
        transform=Affine(10, 0, 0, 0, -10, 8_399_737.89),  # ~60 N
        period="2024",
    )
    assert 4.9 < chip_pixel_m(far_north) < 5.1
