"""The coarse-to-fine sweep: screen and detect level by level, open children where a level hits.

One level is a sorted list of tiles cut into fixed batches. A batch is a
:class:`Task` (picklable: tiles plus the settings a worker needs), and
:func:`run_task` turns it into a :class:`BatchResult` anywhere: in this
process, in a pool process or on a Dask worker. Each finished batch is
checkpointed; the tiles of the next level are the children that this level's
hit boxes cover, or where the screen sees mine-like pixels (see
:func:`opened_children`), and that touch the AOI and land.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from minescan.datasets.sources.windows import io_before, io_since
from minescan.detect.boxes import (
    box_fractions,
    cell_boxes,
    children_under,
    owned,
    to_map,
    touches_core,
)
from minescan.kernel.bands import S2_BANDS
from minescan.kernel.errors import MinescanError
from minescan.kernel.executor import Executor, WorkerContext
from minescan.kernel.screen import keeps_tile, mine_share

if TYPE_CHECKING:
    from minescan.datasets.sources import SourceSettings
    from minescan.detect.settings import ScanSettings

# ---------------------------------------------------------------- tile arrays


def zorder(tiles: np.ndarray) -> np.ndarray:
    """Tiles sorted along a Z curve (quadkey order at one zoom), duplicates removed.

    Neighbouring tiles land in the same batch, which keeps a batch compact on the map.

    Examples
    --------
    >>> zorder(np.array([[1, 1, 1], [0, 0, 1], [1, 0, 1], [0, 1, 1], [0, 0, 1]])).tolist()
    [[0, 0, 1], [1, 0, 1], [0, 1, 1], [1, 1, 1]]
    """
    tiles = np.unique(np.asarray(tiles, dtype=np.int64).reshape(-1, 3), axis=0)
    code = np.zeros(len(tiles), dtype=np.uint64)
    x, y = tiles[:, 0].astype(np.uint64), tiles[:, 1].astype(np.uint64)
    for bit in range(30):
        b = np.uint64(bit)
        code |= ((x >> b) & np.uint64(1)) << np.uint64(2 * bit)
        code |= ((y >> b) & np.uint64(1)) << np.uint64(2 * bit + 1)
    return tiles[np.lexsort((code, tiles[:, 2]))]


# ---------------------------------------------------------------- worker side


@dataclass(frozen=True)
class Task:
    """One batch of one level: what a worker needs, and nothing it can rebuild itself.

    ``scan`` are the run's scan settings, validated once by the parent; the
    source, detector and screen come from the run's :class:`ToolSpec` context.
    ``next_zoom`` is the zoom whose tiles this batch's hits open (None at the
    last level).
    """

    scan: ScanSettings
    zoom: int
    index: int
    tiles: np.ndarray
    conf: float
    use_screen: bool
    next_zoom: int | None


@dataclass
class BatchResult:
    """What one batch found.

    ``boxes`` are owned map boxes (EPSG:3857) with their tile row; ``opened`` are
    the tiles of the next level that this batch's hits open.
    """

    zoom: int
    index: int
    tiles: np.ndarray
    kept: np.ndarray
    hit: np.ndarray
    max_score: np.ndarray
    boxes: np.ndarray
    box_tile: np.ndarray
    opened: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), dtype=np.int64))
    seconds: dict = field(default_factory=dict)
    io: dict = field(default_factory=dict)

    def to_record(self) -> dict:
        """A JSON-able dict (floats round-trip exactly)."""
        return {
            "tiles": self.tiles.tolist(),
            "kept": self.kept.tolist(),
            "hit": self.hit.tolist(),
            "max_score": self.max_score.tolist(),
            "boxes": self.boxes.tolist(),
            "box_tile": self.box_tile.tolist(),
            "opened": self.opened.tolist(),
            "seconds": self.seconds,
            "io": self.io,
        }

    @classmethod
    def from_record(cls, record: dict) -> BatchResult:
        """Inverse of :meth:`to_record` (``zoom`` and ``index`` come from the checkpoint)."""
        try:
            return cls(
                zoom=int(record["zoom"]),
                index=int(record["index"]),
                tiles=np.asarray(record["tiles"], dtype=np.int64).reshape(-1, 3),
                kept=np.asarray(record["kept"], dtype=bool),
                hit=np.asarray(record["hit"], dtype=bool),
                max_score=np.asarray(record["max_score"], dtype=np.float64),
                boxes=np.asarray(record["boxes"], dtype=np.float64).reshape(-1, 5),
                box_tile=np.asarray(record["box_tile"], dtype=np.int64),
                opened=np.asarray(record["opened"], dtype=np.int64).reshape(-1, 3),
                seconds=dict(record.get("seconds", {})),
                io=dict(record.get("io", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MinescanError(
                f"checkpoint batch z{record.get('zoom')}/{record.get('index')} is corrupt ({exc}); "
                "delete it to redo it"
            ) from None


@dataclass
class Tools:
    """A worker's imagery source, detector and screen, and the bands it reads."""

    source: object
    detector: object
    screen: object | None
    bands: tuple[str, ...]


