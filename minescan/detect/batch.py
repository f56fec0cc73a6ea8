"""One batch of one pyramid level: read the tiles, screen them, detect, open the next level.

A batch is a :class:`Task` (picklable: tiles plus the settings a worker
needs), and :func:`run_task` turns it into a :class:`BatchResult` anywhere: in
this process, in a pool process or on a Dask worker, with the worker's
:class:`~minescan.detect.tools.Tools`. A hit tile opens the next level's
tiles that its boxes cover, or where the screen sees mine-like pixels (see
:func:`opened_children`).
"""

from __future__ import annotations

import time
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
from minescan.detect.tools import Tools
from minescan.kernel.errors import MinescanError
from minescan.kernel.executor import WorkerContext
from minescan.kernel.screen import keeps_tile, mine_share

if TYPE_CHECKING:
    from minescan.detect.settings import ScanSettings


@dataclass(frozen=True)
class Task:
    """One batch of one level: what a worker needs, and nothing it can rebuild itself.

    ``scan`` are the run's scan settings, validated once by the parent; the
    source, detector and screen come from the run's
    :class:`~minescan.detect.tools.ToolSpec` context.
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


def chip_pixel_m(chip) -> float:
    """Ground metres of one pixel of a web-mercator chip, at its centre's latitude."""
    from minescan.kernel.mercator import ground_scale

    h = chip.data.shape[1]
    return abs(chip.transform.a) * ground_scale(chip.transform.f + chip.transform.e * h / 2)


def verify_boxes(verifier, chip, pred: np.ndarray, conf: float) -> np.ndarray:
    """The chip's boxes judged by the verifier, with its own proposals; those reaching ``conf``.

    The window is ``verifier.window_m`` on a side (a labelled patch's size),
    centred on the box and cut to the chip; its input is relative to it. Box
    centres are snapped to a lattice of a quarter window, so the many weak
    boxes around one feature share one window. Windows tiling the chip's core
    (:func:`~minescan.kernel.verifier.proposal_centres`) that hold no box
    centre are judged too, and each becomes a box the size of its window: a
    mine the detector gave no box can still be found. A box whose window has
    too few valid pixels keeps its detector score. A chip's windows go to the
    verifier as one batch.
    """
    from minescan.kernel.verifier import proposal_centres

    h, w = chip.data.shape[1:]
    m = chip.margin_px
    half = max(2, int(round(verifier.window_m / abs(chip.transform.a) / 2)))
    step = max(1, half // 2)
    box_centres = (pred[:, [0, 1]] + pred[:, [2, 3]]) / 2
    snapped = np.rint(box_centres / step).astype(np.int64) * step
    lattice, which = np.unique(snapped.reshape(-1, 2), axis=0, return_inverse=True)
    xs = proposal_centres(m, w - 2 * m, 2 * half)
    ys = proposal_centres(m, h - 2 * m, 2 * half)
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    taken = (np.abs(grid[:, None, :] - box_centres[None]) < half).all(axis=2).any(axis=1)
    proposals = grid[~taken]
    windows = [
        chip.data[:, max(0, cy - half) : min(h, cy + half), max(0, cx - half) : min(w, cx + half)]
        for cx, cy in np.concatenate([lattice, proposals])
    ]
    probabilities = verifier.probabilities(windows, chip.bands, chip_pixel_m(chip))
    out = pred.copy()
    for k, window in enumerate(which.reshape(-1)):
        if probabilities[window] is not None:
            out[k, 4] = float(verifier.judged_score(probabilities[window], conf))
    proposed = [
        [max(0, cx - half), max(0, cy - half), min(w, cx + half), min(h, cy + half),
         float(verifier.judged_score(p, conf))]
        for (cx, cy), p in zip(proposals, probabilities[len(lattice) :], strict=True)
        if p is not None
    ]  # fmt: skip
    out = np.concatenate([out, np.asarray(proposed, dtype=out.dtype).reshape(-1, 5)])
    return out[out[:, 4] >= conf]


def scan_batch(task: Task, tools: Tools) -> BatchResult:
    """Read, screen and detect one batch of tiles.

    A tile is a hit when a box at or above ``task.conf`` reaches into its own
    pixels; only boxes whose centre lies in the tile are kept as its boxes. A hit
    opens the next level's tiles under its boxes and those where the screen sees
    mine-like pixels (:func:`opened_children`).
    On a real source with a verifier, at a zoom whose pixels it applies to
    (:func:`verify_boxes`), the detector reports boxes down to the verifier's
    ``floor``; the verifier's verdict on each box's window becomes its score,
    windows with no box are proposed, and a box below ``task.conf`` is dropped.
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
    verifier = tools.verifier
    if verifier is not None and not (len(chips) and verifier.applies_at(chip_pixel_m(chips[0]))):
        verifier = None
    if len(rows):
        batch = detector_batch([chips[i] for i in rows], tools.detector.channels)
        floor = min(task.conf, verifier.floor) if verifier is not None else task.conf
        predictions = tools.detector.predict(
            tools.detector.scaling.to_uint8(batch), floor, scan.iou
        )
    t3 = time.perf_counter()
    n = len(chips)
    hit, max_score = np.zeros(n, dtype=bool), np.zeros(n, dtype=np.float64)
    boxes, box_tile = [np.zeros((0, 5))], [np.zeros(0, dtype=np.int64)]
    opened = [np.zeros((0, 3), dtype=np.int64)]
    verify_s = 0.0
    for i, pred in zip(rows, predictions, strict=True):
        if verifier is not None:
            start = time.perf_counter()
            pred = verify_boxes(verifier, chips[i], pred, task.conf)
            verify_s += time.perf_counter() - start
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
        seconds={"read": t1 - t0, "screen": t2 - t1, "detect": t3 - t2, "verify": verify_s},
        io=io,
    )


def run_task(task: Task, context: WorkerContext) -> BatchResult:
    """The function executors ship to workers (module level, so it pickles by name)."""
    return scan_batch(task, context.get())
