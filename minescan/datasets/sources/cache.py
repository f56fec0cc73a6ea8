"""An on-disk chip cache, so a rerun or a resumed scan does not fetch a tile twice.

A chip is stored as one ``.npz`` file whose name hashes everything that
determines its pixels: the source (kind, code version and the settings that
change pixels), the tile, the grid size and margin, the period and the bands.
Writes are atomic; an entry that cannot be read back (a crash mid-write on a
filesystem without atomic rename, a truncated copy) is deleted and refetched.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import mercantile
import numpy as np
from affine import Affine

from minescan.kernel.chip import Chip
from minescan.kernel.io import atomic_path, ensure_dir


def default_cache_dir() -> Path:
    """``$MINESCAN_CACHE/sources``, else ``$XDG_CACHE_HOME/minescan/sources`` (``~/.cache``)."""
    if os.environ.get("MINESCAN_CACHE"):
        return Path(os.environ["MINESCAN_CACHE"]) / "sources"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "minescan" / "sources"


def settings_digest(kind: str, version: str, settings: dict) -> str:
    """A short stable hash of what makes a source's pixels what they are.

    Examples
    --------
    >>> settings_digest("stac", "1", {"b": 1, "a": 2}) == settings_digest("stac", "1", {"a": 2, "b": 1})
    True
    """
    text = json.dumps({"kind": kind, "version": version, "settings": settings}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ChipKey:
    """Everything besides the source that determines a chip's pixels."""

    tile: mercantile.Tile
    size_px: int
    margin_px: int
    period: str
    bands: tuple[str, ...]

    def digest(self) -> str:
        text = json.dumps(
            [list(self.tile), self.size_px, self.margin_px, self.period, list(self.bands)]
        )
        return hashlib.sha256(text.encode()).hexdigest()[:24]


class ChipCache:
    """Chips of one source configuration under ``root/<kind>-<settings digest>/``.

    Parameters
    ----------
    root
        Cache folder, shared by all sources.
    namespace
        ``"<kind>-<digest>"`` from :func:`settings_digest`: a change of source
        settings or code version never returns stale pixels.
    """

    def __init__(self, root: str | os.PathLike, namespace: str):
        self.folder = Path(root) / namespace

    def path(self, key: ChipKey) -> Path:
        d = key.digest()
        return self.folder / f"z{key.tile.z}" / d[:2] / f"{d}.npz"

    def get(self, key: ChipKey) -> Chip | None:
        """The cached chip, or None when absent or unreadable (then the entry is removed)."""
        path = self.path(key)
        if not path.exists():
            return None
        try:
            return _load(path)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            path.unlink(missing_ok=True)
            return None

    def put(self, key: ChipKey, chip: Chip) -> None:
        """Store ``chip`` atomically."""
        path = self.path(key)
        ensure_dir(path.parent)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(
                fh,
                data=chip.data,
                valid=np.ones(chip.shape, bool) if chip.valid is None else chip.valid,
                has_valid=np.array(chip.valid is not None),
                transform=np.array(tuple(chip.transform)[:6]),
                header=np.array(
                    json.dumps(
                        {
                            "bands": list(chip.bands),
                            "period": chip.period,
                            "tile": None if chip.tile is None else list(chip.tile),
                            "margin_px": chip.margin_px,
                            "meta": chip.meta,
                        },
                        default=str,
                    )
                ),
            )

    def get_or_fetch(self, key: ChipKey, fetch: Callable[[], Chip]) -> Chip:
        """The cached chip, else ``fetch()`` stored then returned (``meta["cached"]`` tells which)."""
        chip = self.get(key)
        if chip is not None:
            chip.meta["cached"] = True
            return chip
        chip = fetch()
        self.put(key, chip)
        chip.meta["cached"] = False
        return chip


def _load(path: Path) -> Chip:
    with np.load(path, allow_pickle=False) as npz:
        header = json.loads(str(npz["header"]))
        data = npz["data"]
        valid = npz["valid"] if bool(npz["has_valid"]) else None
        transform = Affine(*npz["transform"].tolist())
    if data.ndim != 3 or data.shape[1:] != (valid.shape if valid is not None else data.shape[1:]):
        raise ValueError(f"cache entry {path} has inconsistent shapes")
    tile = None if header["tile"] is None else mercantile.Tile(*header["tile"])
    return Chip(
        data=data,
        bands=tuple(header["bands"]),
        transform=transform,
        period=header["period"],
        tile=tile,
        margin_px=header["margin_px"],
        valid=valid,
        meta=header["meta"],
    )
