"""The plainest baseline: a pixel is excavated while its NDVI is below a threshold.

No persistence, no season or cloud handling beyond the valid mask: it shows
what the other methods buy.
"""

from __future__ import annotations

import numpy as np

from minescan.monitor.detection import Detection, hit_fraction
from minescan.monitor.preprocess import Series, carry_forward


def detect(series: Series, settings) -> Detection:
    """NDVI < ``settings.ndvi_threshold`` on a clear date; cloudy dates keep the last state."""
    low = series.valid & (series.features["NDVI"] < settings.ndvi_threshold)
    state = carry_forward(low, series.valid)
    first = np.where(state.any(axis=0), state.argmax(axis=0), -1)
    return Detection(state, hit_fraction(low, series.valid, first))
