"""Sentinel-2 L2A band names and the band sets used across minescan."""

from __future__ import annotations

from minescan.kernel.errors import MinescanError

#: The 12 L2A surface-reflectance bands, in Sentinel-2 order (B10 is absent from L2A).
S2_BANDS: tuple[str, ...] = (
    "B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12",
)  # fmt: skip

#: Central wavelengths in nanometres (Sentinel-2A), for plots and documentation.
WAVELENGTH_NM: dict[str, int] = {
    "B01": 443, "B02": 490, "B03": 560, "B04": 665, "B05": 705, "B06": 740,
    "B07": 783, "B08": 842, "B8A": 865, "B09": 945, "B11": 1610, "B12": 2190,
}  # fmt: skip

#: Sentinel-2A's launch: no Sentinel-2 image exists of an earlier day.
S2_FIRST_DAY = "2015-06-23"


def check_sentinel2_period(last_day, what: str) -> None:
    """Refuse a period that ends before Sentinel-2 existed (a typo such as 1900 for 2019).

    ``last_day`` is the period's last day (anything ``numpy.datetime64`` reads).

    Examples
    --------
    >>> check_sentinel2_period("2019-12-31", "--period 2019")
    >>> check_sentinel2_period("1900-12-31", "--period 1900")
    Traceback (most recent call last):
    ...
    minescan.kernel.errors.MinescanError: --period 1900 ends on 1900-12-31, before Sentinel-2's first image (2015-06-23)
    """
    import numpy as np

    last = np.datetime64(last_day, "D")
    if last < np.datetime64(S2_FIRST_DAY):
        raise MinescanError(
            f"{what} ends on {last}, before Sentinel-2's first image ({S2_FIRST_DAY})"
        )


def sentinel2_period(period: str | int) -> str:
    """``period`` as text when it parses and ends after Sentinel-2's first image.

    Settings validators use it, so a typo (``1900``, ``2019-13``) stops the run
    before any work instead of sweeping an empty or imaginary archive.

    Raises
    ------
    ValueError
        With the one-line reason (pydantic turns it into ``invalid setting ...``).

    Examples
    --------
    >>> sentinel2_period(2025)
    '2025'
    >>> sentinel2_period("2019-13")
    Traceback (most recent call last):
    ...
    ValueError: bad period '2019-13'; expected a year (2019), a quarter (2019Q2), a month (2019-03), a day (2019-03-14) or START/END
    """
    from minescan.kernel.period import Period

    try:
        check_sentinel2_period(Period.parse(period).last, f"period {period}")
    except MinescanError as exc:
        raise ValueError(str(exc)) from None
    return str(period)


#: The detector's default channels: blue, green, red first (so previews are RGB), then NIR, SWIR.
DETECTOR_BANDS: tuple[str, ...] = ("B02", "B03", "B04", "B08", "B11", "B12")


def parse_bands(spec: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Parse ``"B02,B03"`` or a list into a tuple of validated band names.

    Examples
    --------
    >>> parse_bands("b2, B03,B8A")
    ('B02', 'B03', 'B8A')
    """
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out = []
    for raw in items:
        name = raw.strip().upper()
        if not name:
            continue
        if name[0] == "B" and name[1:].isdigit() and len(name) == 2:
            name = f"B0{name[1]}"
        if name not in S2_BANDS:
            raise MinescanError(
                f"unknown band {raw.strip()!r}; expected one of {', '.join(S2_BANDS)}"
            )
        out.append(name)
    if not out:
        raise MinescanError("no bands given")
    return tuple(out)
