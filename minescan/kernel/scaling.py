"""The fixed reflectance-to-uint8 mapping shared by training and scanning.

The detector sees uint8 images. The mapping from surface reflectance to
0-255 is linear per band, fixed (no per-image stretch, so a bright tile stays
bright), written next to the YOLO set as ``scaling.json`` and shipped with the
model, so a scan scales pixels exactly as training did.

Default ranges (reflectance 0-1, Sentinel-2 L2A):

- visible bands B01-B04 map 0.0-0.3: water, vegetation and most soil sit
  below 0.2; bright tailings and desert reach 0.3;
- red-edge, NIR and SWIR bands B05-B12 map 0.0-0.6: vegetation NIR and dry
  soil SWIR reach 0.4-0.5; only cloud and snow saturate.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from minescan.kernel.bands import parse_bands
from minescan.kernel.errors import MinescanError
from minescan.kernel.io import write_json

#: Upper reflectance of each band's default range (the lower end is 0).
DEFAULT_HIGH: dict[str, float] = {
    "B01": 0.3, "B02": 0.3, "B03": 0.3, "B04": 0.3,
    "B05": 0.6, "B06": 0.6, "B07": 0.6, "B08": 0.6, "B8A": 0.6, "B09": 0.6,
    "B11": 0.6, "B12": 0.6,
}  # fmt: skip


@dataclass(frozen=True)
class Scaling:
    """Linear per-band mapping ``low..high`` reflectance to ``0..255``.

    Examples
    --------
    >>> s = Scaling.default(("B04", "B08"))
    >>> s.to_uint8(np.array([[[0.15]], [[float("nan")]]])).ravel().tolist()
    [128, 0]
    """

    bands: tuple[str, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]

    def __post_init__(self) -> None:
        if not len(self.bands) == len(self.low) == len(self.high):
            raise MinescanError("scaling needs one low and one high value per band")
        if any(h <= lo for lo, h in zip(self.low, self.high, strict=True)):
            raise MinescanError("scaling high must exceed low for every band")

    @classmethod
    def default(cls, bands) -> Scaling:
        """The documented default ranges for ``bands`` (names or ``"B02,B03"``)."""
        names = parse_bands(bands)
        return cls(names, tuple(0.0 for _ in names), tuple(DEFAULT_HIGH[b] for b in names))

    def to_uint8(self, data: np.ndarray) -> np.ndarray:
        """Scale ``(B, H, W)`` or ``(N, B, H, W)`` reflectance in ``self.bands`` order.

        ``round(clip((x - low) / (high - low), 0, 1) * 255)``; NaN becomes 0.
        """
        data = np.asarray(data, dtype=np.float32)
        axis = data.ndim - 3
        if data.ndim not in (3, 4) or data.shape[axis] != len(self.bands):
            raise ValueError(
                f"expected (B, H, W) or (N, B, H, W) with B={len(self.bands)}, got {data.shape}"
            )
        shape = [1] * data.ndim
        shape[axis] = len(self.bands)
        low = np.asarray(self.low, np.float32).reshape(shape)
        span = (np.asarray(self.high, np.float32) - np.asarray(self.low, np.float32)).reshape(shape)
        # One scratch array, every step in place: a scan batch (32 x 6 x 288 x 288) is 64 MB
        # of float32, and a temporary per step (and nan_to_num's inf checks) cost more than
        # the arithmetic. fmax / fmin clip as np.clip does and also send NaN to 0.
        unit = np.subtract(data, low)
        np.divide(unit, span, out=unit)
        np.fmax(unit, 0.0, out=unit)
        np.fmin(unit, 1.0, out=unit)
        np.multiply(unit, 255.0, out=unit)
        return np.rint(unit, out=unit).astype(np.uint8)

    def to_dict(self) -> dict:
        """The ``scaling.json`` content."""
        return {
            "bands": list(self.bands),
            "low": list(self.low),
            "high": list(self.high),
            "method": "linear",
        }

    @classmethod
    def from_dict(cls, obj: dict) -> Scaling:
        """Inverse of :meth:`to_dict`; a one-line error on a malformed mapping."""
        try:
            if obj.get("method", "linear") != "linear":
                raise MinescanError(f"unknown scaling method {obj['method']!r}")
            return cls(
                parse_bands(obj["bands"]),
                tuple(float(v) for v in obj["low"]),
                tuple(float(v) for v in obj["high"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise MinescanError(f"malformed scaling: {exc}") from None

    def save(self, path: str | os.PathLike) -> Path:
        """Atomically write ``scaling.json``."""
        return write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> Scaling:
        """Read ``scaling.json``."""
        p = Path(path)
        try:
            obj = json.loads(p.read_text())
        except FileNotFoundError:
            raise MinescanError(f"scaling file not found: {p}") from None
        except (OSError, json.JSONDecodeError) as exc:
            raise MinescanError(f"cannot read scaling file {p}: {exc}") from None
        return cls.from_dict(obj)
