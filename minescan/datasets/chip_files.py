"""Training chip files: one labelled GeoTIFF per grid cell, the 12 S2 bands plus a ``_mine`` band.

Named for what it makes: the files ``minescan datasets chips`` writes and
the YOLO set, the pixel table and screen calibration read back. Not to be
confused with :class:`minescan.kernel.chip.Chip`, one tile's pixels in memory
as a source returns them, nor with :mod:`minescan.grid.cells`, the grid's
cells these files are cut for.

A chip is a COG in EPSG:3857 on the cell's own tile bounds (``size_px``
square), float32 reflectance with NaN where the source had no clear pixel,
and a last band ``_mine`` that is 1 inside a mine polygon (rasterised at the
chip grid, pixel centres, as in the seed). Chips are written atomically and
act as their own checkpoint: a rerun skips every chip that opens and reads
back whole, and rewrites (and logs) any that does not.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import mercantile
import numpy as np
import pandas as pd
import rasterio
from rasterio.features import rasterize
from shapely.geometry import box
from tqdm import tqdm

from minescan.datasets.preview import write_preview
from minescan.kernel.bands import S2_BANDS
from minescan.kernel.errors import MinescanError, first_line
from minescan.kernel.executor import WorkerContext, open_executor
from minescan.kernel.io import child_path, ensure_dir, require_file, write_json
from minescan.kernel.mercator import tile_transform
from minescan.kernel.period import Period
from minescan.kernel.raster import write_cog
from minescan.kernel.source import ImagerySource, truth_of

MINE_BAND = "_mine"
#: Bands of a chip file, in order.
CHIP_BANDS: tuple[str, ...] = (*S2_BANDS, MINE_BAND)
#: Cell columns every chip needs; other scalar columns are copied into the chip's tags.
CELL_COLUMNS = ("name", "z", "x", "y")
#: COG options of chip files: zstd with the floating-point predictor writes ~4x faster than
#: deflate and ~20 % smaller (GDAL >= 2.3 reads it, so QGIS does).
CHIP_COG_OPTIONS = {"compress": "zstd", "predictor": 3, "level": 3}
#: Largest zoom a cell may have (web-mercator tiles past it are below 1 m).
MAX_ZOOM = 24


def chip_path(out: str | Path, name: str, z: int) -> Path:
    """Where the chip of cell ``name`` lives: ``out/z{z}/{name}.tif``.

    ``name`` comes from the cells file, so it passes through
    :func:`~minescan.kernel.io.safe_part`: ``../../x`` or ``/etc/x`` stays under ``out``.
    """
    return child_path(out, f"z{int(z)}", name, suffix=".tif")


def preview_path(out: str | Path, name: str) -> Path:
    """Where the RGB preview of cell ``name`` lives: ``out/previews/{name}.png`` (name made safe)."""
    return child_path(out, "previews", name, suffix=".png")


def read_chip(path: str | Path) -> tuple[np.ndarray, object, dict[str, str]]:
    """``(data, transform, tags)`` of a chip file, every block decompressed.

    A truncated or damaged chip is a one-line error that names it and says how
    to mend it, for every stage that reads chips.
    """
    try:
        with rasterio.open(path) as src:
            return src.read(), src.transform, src.tags()
    except Exception as exc:  # GDAL reports corruption through several error types
        raise MinescanError(
            f"chip {path} is corrupt ({first_line(exc)}); rerun 'minescan datasets chips' to "
            "rewrite it"
        ) from None


def preview_is_whole(path: Path) -> bool:
    """Whether the PNG at ``path`` exists and decodes to the end."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
    except Exception:  # PIL raises OSError, SyntaxError or ValueError on a damaged file
        return False
    return True


