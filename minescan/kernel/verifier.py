"""The real-imagery verifier: a sparse logistic score on patch-relative spectral features.

The detector is trained on the simulated world and ranks real patches near
chance; the verifier is a second opinion fitted on real labelled patches
(``minescan train verifier``) and kept small and readable: its coefficients
sit in ``verifier.json`` in the model folder, one per named feature.

Its features are **relative to the patch** (quantile spreads of spectral
indices, texture over the band's own median, the brightest bare pixels over
the patch median), so a hazier composite, another season or a sensor offset
moves them less than it moves absolute reflectance. The same function
computes them for a labelled patch (``minescan evaluate``) and for the window
around a scan candidate.

The verifier rescales a detector score ``s`` by its own evidence: with ``p``
its probability and ``prior`` the mine share it was fitted on,
``logit(s') = logit(s) + weight * (logit(p) - logit(prior))``. A patch the
verifier finds as likely as the prior keeps its score; ``s = 0`` (no box)
stays 0, so the verifier never adds a box.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from minescan.kernel.errors import MinescanError, first_line
from minescan.kernel.model import VERIFIER

#: The bands the features read (the six of the usual L2A composites).
VERIFIER_BANDS: tuple[str, ...] = ("B02", "B03", "B04", "B08", "B11", "B12")
#: Spectral indices, each a normalized difference ``(a - b) / (a + b)`` of band sums.
INDICES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "ndvi": (("B08",), ("B04",)),
    "bsi": (("B11", "B04"), ("B08", "B02")),
    "ndwi": (("B03",), ("B08",)),
    "mndwi": (("B03",), ("B11",)),
    "nbr": (("B08",), ("B12",)),
    "swir": (("B11",), ("B12",)),
}
#: Bands whose texture (1 px neighbour difference over the band median) is a feature.
TEXTURE_BANDS: tuple[str, ...] = ("B04", "B08", "B11")
#: Bands compared between the brightest-bare pixels and the patch median.
CONTRAST_BANDS: tuple[str, ...] = ("B02", "B04", "B11")
#: Share of the patch's pixels, by bare-soil index, that make its "brightest bare" set.
BRIGHT_BARE_SHARE = 0.1
#: Bare: NDVI below this; wet: MNDWI above WET_MNDWI; water: MNDWI above WATER_MNDWI.
BARE_NDVI, WET_MNDWI, WATER_MNDWI = 0.3, -0.2, 0.0
#: Guards ratios and normalized differences against zero (dark water, nodata).
EPS = 1e-6
#: Fewest valid pixels a window needs for its quantiles to mean anything.
MIN_VALID_PX = 16


def feature_names() -> list[str]:
    """Every feature :func:`patch_features` computes, in its order.

    Examples
    --------
    >>> names = feature_names()
    >>> names[:3], len(names)
    (['ndvi_p50', 'ndvi_hi', 'ndvi_lo'], 27)
    """
    out = [f"{i}_{q}" for i in INDICES for q in ("p50", "hi", "lo")]
    out += [f"tex_{b}" for b in TEXTURE_BANDS]
    out += ["bare_share", "water_share", "bare_wet_share"]
    out += [f"bright_bare_{b}" for b in CONTRAST_BANDS]
    return out


def index_image(data: np.ndarray, bands, name: str) -> np.ndarray:
    """The ``name`` index of ``data`` ``(B, H, W)`` as ``(H, W)``; NaN where a band is NaN.

    Examples
    --------
    >>> x = np.array([[[0.1]], [[0.3]]])
    >>> round(float(index_image(x, ("B04", "B08"), "ndvi")[0, 0]), 6)
    0.5
    """
    bands = list(bands)
    plus, minus = INDICES[name]
    a = sum(data[bands.index(b)] for b in plus)
    b = sum(data[bands.index(b)] for b in minus)
    return (a - b) / np.maximum(a + b, EPS)


def spread(values: np.ndarray) -> tuple[float, float, float]:
    """Median, p90 - median and median - p10 of ``values``: the level and both tails.

    Examples
    --------
    >>> spread(np.arange(11.0))
    (5.0, 4.0, 4.0)
    """
    p10, p50, p90 = np.percentile(values, (10, 50, 90))
    return float(p50), float(p90 - p50), float(p50 - p10)


def texture(band: np.ndarray) -> float:
    """Mean absolute 1 px neighbour difference over the band's median (a gain cancels out).

    Examples
    --------
    >>> texture(np.array([[1.0, 2.0], [1.0, 2.0]]))
    0.333...
    """
    dx = np.abs(band[:, 1:] - band[:, :-1]).ravel()
    dy = np.abs(band[1:, :] - band[:-1, :]).ravel()
    diffs = np.concatenate([dx, dy])
    diffs = diffs[np.isfinite(diffs)]
    if not len(diffs):
        return 0.0
    return float(diffs.mean() / max(float(np.nanmedian(band)), EPS))


def bright_bare_contrast(band: np.ndarray, bsi: np.ndarray) -> float:
    """Log ratio of the band's mean over the most bare-soil-like pixels to the band's median.

    Both sides are the same patch's pixels, so a haze offset or a gain moves them together.

    Examples
    --------
    >>> band = np.array([1.0] * 9 + [4.0])
    >>> bsi = np.array([0.0] * 9 + [1.0])
    >>> round(bright_bare_contrast(band, bsi), 3)
    1.386
    """
    k = max(1, int(round(BRIGHT_BARE_SHARE * len(band))))
    top = np.argsort(bsi)[-k:]
    return float(np.log(max(float(band[top].mean()), EPS) / max(float(np.median(band)), EPS)))


def patch_features(data: np.ndarray, bands) -> np.ndarray | None:
    """The :func:`feature_names` values of one patch ``(B, H, W)`` reflectance, NaN for no data.

    Quantiles and shares are over the pixels where every verifier band is
    finite; None when fewer than ``MIN_VALID_PX`` are.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.uniform(0.02, 0.4, (6, 8, 8))
    >>> patch_features(x, VERIFIER_BANDS).shape
    (27,)
    >>> patch_features(np.full((6, 8, 8), np.nan), VERIFIER_BANDS) is None
    True
    """
    bands = list(bands)
    missing = [b for b in VERIFIER_BANDS if b not in bands]
    if missing:
        raise MinescanError(f"the verifier needs band(s) {','.join(missing)}")
    data = np.asarray(data, dtype=np.float64)
    valid = np.isfinite(data[[bands.index(b) for b in VERIFIER_BANDS]]).all(axis=0)
    if valid.sum() < MIN_VALID_PX:
        return None
    index = {name: index_image(data, bands, name) for name in INDICES}
    out = []
    for name in INDICES:
        out.extend(spread(index[name][valid]))
    out += [texture(np.where(valid, data[bands.index(b)], np.nan)) for b in TEXTURE_BANDS]
    ndvi, mndwi, bsi = index["ndvi"][valid], index["mndwi"][valid], index["bsi"][valid]
    bare = ndvi < BARE_NDVI
    out += [float(bare.mean()), float((mndwi > WATER_MNDWI).mean())]
    out.append(float((bare & (mndwi > WET_MNDWI)).mean()))
    out += [bright_bare_contrast(data[bands.index(b)][valid], bsi) for b in CONTRAST_BANDS]
    return np.array(out)


def logit(p) -> np.ndarray:
    """Log odds, clipped away from 0 and 1 so every probability has a finite one."""
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-9, 1 - 1e-9)
    return np.log(p / (1 - p))


@dataclass(frozen=True)
class Verifier:
    """A fitted verifier: standardisation, coefficients and how it rescales detector scores.

    ``coef`` holds one value per name in ``features`` (zero for those the L1
    penalty dropped); ``mean`` and ``scale`` standardise the features first.
    ``info`` records how it was fitted and validated (read by the model card).
    """

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    prior: float
    weight: float = 1.0
    window_m: float = 480.0
    info: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        n = len(self.features)
        if not (len(self.mean) == len(self.scale) == len(self.coef) == n):
            raise MinescanError("verifier: features, mean, scale and coef differ in length")
        unknown = sorted(set(self.features) - set(feature_names()))
        if unknown:
            raise MinescanError(f"verifier: unknown features {', '.join(unknown)}")
        if not 0.0 < self.prior < 1.0:
            raise MinescanError(f"verifier: prior {self.prior} is not strictly between 0 and 1")

    def probability_of(self, x: np.ndarray) -> np.ndarray:
        """Mine probability of feature rows ``x`` ``(N, len(feature_names()))``."""
        names = feature_names()
        cols = np.asarray(x, dtype=np.float64)[..., [names.index(f) for f in self.features]]
        z = (cols - np.array(self.mean)) / np.array(self.scale)
        return 1.0 / (1.0 + np.exp(-(z @ np.array(self.coef) + self.intercept)))

    def probability(self, data: np.ndarray, bands) -> float | None:
        """Mine probability of one patch ``(B, H, W)``; None when it has too few valid pixels."""
        x = patch_features(data, bands)
        return None if x is None else float(self.probability_of(x[None])[0])

    def rescale(self, score, probability) -> np.ndarray:
        """Detector scores moved by the verifier's odds against its prior (module docstring).

        Examples
        --------
        >>> v = Verifier(("ndvi_p50",), (0.0,), (1.0,), (1.0,), 0.0, prior=0.5)
        >>> v.rescale([0.2, 0.2, 0.0], [0.5, 0.8, 0.9]).round(3).tolist()
        [0.2, 0.5, 0.0]
        """
        score = np.asarray(score, dtype=np.float64)
        shift = self.weight * (logit(probability) - logit(self.prior))
        out = 1.0 / (1.0 + np.exp(-(logit(score) + shift)))
        return np.where(score > 0, out, 0.0)

    def to_dict(self) -> dict:
        """The JSON document ``verifier.json`` holds."""
        return asdict(self)

    def save(self, path: str | Path) -> Path:
        """Write ``verifier.json`` (into ``path`` when it is a folder)."""
        from minescan.kernel.io import write_json

        p = Path(path)
        return write_json(p / VERIFIER if p.is_dir() else p, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> Verifier:
        """Read ``verifier.json`` (a model folder is accepted too); a one-line error otherwise."""
        p = Path(path)
        p = p / VERIFIER if p.is_dir() else p
        try:
            doc = json.loads(p.read_text())
            return cls(
                features=tuple(doc["features"]),
                mean=tuple(float(v) for v in doc["mean"]),
                scale=tuple(float(v) for v in doc["scale"]),
                coef=tuple(float(v) for v in doc["coef"]),
                intercept=float(doc["intercept"]),
                prior=float(doc["prior"]),
                weight=float(doc.get("weight", 1.0)),
                window_m=float(doc.get("window_m", 480.0)),
                info=dict(doc.get("info", {})),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise MinescanError(f"cannot read verifier {p}: {first_line(exc)}") from None
