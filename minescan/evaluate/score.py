"""Score labelled patches with a model folder, each at its native resolution.

The protocol (README "How well does it work on real imagery?"):

1. A patch is read as it is (:mod:`minescan.datasets.patches`): its own CRS and
   pixel grid, never reprojected, never upsampled to a finer zoom.
2. It goes to the detector in windows of at most ``window_px`` pixels, each
   reflect-padded to a multiple of the network stride (a 48 px patch becomes
   64 px), scaled by the model's own ``scaling.json``.
3. Its score is the highest box score among boxes that reach into the patch's
   own pixels (0 when there is none); boxes are kept down to ``floor``.
4. The threshold is the scan's own for the zoom whose pixels are nearest the
   patch's (``scan.conf``), so a figure at that threshold is what a scan would do.
5. The screen, where the patch has its bands, gives the share of mine-like
   valid pixels and keeps the patch when that reaches the floor of the same
   zoom; without its bands it is off and keeps everything.
6. Where the model folder holds a verifier (``verifier.json``) and the patch
   has its bands at a pixel it applies to, the verifier judges the patch as
   one window and its verdict scores every box, kept down to the verifier's
   own ``floor`` (:meth:`~minescan.kernel.verifier.Verifier.judged_score`, at
   the threshold of step 4); a patch with no box gets one covering it, as a
   scan proposes a window no box falls in. The detector's own score (its best
   box at or above ``floor`` of step 3) is kept beside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from minescan.datasets.patches import Patch
from minescan.kernel.mercator import lattice_res

#: Web-mercator metres per pixel at zoom 0 for a 256 px tile at the equator.
MERCATOR_RES0 = lattice_res(0, 256)
#: YOLO's coarsest stride: network inputs are padded to a multiple of it.
STRIDE = 32


@dataclass(frozen=True)
class PatchScore:
    """What the model made of one patch."""

    score: float
    boxes: np.ndarray
    screen_fraction: float | None
    screen_kept: bool
    zoom: int
    detector_score: float | None = None
    verifier_probability: float | None = None


def native_zoom(res_m: float, lat: float = 0.0) -> int:
    """The web-mercator zoom whose 256 px tile pixels are nearest ``res_m`` on the ground.

    Examples
    --------
    >>> native_zoom(10.0), native_zoom(19.0), native_zoom(10.0, lat=60.0)
    (14, 13, 13)
    """
    ground0 = MERCATOR_RES0 * math.cos(math.radians(lat))
    return int(round(math.log2(ground0 / res_m)))


def padded_size(n: int) -> int:
    """``n`` rounded up to the stride, at least two strides.

    Examples
    --------
    >>> padded_size(48), padded_size(64), padded_size(65)
    (64, 64, 96)
    """
    return max(2 * STRIDE, -(-n // STRIDE) * STRIDE)


def windows(height: int, width: int, window_px: int) -> list[tuple[int, int, int, int]]:
    """Row/column windows ``(r0, r1, c0, c1)`` covering the patch, overlapping by a quarter.

    Examples
    --------
    >>> windows(48, 48, 256)
    [(0, 48, 0, 48)]
    >>> [w[2:] for w in windows(10, 300, 256)]
    [(0, 256), (44, 300)]
    """

    def starts(n: int) -> list[int]:
        if n <= window_px:
            return [0]
        step = window_px * 3 // 4
        out = list(range(0, n - window_px, step))
        return out + [n - window_px]

    return [
        (r, min(r + window_px, height), c, min(c + window_px, width))
        for r in starts(height)
        for c in starts(width)
    ]


def detect_patch(detector, data: np.ndarray, floor: float, iou: float, window_px: int):
    """``(k, 5)`` boxes in patch pixels over every window of ``data`` (C, H, W reflectance)."""
    h, w = data.shape[1:]
    found = [np.zeros((0, 5), np.float32)]
    for r0, r1, c0, c1 in windows(h, w, window_px):
        part = data[:, r0:r1, c0:c1]
        ph, pw = padded_size(part.shape[1]), padded_size(part.shape[2])
        mode = "reflect" if min(part.shape[1:]) > 1 else "edge"
        pad_h, pad_w = ph - part.shape[1], pw - part.shape[2]
        part = np.pad(
            part,
            ((0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2)),
            mode=mode,
        )
        image = detector.scaling.to_uint8(part)[None]
        boxes = detector.predict(image, floor, iou)[0].copy()
        boxes[:, [0, 2]] += c0 - pad_w // 2
        boxes[:, [1, 3]] += r0 - pad_h // 2
        reach = (boxes[:, 2] > 0) & (boxes[:, 0] < w) & (boxes[:, 3] > 0) & (boxes[:, 1] < h)
        boxes = boxes[reach]
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        found.append(boxes)
    return np.concatenate(found)


def screen_patch(screen, patch: Patch, zoom: int) -> tuple[float | None, bool]:
    """The screen's mine-like share of the patch's valid pixels and its verdict at ``zoom``."""
    from minescan.kernel.screen import keeps_tile, mine_share, missing_bands

    if screen is None or missing_bands(screen, patch.bands):
        return None, True
    if not patch.valid.any():
        return 0.0, False
    fraction = mine_share(screen.mine_like(patch.data, patch.bands), patch.valid)
    return fraction, keeps_tile(fraction, screen.tile_min_fraction, zoom)


def verifies(verifier, patch: Patch) -> bool:
    """Whether ``verifier`` runs on ``patch``: it has the verifier's bands at a pixel it applies to."""
    from minescan.kernel.verifier import VERIFIER_BANDS

    return (
        verifier is not None
        and all(b in patch.bands for b in VERIFIER_BANDS)
        and verifier.applies_at(patch.res_m)
    )


