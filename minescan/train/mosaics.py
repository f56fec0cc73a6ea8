"""Fine-tuning's training set: real patches at native resolution, tiled into YOLO mosaics.

Each patch is reflect-padded (or cropped) to a ``tile_px`` square
(:func:`fit_tile`), and a grid of such tiles fills one training image
(:func:`mosaic`); a mine patch's boxes come from its outline
(:func:`target_mask`). :func:`build_mosaic_set` writes the whole set as a
YOLO set the detector trains on, and :func:`mix_simulated` adds simulated
images to it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import yaml
from tqdm import tqdm

from minescan.datasets.patches import Patch
from minescan.datasets.yolo import data_yaml, mine_boxes, write_image, yolo_label_text
from minescan.kernel.errors import MinescanError
from minescan.kernel.io import atomic_path, ensure_dir, write_text
from minescan.kernel.model import SCALING
from minescan.kernel.scaling import Scaling
from minescan.train.yolo_data import SPLITS, read_data

if TYPE_CHECKING:
    from minescan.train.finetune import FinetuneOptions


def fit_tile(
    data: np.ndarray,
    mask: np.ndarray,
    tile_px: int,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One patch and its mask as a ``tile_px`` square at native resolution.

    A larger patch is cropped (at random with ``rng``, else centred); a smaller
    one is reflect-padded, centred, as ``minescan evaluate`` pads it, so the
    detector trains on what it is scored on. With ``rng`` the tile is also
    turned by a random multiple of 90 degrees and maybe flipped: mines have no
    up or down, and the few real patches go further that way.

    Examples
    --------
    >>> data, mask = np.arange(4.0).reshape(1, 2, 2), np.eye(2, dtype=bool)
    >>> tile, m = fit_tile(data, mask, 4)
    >>> tile[0].tolist()
    [[3.0, 2.0, 3.0, 2.0], [1.0, 0.0, 1.0, 0.0], [3.0, 2.0, 3.0, 2.0], [1.0, 0.0, 1.0, 0.0]]
    """
    h, w = mask.shape
    offsets = []
    for n in (h, w):
        extra = max(n - tile_px, 0)
        offsets.append(int(rng.integers(0, extra + 1)) if rng is not None else extra // 2)
    (r0, c0) = offsets
    data = data[:, r0 : r0 + tile_px, c0 : c0 + tile_px]
    mask = mask[r0 : r0 + tile_px, c0 : c0 + tile_px]
    h, w = mask.shape
    pads = [((tile_px - n) // 2, tile_px - n - (tile_px - n) // 2) for n in (h, w)]
    if any(p for pair in pads for p in pair):
        data = np.pad(data, [(0, 0), *pads], mode="reflect")
        mask = np.pad(mask, pads, mode="reflect")
    if rng is not None:
        k = int(rng.integers(4))
        data, mask = np.rot90(data, k, axes=(1, 2)), np.rot90(mask, k)
        if rng.random() < 0.5:
            data, mask = data[:, :, ::-1], mask[:, ::-1]
    return np.ascontiguousarray(data), np.ascontiguousarray(mask)


def jitter(data: np.ndarray, amount: float, rng: np.random.Generator | None) -> np.ndarray:
    """``data`` times a random brightness gain, and a smaller random gain per band.

    Each region's landscape has its own brightness and colour (haze, season,
    soil), and the patches of one region look alike; a detector can then
    learn the region instead of the mine. Gains of ``1 +- amount`` overall
    and ``1 +- amount / 2`` per band make colour a weaker cue than shape and
    contrast. Nothing changes without ``rng`` (validation and test) or with
    ``amount`` 0.

    Examples
    --------
    >>> x = np.ones((2, 1, 1))
    >>> g = jitter(x, 0.2, np.random.default_rng(0)).ravel()
    >>> bool(((g > 0.7) & (g < 1.3)).all()), bool(g[0] != g[1])
    (True, True)
    """
    if rng is None or amount <= 0:
        return data
    gain = rng.uniform(1 - amount, 1 + amount)
    per_band = rng.uniform(1 - amount / 2, 1 + amount / 2, size=(len(data), 1, 1))
    return (data * gain * per_band).astype(data.dtype)


def target_mask(patch: Patch, min_box_px: int) -> np.ndarray:
    """What the detector should box on ``patch``: its outlines, the whole patch, or nothing.

    A hard negative gets nothing even where an outline touches it (the table
    is trusted over coarse outlines). A mine patch whose outlines give no box
    of ``min_box_px`` (none drawn, or only slivers) is boxed whole: the label
    says a mine is there, and a patch is about the size of one.
    """
    h, w = patch.data.shape[1:]
    if not patch.label:
        return np.zeros((h, w), dtype=bool)
    if patch.mine is not None and len(mine_boxes(patch.mine, min_box_px)):
        return patch.mine.astype(bool)
    return np.ones((h, w), dtype=bool)


def mosaic(
    tiles: list[tuple[np.ndarray, np.ndarray]],
    imgsz: int,
    tile_px: int,
    scaling: Scaling,
    min_box_px: int = 4,
) -> tuple[np.ndarray, np.ndarray]:
    """A ``(C, imgsz, imgsz)`` uint8 image of tiles in a grid, and its ``(k, 4)`` pixel boxes.

    Tiles fill the grid row by row from the top left, the grid centred; what
    no tile covers is 0, as no-data is. Boxes are found per tile, so mines in
    neighbouring tiles never merge into one box.

    Examples
    --------
    >>> s = Scaling.default(("B04",))
    >>> tile = (np.full((1, 2, 2), 0.15), np.ones((2, 2), bool))
    >>> image, boxes = mosaic([tile, tile], 5, 2, s, min_box_px=1)
    >>> image.shape, boxes.tolist()
    ((1, 5, 5), [[0, 0, 2, 2], [2, 0, 4, 2]])
    """
    per_side = imgsz // tile_px
    if len(tiles) > per_side**2:
        raise ValueError(f"{len(tiles)} tiles do not fit a {per_side}x{per_side} grid")
    offset = (imgsz - per_side * tile_px) // 2
    image = np.zeros((len(scaling.bands), imgsz, imgsz), dtype=np.uint8)
    boxes = []
    for i, (data, mask) in enumerate(tiles):
        y = offset + (i // per_side) * tile_px
        x = offset + (i % per_side) * tile_px
        image[:, y : y + tile_px, x : x + tile_px] = scaling.to_uint8(data)
        found = mine_boxes(mask, min_box_px)
        boxes.append(found + np.array([x, y, x, y]))
    return image, np.concatenate(boxes).reshape(-1, 4) if boxes else np.zeros((0, 4), int)


def mosaic_groups(
    indices: np.ndarray, per_mosaic: int, copies: int, rng: np.random.Generator | None
) -> list[np.ndarray]:
    """Patch indices per mosaic: ``copies`` shuffled passes (one pass, in order, without ``rng``).

    Examples
    --------
    >>> [g.tolist() for g in mosaic_groups(np.arange(5), 2, 1, None)]
    [[0, 1], [2, 3], [4]]
    """
    if rng is None:
        order = np.asarray(indices)
    else:
        order = np.concatenate([rng.permutation(indices) for _ in range(copies)])
    return [order[i : i + per_mosaic] for i in range(0, len(order), per_mosaic)]


def build_mosaic_set(
    patches: list[Patch],
    split: np.ndarray,
    out: Path,
    scaling: Scaling,
    imgsz: int,
    opts: FinetuneOptions,
    progress: bool = True,
) -> dict:
    """Write the mosaic YOLO set (images, labels, data.yaml, scaling.json) to ``out``.

    ``mosaics.csv`` says which patch sits in which slot of which mosaic, so
    anyone can check that no held-out patch was trained on. Returns the count
    of mosaics and boxes per split.
    """
    if opts.tile_px > imgsz:
        raise MinescanError(f"--tile-px {opts.tile_px} exceeds the model's imgsz {imgsz}")
    per_mosaic = (imgsz // opts.tile_px) ** 2
    rng = np.random.default_rng(opts.seed)
    jobs = []
    for subset in SPLITS:
        indices = np.flatnonzero(split == subset)
        augment = rng if subset == "train" else None
        for k, group in enumerate(mosaic_groups(indices, per_mosaic, opts.copies, augment)):
            jobs.append((subset, f"mosaic_{subset}_{k:05d}", group, augment))
    counts = {s: {"mosaics": 0, "boxes": 0} for s in SPLITS}
    record = []
    for subset, name, group, augment in tqdm(
        jobs, desc="mosaics", unit="mosaic", file=sys.stderr, disable=not progress
    ):
        record += [
            {"mosaic": name, "split": subset, "slot": k, "file": str(patches[i].path)}
            for k, i in enumerate(group)
        ]
        tiles = [
            fit_tile(
                jitter(patches[i].select(scaling.bands), opts.gain_jitter, augment),
                target_mask(patches[i], opts.min_box_px),
                opts.tile_px,
                augment,
            )
            for i in group
        ]
        image, boxes = mosaic(tiles, imgsz, opts.tile_px, scaling, opts.min_box_px)
        write_image(out / "images" / subset / f"{name}.tif", image)
        write_text(out / "labels" / subset / f"{name}.txt", yolo_label_text(boxes, imgsz, imgsz))
        counts[subset]["mosaics"] += 1
        counts[subset]["boxes"] += len(boxes)
    for subset in SPLITS:
        ensure_dir(out / "images" / subset)
        ensure_dir(out / "labels" / subset)
    with atomic_path(out / "mosaics.csv") as tmp:
        pd.DataFrame(record, columns=["mosaic", "split", "slot", "file"]).to_csv(tmp, index=False)
    scaling.save(out / SCALING)
    write_text(out / "data.yaml", data_yaml(out, len(scaling.bands), scaling.bands))
    return counts


def mix_simulated(out: Path, sim_yaml: str | Path, scaling: Scaling, n_train: int, seed: int):
    """Add simulated images to the set's train and val lists; return how many of each.

    The simulated set must use the same scaling as the base model, or its
    images would teach the detector other brightnesses than a scan shows it.
    """
    sim = read_data(sim_yaml, scaling.bands)
    if Scaling.from_dict(json.loads(sim.scaling_text)) != scaling:
        raise MinescanError(
            f"simulated set {sim_yaml} is scaled differently from the base model (scaling.json)"
        )
    rng = np.random.default_rng(seed)
    doc = yaml.safe_load((out / "data.yaml").read_text())
    used = {}
    for subset, n in (("train", n_train), ("val", None)):
        files = sim.images.get(subset, [])
        if n is not None and n < len(files):
            files = [files[i] for i in sorted(rng.choice(len(files), n, replace=False))]
        listing = out / f"sim_{subset}.txt"
        write_text(listing, "".join(f"{f.resolve()}\n" for f in files))
        doc[subset] = [doc[subset], listing.name]
        used[subset] = len(files)
    header = (out / "data.yaml").read_text().splitlines()[0]
    write_text(out / "data.yaml", header + "\n" + yaml.safe_dump(doc, sort_keys=False))
    return used
