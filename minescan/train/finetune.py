"""Fine-tune a shipped detector on labelled real patches: ``minescan train finetune``.

Real labelled imagery usually comes as small patches (Amazon Mining Watch's are
480 m, 48 px at 10 m), far smaller than the detector's 256 px input. Upsampling
them would teach the detector a scale it never sees in a scan, so each patch is
kept at its native resolution: it is reflect-padded (or cropped) to a
``tile_px`` square, the size ``minescan evaluate`` feeds a 48 px patch at, and
a grid of such tiles fills one 256 px training mosaic. A mine patch's box comes
from its outline mask (one box per connected part), or is the whole tile when
it has no usable outline; a hard negative gets no box, so the detector learns
to stay silent on look-alikes. Training mosaics draw the patches again in a new
order, rotated and flipped, on every copy: the patches are few and the
augmentation is cheap.

Validation is by whole regions (:func:`~minescan.datasets.patches.holdout_regions`):
the held-out regions go only to the test split and are written to
``heldout.csv``, so ``minescan evaluate`` can score exactly them; validation
(for choosing the best epoch) is another set of regions. Simulated YOLO images
can be mixed in so that the simulated world, where the scan is benchmarked,
does not get worse.

Layout of ``OUT``::

    OUT/detector.pt, detector.onnx, scaling.json   the fine-tuned detector (base scaling)
    OUT/screen.json, lasso_path.*                  the base model's screen, unchanged
    OUT/model_card.json, model_card.md             with where it is validated on real pixels
    OUT/heldout.csv                                the held-out patches: file, class, region
    OUT/_data/                                     the mosaic YOLO set, mosaics.csv (kept for a resume)
    OUT/_runs/                                     ultralytics runs
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from tqdm import tqdm

from minescan.datasets.patches import (
    Patch,
    holdout_regions,
    load_patches,
    patch_centres,
    region_ids,
)
from minescan.datasets.yolo import data_yaml, mine_boxes, write_image, yolo_label_text
from minescan.kernel.errors import MinescanError
from minescan.kernel.io import atomic_path, ensure_dir, require_file, write_json, write_text
from minescan.kernel.model import CARD_JSON, CARD_MD, DETECTOR_PT, SCALING, SCREEN_FILES, ship_model
from minescan.kernel.scaling import Scaling
from minescan.train.detector import SPLITS, TrainOptions, card_markdown, read_data, train_detector

#: Files of the base model folder copied unchanged: the spectral screen is not fine-tuned.

#: What the model card says about where the model has and has not been checked on real pixels.
VALIDATED = (
    "Validated on real Sentinel-2 pixels only for artisanal gold mining in the Amazon basin "
    "(region-held-out patches, figures below). NOT validated on real pixels for industrial "
    "open pits, nor anywhere in Africa or Asia: there the figures describe the simulated "
    "world only."
)

ATTRIBUTION = (
    "Contains modified Copernicus Sentinel data.",
    "Mine outlines: Amazon Mining Watch (Earth Genome / Earthrise), CC BY 4.0.",
)


#: The options that decide the mosaic set (the others only decide training).
MOSAIC_OPTIONS = (
    "holdout_fraction",
    "val_fraction",
    "seed",
    "tile_px",
    "copies",
    "min_box_px",
    "sim_images",
    "gain_jitter",
)


@dataclass(frozen=True)
class FinetuneOptions:
    """How the mosaic set is built and the base detector trained further.

    ``lr0`` is small and the warm-up gentle (AdamW, no bias-rate spike): the
    base weights are a start to keep, not to overwrite; ``freeze`` keeps the
    first layers (the backbone) fixed altogether. ``copies`` is how often each training patch appears per epoch (each time in
    a new mosaic, rotated and flipped); ``sim_images`` caps the simulated
    training images mixed in (None: as many as there are real training mosaics);
    ``gain_jitter`` randomises training tiles' brightness and colour (:func:`jitter`);
    ``patience`` is ultralytics' early stop (epochs without improvement).
    """

    holdout_fraction: float = 0.25
    val_fraction: float = 0.15
    seed: int = 0
    tile_px: int = 64
    copies: int = 4
    min_box_px: int = 4
    sim_images: int | None = None
    gain_jitter: float = 0.0
    epochs: int = 30
    lr0: float = 0.0005
    warmup_epochs: float = 1.0
    freeze: int | None = None
    batch: int = 16
    device: str = "cpu"
    workers: int = 2
    patience: int = 100


@dataclass(frozen=True)
class Labels:
    """Where the labelled patches come from (the ``minescan evaluate`` inputs, too)."""

    table: str
    label_column: str = "label"
    classes: tuple[str, ...] | None = None
    outlines: str | None = None
    outlines_layer: str | None = None
    bands: str | None = None


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


def split_patches(patches: list[Patch], opts: FinetuneOptions) -> tuple[np.ndarray, np.ndarray]:
    """Each patch's split (``train``/``val``/``test``) and 5-degree region.

    The test split is the held-out regions; validation is a further set of
    whole regions from what is left, so even choosing the best epoch never
    looks at a training region.
    """
    regions = region_ids(patch_centres(patches))
    labels = np.array([bool(p.label) for p in patches])
    split = np.full(len(patches), "train", dtype=object)
    held = holdout_regions(regions, labels, opts.holdout_fraction, opts.seed)
    split[held] = "test"
    rest = np.flatnonzero(~held)
    val = holdout_regions(regions[rest], labels[rest], opts.val_fraction, opts.seed)
    split[rest[val]] = "val"
    return split.astype(str), regions


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


def heldout_table(
    patches: list[Patch], split: np.ndarray, regions: np.ndarray, labels: Labels
) -> pd.DataFrame:
    """The held-out patches as a labels table ``minescan evaluate --labels`` reads.

    ``file`` is absolute, so the table works wherever it is copied; the class
    column keeps the user's name and values.
    """
    rows = [
        {
            "file": str(p.path),
            labels.label_column: p.attrs.get(labels.label_column, "mine" if p.label else "other"),
            "region": region,
        }
        for p, s, region in zip(patches, split, regions, strict=True)
        if s == "test"
    ]
    return pd.DataFrame(rows)


def manifest(patches: list[Patch], split: np.ndarray, labels: Labels, opts, sim_yaml, imgsz):
    """What decides the mosaic set, as JSON values: a rerun with the same one keeps the set."""
    digest = hashlib.sha256()
    for p, s in zip(patches, split, strict=True):
        digest.update(f"{p.path}|{p.label}|{s}|".encode())
        digest.update(p.data.tobytes())
        if p.mine is not None:
            digest.update(np.packbits(p.mine).tobytes())
    doc = {
        "patches": digest.hexdigest(),
        "labels": asdict(labels),
        "options": {k: getattr(opts, k) for k in MOSAIC_OPTIONS},
        "sim_data": str(Path(sim_yaml).resolve()) if sim_yaml else None,
        "imgsz": imgsz,
    }
    return json.loads(json.dumps(doc))  # tuples become lists, as they are read back


def _base_model(base: str | Path) -> tuple[Path, dict, Scaling]:
    """The base model folder's detector.pt path, model card and scaling."""
    folder = Path(base)
    weights = require_file(folder / DETECTOR_PT, "base detector")
    card_path = require_file(folder / CARD_JSON, "base model card")
    try:
        card = json.loads(card_path.read_text())
    except json.JSONDecodeError as exc:
        raise MinescanError(f"cannot read base model card {card_path}: {exc}") from None
    return weights, card, Scaling.load(folder / SCALING)


