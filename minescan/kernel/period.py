"""One period type for every stage: what ``"2019"``, ``"2025Q2"`` or ``"A/B"`` mean.

A period is a half-open day range ``[start, end)``. The scan reads a period's
composite, the simulator draws the ground as it stands on the period's
reference date, monitor checks its dates against it and the results store
groups mines by it, so all of them parse it here and nowhere else.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from minescan.kernel.errors import MinescanError

FORMS = "a year (2019), a quarter (2019Q2), a month (2019-03), a day (2019-03-14) or START/END"

#: The period a source's ``read`` composites when its caller names none. The
#: stages always pass their settings' period (``datasets.period``,
#: ``scan.period``); this default serves doctests, tests and benchmarks, and
#: its reference date is the simulator's default truth date.
DEFAULT_PERIOD = "2019"


def parse_day(text: str, what: str = "date") -> np.datetime64:
    """An ISO day as ``datetime64[D]``, or a one-line error naming ``what``.

    Examples
    --------
    >>> parse_day("2019-03-14")
    np.datetime64('2019-03-14')
    """
    try:
        day = np.datetime64(str(text).strip(), "D")
    except ValueError:
        raise MinescanError(f"bad {what} {text!r}; expected YYYY-MM-DD") from None
    if np.isnat(day):
        raise MinescanError(f"bad {what} {text!r}; expected YYYY-MM-DD")
    return day


class Period(NamedTuple):
    """A named half-open day range ``[start, end)``.

    Examples
    --------
    >>> p = Period.parse("2019")
    >>> p.start, p.end
    (np.datetime64('2019-01-01'), np.datetime64('2020-01-01'))
    >>> p.inclusive
    ('2019-01-01', '2019-12-31')
    >>> p.reference_date
    np.datetime64('2019-07-02')
    >>> Period.parse("2025Q2").inclusive
    ('2025-04-01', '2025-06-30')
    >>> Period.parse("2019-01-01/2019-06-30").end
    np.datetime64('2019-07-01')
    """

    label: str
    start: np.datetime64
    end: np.datetime64

    @classmethod
    def parse(cls, value) -> Period:
        """Parse a year, quarter, month, day or ``START/END`` (inclusive END).

        ``value`` may also be an ``int`` year or a date-like object (a
        ``datetime.date``, ``pandas.Timestamp`` or ``datetime64``), which
        becomes that single day.

        Raises
        ------
        MinescanError
            With a one-line reason when ``value`` is none of these forms or ends
            before it starts.
        """
        if isinstance(value, Period):
            return value
        if hasattr(value, "year") and hasattr(value, "month") and hasattr(value, "day"):
            value = f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
        elif isinstance(value, np.datetime64):
            value = str(value.astype("datetime64[D]"))
        text = str(value).strip()
        try:
            start, end = _bounds(text)
        except (ValueError, MinescanError):
            raise MinescanError(f"bad period {text!r}; expected {FORMS}") from None
        if end <= start:
            raise MinescanError(f"bad period {text!r}: it ends before it starts")
        return cls(text, start, end)

    @property
    def last(self) -> np.datetime64:
        """The last day inside the period."""
        return self.end - 1

    @property
    def inclusive(self) -> tuple[str, str]:
        """ISO first and last day, as APIs with inclusive date ranges take them."""
        return str(self.start), str(self.last)

    @property
    def reference_date(self) -> np.datetime64:
        """The middle day: the ground a median composite of the period shows.

        Mines excavated on or before this date are visible in the period's
        composite, in the simulator and when real mine outlines are dated.
        """
        return self.start + (self.end - self.start) // 2

    def __contains__(self, day) -> bool:
        """Whether a day falls inside the period."""
        day = np.datetime64(day, "D")
        return bool(self.start <= day < self.end)

    def __str__(self) -> str:
        return self.label


def _bounds(text: str) -> tuple[np.datetime64, np.datetime64]:
    if "/" in text:
        first, last = text.split("/", 1)
        return parse_day(first), parse_day(last) + 1
    if len(text) == 4 and text.isdigit():
        year = np.datetime64(text, "Y")
        return year.astype("datetime64[D]"), (year + 1).astype("datetime64[D]")
    if len(text) == 6 and text[:4].isdigit() and text[4] in "Qq" and text[5] in "1234":
        first = np.datetime64(f"{text[:4]}-{3 * (int(text[5]) - 1) + 1:02d}", "M")
        return first.astype("datetime64[D]"), (first + 3).astype("datetime64[D]")
    if len(text) == 7 and text[4] == "-":
        month = np.datetime64(text, "M")
        return month.astype("datetime64[D]"), (month + 1).astype("datetime64[D]")
    if len(text) == 10:
        day = parse_day(text)
        return day, day + 1
    raise ValueError(text)