def source_bands(source) -> tuple[str, ...]:
    """Bands a source can read; sources that do not say offer all 12 S2 bands."""
    return tuple(getattr(source, "bands", None) or S2_BANDS)


def make_tools(source, detector, screen=None) -> Tools:
    """Bundle the tools and check that the source has every band the detector needs.

    A screen that reads a band the source lacks is left out (see
    :func:`~minescan.kernel.screen.missing_bands`): every tile then goes to the
    detector, so a source with fewer bands costs speed, never a mine.
    """
    from minescan.kernel.screen import bands_needed, missing_bands

    offered = source_bands(source)
    needed = list(detector.channels)
    if screen is not None and missing_bands(screen, offered):
        screen = None
    if screen is not None:
        needed += [b for b in bands_needed(screen.features) if b not in needed]
    missing = [b for b in needed if b not in offered]
    if missing:
        raise MinescanError(
            f"the model needs band(s) {','.join(missing)} that source {source.name!r} does not "
            f"provide (it has {','.join(offered)})"
        )
    return Tools(source, detector, screen, tuple(b for b in S2_BANDS if b in needed))


@dataclass(frozen=True)
class ToolSpec:
    """What a worker builds its tools from: typed settings, picklable, validated once.

    ``scan.model`` is the model folder as an absolute path (workers may run
    elsewhere); ``threads`` are the detector's threads in each worker.
    """

    source: SourceSettings
    scan: ScanSettings
    threads: int


def build_tools(spec: ToolSpec) -> Tools:
    """Build source, detector and screen (the executor caches them once per process)."""
    from minescan.datasets.sources import open_source
    from minescan.detect.backends import load_detector

    scan = spec.scan
    source = open_source(spec.source)
    detector = load_detector(scan.model, scan.backend, scan.device, spec.threads)
    screen = None
    if scan.screen and not scan.exhaustive:
        from minescan.kernel.model import load_screen

        screen = load_screen(scan.model)
    return make_tools(source, detector, screen)


def screen_chip(screen, chip) -> tuple[float, np.ndarray, np.ndarray]:
    """The screen over a whole chip (margin included): core mine fraction, mine-like and valid pixels.

    The fraction is the tile's :func:`~minescan.kernel.screen.mine_share` (its
    clear core pixels); scoring the margin too lets boxes that reach into it be
    checked without a second pass.
    """
    valid = chip.valid_mask()
    flagged = screen.mine_like(chip.data, chip.bands)
    m, (h, w) = chip.margin_px, valid.shape
    fraction = mine_share(flagged[m : h - m, m : w - m], valid[m : h - m, m : w - m])
    return fraction, flagged, valid


def opened_children(
    tile,
    reach_px: np.ndarray,
    size_px: int,
    margin_px: int,
    next_zoom: int,
    grow_px: float | None,
    also: np.ndarray | None = None,
) -> np.ndarray:
    """The tiles at ``next_zoom`` that a hit tile opens: those its boxes cover, grown by ``grow_px``.

    ``reach_px`` are the chip-pixel boxes that reach the tile's core. With
    ``grow_px`` None every tile below it at ``next_zoom`` opens (plain quadtree subdivision).
    ``also`` (``split x split`` bool, row by row) opens more children whatever
    the boxes: those where the screen sees mine-like pixels.

    Examples
    --------
    >>> box = np.array([[20, 20, 30, 30, 0.9]])
    >>> opened_children((1, 2, 3), box, 256, 16, 4, 0.0).tolist()
    [[2, 4, 4]]
    >>> len(opened_children((1, 2, 3), box, 256, 16, 5, None))
    16
    """
    x, y, z = (int(v) for v in tile)
    split = 2 ** (next_zoom - z)
    if grow_px is None:
        cover = np.ones((split, split), dtype=bool)
    else:
        cover = children_under(reach_px, size_px, margin_px, split, grow_px)
    if also is not None:
        cover = cover | also
    rows, cols = np.nonzero(cover)
    return np.column_stack([x * split + cols, y * split + rows, np.full(len(rows), next_zoom)])


