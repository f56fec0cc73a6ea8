"""An HTML map of the grid: positives coloured by overlap, negatives grey, polygons on top."""

from __future__ import annotations

import json
import os

import numpy as np
import shapely

from minescan.kernel.io import write_text

#: Overlap colour ramp, low to high (viridis stops).
RAMP = ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"]


def overlap_colour(overlap: float) -> str:
    """A colour for an overlap in 0..1.

    Examples
    --------
    >>> overlap_colour(0.0), overlap_colour(1.0)
    ('#440154', '#fde725')
    """
    step = min(int(overlap * len(RAMP)), len(RAMP) - 1)
    return RAMP[step]


def shown_cells(table, max_cells: int):
    """The cells worth drawing, as GeoDataFrames (positives, negatives).

    The coarsest zoom only, at most ``max_cells`` cells in all, each negative with its positive.
    """
    import pyarrow.compute as pc

    from minescan.grid.cells_table import to_geodataframe

    coarse = table.filter(pc.equal(table["z"], pc.min(table["z"])))
    positives = coarse.filter(pc.equal(coarse["label"], "pos")).slice(0, max_cells // 2)
    negatives = coarse.filter(pc.is_in(coarse["pair"], positives["name"]))
    return to_geodataframe(positives), to_geodataframe(negatives)


def write_preview(cells, polygons: np.ndarray, path: str | os.PathLike, max_cells: int = 2000):
    """Write ``preview.html``: a folium map of (a sample of) the cells and the polygons.

    Parameters
    ----------
    cells
        The cells arrow table (:func:`minescan.grid.cells_table.cells_arrow`).
    polygons
        Mine polygons (shapely array, EPSG:4326); those near the shown cells are drawn.
    max_cells
        Most cells drawn, so the page stays light; the map's title says how many are shown.
    """
    import folium

    from minescan.kernel.webmap import offline_map

    positives, negatives = shown_cells(cells, max_cells)
    shown = len(positives) + len(negatives)
    fmap = offline_map(tiles=None, control_scale=True)
    folium.TileLayer("OpenStreetMap", name="OpenStreetMap (needs network)").add_to(fmap)
    zoom = positives.z.min() if len(positives) else "-"
    title = (
        f"minescan grid: {shown} of {cells.num_rows} cells shown (zoom {zoom}); "
        "positives coloured by overlap, negatives grey, mine polygons in red"
    )
    fmap.get_root().html.add_child(folium.Element(f"<h4 style='margin:4px'>{title}</h4>"))

    def style_positive(feature):
        colour = overlap_colour(feature["properties"]["overlap"])
        return {"color": colour, "fillColor": colour, "weight": 1, "fillOpacity": 0.5}

    layers = [
        ("positives", positives, style_positive),
        ("negatives", negatives, lambda f: {"color": "#777", "fillColor": "#999", "weight": 1}),
    ]
    for name, frame, style in layers:
        if len(frame):
            folium.GeoJson(
                json.loads(frame[["name", "overlap", "pair", "geometry"]].to_json()),
                name=name,
                style_function=style,
                tooltip=folium.GeoJsonTooltip(["name", "overlap"]),
            ).add_to(fmap)
    extent = shapely.union_all(positives.geometry.values) if len(positives) else None
    if extent is not None:
        near = polygons[shapely.intersects(polygons, extent)][:max_cells]
        folium.GeoJson(
            shapely.to_geojson(shapely.GeometryCollection(list(near))),
            name="mine polygons",
            style_function=lambda f: {"color": "#d7191c", "weight": 1.5, "fillOpacity": 0},
        ).add_to(fmap)
        west, south, east, north = shapely.bounds(
            shapely.union_all([extent, *negatives.geometry.values])
        )
        fmap.fit_bounds([[south, west], [north, east]])
    folium.LayerControl().add_to(fmap)
    return write_text(path, fmap.get_root().render())
