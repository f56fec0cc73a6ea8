"""RGB previews of chips with the mine polygons in semi-transparent red (for a person to check the labels)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from PIL import Image
from scipy import ndimage

from minescan.kernel.io import atomic_path

#: Preview channels (red, green, blue) and the fixed reflectance stretch 0..PREVIEW_HIGH.
PREVIEW_BANDS: tuple[str, str, str] = ("B04", "B03", "B02")
PREVIEW_HIGH = 0.3
#: Mine fill colour and opacity; the polygon outline is drawn opaque.
MINE_RGB = np.array([255, 0, 0], np.float32)
MINE_ALPHA = 0.4


def render_preview(data: np.ndarray, bands: Sequence[str], mine: np.ndarray | None) -> np.ndarray:
    """``(H, W, 3)`` uint8 true colour of ``data`` ``(B, H, W)`` with ``mine`` pixels tinted red.

    The stretch is fixed (0 to 0.3 reflectance), so previews of different
    chips compare by eye; NaN (nodata, cloud) shows black.
    """
    rgb = np.stack([data[list(bands).index(b)] for b in PREVIEW_BANDS], axis=-1)
    rgb = np.nan_to_num(np.clip(rgb / PREVIEW_HIGH, 0, 1), nan=0.0) * 255.0
    if mine is not None and mine.any():
        inside = mine > 0
        rgb[inside] = (1 - MINE_ALPHA) * rgb[inside] + MINE_ALPHA * MINE_RGB
        outline = inside & ~ndimage.binary_erosion(inside, border_value=1)
        rgb[outline] = MINE_RGB
    return np.rint(rgb).astype(np.uint8)


def write_preview(
    path: str | os.PathLike, data: np.ndarray, bands: Sequence[str], mine: np.ndarray | None
) -> None:
    """Atomically write :func:`render_preview` as a PNG."""
    with atomic_path(path, suffix=".png") as tmp:
        Image.fromarray(render_preview(data, bands, mine), mode="RGB").save(
            tmp, format="PNG", compress_level=1
        )