def read_tiles(source, tiles, size_px: int, period: str, bands, margin_px: int) -> list:
    """Chips of ``tiles`` (``(n, 3)``) in order, through the source's grouped ``read_tiles``.

    Real sources read a batch together (one window read per file or asset and
    cluster of neighbours, one request per group); a source without
    ``read_tiles`` (the simulator draws each tile) is read tile by tile.
    """
    import mercantile

    tiles = [mercantile.Tile(*map(int, t)) for t in tiles]
    grouped = getattr(source, "read_tiles", None)
    if grouped is not None:
        return grouped(tiles, size_px=size_px, period=period, bands=bands, margin_px=margin_px)
    return [
        source.read(t, size_px=size_px, period=period, bands=bands, margin_px=margin_px)
        for t in tiles
    ]


def detector_batch(chips: list, channels: tuple[str, ...]) -> np.ndarray:
    """The detector's channels of ``chips`` as one ``(N, C, H, W)`` float32 array, copied once."""
    first = chips[0]
    index = [first.bands.index(b) for b in channels]
    out = np.empty((len(chips), len(index), *first.data.shape[1:]), dtype=np.float32)
    for k, chip in enumerate(chips):
        np.take(chip.data, index, axis=0, out=out[k])
    return out


def scan_batch(task: Task, tools: Tools) -> BatchResult:
    """Read, screen and detect one batch of tiles.

    A tile is a hit when a box at or above ``task.conf`` reaches into its own
    pixels; only boxes whose centre lies in the tile are kept as its boxes. A hit
    opens the next level's tiles under its boxes and those where the screen sees
    mine-like pixels (:func:`opened_children`).
    With the screen on (and ``screen_boxes``), a box counts only when its own
    pixels hold mine-like pixels at the share the screen asks of a tile: a
    detector box on a sandbar or a bare field, with no mine-like pixel, is dropped.
    """
    scan = task.scan
    size, margin = scan.size_px, scan.margin_px
    t0 = time.perf_counter()
    before = io_before(tools.source)
    chips = read_tiles(tools.source, task.tiles, size, scan.period, tools.bands, margin)
    io = io_since(tools.source, before)
    t1 = time.perf_counter()
    screen = tools.screen if task.use_screen else None
    if screen is not None:
        floors = screen.tile_min_fraction
        screened = [screen_chip(screen, c) for c in chips]
        kept = np.array([keeps_tile(f, floors, task.zoom) for f, _, _ in screened], dtype=bool)
    else:
        kept = np.ones(len(chips), dtype=bool)
    t2 = time.perf_counter()
    rows = np.flatnonzero(kept)
    predictions = []
    if len(rows):
        batch = detector_batch([chips[i] for i in rows], tools.detector.channels)
        predictions = tools.detector.predict(
            tools.detector.scaling.to_uint8(batch), task.conf, scan.iou
        )
    t3 = time.perf_counter()
    n = len(chips)
    hit, max_score = np.zeros(n, dtype=bool), np.zeros(n, dtype=np.float64)
    boxes, box_tile = [np.zeros((0, 5))], [np.zeros(0, dtype=np.int64)]
    opened = [np.zeros((0, 3), dtype=np.int64)]
    for i, pred in zip(rows, predictions, strict=True):
        if screen is not None and scan.screen_boxes and len(pred):
            _, flagged, valid = screened[i]
            pred = pred[keeps_tile(box_fractions(pred, flagged, valid), floors, task.zoom)]
        reach = pred[touches_core(pred, size, margin)]
        hit[i] = len(reach) > 0
        max_score[i] = float(reach[:, 4].max(initial=0.0))
        if hit[i] and task.next_zoom is not None:
            grow = scan.subdivide_margin_m
            grow_px = None if grow is None else grow / chips[i].transform.a  # metres per pixel
            also = None
            if screen is not None and scan.subdivide_screen:
                _, flagged, valid = screened[i]
                split = 2 ** (task.next_zoom - task.zoom)
                shares = box_fractions(cell_boxes(size, margin, split), flagged, valid)
                also = keeps_tile(shares, floors, task.next_zoom).reshape(split, split)
            opened.append(
                opened_children(
                    task.tiles[i],
                    reach,
                    size,
                    margin,
                    task.next_zoom,
                    grow_px,
                    also,
                )
            )
        mine = pred[owned(pred, size, margin)]
        boxes.append(to_map(mine, chips[i].transform))
        box_tile.append(np.full(len(mine), i, dtype=np.int64))
    return BatchResult(
        zoom=task.zoom,
        index=task.index,
        tiles=np.asarray(task.tiles, dtype=np.int64).reshape(-1, 3),
        kept=kept,
        hit=hit,
        max_score=max_score,
        boxes=np.concatenate(boxes),
        box_tile=np.concatenate(box_tile),
        opened=np.concatenate(opened).astype(np.int64),
        seconds={"read": t1 - t0, "screen": t2 - t1, "detect": t3 - t2},
        io=io,
    )


