"""Sentinel-2 L2A from an open STAC API (default: Earth Search ``sentinel-2-c1-l2a``), no account.

``read`` searches the catalogue (pystac-client: bbox, the period's dates and
``eo:cloud_cover < max_cloud``), reads every matching scene's assets onto the
tile's EPSG:3857 grid (GDAL HTTP range reads of the COGs), masks clouds with
the scene classification (SCL: keep vegetation 4, bare 5, water 6,
unclassified 7 and snow 11; drop nodata 0, saturated 1, shadow 3, cloud 8/9
and cirrus 10), converts to reflectance with each asset's ``raster:bands``
scale and offset (Earth Search c1: 0.0001 and -0.1) and takes the per-pixel
median of the clear observations. Chips are cached on disk; failures are
retried with backoff.

A sweep costs few requests per tile: searches are per area (one per
:data:`SEARCH_ZOOM` tile and period, reused by every tile under it), and
neighbouring tiles are read together, one window read per scene and asset
from the overview that matches their pixels
(:mod:`~minescan.datasets.sources.windows`), with the asset files kept open.
"""

from __future__ import annotations

import os
import threading
import time

import mercantile
import numpy as np
import rasterio
from rasterio.enums import Resampling

from minescan.datasets.sources.cache import ChipCache, default_cache_dir, settings_digest
from minescan.datasets.sources.extent import Grid, series_grid, tile_grid
from minescan.datasets.sources.fetch import RetryPolicy, TileFetcher, tile_label
from minescan.datasets.sources.settings import SourceSettings
from minescan.datasets.sources.stac_assets import asset_bytes, asset_names, asset_res, scale_offset
from minescan.datasets.sources.windows import (
    IoStats,
    Rasters,
    clusters,
    union_bounds,
    warp_window,
)
from minescan.kernel.bands import S2_BANDS
from minescan.kernel.chip import Chip
from minescan.kernel.errors import MinescanError
from minescan.kernel.period import DEFAULT_PERIOD, Period
from minescan.kernel.source import Cube

#: Bump when the pixels this module returns change, so old cache entries are not reused.
VERSION = "2"

#: Searches cover whole tiles of this zoom (~150 km): one search serves every chip under it.
SEARCH_ZOOM = 8

#: At most this many bytes of observations (scenes x bands x pixels, float32) per read group;
#: a cluster of tiles over many scenes is read in smaller groups.
MAX_GROUP_BYTES = 256 * 2**20

#: GDAL settings for HTTP range reads: no directory listing on open, merged adjacent ranges.
GDAL_HTTP = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
}

#: Scene classification classes kept as clear (4 vegetation, 5 bare, 6 water, 7 unclassified, 11 snow).
SCL_CLEAR = (4, 5, 6, 7, 11)


