"""The simulated world's truth over an area: its mines, their parts and the look-alikes.

The truth is what scans and monitor runs on the simulated world are scored
against. The tables here back the world's ``mines_in``, ``components_in`` and
``confusers_in``; ``minescan simulate truth`` and the ``make train`` pipeline
write them to a GeoPackage with :func:`export_truth`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import shapely
from rasterio.features import shapes

from minescan.kernel.errors import MinescanError
from minescan.kernel.io import atomic_path
from minescan.kernel.lock import writes_output
from minescan.kernel.mercator import ground_scale, lattice_res, lattice_window, to_lonlat
from minescan.simulated.catalogue import Catalogue
from minescan.simulated.mines import ALWAYS, Mine, footprint_at
from minescan.simulated.noise import Grid, grid_transform
from minescan.simulated.periods import day_number
from minescan.simulated.spectra import CLASSES, CODE

#: Largest AOI whose truth is exported at all, and with confusers (vectorised from a raster).
MAX_TRUTH_KM2 = 1_000_000
MAX_CONFUSERS_KM2 = 10_000
#: Confuser classes exported as truth (urban patches count: they are bright and bare).
CONFUSER_KINDS = ("bare_field", "sandbar", "burn_scar", "clearing", "road", "urban")


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


def _near(catalogue: Catalogue, merc) -> list[Mine]:
    """Mines near a geometry in EPSG:3857 (prepared here, for the catalogue's pruning)."""
    shapely.prepare(merc)
    return catalogue.near(merc.bounds, within=merc)


def _start_date(mine: Mine) -> np.datetime64:
    """The day a mine starts, NaT for one excavated since always."""
    return np.datetime64("NaT") if mine.start <= ALWAYS else np.datetime64(mine.start, "D")


def mines_table(catalogue: Catalogue, merc, date=None):
    """One row per mine whose footprint by ``date`` (None: final) meets ``merc`` (EPSG:3857).

    Columns ``mine_id``, ``commodity``, ``artisanal``, ``start_date``, ``area_ha``,
    ``geometry`` (EPSG:4326 footprint excavated by ``date``).
    """
    import geopandas as gpd

    day = None if date is None else int(day_number(date))
    rows = []
    for mine in _near(catalogue, merc):
        shape = footprint_at(mine, day)
        if shape.is_empty or not shape.intersects(merc):
            continue
        k = ground_scale(mine.centre[1])
        rows.append(
            (
                mine.mine_id,
                mine.commodity,
                mine.artisanal,
                _start_date(mine),
                shape.area * k * k / 1e4,
                shape,
            )
        )
    columns = ["mine_id", "commodity", "artisanal", "start_date", "area_ha"]
    frame = gpd.GeoDataFrame(
        {c: [r[i] for r in rows] for i, c in enumerate(columns)},
        geometry=to_lonlat(np.array([r[-1] for r in rows], dtype=object)),
        crs="EPSG:4326",
    )
    return frame.astype(
        {"mine_id": str, "commodity": str, "artisanal": bool, "start_date": "datetime64[ns]",
         "area_ha": float}
    )  # fmt: skip


def components_table(catalogue: Catalogue, merc, date=None):
    """One row per mine component meeting ``merc`` (EPSG:3857) by ``date`` (None: final).

    Columns ``mine_id``, ``component`` (pit, bench, dump, tailings, pond or road),
    ``start_date`` and ``geometry``, clipped to the mine's footprint by ``date`` (roads
    appear whole once the mine starts).
    """
    import geopandas as gpd

    day = None if date is None else int(day_number(date))
    rows = []
    for mine in _near(catalogue, merc):
        dug = footprint_at(mine, day)
        if dug.is_empty:
            continue
        start = _start_date(mine)
        for name, shape in catalogue.components(mine):
            part = shape if name == "road" else shape.intersection(dug)
            if not part.is_empty and part.intersects(merc):
                rows.append((mine.mine_id, name, start, part))
    frame = gpd.GeoDataFrame(
        {
            "mine_id": [r[0] for r in rows],
            "component": [r[1] for r in rows],
            "start_date": np.array([r[2] for r in rows], "datetime64[ns]"),
        },
        geometry=to_lonlat(np.array([r[3] for r in rows], dtype=object)),
        crs="EPSG:4326",
    )
    return frame.astype({"mine_id": str, "component": str})


def confuser_grid(bounds, max_pixels: int) -> Grid:
    """The grid confusers are vectorised on: about 10 m, coarser beyond ``max_pixels``."""
    xmin, ymin, xmax, ymax = bounds
    res = lattice_res(14, 256)  # about 9.55 m
    while (xmax - xmin) * (ymax - ymin) / res**2 > max_pixels:
        res *= 2
    return Grid(*lattice_window(bounds, res), res)


def confusers_table(codes: np.ndarray, grid: Grid, merc):
    """Look-alikes in class ``codes`` on ``grid`` that meet ``merc`` (EPSG:3857), vectorised.

    Columns ``kind`` (one of :data:`CONFUSER_KINDS`) and ``geometry`` (EPSG:4326).
    """
    import geopandas as gpd

    wanted = np.isin(codes, [CODE[k] for k in CONFUSER_KINDS])
    kinds, geoms = [], []
    for geom, value in shapes(codes, mask=wanted, transform=grid_transform(grid), connectivity=8):
        kinds.append(CLASSES[int(value)])
        geoms.append(shapely.geometry.shape(geom))
    geoms = np.array(geoms, dtype=object)
    keep = shapely.intersects(geoms, merc) if len(geoms) else np.zeros(0, bool)
    return gpd.GeoDataFrame(
        {"kind": np.array(kinds, dtype=object)[keep].astype(str)},
        geometry=to_lonlat(geoms[keep]) if keep.any() else [],
        crs="EPSG:4326",
    )


@writes_output("out", file=True)
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