def run_task(task: Task, context: WorkerContext) -> BatchResult:
    """The function executors ship to workers (module level, so it pickles by name)."""
    return scan_batch(task, context.get())


# ---------------------------------------------------------------- the sweep


@dataclass
class Level:
    """One finished level: its batches in index order and its figures."""

    zoom: int
    results: list[BatchResult]
    seconds: float

    @property
    def tiles(self) -> np.ndarray:
        """All tiles of the level, ``(n, 3)``."""
        return np.concatenate([r.tiles for r in self.results] or [np.zeros((0, 3), np.int64)])

    def column(self, name: str) -> np.ndarray:
        """One per-tile array (``kept``, ``hit``, ``max_score``) over the whole level."""
        return np.concatenate([getattr(r, name) for r in self.results] or [np.zeros(0)])

    def summary(self) -> dict:
        """Tiles, screened out, detector calls, hits, wall and task seconds."""
        kept, hit = self.column("kept").astype(bool), self.column("hit").astype(bool)
        task_s: dict[str, float] = {}
        io: dict[str, int] = {}
        for r in self.results:
            for k, v in r.seconds.items():
                task_s[k] = task_s.get(k, 0.0) + v
            for k, v in r.io.items():
                io[k] = io.get(k, 0) + v
        out = {
            "tiles": int(len(kept)),
            "screened_out": int((~kept).sum()),
            "detector_calls": int(kept.sum()),
            "hits": int(hit.sum()),
            "seconds": round(self.seconds, 3),
            "task_seconds": {k: round(v, 3) for k, v in task_s.items()},
        }
        if io:
            out["io"] = io
        return out


def batches(tiles: np.ndarray, size: int) -> list[np.ndarray]:
    """Fixed slices of ``size`` tiles: batch ``i`` is the same on every (re)run."""
    return [tiles[i : i + size] for i in range(0, len(tiles), size)]


def sweep(
    first: np.ndarray,
    zooms: list[int],
    make_task: Callable[[int, int, np.ndarray, int | None], Task],
    executor: Executor,
    checkpoint,
    next_filter: Callable[[np.ndarray], np.ndarray],
    batch_size: int,
    progress: bool = True,
) -> list[Level]:
    """Run every level; return them in zoom order.

    Parameters
    ----------
    first
        Tiles of the first level, ``(n, 3)``.
    make_task
        ``(zoom, index, tiles, next_zoom) -> Task``; ``next_zoom`` is None at the last level.
    executor
        Runs :func:`run_task` over the batches, with the run's tools as its context.
    next_filter
        Keeps the children worth scanning (inside the AOI, on land): tiles -> bool mask.
    """
    from tqdm import tqdm

    levels, tiles = [], zorder(first)
    for depth, zoom in enumerate(zooms):
        next_zoom = zooms[depth + 1] if depth + 1 < len(zooms) else None
        t0 = time.perf_counter()
        parts = batches(tiles, batch_size)
        done = {i: BatchResult.from_record(r) for i, r in checkpoint.load(zoom).items()}
        for i, result in done.items():
            if i >= len(parts) or not np.array_equal(result.tiles, parts[i]):
                raise MinescanError(
                    f"checkpoint batch {checkpoint.batch_path(zoom, i)} does not match this "
                    "run's tiles; delete the checkpoint folder to start over"
                )
        todo = (make_task(zoom, i, p, next_zoom) for i, p in enumerate(parts) if i not in done)
        bar = tqdm(
            total=len(tiles),
            initial=sum(len(r.tiles) for r in done.values()),
            desc=f"z{zoom}",
            unit="tile",
            disable=not progress,
            leave=True,
        )
        pruned = sum(int((~r.kept).sum()) for r in done.values())
        hits = sum(int(r.hit.sum()) for r in done.values())
        for result in executor.map_unordered(run_task, todo):
            checkpoint.write(zoom, result.index, result.to_record())
            done[result.index] = result
            pruned += int((~result.kept).sum())
            hits += int(result.hit.sum())
            bar.set_postfix(pruned=pruned, hits=hits, refresh=False)
            bar.update(len(result.tiles))
        bar.close()
        level = Level(zoom, [done[i] for i in range(len(parts))], time.perf_counter() - t0)
        levels.append(level)
        if next_zoom is not None:
            tiles = zorder(np.concatenate([r.opened for r in level.results] or [np.zeros((0, 3))]))
            tiles = tiles[next_filter(tiles)] if len(tiles) else tiles
    return levels


