"""Per-mine files: excavation.tif, area_profile.csv, forecast.csv, violations.parquet,
alerts.csv, summary.png.

``excavation.tif`` holds, per pixel, the first date it is excavated as an
int32 ``YYYYMMDD`` (``20190314``), readable by eye in QGIS; 0 means never and
:data:`PRE_EXISTING` (1) means already excavated when the period starts.
Every write is atomic.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from minescan.kernel.io import atomic_path, write_geoparquet
from minescan.kernel.raster import write_cog
from minescan.monitor import forecast
from minescan.monitor.compliance import PIXEL_M2, VIOLATION_COLUMNS
from minescan.monitor.nogo import Zones

#: Hectares per 10 m pixel.
PIXEL_HA = PIXEL_M2 / 10_000
DAYS_PER_MONTH = 365.25 / 12
#: ``excavation.tif`` code of ground already excavated at the start (no date can be 1).
PRE_EXISTING = 1


def yyyymmdd(dates: np.ndarray) -> np.ndarray:
    """``datetime64`` -> int ``YYYYMMDD``.

    Examples
    --------
    >>> yyyymmdd(np.array(["2019-03-14"], dtype="datetime64[D]")).tolist()
    [20190314]
    """
    text = np.datetime_as_string(np.asarray(dates, dtype="datetime64[D]"), unit="D")
    return np.char.replace(text, "-", "").astype(np.int32)


def first_date_map(
    first_index: np.ndarray, dates: np.ndarray, pre_existing: np.ndarray | None = None
) -> np.ndarray:
    """``(H, W)`` int32 ``YYYYMMDD`` of the first excavated date, 0 for never, 1 for pre-existing.

    Examples
    --------
    >>> dates = np.array(["2019-03-14", "2019-04-01"], dtype="datetime64[D]")
    >>> first_date_map(np.array([-1, 0, 1, 0]), dates, np.array([0, 0, 0, 1], bool)).tolist()
    [0, 20190314, 20190401, 1]
    """
    codes = yyyymmdd(dates)
    out = np.where(first_index >= 0, codes[np.maximum(first_index, 0)], 0).astype(np.int32)
    if pre_existing is not None:
        out[pre_existing] = PRE_EXISTING
    return out


def write_excavation(
    path: Path, first_index, dates, transform, crs: str, method: str, pre_existing=None
) -> None:
    """The excavation map as a COG (band ``first_excavated``)."""
    write_cog(
        path,
        first_date_map(first_index, dates, pre_existing),
        transform,
        crs=crs,
        band_names=["first_excavated"],
        nodata=None,
        tags={
            "encoding": "YYYYMMDD, 0 = never excavated, 1 = already excavated at the start",
            "method": method,
        },
    )


def area_profile(
    state: np.ndarray, dates: np.ndarray, zones: Zones, pre_existing: np.ndarray | None = None
) -> pd.DataFrame:
    """Excavated hectares per date, split by age, lease and no-go, and the rate in ha/month.

    ``dug_before_ha`` is the ground already excavated at the start
    (``pre_existing``), ``dug_within_ha`` what was dug during the period; they
    add up to ``excavated_ha``. Without a lease layer, all land counts as
    inside the lease.
    """
    lease = np.ones(state.shape[1:], bool) if zones.lease is None else zones.lease
    nogo = zones.nogo() if zones.zones else np.zeros(state.shape[1:], bool)
    before = np.zeros(state.shape[1:], bool) if pre_existing is None else pre_existing
    excavated = state.sum(axis=(1, 2)) * PIXEL_HA
    days = (np.asarray(dates, "datetime64[D]") - np.asarray(dates, "datetime64[D]")[0]).astype(
        float
    )
    rate = np.zeros(len(dates))
    if len(dates) > 1:
        rate[1:] = np.diff(excavated) / np.maximum(np.diff(days), 1) * DAYS_PER_MONTH
    return pd.DataFrame(
        {
            "date": pd.to_datetime(dates).date,
            "excavated_ha": excavated.round(4),
            "dug_before_ha": ((state & before).sum(axis=(1, 2)) * PIXEL_HA).round(4),
            "dug_within_ha": ((state & ~before).sum(axis=(1, 2)) * PIXEL_HA).round(4),
            "inside_lease_ha": ((state & lease).sum(axis=(1, 2)) * PIXEL_HA).round(4),
            "outside_lease_ha": ((state & ~lease).sum(axis=(1, 2)) * PIXEL_HA).round(4),
            "nogo_ha": ((state & nogo).sum(axis=(1, 2)) * PIXEL_HA).round(4),
            "rate_ha_per_month": rate.round(4),
        }
    )


#: Columns of a mine's CSV files, in order.
CSV_COLUMNS = {
    "alerts.csv": VIOLATION_COLUMNS,
    "area_profile.csv": [
        "date",
        "excavated_ha",
        "dug_before_ha",
        "dug_within_ha",
        "inside_lease_ha",
        "outside_lease_ha",
        "nogo_ha",
        "rate_ha_per_month",
    ],
    "forecast.csv": forecast.COLUMNS,
}
#: The files a finished mine's folder holds; :func:`check_outputs` reads each back.
MINE_FILES = (
    "excavation.tif",
    "area_profile.csv",
    "forecast.csv",
    "violations.parquet",
    "alerts.csv",
    "summary.png",
)


def check_outputs(folder: Path) -> str | None:
    """``None`` when every file of a finished mine reads back whole, else what is wrong.

    Writes are atomic, but a file can still be truncated or damaged later (a
    copy cut short, a full disk elsewhere); a rerun must redo such a mine
    rather than keep a broken result.
    """
    import geopandas as gpd
    import rasterio
    from PIL import Image

    def read_tif(path: Path) -> None:
        with rasterio.open(path) as src:
            src.read()  # decompress every block: catches a truncated file

    def read_csv(path: Path) -> None:
        found = list(pd.read_csv(path).columns)
        expected = CSV_COLUMNS[path.name]
        if found != expected:
            raise ValueError(f"columns {found} are not {expected}")

    readers = {
        ".tif": read_tif,
        ".csv": read_csv,
        ".parquet": gpd.read_parquet,
        ".png": lambda p: Image.open(p).load(),
    }
    for name in MINE_FILES:
        path = Path(folder) / name
        try:
            readers[path.suffix](path)
        except Exception as exc:  # GDAL, pandas, pyarrow and PIL each raise their own types
            return f"{path} is missing or unreadable ({type(exc).__name__})"
    return None


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Atomically write a CSV without the index."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def write_violations(table, path: Path) -> None:
    """Violation patches as GeoParquet (EPSG:4326)."""
    write_geoparquet(table, path)


def write_summary(
    path: Path,
    profile: pd.DataFrame,
    first_index: np.ndarray,
    zones: Zones,
    title: str,
    ahead: pd.DataFrame | None = None,
    pre_existing: np.ndarray | None = None,
) -> None:
    """Area curves and their forecast (left), the map of first excavated date (right).

    Forecasts (``ahead``, the rows of ``forecast.csv``) are drawn as points with
    their interval, in the colour of their curve. Pre-existing ground is grey
    on the map.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    dates = pd.to_datetime(profile["date"])
    for column, style in (
        ("excavated_ha", "-"),
        ("dug_before_ha", "-"),
        ("inside_lease_ha", "--"),
        ("outside_lease_ha", ":"),
        ("nogo_ha", "-."),
    ):
        (line,) = left.plot(dates, profile[column], style, label=column.removesuffix("_ha"))
        rows = ahead[ahead["quantity"] == column] if ahead is not None else ()
        if len(rows):
            value = rows["forecast_ha"].to_numpy(float)
            spread = np.abs(rows[["low_ha", "high_ha"]].to_numpy(float).T - value)
            left.errorbar(
                pd.to_datetime(rows["date"]),
                value,
                yerr=np.nan_to_num(spread),
                fmt="o",
                ms=3,
                capsize=2,
                color=line.get_color(),
            )
    left.set_ylabel("hectares")
    left.set_title("Excavated area (points: forecast 1-3 months, 80 % interval)")
    left.legend(loc="upper left", fontsize=8)
    left.grid(alpha=0.3)
    fig.autofmt_xdate()

    if zones.zones:
        right.imshow(zones.nogo(), cmap="Greens", alpha=0.35, interpolation="nearest")
    if pre_existing is not None and pre_existing.any():
        grey = np.where(pre_existing, 0.5, np.nan)
        right.imshow(grey, cmap="Greys", vmin=0, vmax=1, interpolation="nearest")
    within = first_index >= 0
    if pre_existing is not None:
        within &= ~pre_existing
    shown = np.where(within, first_index, np.nan)
    image = right.imshow(shown, cmap="viridis", interpolation="nearest")
    if np.isfinite(shown).any():
        bar = fig.colorbar(image, ax=right, fraction=0.046)
        ticks = np.linspace(np.nanmin(shown), np.nanmax(shown), 4).round().astype(int)
        bar.set_ticks(ticks)
        bar.set_ticklabels([str(dates.iloc[t].date()) for t in ticks])
    right.set_title("First excavated date (grey: before the period; green: no-go)", fontsize=9)
    right.set_axis_off()
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