def _counts(patches: list[Patch], split: np.ndarray, regions: np.ndarray) -> dict:
    labels = np.array([bool(p.label) for p in patches])
    return {
        s: {
            "mine": int((labels & (split == s)).sum()),
            "other": int((~labels & (split == s)).sum()),
            "regions": sorted(set(regions[split == s].tolist())),
        }
        for s in SPLITS
    }


def finetune(
    labels: Labels,
    base: str | Path,
    out: str | Path,
    opts: FinetuneOptions = FinetuneOptions(),
    sim_yaml: str | Path | None = None,
    force: bool = False,
    command: str | None = None,
    progress: bool = True,
) -> dict:
    """Build the mosaic set, train the base detector further, write the model folder.

    A rerun of the same command after an interruption keeps the mosaic set and
    resumes training from the last epoch; ``force`` starts again. Returns the
    model card.
    """
    if Path(out).resolve() == Path(base).resolve():
        raise MinescanError("--out must be a new folder, not the --base model itself")
    out = ensure_dir(out)
    if (out / "heldout.csv").exists() and not force:
        raise MinescanError(f"{out} already holds a fine-tuned model; pass --force to overwrite it")
    weights, base_card, scaling = _base_model(base)
    imgsz = int(base_card.get("imgsz", 256))
    patches = load_patches(
        labels.table,
        labels.label_column,
        outlines=labels.outlines,
        outlines_layer=labels.outlines_layer,
        bands=labels.bands,
        classes=labels.classes,
        progress=progress,
    )
    for p in patches:
        p.select(scaling.bands)  # a one-line error now, not mid-way through the set
    split, regions = split_patches(patches, opts)
    data_dir = out / "_data"
    current = manifest(patches, split, labels, opts, sim_yaml, imgsz)
    manifest_path = data_dir / "manifest.json"
    same = manifest_path.exists() and json.loads(manifest_path.read_text()) == current
    resume = same and not force and (out / "_runs" / "train" / "weights" / "last.pt").exists()
    if not same or force:
        if data_dir.exists():
            shutil.rmtree(data_dir)
        counts = build_mosaic_set(patches, split, data_dir, scaling, imgsz, opts, progress)
        n_sim = counts["train"]["mosaics"] if opts.sim_images is None else opts.sim_images
        sim = mix_simulated(data_dir, sim_yaml, scaling, n_sim, opts.seed) if sim_yaml else {}
        write_json(data_dir / "summary.json", {"mosaics": counts, "simulated": sim})
        write_json(manifest_path, current)
    summary = json.loads((data_dir / "summary.json").read_text())

    train_opts = TrainOptions(
        model=str(weights),
        imgsz=imgsz,
        epochs=opts.epochs,
        device=opts.device,
        batch=opts.batch,
        workers=opts.workers,
        patience=opts.patience,
        seed=opts.seed,
        lr0=opts.lr0,
        warmup_epochs=opts.warmup_epochs,
        warmup_bias_lr=0.0,
        freeze=opts.freeze,
    )
    card = train_detector(
        data_dir / "data.yaml",
        out,
        train_opts,
        resume=resume,
        force=not resume,
        channels=scaling.bands,
        command=command,
    )
    ship_model(base, out, SCREEN_FILES)
    table = heldout_table(patches, split, regions, labels)
    with atomic_path(out / "heldout.csv") as tmp:
        table.to_csv(tmp, index=False)
    card["finetune"] = {
        "base": str(base),
        "base_command": base_card.get("command"),
        "labels": asdict(labels),
        "options": asdict(opts),
        "sim_data": str(sim_yaml) if sim_yaml else None,
        "patches": _counts(patches, split, regions),
        "mosaics": summary["mosaics"],
        "simulated_images": summary["simulated"],
        "heldout": {"file": "heldout.csv", **_counts(patches, split, regions)["test"]},
        "split_rule": "whole 5-degree regions (datasets.patches.holdout_regions): test = "
        f"held out ({opts.holdout_fraction:g} of each class, seed {opts.seed}), val = "
        f"further regions ({opts.val_fraction:g} of the rest)",
    }
    card["lineage"] = [*base_card.get("lineage", []), {"command": base_card.get("command")}]
    card["validated_on_real_pixels"] = VALIDATED
    card["attribution"] = list(ATTRIBUTION)
    write_json(out / CARD_JSON, card)
    write_text(out / CARD_MD, finetune_markdown(card))
    return card


