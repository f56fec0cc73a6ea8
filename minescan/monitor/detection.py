"""What every excavation method returns, the temporal and spatial rules they share, and the registry.

A method maps a :class:`~minescan.monitor.preprocess.Series` to a
:class:`Detection`: the excavated state of every pixel at every clear date,
and a per-pixel confidence. The rules here (persistence, minimum component
size, monotonic envelope) are the building blocks every method shares.
:func:`detect` adds, for every method, the ground already excavated at the
start (:mod:`minescan.monitor.footprint`), which no change detector can see.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from minescan.kernel.errors import MinescanError

#: method name -> module with ``detect(series, settings) -> Detection``.
METHODS: dict[str, str] = {
    "disturbance": "minescan.monitor.disturbance",
    "iforest": "minescan.monitor.iforest",
    "change": "minescan.monitor.change",
    "ndvi": "minescan.monitor.ndvi",
}

#: Earlier names that still select a method: ``ours`` was the default's first name.
ALIASES: dict[str, str] = {"ours": "disturbance"}


def method_name(name: str) -> str:
    """The registered name of a method, aliases resolved.

    Examples
    --------
    >>> method_name("ours")
    'disturbance'
    >>> method_name("bogus")
    Traceback (most recent call last):
    ...
    minescan.kernel.errors.MinescanError: unknown method 'bogus'; expected one of disturbance, iforest, change, ndvi (or ours)
    """
    name = ALIASES.get(name, name)
    if name not in METHODS:
        raise MinescanError(
            f"unknown method {name!r}; expected one of {', '.join(METHODS)} (or {', '.join(ALIASES)})"
        )
    return name


@dataclass(frozen=True)
class Detection:
    """Excavated state ``(T, H, W)`` bool per clear date, and confidence ``(H, W)`` in 0-1.

    ``pre_existing`` ``(H, W)`` marks ground already excavated at the start
    (None when no screen could read it) and ``baseline`` describes the dates
    it was read from.
    """

    state: np.ndarray
    confidence: np.ndarray
    pre_existing: np.ndarray | None = None
    baseline: dict = field(default_factory=dict)

    @property
    def first_index(self) -> np.ndarray:
        """Index of the first date a pixel is excavated, -1 for never."""
        hit = self.state.any(axis=0)
        return np.where(hit, self.state.argmax(axis=0), -1)


def detect(series, settings, method: str | None = None) -> Detection:
    """Run ``method`` (default ``settings.method``) on ``series``, plus the starting footprint.

    Pixels of the footprint are excavated from the first date on and take
    its confidence; the method's own findings are kept everywhere else.
    """
    from minescan.monitor.footprint import at_start  # it builds on this module's rules

    name = method_name(method or settings.method)
    found = importlib.import_module(METHODS[name]).detect(series, settings)
    start = at_start(series, settings)
    if start is None:
        return Detection(found.state, found.confidence, baseline={"screen": False})
    return Detection(
        state=found.state | start.mask[None],
        confidence=np.where(start.mask, start.confidence, found.confidence),
        pre_existing=start.mask,
        baseline={"screen": True, **start.summary(settings.persistence)},
    )


def persistent(hit: np.ndarray, valid: np.ndarray, n: int = 2) -> np.ndarray:
    """True at ``t`` when ``hit`` held on ``n`` consecutive clear dates ending at ``t``.

    Cloudy dates in between neither count nor break the run, so a one-date
    anomaly (a missed cloud, a shadow) never passes with ``n >= 2``.

    Examples
    --------
    >>> hit = np.array([[1], [0], [1], [1]], bool); valid = np.ones((4, 1), bool)
    >>> persistent(hit, valid)[:, 0].tolist()
    [False, False, False, True]
    """
    run = np.zeros(hit.shape[1:], dtype=np.int32)
    out = np.zeros(hit.shape, dtype=bool)
    for t in range(hit.shape[0]):
        run = np.where(valid[t], np.where(hit[t], run + 1, 0), run)
        out[t] = valid[t] & hit[t] & (run >= n)
    return out


def envelope(state: np.ndarray) -> np.ndarray:
    """Monotonic envelope: once excavated, always excavated (area may grow, never shrink)."""
    return np.logical_or.accumulate(state, axis=0)


def remove_small(mask: np.ndarray, min_px: int) -> np.ndarray:
    """Drop 8-connected components of a 2-D mask smaller than ``min_px`` pixels."""
    if min_px <= 1 or not mask.any():
        return mask
    labels, n = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    keep = sizes >= min_px
    keep[0] = False
    return keep[labels]


def remove_small_each_date(state: np.ndarray, min_px: int) -> np.ndarray:
    """:func:`remove_small` applied to every date of a ``(T, H, W)`` stack."""
    return np.stack([remove_small(s, min_px) for s in state]) if len(state) else state


def hit_fraction(hit: np.ndarray, valid: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Share of a pixel's clear dates from ``first`` on where ``hit`` held (0 where never excavated).

    A simple confidence: a pit stays a pit, so most later observations agree.
    """
    t = np.arange(hit.shape[0])[:, None, None]
    after = (t >= first[None]) & (first[None] >= 0) & valid
    n = after.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (hit & after).sum(axis=0) / np.maximum(n, 1), 0.0).astype(np.float32)
