"""Atomic file writes, safe output paths and vector input shared by every stage.

A crash must never leave a half-written file that looks complete, so every
writer goes through :func:`atomic_path`: write to a hidden temporary file in
the same folder, then ``os.replace`` it onto the final name. Names taken from
input files (cell names, mine ids) become path parts only through
:func:`safe_part` and :func:`child_path`, so no input can steer a write outside
the output folder, and every JSON file goes through :func:`redact`, so no
password or token from a config lands on disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

from minescan.kernel.errors import MinescanError, first_line


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    A write that fails for want of space or permission (an ``OSError`` in the
    body, whichever library wrote) becomes a one-line error naming ``path`` and
    saying that the same command resumes: the old file, if any, is untouched.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_path(d / "a.txt") as tmp:
    ...     _ = tmp.write_text("hi")
    >>> (d / "a.txt").read_text()
    'hi'
    """
    final = check_file_target(path)
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
    except OSError as exc:  # GDAL's and pyarrow's write errors are OSErrors too
        raise MinescanError(
            f"cannot write {final}: {exc.strerror or exc}; free space or fix permissions, then "
            "rerun the same command to resume"
        ) from None
    finally:
        if tmp.exists():
            tmp.unlink()


def check_file_target(path: str | os.PathLike) -> Path:
    """``path`` as a Path; a one-line error when it names a folder (``--out chips/``).

    Writers call it before any work, so the mistake shows in a second.
    """
    final = Path(path)
    if final.is_dir():
        raise MinescanError(f"{final} is a folder; give a file name to write")
    return final


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
    """Atomically write ``obj`` as indented JSON, secrets redacted (numpy scalars are converted)."""
    return write_text(path, json.dumps(redact(obj), indent=2, default=_json_default) + "\n")


#: Most characters of a path part made by :func:`safe_part` (file systems allow 255 bytes).
MAX_PART = 120
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_part(name: Any, reserved: Collection[str] = ()) -> str:
    """A file or folder name made from untrusted text (a cell name, a mine id).

    Characters other than ASCII letters, digits, ``-``, ``_`` and ``.`` become
    ``_``, leading dots are dropped (no ``..``, no hidden files) and the length
    is capped. A name that had to change, or that is one of ``reserved`` (the
    run's own files beside it), gets ``-`` and 8 hex digits of its SHA-256, so
    two different names never share a path part (``a/b`` and ``a_b`` stay
    apart) and a clean name is kept as it is.

    Examples
    --------
    >>> safe_part("5271_01961_15_29.6")
    '5271_01961_15_29.6'
    >>> safe_part("../../etc")
    '_.._etc-74ccf3c5'
    >>> safe_part("a/b") != safe_part("a_b")
    True
    """
    text = str(name)
    cleaned = _UNSAFE.sub("_", text).lstrip(".")[:MAX_PART]
    if cleaned == text and cleaned and cleaned not in reserved:
        return cleaned
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{cleaned or 'x'}-{digest}"


def child_path(
    root: str | os.PathLike, *parts: Any, suffix: str = "", reserved: Collection[str] = ()
) -> Path:
    """``root/part/.../last{suffix}`` with each part made safe; refuse to go through a link.

    ``suffix`` (``.tif``) is added after the last part is made safe, so a
    renamed part keeps its file type.

    A link planted inside the output folder (``OUT/mine -> /etc``) would send
    the writes elsewhere, so every existing component below ``root`` must be a
    real file or folder.
    """
    path = Path(root)
    for i, part in enumerate(parts):
        path = path / (safe_part(part, reserved) + (suffix if i == len(parts) - 1 else ""))
        if path.is_symlink():
            raise MinescanError(
                f"{path} is a symbolic link; minescan writes only inside the output folder "
                "(remove the link and rerun)"
            )
    return path


#: Config keys whose values are secrets, whatever they hold.
_SECRET_KEY = re.compile(r"(?i)(password|passwd|secret|token|api_?key|credential|auth)")
#: ``scheme://user:password@host``: the user info of a URL.
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]+@")
#: Query parameters that carry credentials (``?token=...``, ``&X-Amz-Signature=...``).
_SECRET_QUERY = re.compile(
    r"(?i)([?&](?:access_token|token|key|api_key|apikey|password|signature|x-amz-signature"
    r"|x-amz-credential|x-amz-security-token|sig)=)[^&\s\"]+"
)


def redact(obj: Any) -> Any:
    """A copy of ``obj`` with credentials replaced by ``***``.

    User info in URLs (``https://user:pw@host``), credential query parameters
    and the values of keys named like secrets (``password``, ``token``,
    ``api_key``...) are redacted; everything else is kept, so a manifest still
    says which server was read.

    Examples
    --------
    >>> redact({"stac_url": "https://me:pw@stac.example/v1?token=abc", "api_key": "k"})
    {'stac_url': 'https://***@stac.example/v1?token=***', 'api_key': '***'}
    """
    if isinstance(obj, dict):
        return {
            k: "***" if isinstance(k, str) and _SECRET_KEY.search(k) and v else redact(v)
            for k, v in obj.items()
        }
    if isinstance(obj, list | tuple):
        return [redact(v) for v in obj]
    if isinstance(obj, str):
        return _SECRET_QUERY.sub(r"\1***", _URL_USERINFO.sub(r"\1***@", obj))
    return obj


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's content, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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


def write_vector(
    gdf, path: str | os.PathLike, driver: str | None = None, layer: str | None = None
) -> Path:
    """Atomically write a GeoDataFrame with GDAL (GeoPackage, GeoJSON, ...).

    A GeoPackage needs ``layer``: GDAL would otherwise name it after the temporary file.
    """
    with atomic_path(path) as tmp:
        gdf.to_file(tmp, driver=driver, layer=layer)
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
        raise MinescanError(f"cannot read {what} {p}: {first_line(exc)}") from None
    if len(gdf) == 0:
        raise MinescanError(
            f"{what} {p} has no features" + (f" in layer {layer!r}" if layer else "")
        )
    if gdf.crs is None:
        if assume_crs is None:
            raise MinescanError(f"{what} {p} has no CRS; pass --assume-crs EPSG:XXXX")
        try:
            gdf = gdf.set_crs(assume_crs)
        except Exception as exc:  # pyproj's CRSError, or ValueError for an empty string
            raise MinescanError(
                f"--assume-crs {assume_crs!r} is not a known CRS: {first_line(exc)}"
            ) from None
    kinds = set(gdf.geometry.dropna().geom_type) - {"Polygon", "MultiPolygon"}
    if kinds:
        # Every vector input (mines, leases, truth, AOIs, cells) is an area: a point or a line
        # would be read as an area of zero and silently give empty results.
        raise MinescanError(
            f"{what} {p} holds {', '.join(sorted(kinds))} geometries; only polygons are accepted"
        )
    return gdf.to_crs(4326)