def read_cells(
    path: str | Path, zooms: Iterable[int] | None = None, limit: int | None = None
) -> pd.DataFrame:
    """Read ``cells.parquet`` (from ``minescan grid``) and check every cell is a real tile.

    Keeps only ``zooms`` (all when None) and the first ``limit`` cells, in
    file order. The geometry column is dropped: the tile is the truth.
    """
    p = require_file(path, "cells file")
    try:
        cells = pd.read_parquet(p)
    except Exception as exc:  # pyarrow raises several types for a bad file
        raise MinescanError(f"cannot read cells file {p}: {first_line(exc)}") from None
    missing = [c for c in CELL_COLUMNS if c not in cells.columns]
    if missing:
        raise MinescanError(f"cells file {p} lacks column(s) {', '.join(missing)}")
    cells = cells.drop(columns=[c for c in ("geometry",) if c in cells.columns])
    if cells["name"].duplicated().any():
        dup = cells.loc[cells["name"].duplicated(), "name"].iloc[0]
        raise MinescanError(f"cells file {p} names cell {dup} twice")
    for col in ("z", "x", "y"):
        if not pd.api.types.is_integer_dtype(cells[col]):
            raise MinescanError(f"cells file {p}: column {col} must hold integers")
    z, x, y = (cells[c].to_numpy(np.int64) for c in ("z", "x", "y"))
    bad = (z < 0) | (z > MAX_ZOOM)
    bad |= (
        (x < 0)
        | (y < 0)
        | (x >= (1 << np.clip(z, 0, MAX_ZOOM)))
        | (y >= (1 << np.clip(z, 0, MAX_ZOOM)))
    )
    if bad.any():
        row = cells[bad].iloc[0]
        raise MinescanError(
            f"cell {row['name']} (z={row['z']} x={row['x']} y={row['y']}) is outside "
            "the web-mercator grid"
        )
    if zooms is not None:
        cells = cells[cells["z"].isin(list(zooms))]
    if limit is not None:
        cells = cells.head(limit)
    if len(cells) == 0:
        raise MinescanError(f"no cells to write from {p} (check --zooms)")
    return cells.reset_index(drop=True)


def tile_geometry(tile: mercantile.Tile):
    """The tile's footprint as a shapely box in EPSG:4326."""
    return box(*mercantile.bounds(tile))


def rasterize_mines(polygons, transform, size_px: int) -> np.ndarray:
    """``(H, W)`` uint8: 1 where a pixel centre is inside one of ``polygons`` (EPSG:4326)."""
    if polygons is None or len(polygons) == 0:
        return np.zeros((size_px, size_px), np.uint8)
    shapes = [g for g in polygons.to_crs(3857).geometry if g is not None and not g.is_empty]
    if not shapes:
        return np.zeros((size_px, size_px), np.uint8)
    return rasterize(
        [(g, 1) for g in shapes],
        out_shape=(size_px, size_px),
        transform=transform,
        fill=0,
        all_touched=False,
        dtype="uint8",
    )


def mines_from_file(mines, period: str):
    """The polygons of a ``--mines`` file that are mines by ``period``'s reference date.

    A ``start_date`` or ``year`` column (as the simulator reads them) delays a
    polygon; polygons without one are mines from the start.
    """
    if mines is None or not ({"start_date", "year"} & set(mines.columns)):
        return mines
    ref = pd.Timestamp(Period.parse(period).reference_date)
    if "start_date" in mines.columns:
        start = pd.to_datetime(mines["start_date"], errors="coerce")
    else:
        start = pd.to_datetime(
            mines["year"].astype("Int64").astype(str), format="%Y", errors="coerce"
        )
    return mines[start.isna() | (start <= ref)]


class ChipResult(NamedTuple):
    """What happened to one cell."""

    name: str
    status: str  # written | skipped | rewritten
    reason: str | None  # why an existing chip was rewritten
    valid_fraction: float
    mine_px: int
    empty: bool


@dataclass(frozen=True)
class ChipJob:
    """Everything a (possibly remote) worker needs to write chips; picklable."""

    out: Path
    period: str
    size_px: int
    open_source: Callable[[], ImagerySource]
    mines: object | None = None  # GeoDataFrame of --mines polygons in EPSG:4326, or None
    min_valid_fraction: float = field(kw_only=True)  # datasets.min_valid_fraction

    def polygons(self, source: ImagerySource, tile: mercantile.Tile):
        """Mine polygons over ``tile``: the ``--mines`` file, else the source's own truth."""
        footprint = tile_geometry(tile)
        if self.mines is not None:
            return self.mines.iloc[self.mines.sindex.query(footprint, predicate="intersects")]
        if truth_of(source) is not None:
            return source.mines_in(footprint, date=Period.parse(self.period).reference_date)
        return None


