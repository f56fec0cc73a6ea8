"""Periods and dates: what ``period="2019"`` means, and the seasonal vegetation cycle."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from minescan.kernel.errors import MinescanError

YEAR_DAYS = 365.25
_OMEGA = 2 * np.pi / YEAR_DAYS


class Window(NamedTuple):
    """A half-open day range ``[start, end)`` as ``datetime64[D]``."""

    start: np.datetime64
    end: np.datetime64

    @property
    def middle(self) -> np.datetime64:
        """The reference date: the middle day, as a median composite sees the ground."""
        return self.start + (self.end - self.start) // 2


def _day(text: str) -> np.datetime64:
    try:
        return np.datetime64(text.strip(), "D")
    except ValueError:
        raise MinescanError(f"bad date {text!r}; expected YYYY-MM-DD") from None


def period_window(period: str | int) -> Window:
    """Parse a period: a year ``"2019"``, a month ``"2019-03"`` or ``"2019-01-01/2019-06-30"``.

    Examples
    --------
    >>> period_window("2019-03")
    Window(start=np.datetime64('2019-03-01'), end=np.datetime64('2019-04-01'))
    """
    text = str(period).strip()
    try:
        if "/" in text:
            first, last = text.split("/")
            window = Window(_day(first), _day(last) + 1)
        elif len(text) == 4 and text.isdigit():
            year = np.datetime64(text, "Y")
            window = Window(year.astype("datetime64[D]"), (year + 1).astype("datetime64[D]"))
        elif len(text) == 7 and text[4] == "-":
            month = np.datetime64(text, "M")
            window = Window(month.astype("datetime64[D]"), (month + 1).astype("datetime64[D]"))
        elif len(text) == 10:
            window = Window(_day(text), _day(text) + 1)
        else:
            raise ValueError(text)
    except (ValueError, MinescanError):
        raise MinescanError(
            f"bad period {text!r}; expected YYYY, YYYY-MM, YYYY-MM-DD or START/END"
        ) from None
    if window.end <= window.start:
        raise MinescanError(f"bad period {text!r}: it ends before it starts")
    return window


def sentinel2_period(period: str | int) -> str:
    """``period`` as text when it parses and ends after Sentinel-2's first image.

    Settings validators use it, so a typo (``1900``, ``2019-13``) stops the run
    before any work instead of sweeping an empty or imaginary archive.

    Raises
    ------
    ValueError
        With the one-line reason (pydantic turns it into ``invalid setting ...``).
    """
    from minescan.kernel.bands import check_sentinel2_period

    try:
        window = period_window(period)
        check_sentinel2_period(window.end - 1, f"period {period}")
    except MinescanError as exc:
        raise ValueError(str(exc)) from None
    return str(period)


def period_date(period: str | int) -> np.datetime64:
    """The reference date of a period: its middle day (the same rule in every stage).

    Mines excavated on or before this date are visible in the period's composite.

    Examples
    --------
    >>> period_date("2019")
    np.datetime64('2019-07-02')
    """
    return period_window(period).middle


def day_number(date) -> float:
    """Days since 1970-01-01 as a float."""
    return float(np.datetime64(date, "D").astype(np.int64))


def season_terms(window: Window) -> tuple[float, float]:
    """``(c, s)`` such that the window-mean of ``cos(w (t - peak))`` is ``c cos(w peak) + s sin(w peak)``.

    A single day gives the instantaneous cycle; a whole year averages it out to zero,
    which is what a yearly median composite of a seasonal field looks like.
    """
    t0, t1 = day_number(window.start), day_number(window.end)
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
