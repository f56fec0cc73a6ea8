"""Isolation Forest (Liu, Ting and Zhou 2008) per mine on all (pixel, date) observations.

Features B4, B8, B11, NDVI and NBR, standardised over the mine's clear
observations. A pixel is excavated at ``t`` when it is anomalous at ``t`` and
at its previous clear date. No envelope: a pixel can revert.
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import IsolationForest

from minescan.monitor.detection import Detection, hit_fraction, persistent
from minescan.monitor.preprocess import Series, carry_forward, standardise

FEATURES: tuple[str, ...] = ("B04", "B08", "B11", "NDVI", "NBR")


def anomalies(series: Series, settings) -> np.ndarray:
    """Isolation Forest labels ``(T, H, W)``: True where an observation is anomalous."""
    valid = series.valid
    obs = standardise(series.stack(FEATURES)[valid], axis=0)
    forest = IsolationForest(
        n_estimators=settings.n_estimators,
        contamination=settings.contamination,
        random_state=settings.seed,
    ).fit(obs)
    out = np.zeros(valid.shape, dtype=bool)
    out[valid] = forest.predict(obs) == -1
    return out


def detect(series: Series, settings) -> Detection:
    """Anomalous on two consecutive clear dates; cloudy dates keep the last clear state."""
    anomalous = anomalies(series, settings)
    hit = persistent(anomalous, series.valid, 2)
    state = carry_forward(hit, series.valid)
    first = np.where(state.any(axis=0), state.argmax(axis=0), -1)
    return Detection(state, hit_fraction(anomalous, series.valid, first))
