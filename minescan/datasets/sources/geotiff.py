"""The user's own Sentinel-2 GeoTIFF/COG mosaics as an imagery source.

A mosaic may be one multi-band file, several multi-band files that tile a
country (first file with data wins where they overlap), or one file per band.
Any CRS works: each read warps only the window under the tile onto the tile's
EPSG:3857 grid with a GDAL WarpedVRT.

Resampling: ``average`` when the tile's pixels are coarser than the file's
(e.g. a 10 m mosaic read at z13, ~19 m), so a coarse pixel is the mean of the
fine ones as in the simulator; ``bilinear`` when the tile's pixels are as fine
or finer. Nodata (the file's own, or ``source.nodata``) and pixels outside
every file become NaN with ``valid=False``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import mercantile
import numpy as np
import rasterio
from rasterio.errors import RasterioIOError

from minescan.datasets.sources.extent import Grid, series_grid, tile_grid
from minescan.datasets.sources.settings import SourceSettings
from minescan.datasets.sources.windows import IoStats, Rasters, clusters, warp_window
from minescan.kernel.bands import S2_BANDS
from minescan.kernel.chip import Chip
from minescan.kernel.errors import MinescanError, first_line
from minescan.kernel.period import DEFAULT_PERIOD, Period
from minescan.kernel.source import Cube


class BandRef(NamedTuple):
    """Where one band lives: a file and its 1-based band index."""

    path: str
    index: int


@dataclass(frozen=True)
class Layer:
    """One raster layer of the source (a mosaic, or one dated scene) as band -> file parts."""

    bands: dict[str, list[BandRef]]


class GeoTiffSource:
    """Reflectance from local GeoTIFF/COG files, reprojected onto tile grids.

    Parameters
    ----------
    files
        Multi-band files in ``bands`` order (parts of one mosaic).
    bands
        Band names in file band order. Empty: the files' band descriptions.
    band_files
        Band name -> single-band file, instead of (or on top of) ``files``.
    scale, offset
        ``stored value * scale + offset`` = reflectance.
    nodata
        Overrides the files' own nodata value.
    dated_files
        ISO date -> multi-band file (``bands`` order), for :meth:`series`.
    """

    name = "geotiff"

    def __init__(
        self,
        files: Iterable[str] = (),
        bands: Iterable[str] = (),
        band_files: dict[str, str] | None = None,
        scale: float = 1.0,
        offset: float = 0.0,
        nodata: float | None = None,
        dated_files: dict[str, str] | None = None,
    ):
        self.scale = float(scale)
        self.offset = float(offset)
        self.nodata = nodata
        self.mosaic = _layer(list(files), list(bands), dict(band_files or {}))
        self.dated = {
            str(np.datetime64(date, "D")): _layer([path], list(bands), {})
            for date, path in sorted((dated_files or {}).items())
        }
        self._rasters = Rasters()
        if not self.mosaic.bands and not self.dated:
            raise MinescanError(
                "geotiff source has no files: set source.files (or source.band_files) in the config"
            )

    @classmethod
    def from_settings(cls, settings: SourceSettings) -> GeoTiffSource:
        return cls(
            files=settings.files,
            bands=settings.bands,
            band_files=settings.band_files,
            scale=settings.scale,
            offset=settings.offset,
            nodata=settings.nodata,
            dated_files=settings.dated_files,
        )

    @property
    def bands(self) -> tuple[str, ...]:
        """The bands the mosaic holds, in S2 order."""
        return tuple(b for b in S2_BANDS if b in self.mosaic.bands)

    @property
    def io(self) -> IoStats:
        """Window reads and compressed bytes read so far (see :class:`IoStats`)."""
        return self._rasters.stats

    def read(
        self,
        tile: mercantile.Tile,
        size_px: int = 256,
        period: str = DEFAULT_PERIOD,
        bands: tuple[str, ...] | None = None,
        margin_px: int = 0,
    ) -> Chip:
        """The mosaic under ``tile`` (a mosaic has one date: ``period`` is only recorded)."""
        return self.read_tiles([tile], size_px, period, bands, margin_px)[0]

    def read_tiles(
        self,
        tiles,
        size_px: int = 256,
        period: str = DEFAULT_PERIOD,
        bands: tuple[str, ...] | None = None,
        margin_px: int = 0,
    ) -> list[Chip]:
        """:meth:`read` of every tile, one window read per file and cluster of neighbours."""
        if not self.mosaic.bands:
            raise MinescanError(
                "geotiff source: read() needs a mosaic; set source.files or source.band_files"
            )
        Period.parse(period)  # a typo fails here, as with the sources that search by date
        bands = tuple(bands or S2_BANDS)
        tiles = [mercantile.Tile(*map(int, t)) for t in tiles]
        grids = [tile_grid(t, size_px, margin_px) for t in tiles]
        chips: list[Chip] = [None] * len(tiles)  # type: ignore[list-item]
        for rows in clusters([list(t) for t in tiles]):
            stacks, methods = self._warp(self.mosaic, bands, [grids[i] for i in rows])
            for i, data in zip(rows, stacks, strict=True):
                chips[i] = Chip(
                    data=data,
                    bands=bands,
                    transform=grids[i].transform,
                    period=period,
                    tile=tiles[i],
                    margin_px=margin_px,
                    valid=np.isfinite(data).all(axis=0),
                    meta={"source": self.name, "resampling": methods},
                )
        return chips

    def estimate(
        self,
        tiles,
        size_px: int = 256,
        period: str = DEFAULT_PERIOD,
        bands: tuple[str, ...] | None = None,
        margin_px: int = 0,
    ) -> dict[str, int]:
        """What :meth:`read_tiles` would read (window reads, compressed bytes), reading no pixel.

        Exact: the same windows at the same overviews, their block sizes from
        the files' TIFF tags (a mosaic has one date: ``period`` plays no part).
        """
        bands = tuple(bands or S2_BANDS)
        tiles = [mercantile.Tile(*map(int, t)) for t in tiles]
        grids = [tile_grid(t, size_px, margin_px) for t in tiles]
        stats = IoStats()
        for rows in clusters([list(t) for t in tiles]):
            self._warp(self.mosaic, bands, [grids[i] for i in rows], stats=stats)
        return stats.snapshot()

    def series(
        self,
        geometry,
        start: str,
        end: str,
        bands: tuple[str, ...] | None = None,
    ) -> tuple[np.ndarray, Cube]:
        """One observation per dated file between ``start`` and ``end`` (inclusive)."""
        if not self.dated:
            raise MinescanError(
                "geotiff source: series() is not supported for a single mosaic; "
                "list one file per date under source.dated_files (DATE: FILE)"
            )
        bands = tuple(bands or S2_BANDS)
        lo, hi = np.datetime64(start, "D"), np.datetime64(end, "D")
        dates = [d for d in self.dated if lo <= np.datetime64(d) <= hi]
        grid = series_grid(geometry)
        stack = grid.nan_stack(len(dates), len(bands))
        for i, date in enumerate(dates):
            stack[i] = self._warp(self.dated[date], bands, [grid])[0][0]
        return np.array(dates, dtype="datetime64[D]"), Cube.from_stack(stack, bands, grid.transform)

    def _warp(
        self, layer: Layer, bands: tuple[str, ...], grids: list[Grid], stats: IoStats | None = None
    ) -> tuple[list[np.ndarray], dict]:
        """Reflectance of ``bands`` on each grid (one cluster); with ``stats``, only count the reads.

        Parts of a mosaic fill in file order: the first file with data wins.
        Counting returns no arrays (``[]``): an estimate plans a whole level,
        and a NaN chip per tile would cost more than the planning.
        """
        missing = [b for b in bands if b not in layer.bands]
        if missing:
            raise MinescanError(
                f"band {missing[0]} is not in the geotiff source "
                f"(it has {', '.join(b for b in S2_BANDS if b in layer.bands)}); "
                "map it in source.bands or source.band_files"
            )
        outs: list[np.ndarray | None] = [None] * len(grids)
        filled: set[tuple[int, int]] = set()  # (grid, band) already written by a file
        methods: dict[str, str] = {}
        by_path: dict[str, list[tuple[int, int]]] = {}
        for i, band in enumerate(bands):
            for ref in layer.bands[band]:
                by_path.setdefault(ref.path, []).append((i, ref.index))
        whole = list(range(len(bands)))
        for path, pairs in by_path.items():
            try:
                values, method = warp_window(
                    self._rasters,
                    path,
                    [idx for _, idx in pairs],
                    grids,
                    self.nodata,
                    read=stats is None,
                    stats=stats,
                    scale=self.scale,
                    offset=self.offset,
                )
            except RasterioIOError as exc:  # a truncated or damaged file: say which one
                raise MinescanError(
                    f"cannot read {path}: {first_line(exc)} (truncated or damaged?)"
                ) from None
            if method is None:
                continue
            methods[Path(path).name] = method
            for k, raw in enumerate(values):
                if raw is None:
                    continue
                if outs[k] is None and [i for i, _ in pairs] == whole:
                    outs[k] = raw  # one file holds every band: its array is the chip's
                    filled.update((k, i) for i in whole)
                    continue
                if outs[k] is None:
                    outs[k] = grids[k].nan_stack(len(bands))
                for (i, _), band in zip(pairs, raw, strict=True):
                    if (k, i) not in filled:  # the first file with this band: take it whole
                        outs[k][i] = band
                        filled.add((k, i))
                        continue
                    fill = np.isnan(outs[k][i]) & ~np.isnan(band)
                    outs[k][i][fill] = band[fill]
        if stats is not None:
            return [], methods
        outs = [
            g.nan_stack(len(bands)) if o is None else o for g, o in zip(grids, outs, strict=True)
        ]
        return outs, methods


def _layer(files: list[str], bands: list[str], band_files: dict[str, str]) -> Layer:
    """Check every file and build band -> parts; one-line errors name the file."""
    mapping: dict[str, list[BandRef]] = {}
    for path in files:
        info = _inspect(path, "source file")
        names = bands or _described_bands(path, info.descriptions)
        if len(names) != info.count:
            raise MinescanError(
                f"{path} has {info.count} bands but source.bands lists {len(names)}"
            )
        for index, name in enumerate(names, start=1):
            mapping.setdefault(_band_name(name), []).append(BandRef(path, index))
    for name, path in band_files.items():
        _inspect(path, f"band {name} maps to a file that")
        mapping.setdefault(_band_name(name), []).append(BandRef(path, 1))
    return Layer(mapping)


class _Info(NamedTuple):
    count: int
    descriptions: tuple[str | None, ...]


def _inspect(path: str, what: str) -> _Info:
    if not os.path.exists(path):
        raise MinescanError(f"{what} does not exist: {path}")
    try:
        with rasterio.open(path) as src:
            if src.crs is None:
                raise MinescanError(
                    f"{path} has no CRS; georeference it first "
                    "(e.g. gdal_edit.py -a_srs EPSG:32630 FILE)"
                )
            return _Info(src.count, src.descriptions)
    except RasterioIOError as exc:
        raise MinescanError(f"cannot read {path}: {str(exc).splitlines()[0]}") from None


def _described_bands(path: str, descriptions: tuple[str | None, ...]) -> list[str]:
    names = [d or "" for d in descriptions]
    if not all(n.upper() in S2_BANDS for n in names if n) or not any(names):
        raise MinescanError(
            f"{path}: its bands are not named B01..B12; list them in source.bands (file band order)"
        )
    return names


def _band_name(name: str) -> str:
    upper = name.strip().upper()
    if upper in S2_BANDS:
        return upper
    return name.strip()
