"""The dataset stage end to end, one function per output: chips, the YOLO set, the pixel table.

``minescan datasets`` (:mod:`minescan.datasets.cli`) only parses flags and
calls these; the ``make train`` pipeline calls them directly. Each takes the
``datasets:`` section of the config (and :func:`chips`, which reads imagery,
the ``source:`` section too) and returns the summary the CLI prints.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

from minescan.datasets.settings import DatasetSettings
from minescan.datasets.sources.settings import SourceSettings
from minescan.kernel.bands import parse_bands
from minescan.kernel.lock import writes_output


@writes_output("out")
def chips(
    source: SourceSettings,
    settings: DatasetSettings,
    cells: str | Path,
    out: str | Path,
    zooms: list[int] | None = None,
    limit: int | None = None,
    workers: int = 1,
    progress: bool = True,
) -> dict:
    """Write one labelled chip per cell of ``cells`` (zooms ``zooms``, the first ``limit``) to ``out``.

    The mines that label the chips are ``source.mines`` when set, else the
    source's own truth; a source without truth and no mines file gets a
    warning on stderr, as every chip's ``_mine`` band is then 0.
    """
    from minescan.datasets.chip_files import ChipJob, mines_from_file, read_cells, write_chips
    from minescan.datasets.sources import open_source
    from minescan.kernel.io import ensure_dir, read_vector

    table = read_cells(cells, zooms, limit)
    ensure_dir(out)
    polygons = None
    if source.mines:
        polygons = mines_from_file(read_vector(source.mines, what="mines file"), settings.period)
    elif source.kind != "simulated":
        print(
            f"warning: source {source.kind} has no truth and no --mines was given: "
            "every chip's _mine band is 0",
            file=sys.stderr,
        )
    job = ChipJob(
        out=out,
        period=settings.period,
        size_px=settings.size_px,
        open_source=functools.partial(open_source, source),
        mines=polygons,
        min_valid_fraction=settings.min_valid_fraction,
    )
    return write_chips(table, job, workers=workers, progress=progress)


@writes_output("out")
def yolo(
    settings: DatasetSettings, chips_dir: str | Path, out: str | Path, progress: bool = True
) -> dict:
    """Write the YOLO set of the chips in ``chips_dir`` to ``out``, split by ``settings.split``."""
    from minescan.datasets.yolo import build_yolo

    return build_yolo(
        chips_dir,
        out,
        parse_bands(settings.channels),
        rule=settings.split,
        val=settings.val,
        test=settings.test,
        seed=settings.seed,
        block_zoom=settings.block_zoom,
        column=settings.split_column if settings.split == "block" else None,
        min_box_px=settings.min_box_px,
        progress=progress,
    )


@writes_output("out", file=True)
def pixels(
    settings: DatasetSettings,
    chips_dir: str | Path,
    out: str | Path,
    split_from: str | Path | None = None,
    progress: bool = True,
) -> dict:
    """Write the pixel table of the chips in ``chips_dir``; ``split_from`` (a split.json) fills its split."""
    from minescan.datasets.pixels import build_pixels
    from minescan.datasets.yolo import load_split

    splits = load_split(split_from) if split_from else None
    return build_pixels(chips_dir, out, settings.sample, splits, settings.seed, progress=progress)
