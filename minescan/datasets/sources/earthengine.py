"""Sentinel-2 L2A from Google Earth Engine with the user's own account.

Scenes come from ``COPERNICUS/S2_SR_HARMONIZED`` filtered by the chip's
bounds and the period's dates. Clouds are masked with Cloud Score+
(``GOOGLE/CLOUD_SCORE_PLUS/V1/S2_HARMONIZED``, keep ``cs_cdf >= threshold``,
as Amazon Mining Watch does) or with the scene classification (SCL: keep 4,
5, 6, 7, 11). A period is the per-pixel median of the clear scenes, divided by
10000 to reflectance. Pixels come from ``ee.data.computePixels`` on the tile's
own EPSG:3857 grid (neighbouring tiles of a scan batch share one request on
their block's grid, as large as computePixels allows), through the bounded,
retrying fetch loop and the on-disk chip cache. Credentials are the user's
(``earthengine authenticate``); they are never read, printed or logged here.

The expression builders (:mod:`~minescan.datasets.sources.ee_expressions`) are pure
functions of their inputs, so tests can serialise them offline.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable

import mercantile
import numpy as np
from affine import Affine

from minescan.datasets.sources.cache import ChipCache, default_cache_dir, settings_digest
from minescan.datasets.sources.ee_expressions import (
    CLEAR_COUNT,
    clear_scenes,
    composite,
    daily,
    pixels_request,
    region,
    to_array,
)
from minescan.datasets.sources.extent import Grid, series_grid, tile_grid
from minescan.datasets.sources.fetch import RetryPolicy, TileFetcher, fetch_all, tile_label
from minescan.datasets.sources.settings import SourceSettings
from minescan.datasets.sources.windows import CLUSTER_ZOOMS, IoStats, clusters
from minescan.kernel.bands import S2_BANDS
from minescan.kernel.chip import Chip
from minescan.kernel.errors import MinescanError
from minescan.kernel.period import DEFAULT_PERIOD
from minescan.kernel.source import Cube

#: Bump when the pixels this module returns change, so old cache entries are not reused.
VERSION = "1"

#: computePixels refuses answers over 48 MB; a block of tiles asks for at most this much.
MAX_REQUEST_BYTES = 32 * 2**20

AUTH_HINT = "run `earthengine authenticate` (and pass --ee-project or set EE_PROJECT)"
_AUTH_TEXT = re.compile(
    r"authenticat|authoriz|credential|invalid_grant|\b401\b|unauthenticated|not signed up",
    re.IGNORECASE,
)


def block_zooms(grid: Grid, margin_px: int, bytes_per_px: int) -> int:
    """How many zooms up tiles share one request: blocks of ``2**k`` x ``2**k`` tiles fit the limit.

    Examples
    --------
    >>> from affine import Affine
    >>> block_zooms(Grid(Affine.identity(), 288, 288), 16, 48)  # 11 bands + count: 2 x 2 tiles
    1
    >>> block_zooms(Grid(Affine.identity(), 64, 64), 0, 52)  # small chips: a whole cluster
    3
    """
    size = grid.width - 2 * margin_px
    fits = [
        k
        for k in range(CLUSTER_ZOOMS + 1)
        if ((2**k) * size + 2 * margin_px) ** 2 * bytes_per_px <= MAX_REQUEST_BYTES
    ]
    return max(fits, default=0)


def request_blocks(tiles, grids: list[Grid], margin_px: int, bytes_per_px: int) -> list:
    """``(rows, block grid)`` per computePixels request for one cluster of tiles of a zoom."""
    up = block_zooms(grids[0], margin_px, bytes_per_px)
    return [
        (rows, union_grid([grids[i] for i in rows]))
        for rows in clusters([list(t) for t in tiles], up)
    ]


def union_grid(grids: list[Grid]) -> Grid:
    """The grid covering ``grids``, which share one pixel lattice (tiles of one zoom and size)."""
    res = grids[0].transform.a
    west = min(g.transform.c for g in grids)
    north = max(g.transform.f for g in grids)
    east = max(g.transform.c + g.width * res for g in grids)
    south = min(g.transform.f - g.height * res for g in grids)
    width, height = round((east - west) / res), round((north - south) / res)
    return Grid(Affine(res, 0.0, west, 0.0, -res, north), width, height)


def grid_offset(block: Grid, grid: Grid) -> tuple[int, int]:
    """Row and column of ``grid``'s first pixel in ``block`` (same lattice)."""
    res = block.transform.a
    return (
        round((block.transform.f - grid.transform.f) / res),
        round((grid.transform.c - block.transform.c) / res),
    )


