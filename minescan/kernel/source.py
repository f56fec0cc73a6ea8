"""The ImagerySource protocol every source (simulated, earthengine, stac, geotiff) implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import mercantile
import numpy as np
from affine import Affine

from minescan.kernel.chip import Chip
from minescan.kernel.period import DEFAULT_PERIOD


@dataclass(frozen=True)
class Cube:
    """A per-date pixel stack on one 10 m EPSG:3857 grid, for the monitor.

    ``data`` is float32 reflectance ``(T, bands, H, W)``; ``valid`` is bool
    ``(T, H, W)``, False for cloud, shadow or nodata.
    """

    data: np.ndarray
    valid: np.ndarray
    bands: tuple[str, ...]
    transform: Affine
    crs: str = "EPSG:3857"

    @classmethod
    def from_stack(cls, data: np.ndarray, bands: tuple[str, ...], transform: Affine) -> Cube:
        """A cube of ``data`` valid wherever every band is finite (sources store clouds as NaN)."""
        return cls(data, np.isfinite(data).all(axis=1), bands, transform)

    def band(self, name: str) -> np.ndarray:
        """``(T, H, W)`` for one band."""
        return self.data[:, self.bands.index(name)]


@runtime_checkable
class ImagerySource(Protocol):
    """Where pixels come from. Everything after ``read`` is source-agnostic."""

    name: str

    def read(
        self,
        tile: mercantile.Tile,
        size_px: int = 256,
        period: str = DEFAULT_PERIOD,
        bands: tuple[str, ...] | None = None,
        margin_px: int = 0,
    ) -> Chip:
        """A period composite of ``tile`` on a ``size_px`` grid plus ``margin_px`` each side."""
        ...

    def series(
        self,
        geometry,
        start: str,
        end: str,
        bands: tuple[str, ...] | None = None,
    ) -> tuple[np.ndarray, Cube]:
        """Per-date observations over ``geometry`` (EPSG:4326) between two ISO dates.

        Returns ``(dates, cube)`` with ``dates`` a ``datetime64[D]`` array of length T.
        """
        ...


@runtime_checkable
class TruthSource(Protocol):
    """What a source that also knows where its mines are (the simulated world) adds.

    detect, datasets and monitor score against it when it is there; a real
    source has no truth, and the user brings labels instead (``--truth``,
    ``minescan evaluate``).
    """

    def mines_in(self, geometry, date=None):
        """One row per mine whose footprint by ``date`` (None: final) meets ``geometry``.

        A GeoDataFrame in EPSG:4326 with ``mine_id``, ``commodity``, ``artisanal``,
        ``start_date``, ``area_ha`` and the footprint as ``geometry``.
        """
        ...

    def components_in(self, geometry, date=None):
        """One row per mine part (pit, bench, dump, tailings, pond, road) meeting ``geometry``.

        A GeoDataFrame in EPSG:4326 with ``mine_id``, ``component``, ``start_date``
        and ``geometry``.
        """
        ...


def truth_of(source) -> TruthSource | None:
    """``source`` when it knows its own mines, else None (the one place that asks).

    Examples
    --------
    >>> truth_of(object()) is None
    True
    """
    return source if isinstance(source, TruthSource) else None
