"""What a person looks at after a scan: ``map.html`` (Leaflet via folium) and ``summary.png``.

Both show the levels of the sweep (each tile: screened out, scanned without a
hit, hit), the candidate boxes and, when there is one, the truth.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from minescan.detect.pyramid import Level
from minescan.grid.tiles import tile_boxes
from minescan.kernel.io import atomic_path, write_text

#: Tile status -> colour, shared by the map and the picture.
STATUS_COLOURS = {"screened out": "#9e9e9e", "no hit": "#f2c14e", "hit": "#e4572e"}

#: Most tiles drawn per level on the web map (hits first); a country sweep has far more.
MAX_MAP_TILES = 20_000


def tile_table(level: Level):
    """The level's tiles as a GeoDataFrame: x, y, z, status, max_score."""
    import geopandas as gpd

    kept, hit = level.column("kept").astype(bool), level.column("hit").astype(bool)
    status = np.where(hit, "hit", np.where(kept, "no hit", "screened out"))
    tiles = level.tiles
    return gpd.GeoDataFrame(
        {
            "x": tiles[:, 0],
            "y": tiles[:, 1],
            "z": tiles[:, 2],
            "status": status,
            "max_score": level.column("max_score").round(3),
        },
        geometry=tile_boxes(tiles[:, 0], tiles[:, 1], level.zoom),
        crs=4326,
    )


def _drawable(table):
    if len(table) <= MAX_MAP_TILES:
        return table
    rank = table.status.map({"hit": 0, "no hit": 1, "screened out": 2})
    return table.iloc[np.argsort(rank.to_numpy(), kind="stable")[:MAX_MAP_TILES]]


def write_map(path: str | Path, levels: list[Level], candidates, truth=None, aoi=None) -> Path:
    """Atomically write the Leaflet map: one layer per level, candidates, truth, AOI."""
    import folium

    from minescan.kernel.webmap import offline_map

    bounds = (candidates if len(candidates) else tile_table(levels[0])).total_bounds
    if aoi is not None:
        bounds = aoi.bounds
    fmap = offline_map(tiles=None, control_scale=True)
    folium.TileLayer("OpenStreetMap", name="OpenStreetMap (needs network)").add_to(fmap)
    if aoi is not None:
        folium.GeoJson(
            aoi.__geo_interface__,
            name="AOI",
            style_function=lambda _: {"color": "#333333", "weight": 2, "fill": False},
        ).add_to(fmap)
    for level in levels:
        table = _drawable(tile_table(level))
        if len(table) == 0:
            continue
        folium.GeoJson(
            table.to_json(),
            name=f"tiles z{level.zoom} ({len(table)})",
            show=level is levels[-1] or len(levels) == 1,
            style_function=lambda f: {
                "color": STATUS_COLOURS[f["properties"]["status"]],
                "weight": 0.5,
                "fillOpacity": 0.25,
            },
            tooltip=folium.GeoJsonTooltip(["z", "x", "y", "status", "max_score"]),
        ).add_to(fmap)
    if truth is not None and len(truth):
        keep = [c for c in ("mine_id", "area_ha") if c in truth]
        folium.GeoJson(
            truth[[*keep, "geometry"]].to_json(default=str),
            name=f"truth ({len(truth)})",
            style_function=lambda _: {"color": "#1f77b4", "weight": 1, "fillOpacity": 0.4},
        ).add_to(fmap)
    if len(candidates):
        folium.GeoJson(
            candidates[["score", "zoom", "tile", "area_km2", "geometry"]].to_json(),
            name=f"candidates ({len(candidates)})",
            style_function=lambda _: {"color": "#d62728", "weight": 2, "fillOpacity": 0.05},
            tooltip=folium.GeoJsonTooltip(["score", "tile", "area_km2"]),
        ).add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    west, south, east, north = bounds
    fmap.fit_bounds([[south, west], [north, east]])
    return write_text(path, fmap.get_root().render())


