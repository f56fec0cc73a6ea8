"""Grouped window reads: many tile grids from one read of a raster, at the matching overview.

A sweep reads thousands of neighbouring tiles. Read one by one, each tile
opens the file again, and neighbours decompress the same blocks again; at a
coarse zoom a tile also reads the full-resolution pixels only to average them
away. Here the tiles of a batch are grouped into clusters (tiles sharing an
ancestor :data:`CLUSTER_ZOOMS` zooms up, so a cluster stays compact on the
map however scattered a batch is). A cluster costs one window read per file
(or per STAC asset), from the overview whose pixels match the tiles'
(:func:`overview_factor`), and each tile is then warped from that window in
memory (:mod:`~minescan.datasets.sources.resample`). Datasets stay open per thread (:class:`Rasters`) and are reused.
:class:`IoStats` counts window reads, requests and the compressed bytes of the
blocks a read touches, so tests and benchmarks assert what a read costs
instead of timing it.
"""

from __future__ import annotations

import functools
import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.warp import reproject, transform_bounds
from rasterio.windows import Window

from minescan.datasets.sources.extent import Grid
from minescan.datasets.sources.resample import affine_pixel_map, resample, valid_mask, zeroed

#: Tiles sharing an ancestor this many zooms up are read together (8 x 8 tiles at most; a
#: z-ordered scan batch of 32 tiles is then mostly one or two windows).
CLUSTER_ZOOMS = 3

#: An overview may be this much coarser than the tile's pixels and still be read (a z13 tile
#: has 19 m pixels at the equator; a 10 m mosaic's first overview has 20 m pixels).
OVERVIEW_SLACK = 1.1

#: Source pixels read around a cluster's bounds, for the resampling kernel.
PAD_PX = 2

#: Open datasets kept per thread (full resolution and overviews count separately).
MAX_OPEN = 256


@dataclass
class IoStats:
    """What a source has read: window reads, requests sent and compressed bytes touched.

    ``reads`` counts window reads (one per file or asset per cluster); ``bytes``
    the compressed size of the distinct blocks those reads touch (what a
    remote read transfers; block layouts from the file's TIFF tags; see
    :meth:`add_blocks`); ``requests`` what a
    remote source sends besides window reads (catalogue searches, Earth Engine
    calls). Thread-safe.
    """

    reads: int = 0
    bytes: int = 0
    requests: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    _blocks: set = field(default_factory=set, repr=False, compare=False)

    def add_blocks(self, path: str, factor: int, blocks: dict[int, int]) -> None:
        """Count the bytes of ``blocks`` (file offset -> size) not counted before for this file.

        A block a process reads again comes from GDAL's block cache or the
        operating system's page cache (remote: GDAL's range cache), not from
        the disk or the network, so each block counts once.
        """
        with self._lock:
            for offset, size in blocks.items():
                if (path, factor, offset) not in self._blocks:
                    self._blocks.add((path, factor, offset))
                    self.bytes += size

    def add(self, reads: int = 0, bytes: int = 0, requests: int = 0) -> None:
        with self._lock:
            self.reads += reads
            self.bytes += bytes
            self.requests += requests

    def snapshot(self) -> dict[str, int]:
        """The counters as a plain dict.

        Examples
        --------
        >>> s = IoStats(); s.add(reads=2, bytes=10); s.snapshot()
        {'reads': 2, 'bytes': 10, 'requests': 0}
        """
        with self._lock:
            return {"reads": self.reads, "bytes": self.bytes, "requests": self.requests}


def io_before(source) -> dict[str, int]:
    """``source``'s counters now ({} for a source that counts nothing, like the simulator)."""
    stats = getattr(source, "io", None)
    return {} if stats is None else stats.snapshot()


def io_since(source, before: dict[str, int]) -> dict[str, int]:
    """What ``source`` read since ``before`` (from :func:`io_before`); {} if it counts nothing."""
    stats = getattr(source, "io", None)
    if stats is None:
        return {}
    now = stats.snapshot()
    return {k: v - before.get(k, 0) for k, v in now.items()}


