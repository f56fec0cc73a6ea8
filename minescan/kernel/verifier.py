"""The real-imagery verifier: a small convolutional classifier of 480 m windows, fitted on real patches.

The detector is trained on the simulated world and ranks real patches near
chance; the verifier is a second opinion fitted on real labelled patches
(``minescan train verifier``). It is an ensemble of small CNNs, exported to
one ONNX graph (``verifier.onnx``) that also averages the four rotations of
its input; ``verifier.json`` beside it holds how to prepare a window, the
combination rule's constants and how it was fitted and validated.

Its input is **relative to the window**: log reflectance minus each band's
own median over the window, so a hazier composite, another season or a
sensor gain moves it less than it moves absolute reflectance (measured: a
classifier of absolute log reflectance ranked held-out regions worse). The
same function prepares a labelled patch (``minescan evaluate``) and the window
around a scan candidate. Windows finer than the verifier's resolution
(``res_m``, 10 m) are averaged down to it by whole pixel blocks; it is not
applied where the imagery's pixels are much coarser (``max_pixel_m``), since
it never saw such windows.

On real pixels the detector ranks mines near chance, so where the verifier
runs it **decides** and the detector only **proposes**: every detector box down
to ``floor`` is judged by the verifier on the window around it, and so is every
window of a lattice over the tile that no box falls in (:func:`proposal_centres`),
so a mine the detector missed can still be found. A judged box's score is the
verifier's probability ``p`` moved onto the scan's threshold scale ``conf``:
``logit(s) = logit(conf) + logit(p) - logit(threshold)``, so it reaches
``conf`` exactly where ``p`` reaches the verifier's ``threshold`` (fitted to
keep a chosen share of training mines, ``minescan train verifier``) and the
stores, maps and thresholds downstream read it as any score. Measured on the
training regions out of fold and on held-out regions, the detector's own score
only added noise to the verifier's ranking (BENCHMARKS.md bench:real).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from minescan.kernel.errors import MinescanError, first_line
from minescan.kernel.model import VERIFIER, VERIFIER_NET

#: The bands the verifier reads (the six of the usual L2A composites), in its input order.
VERIFIER_BANDS: tuple[str, ...] = ("B02", "B03", "B04", "B08", "B11", "B12")
#: Reflectance floor before the log (dark water, rounding to 0).
MIN_REFLECTANCE = 1e-3
#: Share of a window's pixels that must hold every band for a verdict.
MIN_VALID_SHARE = 0.5
#: Fewest pixels on a side a window needs after averaging down (the CNN pools twice).
MIN_SIDE_PX = 8


def downsample_factor(pixel_m: float, res_m: float) -> int:
    """Whole-pixel block size that brings ``pixel_m`` pixels closest to ``res_m`` without going finer.

    Examples
    --------
    >>> downsample_factor(4.8, 10.0), downsample_factor(9.5, 10.0), downsample_factor(19.0, 10.0)
    (2, 1, 1)
    """
    return max(1, int(round(res_m / pixel_m)))


def block_mean(data: np.ndarray, factor: int) -> np.ndarray:
    """``data`` ``(B, H, W)`` averaged over ``factor`` x ``factor`` blocks, NaN ignored, edges cut.

    Examples
    --------
    >>> block_mean(np.arange(16.0).reshape(1, 4, 4), 2)[0].tolist()
    [[2.5, 4.5], [10.5, 12.5]]
    """
    if factor == 1:
        return data
    b, h, w = data.shape
    h, w = h // factor * factor, w // factor * factor
    blocks = data[:, :h, :w].reshape(b, h // factor, factor, w // factor, factor)
    with warnings.catch_warnings():  # an all-NaN block is NaN, as it should be
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(blocks, axis=(2, 4))


def relative_log(data: np.ndarray, bands, pixel_m: float = 10.0, res_m: float = 10.0):
    """The verifier's window input: log reflectance minus each band's median, ``(6, H, W)`` float32.

    ``data`` is ``(B, H, W)`` reflectance with NaN for no data, in ``bands``
    order (any order, extra bands ignored). Pixels with no data become 0, the
    band's median. None when under ``MIN_VALID_SHARE`` of the pixels are valid
    or the window is under ``MIN_SIDE_PX`` on a side.

    Examples
    --------
    >>> x = np.full((6, 10, 10), 0.2)
    >>> x[:, 0, 0] = 0.4
    >>> z = relative_log(x, VERIFIER_BANDS)
    >>> z.shape, round(float(z[0, 0, 0]), 4), float(z[0, 5, 5])
    ((6, 10, 10), 0.6931, 0.0)
    >>> relative_log(np.full((6, 10, 10), np.nan), VERIFIER_BANDS) is None
    True
    """
    bands = list(bands)
    missing = [b for b in VERIFIER_BANDS if b not in bands]
    if missing:
        raise MinescanError(f"the verifier needs band(s) {','.join(missing)}")
    x = np.asarray(data, dtype=np.float32)[[bands.index(b) for b in VERIFIER_BANDS]]
    x = block_mean(x, downsample_factor(pixel_m, res_m))
    if min(x.shape[1:]) < MIN_SIDE_PX:
        return None
    valid = np.isfinite(x).all(axis=0)
    if valid.mean() < MIN_VALID_SHARE:
        return None
    log = np.log(np.maximum(np.where(valid, x, 1.0), MIN_REFLECTANCE))
    median = np.array([np.median(band[valid]) for band in log], dtype=np.float32)
    out = log - median[:, None, None]
    out[:, ~valid] = 0.0
    return out.astype(np.float32)


def standardise(x: np.ndarray, mean, scale) -> np.ndarray:
    """Windows ``(..., 6, H, W)`` of :func:`relative_log` standardised per band, float32.

    ``mean`` and ``scale`` are the verifier's ``band_mean`` and ``band_scale``,
    fitted on the training windows; training and scoring both go through here.

    Examples
    --------
    >>> standardise(np.full((1, 2, 1, 1), 3.0), [1.0, 3.0], [2.0, 1.0]).ravel().tolist()
    [1.0, 0.0]
    """
    mean = np.asarray(mean, dtype=np.float32)[:, None, None]
    scale = np.asarray(scale, dtype=np.float32)[:, None, None]
    return ((np.asarray(x, dtype=np.float32) - mean) / scale).astype(np.float32)


def proposal_centres(start: int, length: int, window_px: int) -> np.ndarray:
    """Pixel centres, along one axis, of the fewest windows that tile ``[start, start + length)``.

    The windows are spread evenly, so neighbours overlap or leave a gap by
    less than half a window; the verifier proposes these where no detector
    box falls (module docstring).

    Examples
    --------
    >>> proposal_centres(16, 256, 50).tolist()
    [42, 93, 144, 195, 246]
    >>> proposal_centres(0, 48, 48).tolist(), proposal_centres(0, 20, 48).tolist()
    ([24], [10])
    """
    n = max(1, int(round(length / window_px)))
    return np.rint(start + (np.arange(n) + 0.5) * length / n).astype(np.int64)


def logit(p) -> np.ndarray:
    """Log odds, clipped away from 0 and 1 so every probability has a finite one."""
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-9, 1 - 1e-9)
    return np.log(p / (1 - p))


class OnnxNet:
    """``verifier.onnx`` as a function of a standardised ``(N, 6, H, W)`` batch to ``(N,)`` probabilities."""

    def __init__(self, path: Path, threads: int = 1):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own classes for a bad file
            raise MinescanError(f"cannot read verifier network {path}: {first_line(exc)}") from None
        self.input = self.session.get_inputs()[0].name

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input: batch.astype(np.float32)})[0].reshape(-1)


@dataclass(frozen=True)
class Verifier:
    """A fitted verifier: how to prepare a window, its network, and the threshold its verdicts meet.

    ``band_mean`` and ``band_scale`` standardise :func:`relative_log` per band
    (fitted on the training patches); ``net`` maps a standardised batch to
    probabilities (the ONNX graph once loaded). ``info`` records how it was
    fitted and validated (read by the model card).
    """

    band_mean: tuple[float, ...]
    band_scale: tuple[float, ...]
    threshold: float
    window_m: float
    res_m: float
    max_pixel_m: float
    floor: float
    info: dict = field(default_factory=dict, compare=False)
    net: Callable[[np.ndarray], np.ndarray] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not (len(self.band_mean) == len(self.band_scale) == len(VERIFIER_BANDS)):
            raise MinescanError(
                f"verifier: band_mean and band_scale need {len(VERIFIER_BANDS)} values"
            )
        if not 0.0 < self.threshold < 1.0:
            raise MinescanError(
                f"verifier: threshold {self.threshold} is not strictly between 0 and 1"
            )
        if not 0.0 < self.floor < 1.0:
            raise MinescanError(f"verifier: floor {self.floor} is not strictly between 0 and 1")

    def applies_at(self, pixel_m: float) -> bool:
        """Whether imagery of ``pixel_m`` ground pixels is fine enough for this verifier."""
        return pixel_m <= self.max_pixel_m

    def probabilities(self, windows, bands, pixel_m: float = 10.0) -> list[float | None]:
        """Mine probability of each window ``(B, H, W)``; None where one has too few valid pixels.

        Windows of one shape go to the network as one batch.
        """
        if self.net is None:
            raise MinescanError("verifier: no network loaded (Verifier.load reads verifier.onnx)")
        prepared = [relative_log(w, bands, pixel_m, self.res_m) for w in windows]
        out: list[float | None] = [None] * len(prepared)
        shapes = {x.shape for x in prepared if x is not None}
        for shape in shapes:
            rows = [i for i, x in enumerate(prepared) if x is not None and x.shape == shape]
            batch = standardise(
                np.stack([prepared[i] for i in rows]), self.band_mean, self.band_scale
            )
            for i, p in zip(rows, self.net(batch), strict=True):
                out[i] = float(p)
        return out

    def probability(self, data: np.ndarray, bands, pixel_m: float = 10.0) -> float | None:
        """Mine probability of one window ``(B, H, W)``; None when it has too few valid pixels."""
        return self.probabilities([data], bands, pixel_m)[0]

    def judged_score(self, probability, conf) -> np.ndarray:
        """Verifier probabilities as scores on the scan's scale: ``conf`` exactly at ``threshold``.

        Examples
        --------
        >>> v = Verifier((0.0,) * 6, (1.0,) * 6, 0.4, 480.0, 10.0, 15.0, 1e-4)
        >>> v.judged_score([0.4, 0.9, 0.1], 0.02).round(4).tolist()
        [0.02, 0.216, 0.0034]
        """
        shift = logit(probability) - logit(self.threshold)
        return 1.0 / (1.0 + np.exp(-(logit(conf) + shift)))

    def to_dict(self) -> dict:
        """The JSON document ``verifier.json`` holds (the network is ``verifier.onnx``)."""
        doc = asdict(self)
        doc.pop("net")
        return doc

    def save(self, folder: str | Path) -> Path:
        """Write ``verifier.json`` into ``folder`` (the network is written by the trainer)."""
        from minescan.kernel.io import write_json

        return write_json(Path(folder) / VERIFIER, self.to_dict())

    @classmethod
    def load(cls, folder: str | Path, threads: int = 1) -> Verifier:
        """Read ``verifier.json`` and ``verifier.onnx`` from a model folder; a one-line error otherwise."""
        folder = Path(folder)
        p = folder / VERIFIER
        try:
            doc = json.loads(p.read_text())
            values = {
                k: tuple(float(v) for v in doc[k]) if k.startswith("band_") else float(doc[k])
                for k in (f.name for f in fields(cls) if f.name not in ("info", "net"))
            }
            info = dict(doc.get("info", {}))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise MinescanError(f"cannot read verifier {p}: {first_line(exc)}") from None
        net_path = folder / VERIFIER_NET
        if not net_path.is_file():
            raise MinescanError(f"verifier {p} has no {VERIFIER_NET} beside it")
        return cls(**values, info=info, net=OnnxNet(net_path, threads))
