"""The YOLO detection set: N-channel uint8 TIFFs, one box per connected mine part.

Layout (what ultralytics expects, plus our own two files)::

    YDIR/images/{train,val,test}/{name}.tif   uint8, one band per page
    YDIR/labels/{train,val,test}/{name}.txt   "0 cx cy w h" (normalised); empty = background
    YDIR/data.yaml                            path, train, val, test, nc, names, channels
    YDIR/scaling.json                         reflectance -> uint8, reused at scan time
    YDIR/split.json                           which cell went where, and the rule

Chips of every zoom go into one set, so one model serves every pyramid level.
Chips flagged empty (all cloud) are left out.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import rasterio
import yaml
from scipy import ndimage
from tqdm import tqdm

from minescan.datasets.chip_files import CHIP_BANDS, MINE_BAND, read_chip
from minescan.datasets.splits import SPLITS, Split, make_split
from minescan.kernel.errors import MinescanError
from minescan.kernel.io import (
    atomic_path,
    child_path,
    ensure_dir,
    safe_part,
    write_json,
    write_text,
)
from minescan.kernel.model import SCALING
from minescan.kernel.scaling import Scaling

#: 8-connectivity: pixels touching at a corner belong to the same mine part.
CONNECTIVITY = np.ones((3, 3), bool)


def list_chips(chips_dir: str | Path) -> pd.DataFrame:
    """One row per chip under ``chips_dir/z*/``: ``path`` plus the chip's tags (name, z, x, y, ...)."""
    root = Path(chips_dir)
    if not root.is_dir():
        raise MinescanError(f"chips folder not found: {root}")
    rows = []
    for path in sorted(root.glob("z*/*.tif")):
        try:
            with rasterio.open(path) as src:
                tags, names = src.tags(), tuple(src.descriptions)
        except rasterio.errors.RasterioIOError as exc:
            raise MinescanError(
                f"cannot read chip {path}: {exc}; rerun 'minescan datasets chips' to rewrite it"
            ) from None
        if names != CHIP_BANDS or not {"name", "z", "x", "y"} <= set(tags):
            raise MinescanError(f"{path} is not a minescan chip (bands {names})")
        rows.append({**tags, "path": str(path)})
    if not rows:
        raise MinescanError(f"no chips in {root} (expected {root}/z{{z}}/NAME.tif)")
    chips = pd.DataFrame(rows)
    for col in ("z", "x", "y"):
        chips[col] = chips[col].astype(np.int64)
    return chips


def progress_rows(chips: pd.DataFrame, desc: str, progress: bool = True) -> Iterator:
    """The rows of a :func:`list_chips` table as named tuples, with a progress bar on stderr."""
    return tqdm(
        chips.itertuples(index=False),
        total=len(chips),
        desc=desc,
        unit="chip",
        file=sys.stderr,
        disable=not progress,
    )


def mine_boxes(mine: np.ndarray, min_box_px: int = 4) -> np.ndarray:
    """``(k, 4)`` boxes ``x0, y0, x1, y1`` in pixel edges, one per connected mine part.

    Parts narrower or shorter than ``min_box_px`` (slivers, often where a
    mine just touches the chip edge) are dropped.

    Examples
    --------
    >>> m = np.zeros((8, 8), np.uint8); m[2:5, 1:7] = 1
    >>> mine_boxes(m, min_box_px=2).tolist()
    [[1, 2, 7, 5]]
    """
    labels, _ = ndimage.label(mine > 0, structure=CONNECTIVITY)
    boxes = [
        (sl[1].start, sl[0].start, sl[1].stop, sl[0].stop)
        for sl in ndimage.find_objects(labels)
        if sl is not None
    ]
    out = np.array(boxes, dtype=np.int64).reshape(-1, 4)
    keep = ((out[:, 2] - out[:, 0]) >= min_box_px) & ((out[:, 3] - out[:, 1]) >= min_box_px)
    return out[keep]


def yolo_label_text(boxes: np.ndarray, width: int, height: int) -> str:
    """YOLO label lines ``0 cx cy w h`` (normalised to 0-1) for ``boxes`` in pixels."""
    lines = []
    for x0, y0, x1, y1 in boxes:
        cx, cy = (x0 + x1) / 2 / width, (y0 + y1) / 2 / height
        w, h = (x1 - x0) / width, (y1 - y0) / height
        lines.append(f"0 {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}")
    return "".join(line + "\n" for line in lines)


