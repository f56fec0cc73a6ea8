"""The spectral screen: a sparse linear pixel score that rules out tiles before the detector.

The features are the design's: every band, plus the normalized difference
``(x_k - x_l) / (x_k + x_l)`` of every band pair (NDVI is ``ND_B04_B08`` with a
minus sign, NDWI ``ND_B03_B08``, NBR ``ND_B08_B12`` ...). An L1 path (see
:mod:`minescan.train.screen`) keeps only a few of them.

The tile rule: a tile is dropped when the share of its clear pixels that look
mine-like (:func:`mine_share`) falls below the floor of the nearest calibrated
zoom (:func:`keeps_tile`); the floors are calibrated so that at least 99% of
validation tiles holding a mine are kept. The scan and the screen's training
both apply it through these two functions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from itertools import combinations
from pathlib import Path

import numpy as np

from minescan.kernel.bands import S2_BANDS
from minescan.kernel.errors import MinescanError
from minescan.kernel.model import SCREEN

#: Guards the normalized difference against a zero denominator (dark water, nodata zeros).
ND_EPS = 1e-6


def feature_names(bands: tuple[str, ...] | list[str] = S2_BANDS) -> list[str]:
    """The bands, then ``ND_Bk_Bl`` for every pair k < l in the given order.

    Examples
    --------
    >>> feature_names(("B04", "B08", "B11"))
    ['B04', 'B08', 'B11', 'ND_B04_B08', 'ND_B04_B11', 'ND_B08_B11']
    >>> len(feature_names())
    78
    """
    bands = list(bands)
    return bands + [f"ND_{a}_{b}" for a, b in combinations(bands, 2)]


def compute_features(
    data: np.ndarray, bands: tuple[str, ...] | list[str], names: list[str] | None = None
) -> np.ndarray:
    """Features of ``data`` (B, ...) float reflectance, in ``bands`` order -> (F, ...) float32.

    ``names`` picks features (default: all of :func:`feature_names`). NaN in an
    input band gives NaN in every feature that uses it.

    Examples
    --------
    >>> x = np.array([[0.1], [0.3]])
    >>> compute_features(x, ("B04", "B08")).astype(float).round(3).tolist()
    [[0.1], [0.3], [-0.5]]
    """
    bands = list(bands)
    names = feature_names(bands) if names is None else names
    data = np.asarray(data, dtype=np.float32)
    if data.shape[0] != len(bands):
        raise MinescanError(f"data has {data.shape[0]} bands but {len(bands)} band names given")
    out = np.empty((len(names), *data.shape[1:]), dtype=np.float32)
    for i, name in enumerate(names):
        out[i] = _feature(data, bands, name)
    return out


def _feature(data: np.ndarray, bands: list[str], name: str) -> np.ndarray:
    try:
        if name.startswith("ND_"):
            a, b = name[3:].split("_")
            x, y = data[bands.index(a)], data[bands.index(b)]
            return (x - y) / np.maximum(x + y, ND_EPS)
        return data[bands.index(name)]
    except ValueError:
        raise MinescanError(f"feature {name} needs a band that is not in {bands}") from None


def bands_needed(features: list[str]) -> tuple[str, ...]:
    """The S2 bands the features read, in S2 order.

    Examples
    --------
    >>> bands_needed(["ND_B08_B04", "B11"])
    ('B04', 'B08', 'B11')
    """
    used = set()
    for name in features:
        used.update(name[3:].split("_") if name.startswith("ND_") else [name])
    return tuple(b for b in S2_BANDS if b in used)


def missing_bands(screen: Screen, offered: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The bands the screen reads that ``offered`` lacks; empty when the screen can run.

    Imagery with fewer bands than the screen reads (the real patches carry six)
    is never screened with made-up values: the screen is switched off and every
    tile goes to the detector, so the screen can never be what loses a mine.
    """
    return tuple(b for b in bands_needed(screen.features) if b not in offered)