def finetune_markdown(card: dict) -> str:
    """The detector card page plus what fine-tuning adds: real data, hold-out, limits, credits.

    ``real_pixel_figures`` (lines of text), when the card has them, are what
    ``minescan evaluate`` measured on the held-out patches: training cannot
    score patches itself (``minescan.train`` does not import the evaluator).
    """
    ft = card["finetune"]
    lines = [
        card_markdown(card).rstrip(),
        "",
        "## Fine-tuned on real Sentinel-2 patches",
        "",
        f"**{card['validated_on_real_pixels']}**",
        "",
        f"- base model: `{ft['base']}` (its command: `{ft['base_command']}`)",
        f"- labels: `{ft['labels']['table']}`, class column `{ft['labels']['label_column']}`"
        + (f", classes {', '.join(ft['labels']['classes'])}" if ft["labels"]["classes"] else "")
        + (f", outlines `{ft['labels']['outlines']}`" if ft["labels"]["outlines"] else ""),
        f"- split: {ft['split_rule']}",
        f"- mosaics: each patch at native resolution in a {ft['options']['tile_px']} px tile, "
        f"{ft['options']['copies']} shuffled, turned and flipped copies per training patch",
        f"- simulated images mixed in: {ft['simulated_images'] or 'none'}",
        f"- held out (test split only, never trained on): regions "
        f"{', '.join(ft['heldout']['regions'])}, {ft['heldout']['mine']} mine and "
        f"{ft['heldout']['other']} other patches, listed in `{ft['heldout']['file']}` of the "
        "training output (`minescan evaluate --labels` reads it; it is not shipped, the "
        "labels stay with their owner)",
        "",
        "| split | mine patches | other patches | mosaics | boxes | regions |",
        "|---|---|---|---|---|---|",
    ]
    for split, c in ft["patches"].items():
        m = ft["mosaics"][split]
        lines.append(
            f"| {split} | {c['mine']} | {c['other']} | {m['mosaics']} | {m['boxes']} | "
            f"{', '.join(c['regions'])} |"
        )
    if card.get("real_pixel_figures"):
        lines += ["", "## Measured on real pixels", ""]
        lines += [f"- {line}" for line in card["real_pixel_figures"]]
    lines += ["", "## Attribution", ""] + [f"- {a}" for a in card["attribution"]] + [""]
    return "\n".join(lines)