def inspect_chip(path: Path, size_px: int, period: str) -> tuple[str | None, dict]:
    """``(None, tags)`` when ``path`` is a whole chip of this run, else ``(reason, {})``."""
    try:
        with rasterio.open(path) as src:
            src.read()  # decompress every block: catches truncated files
            tags, names, shape = src.tags(), tuple(src.descriptions), (src.height, src.width)
    except Exception as exc:  # GDAL reports corruption through several error types
        return f"unreadable ({first_line(exc)})", {}
    if names != CHIP_BANDS:
        return f"bands {names} are not {CHIP_BANDS}", {}
    if shape != (size_px, size_px):
        return f"size {shape[1]}x{shape[0]} is not {size_px}x{size_px}", {}
    if tags.get("period") != period:
        return f"period {tags.get('period')} is not {period}", {}
    return None, tags


def cell_tags(cell: dict) -> dict[str, str]:
    """The cell's own columns as chip tags (scalars only; missing values are left out)."""
    return {
        str(k): str(v)
        for k, v in cell.items()
        if (np.isscalar(v) or isinstance(v, pd.Timestamp)) and not pd.isna(v)
    }


def make_chip(
    job: ChipJob, source: ImagerySource, cell: dict
) -> tuple[np.ndarray, object, dict[str, str]]:
    """Read and label one cell: ``(data (13, H, W) float32, transform, tags)``."""
    tile = mercantile.Tile(int(cell["x"]), int(cell["y"]), int(cell["z"]))
    chip = source.read(tile, size_px=job.size_px, period=job.period, bands=S2_BANDS).core()
    if chip.shape != (job.size_px, job.size_px):
        raise MinescanError(
            f"source {source.name} returned {chip.shape} pixels for cell {cell['name']}, "
            f"expected {job.size_px}x{job.size_px}"
        )
    chip = chip.select(S2_BANDS)
    transform = tile_transform(tile, job.size_px)
    valid = chip.valid_mask()
    mine = rasterize_mines(job.polygons(source, tile), transform, job.size_px)
    data = np.concatenate(
        [np.where(valid, chip.data, np.nan).astype(np.float32), mine[None].astype(np.float32)]
    )
    valid_fraction = float(valid.mean())
    tags = {
        **cell_tags(cell),
        "period": job.period,
        "source": source.name,
        "name": str(cell["name"]),
        "z": str(tile.z),
        "x": str(tile.x),
        "y": str(tile.y),
        "label": str(cell.get("label", "pos" if mine.any() else "neg")),
        "valid_fraction": f"{valid_fraction:.4f}",
        "empty": str(valid_fraction < job.min_valid_fraction).lower(),
        "mine_px": str(int(mine.sum())),
    }
    return data, transform, tags


def process_cell(job: ChipJob, source: ImagerySource, cell: dict) -> ChipResult:
    """Write (or keep) the chip and preview of one cell."""
    name = str(cell["name"])
    path = chip_path(job.out, name, cell["z"])
    preview = preview_path(job.out, name)
    reason = None
    if path.exists():
        reason, tags = inspect_chip(path, job.size_px, job.period)
        if reason is None:
            if not preview_is_whole(preview):
                data = read_chip(path)[0]
                write_preview(preview, data[:-1], S2_BANDS, data[-1])
            return ChipResult(
                name,
                "skipped",
                None,
                float(tags.get("valid_fraction", "nan")),
                int(tags.get("mine_px", 0)),
                tags.get("empty") == "true",
            )
        tqdm.write(f"warning: chip {path} is corrupt or stale ({reason}); rewriting it", sys.stderr)
    data, transform, tags = make_chip(job, source, cell)
    # Preview first: the chip is the checkpoint, so it must be the last file to appear.
    write_preview(preview, data[:-1], S2_BANDS, data[-1])
    write_cog(
        path,
        data,
        transform,
        band_names=CHIP_BANDS,
        nodata=float("nan"),
        tags=tags,
        **CHIP_COG_OPTIONS,
    )
    return ChipResult(
        name,
        "written" if reason is None else "rewritten",
        reason,
        float(tags["valid_fraction"]),
        int(tags["mine_px"]),
        tags["empty"] == "true",
    )


