"""The grid stage end to end: read and repair the polygons, draw the cells, write the four outputs.

``minescan grid`` (:mod:`minescan.grid.cli`) only parses flags and calls
:func:`build_grid`; the benchmark and the ``make train`` pipeline call it directly.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from minescan.grid.settings import GridSettings
from minescan.kernel.lock import writes_output


class StepTimer:
    """Seconds spent per named step, with a tqdm bar over the steps (on stderr)."""

    def __init__(self, total: int):
        from tqdm import tqdm

        self.seconds: dict[str, float] = {}
        self.bar = tqdm(total=total, desc="grid", unit="step", leave=False, disable=None)
        self._step: str | None = None
        self._start = time.perf_counter()

    def __call__(self, step: str) -> None:
        self._close()
        self._step = step
        self.bar.set_description(f"grid: {step}")

    def _close(self) -> None:
        now = time.perf_counter()
        if self._step is not None:
            self.seconds[self._step] = round(now - self._start, 3)
            self.bar.update(1)
        self._start = now

    def done(self) -> dict[str, float]:
        self._close()
        self._step = None
        self.bar.close()
        return self.seconds


@writes_output("out")
def build_grid(
    settings: GridSettings,
    polygons: str,
    out: str | Path,
    layer: str | None = None,
    aoi: str | None = None,
    assume_crs: str | None = None,
) -> dict:
    """Run the grid stage on ``polygons``; write the four outputs into ``out``; return the report.

    ``settings`` is the ``grid:`` section, its ``zooms`` already checked (sorted,
    distinct, 0-20). ``aoi`` restricts everything to an area (``country:ISO3``,
    ``bbox:...`` or a polygon file); ``assume_crs`` is the CRS of input without one.
    """
    from minescan.grid import cells as grid_cells
    from minescan.grid import cells_table
    from minescan.grid.aoi import resolve_aoi
    from minescan.grid.preview import write_preview
    from minescan.kernel.io import ensure_dir, read_vector, write_json

    out_dir = Path(out)
    timer = StepTimer(total=6)
    timer("read")
    area = resolve_aoi(aoi, assume_crs=assume_crs) if aoi else None
    source = read_vector(polygons, layer=layer, assume_crs=assume_crs, what="polygon file")
    timer("repair")
    prepared = grid_cells.prepare_polygons(
        source.geometry.values, None if area is None else area.geometry
    )
    ensure_dir(out_dir)
    zoom_cells = grid_cells.grid_cells(
        prepared,
        settings.zooms,
        min_overlap=settings.min_overlap,
        negatives=settings.negatives,
        land_negatives=settings.land_negatives,
        aoi=None if area is None else area.geometry,
        search_radius=settings.search_radius,
        progress=timer,
    )
    timer("table")
    table = cells_table.cells_arrow(zoom_cells)
    timer("write")
    # arrow writes release the GIL: both files go out while the preview is drawn.
    with ThreadPoolExecutor(max_workers=2) as pool:
        written = [
            pool.submit(cells_table.write_cells_parquet, table, out_dir / "cells.parquet"),
            pool.submit(cells_table.write_cells_csv, table, out_dir / "cells.csv"),
        ]
        write_preview(
            table, prepared.geometry, out_dir / "preview.html", settings.preview_max_cells
        )
        for job in written:
            job.result()
    seconds = timer.done()

    report = {
        "polygons": {
            "file": str(polygons),
            "layer": layer,
            "read": prepared.read,
            "repaired": prepared.repaired,
            "dropped": prepared.dropped,
            "used": int(prepared.geometry.size),
        },
        "aoi": None if area is None else area.name,
        "min_overlap": settings.min_overlap,
        "negatives": settings.negatives,
        "land_negatives": settings.land_negatives,
        "search_radius": settings.search_radius,
        "zooms": {
            str(c.zoom): {
                "pos": int(c.positive.sum()),
                "neg": int(c.negative_x.size),
                "below_min_overlap": int((~c.positive).sum()),
                "positives_without_negative": int(c.positive.sum() - c.negative_x.size)
                if settings.negatives
                else 0,
            }
            for c in zoom_cells
        },
        "cells": table.num_rows,
        "seconds": seconds,
        "seconds_total": round(sum(seconds.values()), 3),
    }
    write_json(out_dir / "grid_report.json", report)
    return report
