"""The YOLO set the detector trains on: read and check ``data.yaml``, its images and labels.

The datasets stage (and fine-tuning's mosaics) write the set; this module reads
it back as :class:`YoloData`, checks that every image decodes with the set's
channels, and hashes it for the model card.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from minescan.kernel.errors import MinescanError, first_line
from minescan.kernel.model import SCALING

IMAGE_SUFFIXES = (".tif", ".tiff")
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class YoloData:
    """A YOLO dataset as minescan's datasets stage writes it."""

    yaml_path: Path
    root: Path
    channels: int
    bands: tuple[str, ...]
    scaling_text: str
    images: dict[str, list[Path]]  # split -> image files
    doc: dict  # data.yaml with absolute paths


def _split_images(root: Path, entry) -> list[Path]:
    entries = entry if isinstance(entry, list) else [entry]
    files: list[Path] = []
    for item in entries:
        p = Path(item) if Path(item).is_absolute() else root / item
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
        elif p.suffix == ".txt" and p.exists():
            for line in p.read_text().splitlines():
                if line.strip():
                    f = Path(line.strip())
                    files.append(f if f.is_absolute() else root / f)
        else:
            raise MinescanError(
                f"data.yaml lists {item!r}, which is not a folder or list under {root}"
            )
    return files


def read_data(data_yaml: str | Path, channels: tuple[str, ...] | None = None) -> YoloData:
    """Read and check ``data.yaml`` and the ``scaling.json`` beside it.

    ``channels`` (band names), when given, must match the set's channels.
    """
    path = Path(data_yaml)
    if not path.exists():
        raise MinescanError(f"data.yaml not found: {path}")
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise MinescanError(f"data.yaml {path} is not valid YAML: {first_line(exc)}") from None
    if not isinstance(doc, dict) or "train" not in doc or "val" not in doc:
        raise MinescanError(f"data.yaml {path} must name train and val image folders")
    root = Path(doc.get("path") or ".")
    if not root.is_absolute():
        root = (path.parent / root).resolve()
    scaling_path = path.parent / SCALING
    if not scaling_path.exists():
        raise MinescanError(f"{SCALING} not found beside {path}; the datasets stage writes it")
    scaling_text = scaling_path.read_text()
    try:
        bands = tuple(json.loads(scaling_text)["bands"])
    except (json.JSONDecodeError, KeyError, TypeError):
        raise MinescanError(f"{scaling_path} is not a valid scaling file") from None
    n = int(doc.get("channels", 3))
    if n != len(bands):
        raise MinescanError(
            f"data.yaml says channels: {n} but {SCALING} lists {len(bands)} bands ({','.join(bands)})"
        )
    if channels is not None and tuple(channels) != bands:
        raise MinescanError(
            f"--channels {','.join(channels)} does not match the YOLO set's channels {','.join(bands)}"
        )
    images = {s: _split_images(root, doc[s]) for s in SPLITS if doc.get(s)}
    if not images.get("train"):
        raise MinescanError(f"no training images under {root / str(doc['train'])}")
    if not images.get("val"):
        raise MinescanError(f"no validation images under {root / str(doc['val'])}")
    resolved = {**doc, "path": str(root), "channels": n}
    return YoloData(path, root, n, bands, scaling_text, images, resolved)


def check_images(data: YoloData) -> None:
    """Open every image: each must decode with exactly ``data.channels`` channels."""
    import cv2
    from tqdm import tqdm
    from ultralytics.utils.patches import imread

    files = [f for split in data.images.values() for f in split]
    for f in tqdm(files, desc="detector: checking images", disable=None, leave=False):
        im = imread(str(f), cv2.IMREAD_UNCHANGED)
        if im is None:
            raise MinescanError(f"corrupt or unreadable image: {f}")
        if im.shape[2] != data.channels:
            raise MinescanError(
                f"image {f} has {im.shape[2]} channels; the YOLO set and model expect {data.channels}"
            )


def label_file(image: Path) -> Path:
    """ultralytics' rule: the last ``images`` folder in the path becomes ``labels``, suffix .txt."""
    parts = list(image.parts)
    i = len(parts) - 1 - parts[::-1].index("images")
    parts[i] = "labels"
    return Path(*parts).with_suffix(".txt")


def data_hash(data: YoloData) -> str:
    """sha256 over data.yaml, scaling.json, the image list (split/name) and every label file."""
    h = hashlib.sha256()
    h.update(data.yaml_path.read_bytes())
    h.update(data.scaling_text.encode())
    for split in SPLITS:
        for image in data.images.get(split, []):
            h.update(f"{split}/{image.name}\n".encode())
            lbl = label_file(image)
            h.update(lbl.read_bytes() if lbl.exists() else b"<no label>")
    return h.hexdigest()


def image_zoom(image: Path) -> int | None:
    """Zoom of an image named after its cell (``LAT_LON_Z_PCT``); None when not parseable."""
    parts = image.stem.split("_")
    for token in reversed(parts[:-1]):
        if token.isdigit() and 0 <= int(token) <= 20:
            return int(token)
    return None