def clusters(tiles, zooms_up: int = CLUSTER_ZOOMS) -> list[np.ndarray]:
    """Row indices of ``tiles`` (``(n, 3)`` x, y, z) grouped by ancestor ``zooms_up`` zooms up.

    One window is read per group, so a group whose tiles fill less than half
    of their bounding box (a sparse level of the pyramid) is split again one
    zoom lower: reading the pixels between scattered tiles would cost more
    than the extra reads save. Groups come in the order of their first tile,
    rows in input order.

    Examples
    --------
    >>> [g.tolist() for g in clusters([[0, 0, 5], [1, 0, 5], [9, 0, 5], [1, 1, 5], [1, 2, 4]], 2)]
    [[0, 1, 3], [2], [4]]
    >>> [g.tolist() for g in clusters([[0, 0, 5], [3, 3, 5]], 2)]  # sparse: split
    [[0], [1]]
    """
    xyz = np.asarray(tiles, dtype=np.int64).reshape(-1, 3)
    if not len(xyz):
        return []
    key = np.column_stack([xyz[:, 0] >> zooms_up, xyz[:, 1] >> zooms_up, xyz[:, 2]])
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    out = []
    for g in np.argsort(first):
        rows = np.flatnonzero(inverse == g)
        span = np.ptp(xyz[rows, :2], axis=0) + 1
        if zooms_up > 0 and len(rows) < 0.5 * span[0] * span[1]:
            out += [rows[sub] for sub in clusters(xyz[rows], zooms_up - 1)]
        else:
            out.append(rows)
    return out


def union_bounds(boxes) -> tuple[float, float, float, float]:
    """The (xmin, ymin, xmax, ymax) box around ``boxes``.

    Examples
    --------
    >>> union_bounds([(0, 0, 1, 1), (2, -1, 3, 0.5)])
    (0, -1, 3, 1)
    """
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def overview_factor(src_res: float, dst_res: float, factors: Sequence[int]) -> int:
    """The coarsest overview (decimation factor) whose pixels are not coarser than ``dst_res``.

    ``OVERVIEW_SLACK`` lets a 20 m overview serve 19 m tile pixels; 1 means full resolution.

    Examples
    --------
    >>> overview_factor(10.0, 19.0, [2, 4, 8]), overview_factor(10.0, 9.5, [2, 4])
    (2, 1)
    >>> overview_factor(10.0, 40.0, [2, 4, 8]), overview_factor(10.0, 40.0, [])
    (4, 1)
    """
    usable = [f for f in factors if src_res * f <= dst_res * OVERVIEW_SLACK]
    return max(usable, default=1)


def choose_resampling(src_pixels_across: float, dst_pixels_across: int) -> Resampling:
    """``average`` when the destination is coarser than the source, else ``bilinear``.

    Examples
    --------
    >>> choose_resampling(512, 256).name, choose_resampling(256, 256).name
    ('average', 'bilinear')
    """
    return (
        Resampling.average if src_pixels_across > dst_pixels_across * 1.01 else Resampling.bilinear
    )


class Rasters:
    """Datasets opened once per thread and reused, at full resolution or at one overview.

    GDAL datasets must not be shared between threads, so each thread keeps its
    own handles (at most :data:`MAX_OPEN`, least recently used closed first).
    ``stats`` counts every window read through :func:`warp_window`.
    """

    def __init__(self):
        self._local = threading.local()
        self.stats = IoStats()

    def open(self, path: str, factor: int = 1):
        """``path`` at full resolution (``factor`` 1) or at its overview of that decimation factor."""
        handles: OrderedDict = self._local.__dict__.setdefault("handles", OrderedDict())
        key = (path, factor)
        if key in handles:
            handles.move_to_end(key)
            return handles[key]
        if factor == 1:
            ds = rasterio.open(path)
        else:
            level = self.open(path).overviews(1).index(factor)
            ds = rasterio.open(path, overview_level=level)
        handles[key] = ds
        while len(handles) > MAX_OPEN:
            handles.popitem(last=False)[1].close()
        return ds


def window_blocks(ds, indexes: Sequence[int], window: Window) -> dict[int, int]:
    """The TIFF blocks that ``window`` touches in bands ``indexes``: file offset -> compressed size.

    Pixel-interleaved files store all bands in one block: keyed by offset,
    it counts once. Empty for formats without TIFF block tags.
    """
    rows, cols = ds.block_shapes[0]
    i0, i1 = window.col_off // cols, (window.col_off + window.width - 1) // cols
    j0, j1 = window.row_off // rows, (window.row_off + window.height - 1) // rows
    sizes: dict[int, int] = {}
    for b in sorted(set(indexes)):
        for j in range(int(j0), int(j1) + 1):
            for i in range(int(i0), int(i1) + 1):
                offset = ds.get_tag_item(f"BLOCK_OFFSET_{i}_{j}", "TIFF", bidx=b)
                if offset is None:
                    continue
                size = ds.get_tag_item(f"BLOCK_SIZE_{i}_{j}", "TIFF", bidx=b)
                sizes[int(offset)] = int(size or 0)
    return sizes


@functools.lru_cache(maxsize=4096)
def _projected(wkt: str, bounds: tuple[float, float, float, float]):
    """EPSG:3857 ``bounds`` in the CRS ``wkt`` (the assets of a scene share both), or None."""
    try:
        return transform_bounds("EPSG:3857", wkt, *bounds)
    except Exception:  # the tile lies outside the file CRS's domain
        return None