def write_image(path: str | Path, image: np.ndarray) -> None:
    """Atomically write ``(C, H, W)`` uint8 as a TIFF ultralytics reads back as C channels.

    One band per page, except C == 3: ultralytics reads 3-channel sets as
    colour (one page) and flips BGR to RGB, so that page is stored reversed
    and the model still sees the channels in the given order.
    """
    if image.dtype != np.uint8 or image.ndim != 3:
        raise ValueError(f"expected (C, H, W) uint8, got {image.dtype} {image.shape}")
    pages = (
        [np.ascontiguousarray(image[::-1].transpose(1, 2, 0))] if len(image) == 3 else list(image)
    )
    with atomic_path(path, suffix=".tif") as tmp:
        if not cv2.imwritemulti(str(tmp), pages):
            raise MinescanError(f"cannot write image {path}")


def read_image(path: str | Path) -> np.ndarray:
    """``(C, H, W)`` uint8 back from :func:`write_image`, in the given channel order."""
    ok, pages = cv2.imreadmulti(str(path), flags=cv2.IMREAD_UNCHANGED)
    if not ok:
        raise MinescanError(f"cannot read image {path}")
    if len(pages) == 1 and pages[0].ndim == 3:
        return np.ascontiguousarray(pages[0].transpose(2, 0, 1)[::-1])
    return np.stack(pages)


def build_yolo(
    chips_dir: str | Path,
    out: str | Path,
    channels: tuple[str, ...],
    min_box_px: int = 4,
    progress: bool = True,
    **split_rule,
) -> dict:
    """Write the YOLO set of every non-empty chip in ``chips_dir`` to ``out``; return a summary.

    ``split_rule`` is passed on to :func:`~minescan.datasets.splits.make_split`
    (``rule``, ``val``, ``test``, ``seed``, ``block_zoom``, ``column``; its defaults otherwise).
    """
    out = ensure_dir(out)
    chips = list_chips(chips_dir)
    empty = chips.get("empty", pd.Series("false", index=chips.index)).eq("true")
    chips = chips[~empty].reset_index(drop=True)
    if len(chips) == 0:
        raise MinescanError(f"every chip in {chips_dir} is flagged empty (all cloud)")
    split = make_split(chips, **split_rule)
    scaling = Scaling.default(channels)
    band_index = [CHIP_BANDS.index(b) for b in channels]
    mine_index = CHIP_BANDS.index(MINE_BAND)
    _remove_stale(out, split)
    boxes_total = 0
    for row in progress_rows(chips, "yolo", progress):
        data = read_chip(row.path)[0]
        subset = split.cells[row.name]
        image = scaling.to_uint8(data[band_index])
        boxes = mine_boxes(data[mine_index], min_box_px)
        boxes_total += len(boxes)
        write_image(child_path(out, "images", subset, row.name, suffix=".tif"), image)
        height, width = image.shape[1:]
        write_text(
            child_path(out, "labels", subset, row.name, suffix=".txt"),
            yolo_label_text(boxes, width, height),
        )
    for subset in SPLITS:
        ensure_dir(out / "images" / subset)
        ensure_dir(out / "labels" / subset)
    scaling.save(out / SCALING)
    write_json(out / "split.json", split.to_dict())
    write_text(out / "data.yaml", data_yaml(out, len(channels), channels))
    return {
        "images": len(chips),
        "skipped_empty": int(empty.sum()),
        "boxes": boxes_total,
        "counts": split.counts(),
        "channels": list(channels),
    }


def data_yaml(out: Path, n_channels: int, channels: tuple[str, ...]) -> str:
    """The ultralytics ``data.yaml`` (``path`` is absolute: ultralytics resolves relative ones elsewhere)."""
    doc = {
        "path": str(Path(out).resolve()),
        "train": "images/train",
        "val": "images/val",
        "test": "images/test",
        "nc": 1,
        "names": {0: "mine"},
        "channels": n_channels,
    }
    header = f"# minescan YOLO set; channels in page order: {','.join(channels)}\n"
    return header + yaml.safe_dump(doc, sort_keys=False)


def _remove_stale(out: Path, split: Split) -> None:
    """Delete images/labels a previous run put in another split (or for a chip now gone)."""
    for subset in SPLITS:
        for kind, suffix in (("images", ".tif"), ("labels", ".txt")):
            folder = out / kind / subset
            if not folder.is_dir():
                continue
            keep = {safe_part(name) + suffix for name, s in split.cells.items() if s == subset}
            for path in folder.glob(f"*{suffix}"):
                if path.name not in keep:
                    path.unlink()
    for cache in (out / "labels").glob("*.cache"):
        cache.unlink()


def load_split(path: str | Path) -> dict[str, str]:
    """cell name -> split from a ``split.json``."""
    p = Path(path)
    try:
        return dict(json.loads(p.read_text())["cells"])
    except FileNotFoundError:
        raise MinescanError(f"split file not found: {p}") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise MinescanError(f"cannot read split file {p}: {exc}") from None
