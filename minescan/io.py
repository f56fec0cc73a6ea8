"""Atomic file writes and vector input shared by every stage.

A crash must never leave a half-written file that looks complete, so every
writer goes through :func:`atomic_path`: write to a hidden temporary file in
the same folder, then ``os.replace`` it onto the final name.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from minescan.errors import MinescanError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_path(d / "a.txt") as tmp:
    ...     _ = tmp.write_text("hi")
    >>> (d / "a.txt").read_text()
    'hi'
    """
    final = Path(path)
    ensure_dir(final.parent)
    suffix = final.suffix if suffix is None else suffix
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{final.stem}.", suffix=f".tmp{suffix}", dir=final.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # let writers that refuse to overwrite (GDAL drivers) create it fresh
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()


def ensure_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` (and parents); raise a one-line error when that is impossible."""
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MinescanError(f"cannot create output folder {folder}: {exc.strerror}") from None
    if not os.access(folder, os.W_OK):
        raise MinescanError(f"output folder {folder} is not writable")
    return folder


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Atomically write a text file."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Atomically write ``obj`` as indented JSON (numpy scalars are converted)."""
    return write_text(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def write_geoparquet(gdf, path: str | os.PathLike) -> Path:
    """Atomically write a GeoDataFrame as GeoParquet."""
    with atomic_path(path) as tmp:
        gdf.to_parquet(tmp, index=False)
    return Path(path)


def write_vector(gdf, path: str | os.PathLike, driver: str | None = None) -> Path:
    """Atomically write a GeoDataFrame with GDAL (GeoPackage, GeoJSON, ...)."""
    with atomic_path(path) as tmp:
        gdf.to_file(tmp, driver=driver)
    return Path(path)


def require_file(path: str | os.PathLike, what: str = "file") -> Path:
    """Return ``path`` as a Path, or raise a one-line error when it does not exist."""
    p = Path(path)
    if not p.exists():
        raise MinescanError(f"{what} not found: {p}")
    if p.is_dir():
        raise MinescanError(f"{what} is a folder, expected a file: {p}")
    return p


def read_vector(
    path: str | os.PathLike,
    layer: str | None = None,
    assume_crs: str | None = None,
    what: str = "vector file",
):
    """Read any GDAL vector (or GeoParquet) into EPSG:4326.

    Raises :class:`MinescanError` for a missing or unreadable file, an empty
    layer, or a layer without a CRS when ``assume_crs`` is not given. The input
    file is only ever opened for reading.
    """
    import geopandas as gpd

    p = require_file(path, what)
    try:
        if p.suffix.lower() in {".parquet", ".geoparquet"}:
            gdf = gpd.read_parquet(p)
        else:
            gdf = gpd.read_file(p, layer=layer)
    except MinescanError:
        raise
    except Exception as exc:  # GDAL, pyarrow and fiona all raise their own types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MinescanError(f"cannot read {what} {p}: {first}") from None
    if len(gdf) == 0:
        raise MinescanError(
            f"{what} {p} has no features" + (f" in layer {layer!r}" if layer else "")
        )
    if gdf.crs is None:
        if assume_crs is None:
            raise MinescanError(f"{what} {p} has no CRS; pass --assume-crs EPSG:XXXX")
        gdf = gdf.set_crs(assume_crs)
    return gdf.to_crs(4326)