def _bounds_in(ds, grid: Grid):
    """``grid``'s bounds in the file's CRS, or None when they miss the file."""
    projected = _projected(ds.crs.to_wkt(), grid.bounds)
    if projected is None:
        return None
    xmin, ymin, xmax, ymax = projected
    sb = ds.bounds
    if xmax <= sb.left or xmin >= sb.right or ymax <= sb.bottom or ymin >= sb.top:
        return None
    if not all(math.isfinite(v) for v in (xmin, ymin, xmax, ymax)):
        return None
    return xmin, ymin, xmax, ymax


def _window_of(ds, bounds) -> Window | None:
    """The pixel window of ``ds`` covering ``bounds`` plus :data:`PAD_PX`, clipped to the file."""
    xmin, ymin, xmax, ymax = bounds
    inv = ~ds.transform
    c0, r0 = inv @ (xmin, ymax)
    c1, r1 = inv @ (xmax, ymin)
    col0 = max(0, math.floor(min(c0, c1)) - PAD_PX)
    row0 = max(0, math.floor(min(r0, r1)) - PAD_PX)
    col1 = min(ds.width, math.ceil(max(c0, c1)) + PAD_PX)
    row1 = min(ds.height, math.ceil(max(r0, r1)) + PAD_PX)
    if col1 <= col0 or row1 <= row0:
        return None
    return Window(col0, row0, col1 - col0, row1 - row0)


def warp_window(
    rasters: Rasters,
    path: str,
    indexes: list[int],
    grids: Sequence[Grid],
    nodata: float | None = None,
    resampling: Resampling | None = None,
    read: bool = True,
    stats: IoStats | None = None,
    scale: float = 1.0,
    offset: float = 0.0,
) -> tuple[list[np.ndarray | None], str | None]:
    """Bands ``indexes`` of ``path`` on each of ``grids``, from one window read.

    The window covers every grid that overlaps the file, read from the
    overview matching the grids' pixel size. Each grid gets a float32
    ``(bands, H, W)`` array of ``stored value * scale + offset``, NaN where the file has no data:
    its nodata (``nodata`` overrides the file's), and everything outside the
    file, tagged or not. Grids that miss the file get None.

    ``resampling`` overrides the choice of :func:`choose_resampling` (STAC's
    scene classification is read ``nearest``). With ``read=False`` nothing is
    read: only ``stats`` (default ``rasters.stats``) count what the read would
    cost, for a cost estimate. Returns the arrays and the resampling used.
    """
    stats = rasters.stats if stats is None else stats
    base = rasters.open(path)
    boxes = [_bounds_in(base, g) for g in grids]
    live = [k for k, b in enumerate(boxes) if b is not None]
    out: list[np.ndarray | None] = [None] * len(grids)
    if not live:
        return out, None
    dst_res = min((boxes[k][2] - boxes[k][0]) / grids[k].width for k in live)
    factor = overview_factor(abs(base.res[0]), dst_res, base.overviews(indexes[0]))
    ds = rasters.open(path, factor)
    union = union_bounds([boxes[k] for k in live])
    window = _window_of(ds, union)
    if window is None:
        return out, None
    first = boxes[live[0]]
    method = resampling or choose_resampling(
        (first[2] - first[0]) / abs(ds.res[0]), grids[live[0]].width
    )
    stats.add(reads=1)
    stats.add_blocks(path, factor, window_blocks(ds, indexes, window))
    if not read:
        return out, method.name
    raw = ds.read(indexes, window=window)
    src_nodata = nodata if nodata is not None else ds.nodata
    transform = ds.window_transform(window)
    valid = None
    for k in live:
        grid = grids[k]
        pixel_map = affine_pixel_map(transform, ds.crs.to_wkt(), grid)
        if method in (Resampling.bilinear, Resampling.nearest) and pixel_map is not None:
            if valid is None:
                valid = valid_mask(raw, src_nodata)
                masked = zeroed(raw, valid)
                weights = None if valid.all() else valid.astype(np.float32)
            out[k] = resample(
                masked, weights, pixel_map, grid.height, grid.width, scale, offset,
                nearest=method == Resampling.nearest,
            )  # fmt: skip
            continue
        dst = np.full((len(indexes), grid.height, grid.width), np.nan, np.float32)
        reproject(
            raw,
            dst,
            src_transform=transform,
            src_crs=ds.crs,
            src_nodata=src_nodata,
            dst_transform=grid.transform,
            dst_crs="EPSG:3857",
            dst_nodata=np.nan,
            resampling=method,
        )
        out[k] = dst * np.float32(scale) + np.float32(offset)
    return out, method.name
