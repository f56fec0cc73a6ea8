"""Consecutive-date spectral differencing, connected components, a monotonic envelope.

Between each clear observation and the pixel's previous clear one, NDVI,
NBR and NDMI must drop and the bare-soil index BSI must rise by
``change_threshold``; ``change_votes`` of the four decide. Changed pixels
form components per date, small ones are dropped, and the envelope keeps
every pixel excavated from its first change on.
"""

from __future__ import annotations

import numpy as np

from minescan.monitor.detection import (
    Detection,
    envelope,
    remove_small_each_date,
)
from minescan.monitor.preprocess import Series, previous_valid

#: index -> sign of the change that means excavation (-1: drops, +1: rises).
DIRECTIONS: dict[str, int] = {"NDVI": -1, "NBR": -1, "NDMI": -1, "BSI": 1}


def change_votes(series: Series, settings) -> np.ndarray:
    """``(T, H, W)`` int: how many indices moved towards bare soil since the previous clear date."""
    valid = series.valid
    votes = np.zeros(valid.shape, dtype=np.int8)
    for name, sign in DIRECTIONS.items():
        x = np.nan_to_num(series.features[name], nan=0.0)
        before = previous_valid(x, valid, fill=np.float32(np.nan))
        with np.errstate(invalid="ignore"):
            votes += (sign * (x - before) > settings.change_threshold).astype(np.int8)
    return np.where(valid, votes, 0)


def detect(series: Series, settings) -> Detection:
    """Changes, minimum component size per date, then the monotonic envelope.

    Confidence is the share of the four indices that voted at the first change.
    """
    votes = change_votes(series, settings)
    changed = remove_small_each_date(votes >= settings.change_votes, settings.min_component_px)
    state = envelope(changed)
    first = np.where(state.any(axis=0), state.argmax(axis=0), 0)
    at_first = np.take_along_axis(votes, first[None], axis=0)[0] / len(DIRECTIONS)
    return Detection(state, np.where(state[-1], at_first, 0.0).astype(np.float32))
