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
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from minescan.datasets.patches import (
    Patch,
    holdout_regions,
    load_patches,
    patch_centres,
    region_ids,
)
from minescan.kernel.errors import MinescanError
from minescan.kernel.io import atomic_path, ensure_dir, require_file, write_json, write_text
from minescan.kernel.lock import writes_output
from minescan.kernel.model import CARD_JSON, CARD_MD, DETECTOR_PT, SCALING, SCREEN_FILES, ship_model
from minescan.kernel.scaling import Scaling
from minescan.train.card import ATTRIBUTION, VALIDATED, finetune_markdown
from minescan.train.detector import TrainOptions, train_detector
from minescan.train.mosaics import build_mosaic_set, mix_simulated
from minescan.train.yolo_data import SPLITS

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
    ``gain_jitter`` randomises training tiles' brightness and colour (:func:`~minescan.train.mosaics.jitter`);
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


@writes_output("out")
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