#: Working copies of one chip held at once (source bands, masks, the 13-band stack, the COG).
CHIP_COPIES = 4


def check_memory(size_px: int, workers: int = 1) -> None:
    """Refuse a chip size whose arrays cannot fit in this machine's memory, before any read.

    Each chip holds about :data:`CHIP_COPIES` float32 copies of its 13 bands; a
    typo such as ``--size 100000`` (half a terabyte per chip) would otherwise
    fail deep inside GDAL or NumPy after the source was opened.
    """
    need = CHIP_COPIES * len(CHIP_BANDS) * 4 * size_px**2 * max(1, workers)
    try:
        have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not a POSIX system: no figure to check
        return
    if need > have:
        raise MinescanError(
            f"chips of {size_px}x{size_px} px need about {need / 2**30:.1f} GiB with "
            f"{max(1, workers)} worker(s), more than this machine's {have / 2**30:.1f} GiB; "
            "use a smaller --size (256 is the default) or fewer --workers"
        )


def open_job(job: ChipJob) -> tuple[ChipJob, ImagerySource]:
    """A worker's context: the run's job and the source it opens once."""
    return job, job.open_source()


def chip_task(item: tuple[int, dict], context: WorkerContext) -> tuple[int, ChipResult]:
    """Write (or keep) the chip of one numbered cell, wherever the executor runs it."""
    index, cell = item
    job, source = context.get()
    return index, process_cell(job, source, cell)


def write_chips(cells: pd.DataFrame, job: ChipJob, workers: int = 1, progress: bool = True) -> dict:
    """Write the chip of every cell under ``job.out``; return (and save) the run report.

    ``workers > 1`` spreads cells over a process pool; each process opens the
    source once, and the results keep the cells' order. The report
    (``chips_report.json``) counts written, skipped and rewritten chips and
    lists the empty (all-cloud) ones.
    """
    check_memory(job.size_px, workers)
    ensure_dir(job.out)
    records = cells.to_dict("records")
    start = time.perf_counter()
    bar = tqdm(total=len(records), desc="chips", unit="chip", file=sys.stderr, disable=not progress)
    context = WorkerContext(open_job, job)
    context.get()  # fail early: a source that cannot open is one error before any worker starts
    by_index: dict[int, ChipResult] = {}
    try:
        with open_executor(workers, context=context) as executor:
            for index, result in executor.map_unordered(chip_task, enumerate(records)):
                by_index[index] = result
                bar.update()
    finally:
        bar.close()
    results = [by_index[i] for i in range(len(records))]
    seconds = time.perf_counter() - start
    report = chips_report(results, job, seconds)
    write_json(Path(job.out) / "chips_report.json", report)
    return report


def chips_report(results: list[ChipResult], job: ChipJob, seconds: float) -> dict:
    """Counts and lists of one ``datasets chips`` run."""
    made = sum(r.status != "skipped" for r in results)
    return {
        "period": job.period,
        "size_px": job.size_px,
        "cells": len(results),
        "written": sum(r.status == "written" for r in results),
        "skipped": sum(r.status == "skipped" for r in results),
        "rewritten": [{"name": r.name, "reason": r.reason} for r in results if r.reason],
        "empty": [r.name for r in results if r.empty],
        "with_mine": sum(r.mine_px > 0 for r in results),
        "min_valid_fraction": job.min_valid_fraction,
        "seconds": round(seconds, 3),
        "chips_per_second": round(made / seconds, 2) if made and seconds > 0 else None,
    }
