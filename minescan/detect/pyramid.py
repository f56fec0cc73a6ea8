"""The coarse-to-fine sweep: level by level, batches out to the executor, children in.

One level is a sorted list of tiles (:func:`zorder`) cut into fixed batches
(:func:`batches`); each batch runs as a :class:`~minescan.detect.batch.Task`
(:mod:`minescan.detect.batch`) and is checkpointed when it finishes. The tiles
of the next level are the children that this level's hits open, kept when
they touch the AOI and land.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from minescan.detect.batch import BatchResult, Task, run_task
from minescan.kernel.errors import MinescanError
from minescan.kernel.executor import Executor

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
