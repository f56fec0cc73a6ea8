"""The Chip: one tile's pixels, the unit every imagery source returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import mercantile
import numpy as np
from affine import Affine

CRS = "EPSG:3857"


@dataclass(frozen=True)
class Chip:
    """Float32 surface reflectance of one tile, shape ``(bands, H, W)``.

    Values are reflectance in 0-1, NaN where there is no data. ``transform``
    maps pixels to EPSG:3857 and covers the tile plus ``margin_px`` on each
    side. ``valid`` is True where the pixel is clear (not cloud, shadow or
    nodata); None means every finite pixel is valid.
    """

    data: np.ndarray
    bands: tuple[str, ...]
    transform: Affine
    period: str
    tile: mercantile.Tile | None = None
    margin_px: int = 0
    valid: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        """Height and width in pixels, margin included."""
        return self.data.shape[1], self.data.shape[2]

    def band(self, name: str) -> np.ndarray:
        """One band by its S2 name."""
        return self.data[self.bands.index(name)]

    def select(self, bands: tuple[str, ...] | list[str]) -> Chip:
        """A chip with only ``bands``, in that order."""
        idx = [self.bands.index(b) for b in bands]
        return _replace(self, data=self.data[idx], bands=tuple(bands))

    def core(self) -> Chip:
        """The chip without its margin: exactly the tile's own bounds."""
        m = self.margin_px
        if m == 0:
            return self
        valid = None if self.valid is None else self.valid[m:-m, m:-m]
        return _replace(
            self,
            data=self.data[:, m:-m, m:-m],
            transform=self.transform @ Affine.translation(m, m),
            margin_px=0,
            valid=valid,
        )

    def valid_mask(self) -> np.ndarray:
        """Boolean ``(H, W)``: clear and finite in every band."""
        finite = np.isfinite(self.data).all(axis=0)
        return finite if self.valid is None else finite & self.valid

    @property
    def valid_fraction(self) -> float:
        """Share of pixels that are clear; 0 for an all-cloud chip."""
        return float(self.valid_mask().mean())

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) in EPSG:3857, margin included."""
        h, w = self.shape
        x0, y0 = self.transform @ (0, 0)
        x1, y1 = self.transform @ (w, h)
        return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


def _replace(chip: Chip, **changes) -> Chip:
    from dataclasses import replace

    return replace(chip, **changes)
