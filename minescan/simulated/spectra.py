"""Surface classes of the simulated world and their 12-band L2A reflectance signatures.

Each class has two end-member spectra, ``low`` and ``high``; a pixel's reflectance is
``(low + f * (high - low)) * brightness`` with ``f`` in [0, 1] carrying season (crops,
grass), density (forest) or turbidity (water), and ``brightness`` the fine texture.
Values are typical Sentinel-2 L2A surface reflectance (vegetation: red low, NIR high;
bare ground: SWIR high; water: NIR and SWIR near zero).
"""

from __future__ import annotations

import numpy as np

from minescan.kernel.bands import S2_BANDS

# Bands:       B01   B02   B03   B04   B05   B06   B07   B08   B8A   B09   B11   B12
_LAND = {
    "forest": (
        (0.025, 0.028, 0.050, 0.035, 0.080, 0.190, 0.230, 0.250, 0.260, 0.260, 0.150, 0.070),
        (0.018, 0.020, 0.042, 0.022, 0.070, 0.230, 0.300, 0.320, 0.330, 0.330, 0.140, 0.055),
    ),
    "cropland": (
        (0.070, 0.075, 0.100, 0.130, 0.160, 0.180, 0.200, 0.210, 0.220, 0.220, 0.300, 0.240),
        (0.025, 0.030, 0.070, 0.035, 0.100, 0.300, 0.400, 0.440, 0.450, 0.450, 0.200, 0.100),
    ),
    "grassland": (
        (0.060, 0.065, 0.090, 0.110, 0.150, 0.200, 0.230, 0.250, 0.260, 0.260, 0.320, 0.220),
        (0.030, 0.035, 0.070, 0.050, 0.110, 0.250, 0.310, 0.330, 0.340, 0.340, 0.220, 0.110),
    ),
    "bare_soil": (
        (0.090, 0.100, 0.140, 0.220, 0.250, 0.270, 0.280, 0.290, 0.300, 0.300, 0.380, 0.320),
        (0.120, 0.140, 0.190, 0.290, 0.320, 0.340, 0.350, 0.360, 0.370, 0.370, 0.450, 0.380),
    ),
    "water": (
        (0.050, 0.050, 0.045, 0.025, 0.020, 0.012, 0.010, 0.010, 0.008, 0.005, 0.003, 0.002),
        (0.070, 0.080, 0.090, 0.080, 0.060, 0.030, 0.025, 0.025, 0.020, 0.012, 0.008, 0.005),
    ),
    "urban": (
        (0.100, 0.110, 0.130, 0.150, 0.170, 0.190, 0.200, 0.210, 0.220, 0.220, 0.260, 0.230),
        (0.060, 0.070, 0.080, 0.070, 0.120, 0.220, 0.270, 0.290, 0.300, 0.300, 0.220, 0.140),
    ),
}

#: Confusers: spectrally close to excavated ground in some bands, told apart by shape or context.
_CONFUSERS = {
    "bare_field": (
        (0.070, 0.080, 0.100, 0.140, 0.170, 0.190, 0.200, 0.200, 0.210, 0.210, 0.300, 0.250),
        (0.090, 0.110, 0.140, 0.190, 0.220, 0.240, 0.250, 0.250, 0.260, 0.260, 0.340, 0.290),
    ),
    "sandbar": (
        (0.100, 0.120, 0.160, 0.200, 0.220, 0.230, 0.240, 0.240, 0.250, 0.250, 0.280, 0.220),
        (0.140, 0.170, 0.220, 0.270, 0.290, 0.300, 0.310, 0.310, 0.320, 0.320, 0.360, 0.290),
    ),
    "burn_scar": (
        (0.040, 0.040, 0.050, 0.060, 0.080, 0.100, 0.110, 0.120, 0.130, 0.130, 0.200, 0.180),
        (0.050, 0.050, 0.065, 0.080, 0.100, 0.120, 0.135, 0.140, 0.150, 0.150, 0.220, 0.200),
    ),
    "clearing": (
        (0.060, 0.070, 0.100, 0.130, 0.170, 0.210, 0.230, 0.250, 0.260, 0.260, 0.300, 0.220),
        (0.080, 0.090, 0.130, 0.180, 0.210, 0.230, 0.250, 0.260, 0.270, 0.270, 0.340, 0.260),
    ),
    "road": (
        (0.090, 0.100, 0.140, 0.190, 0.220, 0.240, 0.250, 0.260, 0.260, 0.260, 0.320, 0.270),
        (0.070, 0.075, 0.085, 0.095, 0.110, 0.120, 0.130, 0.140, 0.140, 0.140, 0.160, 0.140),
    ),
}

