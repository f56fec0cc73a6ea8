"""True-colour previews of the imagery each scan candidate was found in, made at ingest.

A scan run folder holds no imagery per candidate (its candidates, report,
map and summary chart only), so :func:`render_previews` reads a small
true-colour chip around every candidate from the run's own source, as the
manifest records it, with the candidate tinted red
(:func:`minescan.datasets.preview.render_preview`). It does so only for
sources that cost nothing to read again: the simulated world and local
GeoTIFF files. A STAC or Earth Engine run would mean downloads at ingest, so
it gets no previews, and neither does a run whose local files have gone; the
mine page says there are none. Monitor runs hold no true-colour imagery
(``excavation.tif`` is a map of excavation dates), so they add none either.

Each preview is a PNG of :data:`PREVIEW_PX` pixels square, stored base64 in
the ``previews`` table under its observation, so a mine's page shows one per
period it was seen in.
"""

from __future__ import annotations

import base64
import io
import math

import mercantile
import numpy as np
import shapely
from PIL import Image

from minescan.kernel.errors import MinescanError
from minescan.kernel.mercator import HALF_WORLD_M, to_mercator
from minescan.store.backend import Backend

#: Source kinds whose pixels are read again for free and offline.
LOCAL_SOURCES = ("simulated", "geotiff")
#: The chip's tile in pixels; the same again as margin around it, so any candidate
#: centred in the tile fits: previews are ``2 * TILE_PX`` pixels square.
TILE_PX = 48
PREVIEW_PX = 2 * TILE_PX
#: Finest and coarsest tile zoom of a preview (z16: about 13 m a pixel, near S2's 10 m).
MAX_ZOOM, MIN_ZOOM = 16, 8


def preview_zoom(geometry) -> int:
    """The finest zoom whose tile is at least as wide as ``geometry`` (EPSG:4326) in metres.

    Examples
    --------
    >>> preview_zoom(shapely.box(0, 0, 0.001, 0.001)), preview_zoom(shapely.box(0, 0, 0.05, 0.01))
    (16, 12)
    """
    left, bottom, right, top = to_mercator(geometry).bounds
    extent = max(right - left, top - bottom, 1.0)
    return int(np.clip(math.floor(math.log2(2 * HALF_WORLD_M / extent)), MIN_ZOOM, MAX_ZOOM))


def open_local_source(manifest: dict):
    """The source a scan ``manifest`` read from, when it is local; ``None`` otherwise."""
    from minescan.datasets.sources import open_source
    from minescan.datasets.sources.settings import SourceSettings

    settings = (manifest.get("config") or {}).get("source") or {}
    if settings.get("kind") not in LOCAL_SOURCES:
        return None
    try:
        return open_source(SourceSettings(**settings))
    except (MinescanError, OSError, ValueError):  # the run's local files have gone
        return None


def render_png(source, geometry, period: str) -> bytes:
    """A PNG of the true-colour chip around ``geometry`` in ``period``, the candidate in red."""
    from rasterio.features import rasterize

    from minescan.datasets.preview import PREVIEW_BANDS, render_preview

    centre = geometry.centroid
    tile = mercantile.tile(centre.x, centre.y, preview_zoom(geometry))
    chip = source.read(tile, TILE_PX, period, PREVIEW_BANDS, margin_px=TILE_PX // 2)
    mine = rasterize(
        [to_mercator(geometry)], out_shape=chip.shape, transform=chip.transform, all_touched=True
    )
    image = Image.fromarray(render_preview(chip.data, chip.bands, mine), mode="RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def render_previews(manifest: dict, geometries, period: str) -> list[str | None]:
    """Base64 PNGs for ``geometries`` seen in ``period``; all ``None`` for a remote source."""
    source = open_local_source(manifest)
    if source is None:
        return [None] * len(geometries)
    return [base64.b64encode(render_png(source, g, period)).decode("ascii") for g in geometries]


def previews_of(backend: Backend, obs_ids: list[int]) -> list[dict]:
    """Which of ``obs_ids`` have a preview: ``obs_id``, ``run_id`` and ``period`` (no image)."""
    if not obs_ids:
        return []
    rows = backend.select(
        "previews", {"obs_id": [int(i) for i in obs_ids]}, columns=["obs_id", "run_id", "period"]
    )
    return sorted(rows, key=lambda r: r["obs_id"])


def preview_png(backend: Backend, obs_id: int) -> bytes:
    """The PNG stored for observation ``obs_id``; a one-line error when there is none."""
    rows = backend.select("previews", {"obs_id": int(obs_id)}, columns=["png"])
    if not rows:
        raise MinescanError(f"no preview of observation {obs_id} in the store")
    return base64.b64decode(rows[0]["png"])


def store_previews(backend: Backend, run_id: str, geometries, images: list[str | None]) -> int:
    """Store ``images`` under the observations run ``run_id`` made of ``geometries``; how many.

    Observations are found by their exact geometry (stored as given), so the
    caller need not know the ids the ingest assigned. Inside the ingest's
    transaction, so a run and its previews arrive together.
    """
    by_shape = {shapely.to_wkb(g): image for g, image in zip(geometries, images, strict=True)}
    if not any(by_shape.values()):
        return 0
    observations = backend.select(
        "observations", {"run_id": run_id}, columns=["obs_id", "period", "geometry"]
    )
    rows = [
        {"obs_id": o["obs_id"], "run_id": run_id, "period": o["period"], "png": image}
        for o in observations
        if (image := by_shape.get(shapely.to_wkb(o["geometry"]))) is not None
    ]
    backend.insert("previews", rows)
    return len(rows)
