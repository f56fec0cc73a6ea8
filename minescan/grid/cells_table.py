"""The cells as one arrow table, and the files the grid stage writes from it.

The table is built column by column from the index arrays (:func:`cells_arrow`), with no
Python object per cell, and written as GeoParquet and as a neat CSV without geometry.
"""

from __future__ import annotations

import json

import numpy as np
import shapely

from minescan.grid import naming, tiles
from minescan.grid.cells import ZoomCells

#: Names of the columns of cells.parquet, in order.
COLUMNS = ["name", "z", "x", "y", "quadkey", "label", "overlap", "pair", "geometry"]


def cells_arrow(zoom_cells: list[ZoomCells]):
    """The cells as an arrow table with :data:`COLUMNS` (geometry as WKB), positives then negatives.

    Built column by column from the index arrays, with no Python object per cell.
    """
    import pyarrow as pa

    parts = []
    for cells in zoom_cells:
        z = cells.zoom
        px, py = cells.x[cells.positive], cells.y[cells.positive]
        nx, ny = cells.negative_x, cells.negative_y
        x, y = np.concatenate([px, nx]), np.concatenate([py, ny])
        overlap = np.concatenate([cells.overlap[cells.positive], np.full(nx.size, np.nan)])
        names = naming.cell_names_array(x, y, z, overlap)
        pair = pa.concat_arrays(
            [pa.nulls(px.size, pa.string()), names.take(pa.array(cells.negative_of, pa.int64()))]
        )
        parts.append(
            pa.table(
                {
                    "name": names,
                    "z": pa.array(np.full(x.size, z, dtype=np.int64)),
                    "x": pa.array(x.astype(np.int64)),
                    "y": pa.array(y.astype(np.int64)),
                    "quadkey": tiles.quadkeys_array(x, y, z),
                    "label": pa.DictionaryArray.from_arrays(
                        pa.array(np.repeat(np.int8([0, 1]), [px.size, nx.size])), ["pos", "neg"]
                    ).cast(pa.string()),
                    "overlap": pa.array(np.nan_to_num(overlap)),
                    "pair": pair,
                    "geometry": box_wkb(*tiles.tile_bounds(x, y, z)),
                }
            )
        )
    if not parts:
        return cells_arrow([ZoomCells(0, *(np.empty(0, np.int64),) * 3, np.empty(0, bool))])
    return pa.concat_tables(parts)


_WKB_POLYGON = np.dtype(
    [("order", "u1"), ("kind", "<u4"), ("rings", "<u4"), ("points", "<u4"), ("xy", "<f8", (10,))]
)


def box_wkb(west, south, east, north):
    """Rectangles as little-endian WKB polygons (counter-clockwise), an arrow binary array."""
    import pyarrow as pa

    n = np.size(west)
    rec = np.empty(n, dtype=_WKB_POLYGON)
    rec["order"], rec["kind"], rec["rings"], rec["points"] = 1, 3, 1, 5
    rec["xy"] = np.column_stack([west, south, east, south, east, north, west, north, west, south])
    offsets = np.arange(n + 1, dtype=np.int32) * _WKB_POLYGON.itemsize
    return pa.Array.from_buffers(
        pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(rec.tobytes())]
    )


def write_cells_parquet(table, path) -> None:
    """Atomically write the cells table as GeoParquet (WKB, EPSG:4326)."""
    import pyarrow.parquet as pq
    from pyproj import CRS

    from minescan.kernel.io import atomic_path

    x, y, z = (table[c].to_numpy() for c in ("x", "y", "z"))
    west, south, east, north = tiles.tile_bounds(x, y, z)
    bbox = [float(v.min()) if len(v) else 0.0 for v in (west, south)] + [
        float(v.max()) if len(v) else 0.0 for v in (east, north)
    ]
    geo = {
        "version": "1.0.0",
        "primary_column": "geometry",
        "columns": {
            "geometry": {
                "encoding": "WKB",
                "geometry_types": ["Polygon"],
                "crs": CRS.from_epsg(4326).to_json_dict(),
                "bbox": bbox,
            }
        },
    }
    meta = dict(table.schema.metadata or {}) | {b"geo": json.dumps(geo).encode()}
    with atomic_path(path) as tmp:
        pq.write_table(table.replace_schema_metadata(meta), tmp)


def write_cells_csv(table, path) -> None:
    """Atomically write the neat table: the cells without geometry, plus bounds and centre."""
    import pyarrow as pa
    import pyarrow.csv

    from minescan.kernel.io import atomic_path

    x, y, z = (table[c].to_numpy() for c in ("x", "y", "z"))
    west, south, east, north = tiles.tile_bounds(x, y, z)
    lon, lat = tiles.tile_centres(x, y, z)
    neat = table.drop_columns(["geometry"])
    for name, values in zip(
        ("west", "south", "east", "north", "lon", "lat"),
        (west, south, east, north, lon, lat),
        strict=True,
    ):
        neat = neat.append_column(name, pa.array(values, pa.float64()))
    with atomic_path(path) as tmp:
        pyarrow.csv.write_csv(neat, tmp, pyarrow.csv.WriteOptions(quoting_style="needed"))


def to_geodataframe(table):
    """An arrow cells table as a GeoDataFrame."""
    import geopandas as gpd

    frame = table.drop_columns(["geometry"]).to_pandas()
    geometry = shapely.from_wkb(table["geometry"].to_numpy(zero_copy_only=False))
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=4326)[COLUMNS]