# ---------------------------------------------------------------- cost before a sweep

#: Coarse tiles whose children stand for a deeper level's cost per tile.
COST_SAMPLE_TILES = 4


def cost_estimate(
    source,
    first: np.ndarray,
    zooms: list[int],
    size_px: int,
    margin_px: int,
    period: str,
    bands,
    batch_size: int,
) -> dict:
    """What a sweep will read, before it starts: tiles per level, window reads, requests, bytes.

    The first level's tiles are known (``exact``), and the source's
    ``estimate`` plans their reads batch by batch as the sweep makes them,
    without fetching a pixel (geotiff: window reads exact, bytes from the
    files' block sizes, each batch counting its own blocks, so at most what
    the workers read; stac: its searches are run, bytes are an uncompressed
    upper bound; earthengine: requests and answer sizes exact). A deeper
    level opens only where the level above hits, so its tiles are given as an
    upper bound (every child), each costing what a tile at that zoom costs in
    the children of :data:`COST_SAMPLE_TILES` first-level tiles. Empty for a
    source that reads nothing (the simulator).
    """
    estimate = getattr(source, "estimate", None)
    if estimate is None or not len(first):
        return {}

    def batched(tiles: np.ndarray) -> dict[str, int]:
        total: dict[str, int] = {}
        for part in batches(tiles, batch_size):
            cost = estimate(part, size_px=size_px, period=period, bands=bands, margin_px=margin_px)
            for k, v in cost.items():
                total[k] = total.get(k, 0) + v
        return total

    first = zorder(first)
    levels = {f"z{zooms[0]}": {"tiles": int(len(first)), "exact": True, **batched(first)}}
    middle = len(first) // 2
    sample = first[max(0, middle - COST_SAMPLE_TILES // 2) :][:COST_SAMPLE_TILES]
    for zoom in zooms[1:]:
        split = 2 ** (zoom - zooms[0])
        children = np.array(
            [
                (x * split + i, y * split + j, zoom)
                for x, y, _ in sample
                for j in range(split)
                for i in range(split)
            ],
            dtype=np.int64,
        )
        per = batched(zorder(children))
        most = int(len(first) * split * split)
        levels[f"z{zoom}"] = {
            "tiles": most,
            "exact": False,
            **{k: int(round(v / len(children) * most)) for k, v in per.items()},
        }
    return {"source": getattr(source, "name", "?"), "levels": levels}


def describe_cost(estimate: dict) -> str:
    """The estimate as lines a user reads before a metered sweep starts.

    Examples
    --------
    >>> print(describe_cost({"source": "geotiff", "levels": {
    ...     "z13": {"tiles": 4, "exact": True, "reads": 1, "bytes": 3_000_000, "requests": 0},
    ...     "z14": {"tiles": 16, "exact": False, "reads": 2, "bytes": 9_000_000, "requests": 0}}}))
    cost estimate (geotiff), before the sweep:
      z13: 4 tiles, 1 window reads, 0 requests, 3.0 MB
      z14: at most 16 tiles (every child; a pyramid opens only where z13 hits), 2 window reads, 0 requests, 9.0 MB
    """
    lines = [f"cost estimate ({estimate['source']}), before the sweep:"]
    first = None
    for name, level in estimate["levels"].items():
        first = first or name
        tiles = (
            f"{level['tiles']:,} tiles"
            if level["exact"]
            else f"at most {level['tiles']:,} tiles (every child; a pyramid opens only where "
            f"{first} hits)"
        )
        lines.append(
            f"  {name}: {tiles}, {level.get('reads', 0):,} window reads, "
            f"{level.get('requests', 0):,} requests, {level.get('bytes', 0) / 1e6:,.1f} MB"
        )
    return "\n".join(lines)
