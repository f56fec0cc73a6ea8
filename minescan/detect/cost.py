"""What a sweep will read before it starts: tiles, window reads, requests and bytes per level.

Printed and written (``cost_estimate.json``) before a scan over a metered
source fetches anything; see :func:`cost_estimate`.
"""

from __future__ import annotations

import numpy as np

from minescan.detect.pyramid import batches, zorder

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