def write_summary(
    path: str | Path, levels: list[Level], candidates, truth=None, report: dict | None = None
) -> Path:
    """Atomically write a PNG: one panel per level (tile status), then the counts per level.

    On the finest level, candidates and truth mines are drawn as markers as well as
    outlines, so they stay visible over a whole AOI: red squares are candidates
    (hollow when they touch no truth mine), blue dots the truth mines found,
    black crosses the ones missed. ``report`` (``scan_report.json``) adds the
    totals and the scores to the titles.
    """
    from minescan.kernel import offline

    offline.configure()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    fig, axes = plt.subplots(1, len(levels) + 1, figsize=(5 * (len(levels) + 1), 5.4))
    for ax, level in zip(axes, levels, strict=False):
        table = tile_table(level)
        if len(table):
            b = table.geometry.bounds.to_numpy()
            rects = np.stack([b[:, [0, 1]], b[:, [2, 1]], b[:, [2, 3]], b[:, [0, 3]]], axis=1)
            colours = [STATUS_COLOURS[s] for s in table.status]
            ax.add_collection(PolyCollection(rects, facecolors=colours, edgecolors="none"))
            ax.autoscale_view()
        if level is levels[-1]:
            _draw_hits(ax, candidates, truth)
        s = level.summary()
        ax.set_title(
            f"z{level.zoom}: {s['tiles']} tiles, {s['screened_out']} screened out,\n"
            f"{s['detector_calls']} detector calls, {s['hits']} hits",
            fontsize=9,
        )
        ax.set_aspect("equal", adjustable="datalim")
        ax.tick_params(labelsize=7)
    ax = axes[-1]
    names = ["tiles", "screened_out", "detector_calls", "hits"]
    width = 0.8 / len(names)
    zooms = [lv.zoom for lv in levels]
    for k, name in enumerate(names):
        values = [lv.summary()[name] for lv in levels]
        bars = ax.bar(np.arange(len(levels)) + k * width, values, width, label=name)
        ax.bar_label(bars, fontsize=6)
    ax.set_xticks(np.arange(len(levels)) + 0.4 - width / 2, [f"z{z}" for z in zooms])
    ax.set_yscale("symlog", linthresh=1)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, loc="lower left")
    ax.set_title(_totals_title(len(candidates), report), fontsize=9)
    handles = [Patch(color=c, label=f"tile {s}") for s, c in STATUS_COLOURS.items()] + [
        Line2D([], [], color="#d62728", marker="s", ls="none", label="candidate"),
        Line2D([], [], color="#d62728", marker="s", mfc="none", ls="none",
               label="candidate, no truth mine"),
        Line2D([], [], color="#1f77b4", marker="o", ls="none", label="truth mine found"),
        Line2D([], [], color="black", marker="x", ls="none", label="truth mine missed"),
    ]  # fmt: skip
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return Path(path)


def _draw_hits(ax, candidates, truth) -> None:
    from minescan.detect.scoring import matches

    has_truth = truth is not None and len(truth) > 0
    found, correct = (
        matches(candidates, truth) if has_truth else (None, np.ones(len(candidates), bool))
    )
    if len(candidates):
        candidates.boundary.plot(ax=ax, color="#d62728", linewidth=0.8)
        centre = _centres(candidates)
        ax.plot(*centre[correct].T, "s", color="#d62728", ms=4, ls="none", alpha=0.8)
        ax.plot(*centre[~correct].T, "s", color="#d62728", mfc="none", ms=4, ls="none")
    if has_truth:
        truth.boundary.plot(ax=ax, color="#1f77b4", linewidth=0.6)
        centre = _centres(truth)
        ax.plot(*centre[found].T, "o", color="#1f77b4", ms=2, ls="none")
        ax.plot(*centre[~found].T, "x", color="black", ms=4, ls="none")


def _centres(table) -> np.ndarray:
    """Centres of the geometries' bounding boxes, ``(n, 2)`` lon, lat (cheap, no CRS warning)."""
    b = table.geometry.bounds.to_numpy().reshape(-1, 4)
    return np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2], axis=1)


def _totals_title(n_candidates: int, report: dict | None) -> str:
    if not report:
        return f"{n_candidates} candidates"
    totals = report["totals"]
    title = (
        f"{n_candidates} candidates, {totals['area_km2']:.0f} km2 in {totals['seconds']:.0f} s "
        f"({totals['km2_per_s']:.0f} km2/s)"
    )
    truth = report.get("truth")
    if truth:
        title += (
            f"\nrecall {truth['recall']} (>= {truth['large_ha']:g} ha: {truth['recall_large']}), "
            f"precision {truth['precision']}"
        )
    return title