@dataclass
class Screen:
    """A linear pixel score on standardised features, and the per-zoom tile rule.

    ``score = intercept + sum(weights * (feature - mean) / scale)``; a pixel
    looks like mine when its score is at least ``pixel_threshold``. Only
    features with a non-zero weight are stored.
    """

    bands: tuple[str, ...]
    features: list[str]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    intercept: float
    pixel_threshold: float
    tile_min_fraction: dict[int, float]
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.bands = tuple(self.bands)
        self.mean = np.asarray(self.mean, dtype=np.float32)
        self.scale = np.asarray(self.scale, dtype=np.float32)
        self.weights = np.asarray(self.weights, dtype=np.float32)
        self.tile_min_fraction = {int(z): float(v) for z, v in self.tile_min_fraction.items()}
        sizes = {len(self.features), self.mean.size, self.scale.size, self.weights.size}
        if len(sizes) != 1:
            raise MinescanError("screen: features, mean, scale and weights differ in length")
        if not self.tile_min_fraction:
            raise MinescanError("screen: tile_min_fraction has no zoom")

    @classmethod
    def load(cls, path: str | Path) -> Screen:
        """Read ``screen.json`` (a model folder is accepted too)."""
        p = Path(path)
        if p.is_dir():
            p = p / SCREEN
        if not p.exists():
            raise MinescanError(f"screen file not found: {p}")
        try:
            doc = json.loads(p.read_text())
            return cls(
                bands=tuple(doc["bands"]),
                features=list(doc["features"]),
                mean=doc["mean"],
                scale=doc["scale"],
                weights=doc["weights"],
                intercept=float(doc["intercept"]),
                pixel_threshold=float(doc["pixel_threshold"]),
                tile_min_fraction=doc["tile_min_fraction"],
                info={k: v for k, v in doc.items() if k not in _FIELDS},
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise MinescanError(f"screen file {p} is not a valid screen: {exc}") from None

    def to_dict(self) -> dict:
        """The JSON document :meth:`load` reads (extra ``info`` keys kept)."""
        doc = {k: v for k, v in asdict(self).items() if k != "info"}
        doc["bands"] = list(self.bands)
        for key in ("mean", "scale", "weights"):
            doc[key] = [float(v) for v in getattr(self, key)]
        doc["tile_min_fraction"] = {str(z): v for z, v in sorted(self.tile_min_fraction.items())}
        return {**doc, **self.info}

    def score(self, data: np.ndarray, bands: tuple[str, ...] | list[str]) -> np.ndarray:
        """Per-pixel linear score of ``data`` (B, H, W) in ``bands`` order -> (H, W) float32."""
        x = compute_features(data, bands, self.features)
        z = (x - self.mean.reshape(-1, *[1] * (x.ndim - 1))) / self.scale.reshape(
            -1, *[1] * (x.ndim - 1)
        )
        return np.tensordot(self.weights, z, axes=1).astype(np.float32) + np.float32(self.intercept)

    def mine_like(self, data: np.ndarray, bands: tuple[str, ...] | list[str]) -> np.ndarray:
        """Which pixels look like mine: a score at least ``pixel_threshold`` -> (H, W) bool."""
        return self.score(data, bands) >= self.pixel_threshold


_FIELDS = {f for f in Screen.__dataclass_fields__ if f != "info"}


def mine_share(flagged: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Share of the clear pixels that look mine-like; 0.0 when no pixel is clear.

    ``flagged`` marks the mine-like pixels; ``valid`` (same shape) the clear
    ones, None when every pixel given is clear. Cloud and nodata never count
    for or against a tile.

    Examples
    --------
    >>> mine_share(np.array([True, False, True, True]), np.array([True, True, True, False]))
    0.6666666666666666
    >>> mine_share(np.array([True]), np.array([False])), mine_share(np.array([], bool))
    (0.0, 0.0)
    """
    clear = flagged if valid is None else flagged[valid]
    return float(clear.mean()) if clear.size else 0.0


def nearest_zoom_value(by_zoom: Mapping[int, float], zoom: int) -> float:
    """The value at ``zoom``, or at the nearest zoom listed; a tie goes to the coarser zoom.

    Examples
    --------
    >>> floors = {13: 0.2, 15: 0.05}
    >>> nearest_zoom_value(floors, 16), nearest_zoom_value(floors, 14)
    (0.05, 0.2)
    """
    return by_zoom[min(by_zoom, key=lambda z: (abs(z - zoom), z))]


def keeps_tile(share, tile_min_fraction: Mapping[int, float], zoom: int):
    """The tile rule: True where a mine-like share reaches the floor of the zoom nearest ``zoom``.

    ``share`` is one :func:`mine_share` (a tile) or an array of them (the
    scan also asks it of boxes and child cells); the answer has its shape.

    Examples
    --------
    >>> keeps_tile(0.1, {13: 0.2, 15: 0.05}, 15), keeps_tile(0.1, {13: 0.2, 15: 0.05}, 14)
    (True, False)
    >>> keeps_tile(np.array([0.0, 0.3]), {13: 0.2}, 13).tolist()
    [False, True]
    """
    return share >= nearest_zoom_value(tile_min_fraction, zoom)
