"""Sentinel-2 L2A from an open STAC API (default: Earth Search ``sentinel-2-c1-l2a``), no account.

``read`` searches the catalogue (pystac-client: bbox, the period's dates and
``eo:cloud_cover < max_cloud``), loads every matching scene onto the tile's
EPSG:3857 grid with odc-stac (real COG range reads), masks clouds with the
scene classification (SCL: keep vegetation 4, bare 5, water 6, unclassified 7
and snow 11; drop nodata 0, saturated 1, shadow 3, cloud 8/9 and cirrus 10),
converts to reflectance with each asset's ``raster:bands`` scale and offset
(Earth Search c1: 0.0001 and -0.1) and takes the per-pixel median of the clear
observations. Chips are cached on disk; failures are retried with backoff.
"""

from __future__ import annotations

import os
import threading
import time
import warnings

import numpy as np

from minescan.bands import S2_BANDS
from minescan.chip import Chip
from minescan.datasets.sources.base import Cube
from minescan.datasets.sources.cache import ChipCache, default_cache_dir, settings_digest
from minescan.datasets.sources.extent import Grid, series_grid
from minescan.datasets.sources.fetch import RetryPolicy, TileFetcher, tile_label
from minescan.datasets.sources.settings import SourceSettings
from minescan.errors import MinescanError

#: Bump when the pixels this module returns change, so old cache entries are not reused.
VERSION = "1"

#: Scene classification classes kept as clear (4 vegetation, 5 bare, 6 water, 7 unclassified, 11 snow).
SCL_CLEAR = (4, 5, 6, 7, 11)

#: Earth Search (c1 and the older sentinel-2-l2a) asset keys.
EARTH_SEARCH_ASSETS: dict[str, str] = {
    "B01": "coastal", "B02": "blue", "B03": "green", "B04": "red", "B05": "rededge1",
    "B06": "rededge2", "B07": "rededge3", "B08": "nir", "B8A": "nir08", "B09": "nir09",
    "B11": "swir16", "B12": "swir22", "SCL": "scl",
}  # fmt: skip

#: Catalogues that key assets by band id (Planetary Computer, CDSE).
BAND_ID_ASSETS: dict[str, str] = {b: b for b in (*S2_BANDS, "SCL")}


def asset_names(items, override: dict[str, str] | None = None) -> dict[str, str]:
    """Band (and ``SCL``) -> asset key for these items: ``override``, else guessed from the keys.

    Examples
    --------
    >>> class I: assets = {"blue": 0, "scl": 0}
    >>> asset_names([I()])["B02"], asset_names([I()], {"B02": "b2"})["B02"]
    ('blue', 'b2')
    """
    keys = set().union(*(item.assets for item in items)) if items else set()
    base = BAND_ID_ASSETS if "B02" in keys and "blue" not in keys else EARTH_SEARCH_ASSETS
    return {**base, **(override or {})}