def verify_patch(
    verifier, patch: Patch, boxes: np.ndarray, conf: float | None
) -> tuple[np.ndarray, float | None]:
    """The patch's boxes scored by the verifier's verdict at threshold ``conf``, and its probability.

    A patch without boxes gets one covering it, the verifier's own proposal.
    Boxes come back as they are, with None, when the verifier does not run on
    the patch (:func:`verifies`) or the patch has too few valid pixels.
    """
    if not verifies(verifier, patch):
        return boxes, None
    probability = verifier.probability(patch.data, patch.bands, patch.res_m)
    if probability is None:
        return boxes, None
    h, w = patch.data.shape[1:]
    out = boxes.copy() if len(boxes) else np.array([[0.0, 0.0, w, h, 0.0]], np.float32)
    out[:, 4] = verifier.judged_score(probability, conf)
    return out, probability


def score_patches(
    patches: list[Patch],
    detector,
    screen=None,
    floor: float = 0.001,
    iou: float = 0.5,
    window_px: int = 256,
    lats: np.ndarray | None = None,
    progress: bool = True,
    verifier=None,
    conf_at=None,
) -> list[PatchScore]:
    """Every patch's best box score, boxes, zoom and screen verdict (see the module protocol).

    ``conf_at`` maps a zoom to the scan's threshold there (``ScanSettings.conf_at``);
    it is needed with a ``verifier``, whose verdicts are scores on that scale.
    """
    if verifier is not None and conf_at is None:
        raise ValueError("score_patches: a verifier needs conf_at, the scan's thresholds")
    from tqdm import tqdm

    out = []
    lats = np.zeros(len(patches)) if lats is None else lats
    for patch, lat in tqdm(
        list(zip(patches, lats, strict=True)), desc="scoring", unit="patch", disable=not progress
    ):
        zoom = native_zoom(patch.res_m, float(lat))
        data = patch.select(detector.channels)
        lowest = min(floor, verifier.floor) if verifies(verifier, patch) else floor
        boxes = detect_patch(detector, data, lowest, iou, window_px)
        fraction, kept = screen_patch(screen, patch, zoom)
        best = float(boxes[:, 4].max(initial=0.0))
        best = best if best >= floor else 0.0
        conf = conf_at(zoom) if conf_at is not None else None
        boxes, probability = verify_patch(verifier, patch, boxes, conf)
        verified = float(boxes[:, 4].max()) if len(boxes) else 0.0
        out.append(PatchScore(verified, boxes, fraction, kept, zoom, best, probability))
    return out


def score_table(patches: list[Patch], scores: list[PatchScore], thresholds) -> pd.DataFrame:
    """One row per patch: file, label, score, the threshold it is judged at, screen, attributes.

    ``thresholds`` maps a zoom to the scan's threshold there (``ScanSettings.conf_at``).
    """
    rows = []
    for patch, s in zip(patches, scores, strict=True):
        h, w = patch.data.shape[1:]
        rows.append(
            {
                **{k: v for k, v in patch.attrs.items() if k not in ("file",)},
                "file": str(patch.attrs.get("file", patch.path.name)),
                "label": bool(patch.label),
                "score": s.score,
                "detector_score": s.detector_score,
                "verifier_probability": s.verifier_probability,
                "threshold": thresholds(s.zoom),
                "detected": s.score >= thresholds(s.zoom),
                "boxes": int(len(s.boxes)),
                "zoom": s.zoom,
                "screen_fraction": s.screen_fraction,
                "screen_kept": s.screen_kept,
                "valid_fraction": float(patch.valid.mean()),
                "width": w,
                "height": h,
                "res_m": round(patch.res_m, 3),
            }
        )
    return pd.DataFrame(rows)
