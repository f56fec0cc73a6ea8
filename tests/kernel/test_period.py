"""The one period type: its forms, its errors, and the dates every stage derives from it."""

from __future__ import annotations

import datetime

import numpy as np
import pandas as pd
import pytest

from minescan.kernel.bands import sentinel2_period
from minescan.kernel.errors import MinescanError
from minescan.kernel.period import DEFAULT_PERIOD, Period, parse_day

D = np.datetime64


@pytest.mark.parametrize(
    ("value", "start", "end", "reference"),
    [
        ("2019", "2019-01-01", "2020-01-01", "2019-07-02"),
        (2018, "2018-01-01", "2019-01-01", "2018-07-02"),
        ("2020-02", "2020-02-01", "2020-03-01", "2020-02-15"),
        ("2019-03-14", "2019-03-14", "2019-03-15", "2019-03-14"),
        ("2019-01-01/2019-06-30", "2019-01-01", "2019-07-01", "2019-04-01"),
        (" 2019 ", "2019-01-01", "2020-01-01", "2019-07-02"),
    ],
)
def test_each_form_parses_to_a_half_open_range_and_its_middle_day(value, start, end, reference):
    period = Period.parse(value)
    assert (period.start, period.end) == (D(start), D(end))
    assert period.reference_date == D(reference)
    assert str(period) == str(value).strip()


@pytest.mark.parametrize(
    ("value", "first", "last"),
    [
        ("2025Q1", "2025-01-01", "2025-03-31"),
        ("2025Q2", "2025-04-01", "2025-06-30"),
        ("2024q3", "2024-07-01", "2024-09-30"),
        ("2024Q4", "2024-10-01", "2024-12-31"),
    ],
)
def test_quarters_are_three_calendar_months(value, first, last):
    assert Period.parse(value).inclusive == (first, last)


@pytest.mark.parametrize(
    "value", ["2019", "2020-02", "2021-02", "2024Q1", "2019-03-14", "2019-12-30/2020-01-02"]
)
def test_inclusive_and_half_open_ranges_agree(value):
    period = Period.parse(value)
    first, last = period.inclusive
    assert D(first) == period.start and D(last) == period.last == period.end - 1
    assert period.start in period and period.last in period and period.end not in period
    assert period.start <= period.reference_date < period.end


def test_leap_february_ends_on_the_29th():
    assert Period.parse("2020-02").inclusive == ("2020-02-01", "2020-02-29")


@pytest.mark.parametrize(
    "value",
    [datetime.date(2019, 3, 14), pd.Timestamp("2019-03-14 17:30"), D("2019-03-14T08:00")],
)
def test_date_like_values_are_that_single_day(value):
    period = Period.parse(value)
    assert period.inclusive == ("2019-03-14", "2019-03-14")
    assert period.reference_date == D("2019-03-14")


def test_a_period_parses_to_itself():
    period = Period.parse("2019")
    assert Period.parse(period) is period


@pytest.mark.parametrize(
    "value", ["19", "2019-13", "2019Q5", "2019-02-30", "spring", "", "2019-05-01/2019-04-01"]
)
def test_bad_periods_are_refused_in_one_line(value):
    with pytest.raises(MinescanError, match="bad period") as caught:
        Period.parse(value)
    assert "\n" not in str(caught.value)


def test_an_inverted_range_says_so():
    with pytest.raises(MinescanError, match="ends before it starts"):
        Period.parse("2019-05-01/2019-04-01")


def test_bad_days_name_what_was_being_read():
    assert parse_day(" 2019-03-14 ") == D("2019-03-14")
    for text in ["2019-13-01", "NaT", "tomorrow"]:
        with pytest.raises(MinescanError, match=r"^bad --start .*expected YYYY-MM-DD$"):
            parse_day(text, "--start")


def test_periods_before_sentinel2_are_refused_by_the_settings_check():
    assert sentinel2_period(2019) == "2019"
    assert sentinel2_period("2015Q3") == "2015Q3"
    with pytest.raises(ValueError, match="before Sentinel-2's first image"):
        sentinel2_period("1900")
    with pytest.raises(ValueError, match="bad period"):
        sentinel2_period("2019-13")


def test_the_default_read_period_is_a_year_whose_middle_is_mid_july():
    assert Period.parse(DEFAULT_PERIOD).reference_date == D("2019-07-02")