class StacSource(TileFetcher):
    """Median composites and per-date series from a STAC API.

    Parameters
    ----------
    stac_url, collection
        The API and the Sentinel-2 L2A collection in it.
    max_cloud
        Scenes with ``eo:cloud_cover`` at or above this percent are not searched.
    assets
        Band (or ``SCL``) -> asset key overrides.
    cache_dir
        Chip cache root (None: :func:`default_cache_dir`; ``""`` disables the cache).
    max_concurrency, policy, sleep
        Concurrency of :meth:`read_many` and the retry policy for every request.
    """

    name = "stac"

    def __init__(
        self,
        stac_url: str = "https://earth-search.aws.element84.com/v1",
        collection: str = "sentinel-2-c1-l2a",
        max_cloud: float = 60.0,
        assets: dict[str, str] | None = None,
        cache_dir: str | os.PathLike | None = None,
        max_concurrency: int = 8,
        policy: RetryPolicy | None = None,
        sleep=None,
    ):
        self.stac_url = stac_url
        self.collection = collection
        self.max_cloud = float(max_cloud)
        self.assets = dict(assets or {})
        self.max_concurrency = max_concurrency
        self.policy = policy or RetryPolicy()
        self.sleep = sleep or time.sleep
        root = default_cache_dir() if cache_dir is None else cache_dir
        digest = settings_digest(
            self.name,
            VERSION,
            {
                "url": stac_url,
                "collection": collection,
                "max_cloud": self.max_cloud,
                "assets": self.assets,
            },
        )
        self.cache = ChipCache(root, f"{self.name}-{digest}") if str(root) else None
        self._api = None
        self._lock = threading.Lock()
        self._rasters = Rasters()
        self._searches: dict[tuple, list] = {}

    @property
    def io(self) -> IoStats:
        """Searches (``requests``), window reads and bytes so far (see :class:`IoStats`)."""
        return self._rasters.stats

    @classmethod
    def from_settings(cls, settings: SourceSettings) -> StacSource:
        return cls(
            stac_url=settings.stac_url,
            collection=settings.collection,
            max_cloud=settings.max_cloud,
            assets=settings.stac_assets,
            cache_dir=settings.cache_dir,
            max_concurrency=settings.max_concurrency,
            policy=RetryPolicy(retries=settings.retries, backoff_s=settings.backoff_s),
        )

    def series(
        self,
        geometry,
        start: str,
        end: str,
        bands: tuple[str, ...] | None = None,
    ) -> tuple[np.ndarray, Cube]:
        """One observation per acquisition day; cloud, shadow and nodata are ``valid=False``."""
        bands = tuple(bands or S2_BANDS)
        grid = series_grid(geometry)
        label = f"series {start}/{end}"
        items = self._retry(lambda: self._search(grid.bounds_4326(), start, end), label)
        data = self._retry(lambda: self._observations(items, [grid], bands)[0], label)
        days = np.array([_item_day(item) for item in items], dtype="datetime64[D]")
        dates = np.unique(days)
        stack = grid.nan_stack(len(dates), len(bands))
        for t, day in enumerate(dates):
            for obs in data[days == day]:  # granules of one day: first clear value wins
                fill = np.isnan(stack[t]) & ~np.isnan(obs)
                stack[t][fill] = obs[fill]
        return dates, Cube.from_stack(stack, bands, grid.transform)

    def _fetch_chips(self, tiles, grids, period, start, end, bands, margin_px) -> list[Chip]:
        """Median chips of neighbouring tiles: one search per area, one read per scene asset."""
        label = tile_label(tiles[0], len(tiles) - 1)
        bounds = [g.bounds_4326() for g in grids]
        items = self._retry(lambda: self._area_items(union_bounds(bounds), start, end), label)
        per_tile = [[item for item in items if _overlaps(item.bbox, b)] for b in bounds]
        step = max(1, MAX_GROUP_BYTES // max(1, len(items) * len(bands) * grids[0].width ** 2 * 4))
        chips = []
        for lo in range(0, len(tiles), step):
            part = slice(lo, lo + step)
            ids = {item.id for found in per_tile[part] for item in found}
            used = [item for item in items if item.id in ids]
            stacks = (
                self._retry(
                    lambda used=used, part=part: self._observations(used, grids[part], bands),
                    label,
                )
                if used
                else [None] * len(grids[part])
            )
            for tile, grid, found, obs in zip(
                tiles[part], grids[part], per_tile[part], stacks, strict=True
            ):
                if found:  # only the scenes over this tile: the others are all NaN here
                    mine = {item.id for item in found}
                    obs = obs[[k for k, item in enumerate(used) if item.id in mine]]
                chips.append(self._median_chip(tile, grid, period, bands, margin_px, found, obs))
        return chips

    def estimate(
        self,
        tiles,
        size_px: int = 256,
        period: str = DEFAULT_PERIOD,
        bands: tuple[str, ...] | None = None,
        margin_px: int = 0,
    ) -> dict[str, int]:
        """What :meth:`read_tiles` would cost: searches, window reads and at most how many bytes.

        The searches are run (they are few, and this source keeps their
        results for the sweep); the reads are counted per cluster, scene and
        asset as :meth:`read_tiles` makes them; bytes are the uncompressed
        size of each window at the asset's resolution (``proj:transform``,
        else 10 m) or the tiles' if coarser (the matching overview): an upper
        bound, since reading a COG transfers its compressed blocks.
        """
        bands = tuple(bands or S2_BANDS)
        start, end = Period.parse(period).inclusive
        stats = IoStats()
        tiles = [mercantile.Tile(*map(int, t)) for t in tiles]
        for rows in clusters([list(t) for t in tiles]):
            grids = [tile_grid(tiles[i], size_px, margin_px) for i in rows]
            bounds = [g.bounds_4326() for g in grids]
            searched = self.io.requests
            label = tile_label(tiles[rows[0]], len(rows) - 1)
            items = self._retry(
                lambda b=bounds: self._area_items(union_bounds(b), start, end), label
            )
            stats.add(requests=self.io.requests - searched)
            used = [item for item in items if any(_overlaps(item.bbox, b) for b in bounds)]
            if not used:
                continue
            names = asset_names(used, self.assets)
            wanted = [names[b] for b in (*bands, "SCL")]
            xmin, ymin, xmax, ymax = union_bounds([g.bounds for g in grids])
            ground = grids[0].ground_resolution_m() / grids[0].transform.a  # per 3857 metre
            for item in used:
                for key in wanted:
                    asset = item.assets.get(key)
                    res = max(asset_res(asset), grids[0].ground_resolution_m())
                    px = (xmax - xmin) * ground / res * (ymax - ymin) * ground / res
                    stats.add(reads=1, bytes=int(px * asset_bytes(asset)))
        return stats.snapshot()

    def _median_chip(self, tile, grid, period, bands, margin_px, items, obs) -> Chip:
        """The per-pixel median of a tile's clear observations (``obs``: scenes x bands x H x W)."""
        meta = {"source": self.name, "collection": self.collection, "items": len(items)}
        if items:
            data = nanmedian(obs)
            clear = np.isfinite(obs).all(axis=1).sum(axis=0)
        else:
            data = grid.nan_stack(len(bands))
            clear = np.zeros((grid.height, grid.width), int)
        valid = np.isfinite(data).all(axis=0)
        data[:, ~valid] = np.nan
        meta["all_cloud"] = bool(items) and not valid.any()
        meta["clear_observations_median"] = float(np.median(clear))
        return Chip(data, bands, grid.transform, period, tile, margin_px, valid, meta)

    def _client(self):
        """The API client, opened once (landing page and conformance fetched once)."""
        from pystac_client import Client

        with self._lock:
            if self._api is None:
                self._api = Client.open(self.stac_url)
            return self._api

    def _search(self, bbox: tuple[float, float, float, float], start: str, end: str) -> list:
        """Items over ``bbox`` (degrees) in the dates, sorted by (datetime, id)."""
        search = self._client().search(
            collections=[self.collection],
            bbox=bbox,
            datetime=f"{start}T00:00:00Z/{end}T23:59:59Z",
            query={"eo:cloud_cover": {"lt": self.max_cloud}},
        )
        items = list(search.items())
        self.io.add(requests=1)
        return sorted(items, key=lambda item: (item.datetime, item.id))

    def _area_items(self, bbox: tuple[float, float, float, float], start: str, end: str) -> list:
        """Items over ``bbox``, from searches of the :data:`SEARCH_ZOOM` tiles under it, each once."""
        west, south, east, north = bbox
        found: dict[str, object] = {}
        for area in mercantile.tiles(west, south, east, north, SEARCH_ZOOM):
            key = (area.x, area.y, start, end)
            with self._lock:
                items = self._searches.get(key)
            if items is None:
                b = mercantile.bounds(area)
                items = self._search((b.west, b.south, b.east, b.north), start, end)
                with self._lock:
                    self._searches[key] = items
            for item in items:
                if _overlaps(item.bbox, bbox):
                    found.setdefault(item.id, item)
        return sorted(found.values(), key=lambda item: (item.datetime, item.id))

    def _observations(self, items: list, grids: list[Grid], bands: tuple[str, ...]) -> list:
        """Per grid, reflectance ``(items, bands, H, W)``: NaN where SCL is not clear or no data.

        Each asset is read once for all ``grids`` (:func:`warp_window`); the
        scene classification with ``nearest``, the bands averaged when the
        grids are coarser than the asset (else bilinear).
        """
        names = asset_names(items, self.assets)
        wanted = [names[b] for b in (*bands, "SCL")]
        for band, key in zip((*bands, "SCL"), wanted, strict=True):
            lacking = [item.id for item in items if key not in item.assets]
            if lacking:
                raise MinescanError(
                    f"band {band}: asset {key!r} is missing from STAC item {lacking[0]} "
                    f"of {self.collection} (map it in source.stac_assets)"
                )
        out = [g.nan_stack(len(items), len(bands)) for g in grids]
        with rasterio.Env(**GDAL_HTTP):
            for t, item in enumerate(items):
                scl, _ = warp_window(
                    self._rasters,
                    item.assets[wanted[-1]].href,
                    [1],
                    grids,
                    resampling=Resampling.nearest,
                )
                clear = [None if v is None else np.isin(v[0], SCL_CLEAR) for v in scl]
                for b, key in enumerate(wanted[:-1]):
                    scale, offset = scale_offset(item.assets[key], self.collection)
                    values, _ = warp_window(self._rasters, item.assets[key].href, [1], grids)
                    for k, raw in enumerate(values):
                        if raw is None or clear[k] is None:
                            continue
                        good = clear[k] & np.isfinite(raw[0])
                        out[k][t, b][good] = raw[0][good] * scale + offset
        return out


def nanmedian(obs: np.ndarray) -> np.ndarray:
    """The median over the first axis ignoring NaN, NaN where all are NaN, as float32.

    ``np.nanmedian`` over a short first axis goes through masked arrays and
    warns per pixel; sorting the few observations (NaN sorts last) and
    averaging the middle two of the valid ones is many times faster.

    Examples
    --------
    >>> obs = np.array([[1.0, np.nan], [3.0, np.nan], [np.nan, np.nan], [8.0, 2.0]])
    >>> nanmedian(obs).tolist()
    [3.0, 2.0]
    >>> nanmedian(np.array([[1.0], [2.0]])).tolist(), nanmedian(np.full((2, 1), np.nan)).tolist()
    ([1.5], [nan])
    """
    ordered = np.sort(obs, axis=0)
    n = np.isfinite(obs).sum(axis=0)
    lo = np.take_along_axis(ordered, np.maximum(n - 1, 0)[None] // 2, axis=0)[0]
    hi = np.take_along_axis(ordered, (n // 2)[None], axis=0)[0]
    return ((lo + hi) / 2).astype(np.float32)


def _overlaps(a, b) -> bool:
    """Whether two (west, south, east, north) boxes share area (or an item has no bbox)."""
    if a is None:
        return True
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _item_day(item) -> np.datetime64:
    return np.datetime64(item.datetime.replace(tzinfo=None), "D")
