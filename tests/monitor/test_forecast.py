"""The area forecast: damped trend on the median monthly increment, backtest, interval."""

import numpy as np
import pandas as pd
import pytest

from minescan.monitor import forecast


def _profile(values, start="2018-01-10", days=10) -> pd.DataFrame:
    dates = pd.Timestamp(start) + pd.to_timedelta(np.arange(len(values)) * days, unit="D")
    values = np.asarray(values, float)
    return pd.DataFrame(
        {"date": dates.date, "excavated_ha": values, "outside_lease_ha": values / 2, "nogo_ha": 0.0}
    )


def test_steady_growth_is_forecast_and_beats_no_change():
    days = np.arange(0, 3 * 365, 10)
    table = forecast.forecast(_profile(days * 0.1), window=6, damping=1.0)  # 3 ha a month
    dug = table[table["quantity"] == "excavated_ha"].set_index("horizon_months")
    last = days[-1] * 0.1
    monthly_rate = 0.1 * 365.25 / 12
    for h in forecast.HORIZONS:
        assert dug.loc[h, "forecast_ha"] == pytest.approx(last + h * monthly_rate, rel=0.05)
        assert dug.loc[h, "median_abs_error_ha"] < 0.25 * dug.loc[h, "naive_median_abs_error_ha"]
        assert dug.loc[h, "low_ha"] <= dug.loc[h, "forecast_ha"] <= dug.loc[h, "high_ha"]
        assert dug.loc[h, "backtests"] >= 30
    assert dug.loc[3, "naive_median_abs_error_ha"] == pytest.approx(3 * monthly_rate, rel=0.1)
    assert pd.Timestamp(dug.loc[1, "date"]) == pd.Timestamp(_profile(days)["date"].iloc[-1]) + (
        pd.DateOffset(months=1)
    )


def test_damping_slows_the_trend():
    values = np.arange(0, 100, 1.0)
    full = forecast.predict(values, window=6, damping=1.0)
    damped = forecast.predict(values, window=6, damping=0.5)
    assert (damped < full).all() and (np.diff(damped) > 0).all()
    assert damped[0] == pytest.approx(values[-1] + 0.5)


def test_a_flat_history_forecasts_no_change_with_a_zero_interval():
    table = forecast.forecast(_profile(np.full(120, 7.0)), window=6, damping=0.8)
    assert (table.loc[table["quantity"] == "excavated_ha", "forecast_ha"] == 7.0).all()
    assert (table["low_ha"] == table["forecast_ha"]).all()
    assert (table["high_ha"] == table["forecast_ha"]).all()
    assert (table["median_abs_error_ha"] == 0).all()


def test_one_jump_is_not_extrapolated():
    values = np.r_[np.zeros(60), np.full(60, 50.0)]
    ahead = forecast.predict(forecast.monthly(_profile(values), "excavated_ha"), 6, 0.8)
    assert ahead.tolist() == [50.0, 50.0, 50.0]


def test_shrinking_areas_never_go_negative():
    ahead = forecast.predict(np.array([9.0, 6, 3, 0.5]), window=6, damping=1.0)
    assert (ahead >= 0).all() and ahead[-1] == 0


def test_short_history_has_no_interval():
    table = forecast.forecast(_profile([1.0, 2.0, 3.0], days=20), window=6, damping=0.8)
    assert list(table.columns) == forecast.COLUMNS and len(table) == 9
    assert table["low_ha"].isna().all() and table["high_ha"].isna().all()
    assert (table["backtests"] < forecast.MIN_BACKTESTS).all()
    assert (table["forecast_ha"] >= 0).all()


def test_backtest_pairs_are_forecast_minus_actual():
    values = np.array([0.0, 1, 2, 3, 4])
    errors = forecast.backtest(values, window=6, damping=1.0)
    assert errors[1].shape == (3, 2)
    # From month 1 (history 0, 1: rate 1) the model is exact, "no change" is one short.
    assert errors[1][0].tolist() == [0.0, -1.0]
    assert errors[3][:, 1].tolist() == [-3.0]


def test_summaries_across_mines():
    steady = forecast.summary(forecast.forecast(_profile(np.arange(110.0)), 6, 1.0))
    flat = forecast.summary(forecast.forecast(_profile(np.full(110, 4.0)), 6, 1.0))
    assert steady["excavated_ha"]["1"]["backtests"] > 0
    out = forecast.summarise([steady, flat])
    one = out["excavated_ha"]["1"]
    assert one["mines"] == 2 and one["beats_naive"] == 1 and one["ties"] == 1
    assert one["median_abs_error_ha"] < one["naive_median_abs_error_ha"]
    assert forecast.summarise([]) == {}
