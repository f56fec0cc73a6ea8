"""The pixel table for the spectral screen (one row per sampled clear pixel).

One row per sampled clear pixel of every chip: its row and column, the 12
band reflectances, whether it is inside a mine, and the signed distance in
metres to the nearest mine edge on that chip (negative inside). Chips
without a mine pixel have no edge to measure to: their distance is NaN.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import mercantile
import numpy as np
import pandas as pd
from scipy import ndimage

from minescan.datasets.chip_files import CHIP_BANDS, MINE_BAND, read_chip
from minescan.datasets.yolo import list_chips, progress_rows
from minescan.kernel.bands import S2_BANDS
from minescan.kernel.errors import MinescanError
from minescan.kernel.io import atomic_path, check_file_target

#: Split name of a chip that the given split.json does not list (or with no split.json).
NO_SPLIT = "none"


def signed_distance_px(inside: np.ndarray) -> np.ndarray:
    """Signed distance in pixels from each pixel centre to the nearest mine edge.

    The edge runs half a pixel from the centres on either side of it, so a
    pixel touching the edge is 0.5 outside or -0.5 inside. NaN everywhere
    when there is no mine pixel (or no outside pixel) to measure from.

    Examples
    --------
    >>> m = np.zeros((1, 5), bool); m[0, 2:] = True
    >>> signed_distance_px(m).tolist()
    [[1.5, 0.5, -0.5, -1.5, -2.5]]
    """
    inside = np.asarray(inside, bool)
    if inside.all() or not inside.any():
        return np.full(inside.shape, np.nan, np.float32)
    outside = ndimage.distance_transform_edt(~inside)  # to the nearest inside pixel
    within = ndimage.distance_transform_edt(inside)  # to the nearest outside pixel
    return np.where(inside, -(within - 0.5), outside - 0.5).astype(np.float32)


def ground_pixel_m(transform, tile: mercantile.Tile) -> float:
    """Ground size of one pixel in metres: web-mercator size times cos(latitude) at the tile centre."""
    lat = mercantile.ul(tile.x, tile.y + 0.5, tile.z).lat
    return float(abs(transform.a) * np.cos(np.radians(lat)))


def sample_pixels(
    inside: np.ndarray, valid: np.ndarray, n: int, rng: np.random.Generator
) -> np.ndarray:
    """Flat indices of up to ``n`` valid pixels, half inside and half outside where possible.

    ``n <= 0`` keeps every valid pixel. When one side has too few pixels the
    other side fills the rest.
    """
    flat_valid = np.flatnonzero(valid)
    if n <= 0 or len(flat_valid) <= n:
        return flat_valid
    flat_inside = inside.ravel()[flat_valid]
    pos, neg = flat_valid[flat_inside], flat_valid[~flat_inside]
    n_pos = min(len(pos), n // 2)
    n_neg = min(len(neg), n - n_pos)
    n_pos = min(len(pos), n - n_neg)
    picked = np.concatenate(
        [rng.choice(pos, n_pos, replace=False), rng.choice(neg, n_neg, replace=False)]
    )
    return np.sort(picked)


def chip_pixels(path: str | Path, sample: int, split: str, seed: int = 0) -> pd.DataFrame:
    """The pixel rows of one chip (see the module docstring for the columns)."""
    data, transform, tags = read_chip(path)
    bands = data[: len(S2_BANDS)]
    inside = data[CHIP_BANDS.index(MINE_BAND)] > 0
    valid = np.isfinite(bands).all(axis=0)
    tile = mercantile.Tile(int(tags["x"]), int(tags["y"]), int(tags["z"]))
    rng = np.random.default_rng([seed, zlib.crc32(tags["name"].encode())])
    idx = sample_pixels(inside, valid, sample, rng)
    rows, cols = np.unravel_index(idx, inside.shape)
    distance = signed_distance_px(inside).ravel()[idx] * ground_pixel_m(transform, tile)
    table = pd.DataFrame({"row": rows.astype(np.int32), "col": cols.astype(np.int32)})
    for i, band in enumerate(S2_BANDS):
        table[band] = bands[i].ravel()[idx]
    table["signed_distance_m"] = distance.astype(np.float32)
    table["inside"] = inside.ravel()[idx]
    table["cell"] = tags["name"]
    table["z"] = np.int8(tile.z)
    table["split"] = split
    return table


def build_pixels(
    chips_dir: str | Path,
    out: str | Path,
    sample: int = 2000,
    splits: dict[str, str] | None = None,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Write the pixel table of every chip in ``chips_dir`` to ``out`` (Parquet, atomic)."""
    check_file_target(out)
    chips = list_chips(chips_dir)
    tables = [
        chip_pixels(row.path, sample, (splits or {}).get(row.name, NO_SPLIT), seed)
        for row in progress_rows(chips, "pixels", progress)
    ]
    table = pd.concat(tables, ignore_index=True)
    if len(table) == 0:
        raise MinescanError(f"no clear pixel in any chip of {chips_dir}")
    for col in ("cell", "split"):
        table[col] = table[col].astype("category")
    with atomic_path(out, suffix=".parquet") as tmp:
        table.to_parquet(tmp, index=False)
    return {
        "rows": len(table),
        "chips": len(chips),
        "inside": int(table["inside"].sum()),
        "splits": table["split"].value_counts().to_dict(),
    }