#: Mine components. Solid ground is tinted per commodity, water per commodity too. Pits are
#: darker and moister than the benches around them; dumps carry some regrowth.
COMPONENTS: tuple[str, ...] = ("pit", "bench", "dump", "tailings", "road", "pond")
_SOLID = {
    "pit": (0.085, 0.100, 0.135, 0.180, 0.205, 0.215, 0.220, 0.225, 0.232, 0.232, 0.250, 0.215),
    "bench": (0.120, 0.150, 0.190, 0.240, 0.270, 0.290, 0.300, 0.310, 0.310, 0.310, 0.370, 0.330),
    "dump": (0.080, 0.095, 0.125, 0.155, 0.190, 0.220, 0.235, 0.245, 0.255, 0.255, 0.300, 0.250),
    "road": (0.130, 0.160, 0.200, 0.240, 0.260, 0.280, 0.290, 0.300, 0.300, 0.300, 0.360, 0.310),
}
_WATERY = {
    "tailings": (
        0.080,
        0.100,
        0.120,
        0.120,
        0.100,
        0.060,
        0.050,
        0.045,
        0.040,
        0.030,
        0.020,
        0.015,
    ),
    "pond": (0.070, 0.080, 0.100, 0.110, 0.090, 0.060, 0.050, 0.050, 0.045, 0.030, 0.020, 0.015),
}

#: Commodity looks: multipliers on solid ground, and on tailings/pond water.
COMMODITIES: tuple[str, ...] = ("gold", "coal", "bauxite", "copper", "other")
_TINT = {
    "gold": (0.90, 0.90, 0.95, 1.05, 1.05, 1.00, 1.00, 1.00, 1.00, 1.00, 1.05, 1.05),
    "coal": (0.35, 0.35, 0.33, 0.32, 0.32, 0.32, 0.32, 0.32, 0.32, 0.32, 0.35, 0.35),
    "bauxite": (0.70, 0.70, 0.80, 1.15, 1.15, 1.12, 1.12, 1.12, 1.12, 1.12, 1.05, 1.10),
    "copper": (1.25, 1.25, 1.20, 1.10, 1.08, 1.06, 1.06, 1.06, 1.06, 1.06, 1.00, 0.95),
    "other": (1.30, 1.30, 1.25, 1.20, 1.15, 1.14, 1.14, 1.14, 1.14, 1.14, 1.05, 1.00),
}
_WATER_TINT = {
    "gold": (0.90, 1.05, 1.35, 1.05, 1.10, 1.10, 1.00, 1.00, 1.00, 1.00, 1.00, 1.00),
    "coal": (0.60, 0.55, 0.55, 0.55, 0.55, 0.60, 0.60, 0.60, 0.60, 0.60, 0.60, 0.60),
    "bauxite": (0.90, 0.90, 1.10, 1.60, 1.50, 1.20, 1.10, 1.05, 1.05, 1.00, 1.00, 1.00),
    "copper": (1.20, 1.40, 1.50, 0.90, 0.90, 0.90, 0.90, 0.90, 0.90, 0.90, 1.00, 1.00),
    "other": (1.10, 1.15, 1.15, 1.10, 1.05, 1.00, 1.00, 1.00, 1.00, 1.00, 1.00, 1.00),
}

#: Cloud tops (bright, spectrally flat) and the darkening factor of cloud shadow.
CLOUD = np.array(
    (0.46, 0.44, 0.43, 0.43, 0.44, 0.45, 0.46, 0.46, 0.46, 0.40, 0.33, 0.24), np.float32
)
SHADOW_FACTOR = np.float32(0.35)

LAND_CLASSES: tuple[str, ...] = tuple(_LAND)
CONFUSER_CLASSES: tuple[str, ...] = tuple(_CONFUSERS)
#: Every surface class; mine classes are ``mine_{commodity}_{component}``.
CLASSES: tuple[str, ...] = (
    LAND_CLASSES
    + CONFUSER_CLASSES
    + tuple(f"mine_{c}_{k}" for c in COMMODITIES for k in COMPONENTS)
)
CODE: dict[str, int] = {name: i for i, name in enumerate(CLASSES)}


def mine_code(commodity: str, component: str) -> int:
    """Class code of one component of a mine of ``commodity``.

    Examples
    --------
    >>> CLASSES[mine_code("coal", "pit")]
    'mine_coal_pit'
    """
    return CODE[f"mine_{commodity}_{component}"]


def _tables() -> tuple[np.ndarray, np.ndarray]:
    """``low`` and ``high - low`` as float32 ``(bands, classes)`` lookup tables."""
    low, high = [], []
    for name in LAND_CLASSES:
        low.append(_LAND[name][0])
        high.append(_LAND[name][1])
    for name in CONFUSER_CLASSES:
        low.append(_CONFUSERS[name][0])
        high.append(_CONFUSERS[name][1])
    for commodity in COMMODITIES:
        for component in COMPONENTS:
            if component in _SOLID:
                base = np.multiply(_SOLID[component], _TINT[commodity])
                # brighter, drier patches of the same ground
                low.append(base)
                high.append(base * 1.18)
            else:
                base = np.multiply(_WATERY[component], _WATER_TINT[commodity])
                low.append(base * 0.85)
                high.append(base * 1.2)
    low = np.asarray(low, np.float32).T
    high = np.asarray(high, np.float32).T
    return np.ascontiguousarray(low), np.ascontiguousarray(high - low)


#: ``(12, n_classes)`` tables: reflectance = LOW[b, code] + f * SPAN[b, code].
LOW, SPAN = _tables()
BAND_INDEX: dict[str, int] = {b: i for i, b in enumerate(S2_BANDS)}
