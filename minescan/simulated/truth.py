"""Export the simulated world's truth over an area: its mines, their parts and the look-alikes.

The truth is what scans and monitor runs on the simulated world are scored
against; ``minescan simulate truth`` and the ``make train`` pipeline call
:func:`export_truth`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import shapely

from minescan.kernel.errors import MinescanError
from minescan.kernel.io import atomic_path

#: Largest AOI whose truth is exported at all, and with confusers (vectorised from a raster).
MAX_TRUTH_KM2 = 1_000_000
MAX_CONFUSERS_KM2 = 10_000


def ground_area_km2(geometry) -> float:
    """Approximate ground area of an EPSG:4326 geometry (Lambert equal-area cylindrical).

    Examples
    --------
    >>> round(ground_area_km2(shapely.box(0, 0, 1, 1)))
    12364
    """
    radius_km = 6371.0088

    def project(coords):
        lon, lat = np.radians(coords[:, 0]), np.radians(coords[:, 1])
        return np.column_stack([lon * radius_km, np.sin(lat) * radius_km])

    return float(shapely.transform(geometry, project).area)


def export_truth(
    settings, area, out: str | Path, date=None, confusers: bool = True
) -> dict[str, int]:
    """Write the truth over ``area`` (an AOI) to the GeoPackage ``out``; return rows per layer.

    ``settings`` is the ``source:`` section (its seed and mines make the world);
    ``date`` (a day) exports footprints as excavated then. Layers: ``mines``,
    ``components`` and, with ``confusers``, ``confusers``. Progress goes to stderr.
    """
    from minescan.simulated import SimulatedSentinel2

    km2 = ground_area_km2(area.geometry)
    if km2 > MAX_TRUTH_KM2:
        raise MinescanError(
            f"AOI {area.name!r} covers {km2:,.0f} km2; the truth export stops at "
            f"{MAX_TRUTH_KM2:,} km2: split it into smaller AOIs"
        )
    if confusers and km2 > MAX_CONFUSERS_KM2:
        raise MinescanError(
            f"AOI {area.name!r} covers {km2:,.0f} km2; confusers are exported up to "
            f"{MAX_CONFUSERS_KM2:,} km2: pass --no-confusers or a smaller AOI"
        )
    source = SimulatedSentinel2.from_settings(settings)
    print(f"simulated truth over {area.name} ({km2:,.0f} km2)", file=sys.stderr)
    steps = [("mines", source.mines_in), ("components", source.components_in)]
    if confusers:
        steps.append(("confusers", source.confusers_in))
    layers = {}
    for name, query in steps:
        print(f"  {name}...", file=sys.stderr)
        layers[name] = query(area.geometry, date)
    with atomic_path(out, suffix=".gpkg") as tmp:
        for name, frame in layers.items():
            if frame.empty:
                frame = frame.set_geometry(frame.geometry.astype("geometry"))
            frame.to_file(tmp, layer=name, driver="GPKG")
    return {name: len(frame) for name, frame in layers.items()}
