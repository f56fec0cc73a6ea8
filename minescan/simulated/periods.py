"""The seasonal vegetation cycle over a period (parsed by :class:`~minescan.kernel.period.Period`)."""

from __future__ import annotations

import numpy as np

from minescan.kernel.period import Period

YEAR_DAYS = 365.25
_OMEGA = 2 * np.pi / YEAR_DAYS


def day_number(date) -> float:
    """Days since 1970-01-01 as a float."""
    return float(np.datetime64(date, "D").astype(np.int64))


def season_terms(period: Period) -> tuple[float, float]:
    """``(c, s)`` such that the period-mean of ``cos(w (t - peak))`` is ``c cos(w peak) + s sin(w peak)``.

    A single day gives the instantaneous cycle; a whole year averages it out to zero,
    which is what a yearly median composite of a seasonal field looks like.

    Examples
    --------
    >>> c, s = season_terms(Period.parse("2019"))
    >>> abs(c) < 1e-3 and abs(s) < 1e-2
    True
    """
    t0, t1 = day_number(period.start), day_number(period.end)
    if t1 - t0 <= 1:
        t = t0 + 0.5
        return float(np.cos(_OMEGA * t)), float(np.sin(_OMEGA * t))
    span = _OMEGA * (t1 - t0)
    return (
        float((np.sin(_OMEGA * t1) - np.sin(_OMEGA * t0)) / span),
        float((np.cos(_OMEGA * t0) - np.cos(_OMEGA * t1)) / span),
    )


def peak_phase(latitude: float) -> float:
    """Angle ``w * peak_day`` of the greenest day: late July north, late January south."""
    peak_day = 205.0 if latitude >= 0 else 22.0
    return _OMEGA * peak_day