def initialize(project: str | None, init: Callable | None = None) -> str:
    """``ee.Initialize(project=...)`` with the user's stored credentials; one-line errors.

    The project is ``--ee-project`` (``$MINESCAN_EE_PROJECT``), else ``project``
    (``source.ee_project``), else ``$EE_PROJECT``. Nothing about the credentials
    is read or printed: a failure names only the exception type and the hint.
    """
    project = os.environ.get("MINESCAN_EE_PROJECT") or project or os.environ.get("EE_PROJECT")
    if not project:
        raise MinescanError(f"Earth Engine needs a cloud project; {AUTH_HINT}")
    if init is None:
        import ee

        init = ee.Initialize
    try:
        init(project=project)
    except Exception as exc:  # google-auth, ee and transport errors alike
        raise MinescanError(
            f"cannot start Earth Engine for project {project} ({type(exc).__name__}): "
            f"credentials missing or expired? {AUTH_HINT}"
        ) from None
    return project


class EarthEngineSource(TileFetcher):
    """Period medians and per-date series from Earth Engine, fetched per tile.

    Parameters
    ----------
    settings
        ``source:`` settings (project, collection, cloud mask, cache, concurrency, retries).
    compute_pixels, compute_value, init
        Injected for tests; default ``ee.data.computePixels``,
        ``ee.data.computeValue`` and ``ee.Initialize``.
    sleep
        Injected for tests: the backoff sleep.
    """

    name = "earthengine"

    def __init__(
        self,
        settings: SourceSettings,
        compute_pixels: Callable | None = None,
        compute_value: Callable | None = None,
        init: Callable | None = None,
        sleep: Callable[[float], None] | None = None,
    ):
        self.settings = settings
        self._compute_pixels = compute_pixels
        self._compute_value = compute_value
        self._init = init
        self._ready = False
        self._lock = threading.Lock()
        self.sleep = sleep or time.sleep
        self.max_concurrency = self.settings.max_concurrency
        self.policy = RetryPolicy(retries=self.settings.retries, backoff_s=self.settings.backoff_s)
        s = self.settings
        digest = settings_digest(
            self.name,
            VERSION,
            {
                "collection": s.ee_collection,
                "cloud_mask": s.cloud_mask,
                "cs_cdf_threshold": s.cs_cdf_threshold,
            },
        )
        root = default_cache_dir() if s.cache_dir is None else s.cache_dir
        self.cache = ChipCache(root, f"{self.name}-{digest}") if str(root) else None
        self._io = IoStats()

    @classmethod
    def from_settings(cls, settings: SourceSettings) -> EarthEngineSource:
        return cls(settings)

    @property
    def io(self) -> IoStats:
        """computePixels requests and the bytes they returned (see :class:`IoStats`)."""
        return self._io

    def _fetch_chips(self, tiles, grids, period, start, end, bands, margin_px) -> list[Chip]:
        """Chips of neighbouring tiles from as few computePixels requests as the size limit allows.

        Tiles of one zoom lie on one pixel lattice, so a block of 2 x 2 tiles
        (more when the chips are small) is one request on the block's grid, and
        each chip is cut from it: the same pixels as a request per tile.
        """
        self._start()
        per_px = 4 * (len(bands) + 1)  # float32 bands plus the clear count
        chips: list[Chip] = [None] * len(tiles)  # type: ignore[list-item]
        for rows, block in request_blocks(tiles, grids, margin_px, per_px):
            image = composite(
                clear_scenes(self.settings, region(block.bounds_4326()), start, end), bands
            )
            label = tile_label(tiles[rows[0]], len(rows) - 1)
            pixels = self._retry(lambda image=image, block=block: self._pixels(image, block), label)
            self._io.add(requests=1, bytes=block.width * block.height * per_px)
            data = to_array(pixels, (*bands, CLEAR_COUNT), block)
            for i in rows:
                r, c = grid_offset(block, grids[i])
                part = data[:, r : r + grids[i].height, c : c + grids[i].width].copy()
                chips[i] = self._chip(tiles[i], grids[i], period, bands, margin_px, part)
        return chips

    def estimate(
        self,
        tiles,
        size_px: int = 256,
        period: str = DEFAULT_PERIOD,
        bands: tuple[str, ...] | None = None,
        margin_px: int = 0,
    ) -> dict[str, int]:
        """computePixels requests and answer bytes :meth:`read_tiles` would make (exact, offline)."""
        bands = tuple(bands or S2_BANDS)
        per_px = 4 * (len(bands) + 1)
        tiles = [mercantile.Tile(*map(int, t)) for t in tiles]
        stats = IoStats()
        for outer in clusters([list(t) for t in tiles]):  # as read_tiles hands them over
            grids = [tile_grid(tiles[i], size_px, margin_px) for i in outer]
            for _, block in request_blocks([tiles[i] for i in outer], grids, margin_px, per_px):
                stats.add(requests=1, bytes=block.width * block.height * per_px)
        return stats.snapshot()

    def _chip(self, tile, grid, period, bands, margin_px, data: np.ndarray) -> Chip:
        """A chip from the bands and the clear count (last row) of a composite."""
        clear, data = data[-1], data[:-1]
        valid = np.isfinite(data).all(axis=0) & (clear > 0)
        data[:, ~valid] = np.nan
        meta = {
            "source": self.name,
            "collection": self.settings.ee_collection,
            "cloud_mask": self.settings.cloud_mask,
            "all_cloud": not valid.any(),
            "clear_observations_median": float(np.median(clear)),
        }
        return Chip(data, bands, grid.transform, period, tile, margin_px, valid, meta)

    def series(
        self,
        geometry,
        start: str,
        end: str,
        bands: tuple[str, ...] | None = None,
    ) -> tuple[np.ndarray, Cube]:
        """One observation per acquisition day (granules mosaicked), clouds ``valid=False``."""
        bands = tuple(bands or S2_BANDS)
        grid = series_grid(geometry)
        self._start()
        collection = clear_scenes(self.settings, region(grid.bounds_4326()), start, end)
        dates = self._retry(lambda: self._dates(collection), f"series {start}/{end}")
        stack = grid.nan_stack(len(dates), len(bands))
        index = {str(d): i for i, d in enumerate(dates)}
        jobs = [str(d) for d in dates]
        for date, pixels in fetch_all(
            jobs,
            lambda d: self._pixels(daily(collection, d, bands), grid),
            label=lambda d: f"series date {d}",
            max_concurrency=self.max_concurrency,
            policy=self.policy,
            sleep=self.sleep,
        ):
            stack[index[date]] = to_array(pixels, bands, grid)
        return dates, Cube.from_stack(stack, bands, grid.transform)

    def _start(self) -> None:
        with self._lock:
            if not self._ready:
                initialize(self.settings.ee_project, self._init)
                self._ready = True

    def _pixels(self, image, grid: Grid) -> np.ndarray:
        compute = self._compute_pixels
        if compute is None:
            import ee

            compute = ee.data.computePixels
        return _auth_checked(lambda: compute(pixels_request(image, grid)))

    def _dates(self, collection) -> np.ndarray:
        compute = self._compute_value
        if compute is None:
            import ee

            compute = ee.data.computeValue
        millis = _auth_checked(lambda: compute(collection.aggregate_array("system:time_start")))
        days = np.array(millis or [], dtype="datetime64[ms]").astype("datetime64[D]")
        return np.unique(days)


def _auth_checked(call: Callable):
    """Run an Earth Engine call; turn credential failures into the one-line hint (no details)."""
    try:
        return call()
    except MinescanError:
        raise
    except Exception as exc:
        if _AUTH_TEXT.search(str(exc)) or type(exc).__name__ in {
            "RefreshError",
            "DefaultCredentialsError",
        }:
            raise MinescanError(
                f"Earth Engine refused the credentials ({type(exc).__name__}); {AUTH_HINT}"
            ) from None
        raise