def scale_offset(asset, collection: str) -> tuple[float, float]:
    """Stored value -> reflectance, from the asset's raster metadata.

    Reads ``raster:bands`` (STAC raster extension 1.x) or ``bands`` with
    ``raster:scale``/``raster:offset`` (STAC 1.1). Without metadata, assumes the
    L2A convention: scale 0.0001, offset -0.1 for processing-baseline >= 04.00
    collections (``c1``), else 0.
    """
    fields = asset.extra_fields
    for entry in (fields.get("raster:bands") or [])[:1]:
        if "scale" in entry or "offset" in entry:
            return float(entry.get("scale", 1.0)), float(entry.get("offset", 0.0))
    for entry in (fields.get("bands") or [])[:1]:
        if "raster:scale" in entry or "raster:offset" in entry:
            return float(entry.get("raster:scale", 1.0)), float(entry.get("raster:offset", 0.0))
    if "raster:scale" in fields or "raster:offset" in fields:
        return float(fields.get("raster:scale", 1.0)), float(fields.get("raster:offset", 0.0))
    return 0.0001, (-0.1 if "c1" in collection else 0.0)


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
        items = self._retry(lambda: self._search(grid, start, end), label)
        data = self._retry(lambda: self._load(items, grid, bands), label) if items else None
        days = np.array([_item_day(item) for item in items], dtype="datetime64[D]")
        dates = np.unique(days)
        stack = grid.nan_stack(len(dates), len(bands))
        for t, day in enumerate(dates):
            for obs in data[days == day]:  # granules of one day: first clear value wins
                fill = np.isnan(stack[t]) & ~np.isnan(obs)
                stack[t][fill] = obs[fill]
        return dates, Cube.from_stack(stack, bands, grid.transform)

    def _fetch_chip(self, tile, grid, period, start, end, bands, margin_px) -> Chip:
        label = tile_label(tile)
        items = self._retry(lambda: self._search(grid, start, end), label)
        meta = {"source": self.name, "collection": self.collection, "items": len(items)}
        if items:
            obs = self._retry(lambda: self._load(items, grid, bands), label)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels stay NaN
                data = np.nanmedian(obs, axis=0).astype(np.float32)
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
                # no directory listings, GDAL-level retries of range reads: odc-stac's cloud settings
                odc_stac().configure_rio(cloud_defaults=True)
            return self._api

    def _search(self, grid: Grid, start: str, end: str) -> list:
        """Matching items, sorted by (datetime, id)."""
        search = self._client().search(
            collections=[self.collection],
            bbox=grid.bounds_4326(),
            datetime=f"{start}T00:00:00Z/{end}T23:59:59Z",
            query={"eo:cloud_cover": {"lt": self.max_cloud}},
        )
        items = list(search.items())
        return sorted(items, key=lambda item: (item.datetime, item.id))

    def _load(self, items: list, grid: Grid, bands: tuple[str, ...]) -> np.ndarray:
        """Reflectance ``(items, bands, H, W)``, NaN where SCL is not clear or the data is nodata."""
        from odc.geo.geobox import GeoBox

        names = asset_names(items, self.assets)
        wanted = [names[b] for b in (*bands, "SCL")]
        for band, key in zip((*bands, "SCL"), wanted, strict=True):
            lacking = [item.id for item in items if key not in item.assets]
            if lacking:
                raise MinescanError(
                    f"band {band}: asset {key!r} is missing from STAC item {lacking[0]} "
                    f"of {self.collection} (map it in source.stac_assets)"
                )
        coarse = grid.ground_resolution_m() > 10.0 * 1.01
        resampling = {key: "average" if coarse else "bilinear" for key in wanted[:-1]}
        resampling[wanted[-1]] = "nearest"
        geobox = GeoBox((grid.height, grid.width), grid.transform, "EPSG:3857")
        ds = odc_stac().load(
            items,
            bands=wanted,
            geobox=geobox,
            groupby=lambda item, parsed, index: index,
            resampling=resampling,
            chunks=None,
        )
        if ds.sizes["time"] != len(items):
            raise AssertionError("odc-stac returned one slice per item")
        scl = ds[wanted[-1]].values
        clear = np.isin(scl, SCL_CLEAR)
        out = grid.nan_stack(len(items), len(bands))
        for b, key in enumerate(wanted[:-1]):
            raw = ds[key].values
            nodata = ds[key].attrs.get("nodata")
            good = clear if nodata is None else clear & (raw != nodata)
            for t, item in enumerate(items):
                scale, offset = scale_offset(item.assets[key], self.collection)
                out[t, b][good[t]] = raw[t][good[t]] * scale + offset
        return out


def _item_day(item) -> np.datetime64:
    return np.datetime64(item.datetime.replace(tzinfo=None), "D")


def odc_stac():
    """odc.stac, imported when first needed (it pulls in xarray and dask)."""
    import odc.stac

    return odc.stac
