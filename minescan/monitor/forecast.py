"""Forecast of a mine's excavated, outside-lease and no-go areas 1, 2 and 3 months ahead.

A regulator asks how fast a mine grows, and where it will be next quarter.
The model is deliberately simple, a **damped trend** on the recent rate: the
area profile is sampled once a month, counting back from its last date; the
rate is the median of the last ``forecast_window_months`` monthly increments,
and each month ahead keeps ``forecast_damping`` of the previous month's rate
(``last + rate * (phi + phi^2 + ... + phi^h)``), so a burst of digging is not
extrapolated for ever. The median, not a least-squares slope, because mines
(and their detected profiles) grow in steps: one jump among quiet months
says little about next month, steady growth in most months does. Areas never
go below zero.

**Backtest.** From every past month with two or more months of history, the
same model forecasts what came next; its errors are compared with the naive
"no change" forecast (the area stays as it is). The interval of the final
forecast spans the central :data:`INTERVAL` of the backtest errors at that
horizon; with fewer than :data:`MIN_BACKTESTS` of them it is left empty
rather than guessed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Area-profile columns that are forecast.
QUANTITIES: tuple[str, ...] = ("excavated_ha", "outside_lease_ha", "nogo_ha")
#: Months ahead.
HORIZONS: tuple[int, ...] = (1, 2, 3)
#: Central share of the backtest errors the interval spans (10th to 90th percentile).
INTERVAL = 0.8
#: Fewest backtest errors an interval is computed from.
MIN_BACKTESTS = 3

COLUMNS = [
    "quantity",
    "horizon_months",
    "date",
    "forecast_ha",
    "low_ha",
    "high_ha",
    "backtests",
    "median_abs_error_ha",
    "naive_median_abs_error_ha",
]


def monthly(profile: pd.DataFrame, column: str) -> np.ndarray:
    """``column`` once a month, counting back from the profile's last date (oldest first).

    Each sample is the last observation on or before that day, so cloudy
    months repeat the previous value.

    Examples
    --------
    >>> p = pd.DataFrame({"date": ["2020-01-05", "2020-02-20", "2020-03-05"], "a": [1.0, 2, 4]})
    >>> monthly(p, "a").tolist()  # on 2020-02-05 the last observation was 2020-01-05's
    [1.0, 1.0, 4.0]
    """
    dates = pd.to_datetime(profile["date"])
    values = pd.Series(profile[column].to_numpy(float), index=dates)
    last, first = dates.iloc[-1], dates.iloc[0]
    months = (last.year - first.year) * 12 + last.month - first.month
    ends = [last - pd.DateOffset(months=k) for k in range(months, -1, -1)]
    ends = [d for d in ends if d >= first]
    return values.asof(pd.DatetimeIndex(ends)).to_numpy(float)


def predict(history: np.ndarray, window: int, damping: float, horizons=HORIZONS) -> np.ndarray:
    """Damped-trend forecasts ``h`` months after the last value of ``history`` (monthly).

    The rate is the median of the last ``window`` monthly increments.

    Examples
    --------
    >>> predict(np.array([0.0, 1, 2, 3]), window=4, damping=1.0).tolist()
    [4.0, 5.0, 6.0]
    >>> predict(np.array([5.0]), window=4, damping=0.8).tolist()
    [5.0, 5.0, 5.0]
    >>> predict(np.array([0.0, 0, 0, 9, 9]), window=4, damping=1.0).tolist()  # one jump: no trend
    [9.0, 9.0, 9.0]
    """
    steps_back = np.diff(history[-(window + 1) :])
    rate = float(np.median(steps_back)) if len(steps_back) else 0.0
    kept = np.cumsum(damping ** np.arange(1, max(horizons) + 1))
    ahead = history[-1] + rate * kept[np.asarray(horizons) - 1]
    return np.maximum(ahead, 0.0)


def backtest(values: np.ndarray, window: int, damping: float) -> dict[int, np.ndarray]:
    """Per horizon, ``(n, 2)`` pairs of (model error, naive error), error = forecast - actual."""
    out: dict[int, list] = {h: [] for h in HORIZONS}
    for origin in range(1, len(values) - 1):
        ahead = predict(values[: origin + 1], window, damping)
        for h, value in zip(HORIZONS, ahead, strict=True):
            if origin + h < len(values):
                actual = values[origin + h]
                out[h].append((value - actual, values[origin] - actual))
    return {h: np.array(pairs, float).reshape(-1, 2) for h, pairs in out.items()}


def forecast(profile: pd.DataFrame, window: int, damping: float) -> pd.DataFrame:
    """``forecast.csv``: per quantity and horizon, the forecast, its interval and backtest."""
    last = pd.to_datetime(profile["date"]).iloc[-1]
    low_q, high_q = (1 - INTERVAL) / 2, (1 + INTERVAL) / 2
    rows = []
    for quantity in QUANTITIES:
        values = monthly(profile, quantity)
        ahead = predict(values, window, damping)
        errors = backtest(values, window, damping)
        for h, value in zip(HORIZONS, ahead, strict=True):
            model, naive = errors[h][:, 0], errors[h][:, 1]
            enough = len(model) >= MIN_BACKTESTS
            # The interval is where the actual value fell: forecast - error.
            low = value - np.quantile(model, high_q) if enough else np.nan
            high = value - np.quantile(model, low_q) if enough else np.nan
            rows.append(
                {
                    "quantity": quantity,
                    "horizon_months": h,
                    "date": (last + pd.DateOffset(months=h)).date(),
                    "forecast_ha": round(float(value), 4),
                    "low_ha": round(max(float(low), 0.0), 4) if enough else np.nan,
                    "high_ha": round(max(float(high), 0.0), 4) if enough else np.nan,
                    "backtests": len(model),
                    "median_abs_error_ha": _median_abs(model),
                    "naive_median_abs_error_ha": _median_abs(naive),
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)


def _median_abs(errors: np.ndarray) -> float:
    return round(float(np.median(np.abs(errors))), 4) if len(errors) else np.nan


def summary(table: pd.DataFrame) -> dict:
    """Backtest errors of one mine for ``mine.json``: ``{quantity: {horizon: {...}}}``."""
    out: dict = {}
    for row in table.itertuples(index=False):
        out.setdefault(row.quantity, {})[str(row.horizon_months)] = {
            "backtests": int(row.backtests),
            "median_abs_error_ha": _nan_to_none(row.median_abs_error_ha),
            "naive_median_abs_error_ha": _nan_to_none(row.naive_median_abs_error_ha),
        }
    return out


def summarise(per_mine: list[dict]) -> dict:
    """Across mines: median of the per-mine backtest errors, and how often the model wins.

    ``beats_naive`` counts mines whose median error is below the naive one;
    ``ties`` those where both are equal (often both 0 when nothing moved).
    """
    out: dict = {}
    for quantity in QUANTITIES:
        for h in map(str, HORIZONS):
            pairs = [
                (m[quantity][h]["median_abs_error_ha"], m[quantity][h]["naive_median_abs_error_ha"])
                for m in per_mine
                if m.get(quantity, {}).get(h, {}).get("median_abs_error_ha") is not None
            ]
            if not pairs:
                continue
            model, naive = np.array(pairs, float).T
            out.setdefault(quantity, {})[h] = {
                "mines": len(pairs),
                "median_abs_error_ha": float(np.median(model)),
                "naive_median_abs_error_ha": float(np.median(naive)),
                "beats_naive": int((model < naive).sum()),
                "ties": int((model == naive).sum()),
            }
    return out


def _nan_to_none(value) -> float | None:
    return None if pd.isna(value) else float(value)
