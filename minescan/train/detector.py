"""Train the YOLO mine detector on N-channel TIFFs, export it to ONNX and write its model card.

ultralytics (>= 8.3) reads a multi-page uint8 TIFF as one image with one channel
per page when ``data.yaml`` says ``channels: N``; the model is built from a
yaml (no pretrained download) with that many input channels. Colour
augmentations (HSV) only touch 3-channel images, and are turned off anyway:
they assume RGB and would change the band ratios the detector should learn.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, fields
from pathlib import Path

import yaml

from minescan.kernel.errors import MinescanError, first_line
from minescan.kernel.io import atomic_path, ensure_dir, write_json, write_text
from minescan.kernel.model import (
    CARD_JSON,
    CARD_MD,
    DETECTOR_ONNX,
    DETECTOR_PT,
    SCALING,
    file_hashes,
)
from minescan.train.card import card_markdown, command_line, model_card
from minescan.train.settings import TrainSettings
from minescan.train.yolo_data import YoloData, check_images, image_zoom, read_data


def _metrics(result) -> dict:
    box = result.box
    return {
        "mAP50": round(float(box.map50), 4),
        "mAP50-95": round(float(box.map), 4),
        "precision": round(float(box.mp), 4),
        "recall": round(float(box.mr), 4),
    }


def evaluate(
    weights: Path, data: YoloData, work: Path, imgsz: int, device: str, batch: int
) -> dict:
    """Metrics on val and test, overall and per zoom (images grouped by the zoom in their name)."""
    from minescan.kernel import offline

    ul = offline.ultralytics()
    model = ul.YOLO(str(weights))
    work = work.resolve()  # ultralytics reads relative list files against the data root
    out: dict = {}
    for split in ("val", "test"):
        files = data.images.get(split)
        if not files:
            continue
        groups = {"all": files}
        zooms = {image_zoom(f) for f in files}
        if None not in zooms and len(zooms) > 1:
            for z in sorted(zooms):
                groups[f"z{z}"] = [f for f in files if image_zoom(f) == z]
        out[split] = {}
        for key, group in groups.items():
            listing = work / f"{split}_{key}.txt"
            write_text(listing, "\n".join(str(f) for f in group) + "\n")
            doc = {**data.doc, "val": str(listing)}
            yaml_path = work / f"{split}_{key}.yaml"
            write_text(yaml_path, yaml.safe_dump(doc, sort_keys=False))
            result = model.val(
                data=str(yaml_path),
                split="val",
                imgsz=imgsz,
                batch=batch,
                device=device,
                plots=False,
                verbose=False,
                workers=0,
                project=str(work.resolve()),
                name=f"val_{split}_{key}",
                exist_ok=True,
            )
            out[split][key] = {**_metrics(result), "images": len(group)}
    return out


def export_onnx(
    weights: Path, onnx_path: Path, imgsz: int, bands: tuple[str, ...], scaling_text: str
) -> Path:
    """ONNX with dynamic batch and size, plus ``minescan_channels`` and ``minescan_scaling`` props."""
    import onnx

    from minescan.kernel import offline

    ul = offline.ultralytics()
    work = onnx_path.parent / "_runs" / "export"
    ensure_dir(work)
    staged = work / DETECTOR_PT
    shutil.copyfile(weights, staged)
    exported = Path(
        ul.YOLO(str(staged)).export(
            format="onnx", simplify=False, dynamic=True, imgsz=imgsz, device="cpu"
        )
    )
    model = onnx.load(str(exported))
    props = {"minescan_channels": ",".join(bands), "minescan_scaling": scaling_text}
    for key, value in props.items():
        for p in list(model.metadata_props):
            if p.key == key:
                model.metadata_props.remove(p)
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    with atomic_path(onnx_path) as tmp:
        onnx.save(model, str(tmp))
    return onnx_path


@dataclass(frozen=True)
class TrainOptions:
    """ultralytics training settings.

    ``lr0`` None leaves the optimizer and learning rate to ultralytics; a value
    trains with AdamW at that rate, which fine-tuning needs: ultralytics' own
    choice and its warm-up (bias learning rate ``warmup_bias_lr`` falling to
    ``lr0`` over ``warmup_epochs``) are made for training from scratch and
    wipe out much of what trained weights know in the first epoch. ``freeze``
    keeps the first that many layers as they are (yolo11n's backbone is 0-10).

    The first seven fields are the ``train:`` settings of the same names, with
    no defaults here: :meth:`from_settings` takes them from a
    :class:`~minescan.train.settings.TrainSettings` (``configs/default.yaml``
    unless overridden), so a run and its settings cannot disagree.
    """

    model: str
    imgsz: int
    epochs: int
    device: str
    batch: int
    workers: int
    patience: int
    seed: int = 0
    lr0: float | None = None
    warmup_epochs: float = 3.0
    warmup_bias_lr: float = 0.1
    freeze: int | None = None

    @classmethod
    def from_settings(cls, settings: TrainSettings, **options) -> TrainOptions:
        """The ``train:`` section's ultralytics knobs, with ``options`` (``seed``, ``lr0``, ...)."""
        shared = {f.name for f in fields(cls)} & set(type(settings).model_fields)
        return cls(**{name: getattr(settings, name) for name in shared}, **options)


def _check_output(out: Path, resume: bool, force: bool) -> Path:
    run_dir = out / "_runs" / "train"
    if (out / DETECTOR_PT).exists() and not (force or resume):
        raise MinescanError(f"{out} already holds a detector; pass --force to overwrite it")
    last = run_dir / "weights" / "last.pt"
    if resume and not last.exists():
        raise MinescanError(f"nothing to resume: {last} does not exist")
    if not resume and last.exists() and not force:
        raise MinescanError(
            f"an earlier training run is in {run_dir}; pass --resume to continue it or --force to restart"
        )
    return run_dir


def _finished(checkpoint: Path) -> bool:
    """ultralytics marks a checkpoint of a completed run with epoch -1 (optimizer stripped)."""
    import torch

    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=False)
    return ckpt.get("epoch", -1) == -1


def _fit(data: YoloData, opts: TrainOptions, out: Path, resume: bool) -> Path:
    """Run ultralytics training (or resume it); return best.pt."""
    from minescan.kernel import offline

    ul = offline.ultralytics()
    import torch

    if opts.device == "cpu":
        torch.set_num_threads(2)
    run_dir = out / "_runs" / "train"
    data_copy = out / "_runs" / "data.yaml"
    last = run_dir / "weights" / "last.pt"
    if resume and _finished(last):
        pass  # interrupted after training (export or evaluation): go on from there
    elif resume:
        ul.YOLO(str(last)).train(resume=True, data=str(data_copy))
    else:
        if run_dir.exists():
            shutil.rmtree(run_dir)
        write_text(data_copy, yaml.safe_dump(data.doc, sort_keys=False))
        try:
            model = ul.YOLO(opts.model)
        except Exception as exc:
            raise MinescanError(f"cannot build model {opts.model}: {first_line(exc)}") from None
        model.train(
            data=str(data_copy),
            imgsz=opts.imgsz,
            epochs=opts.epochs,
            batch=opts.batch,
            device=opts.device,
            workers=opts.workers,
            patience=opts.patience,
            seed=opts.seed,
            pretrained=opts.model.endswith(
                ".pt"
            ),  # a .pt given is trained further; a yaml from scratch
            amp=False,
            plots=False,
            verbose=False,
            project=str((out / "_runs").resolve()),  # ultralytics puts relative ones under runs/
            name="train",
            exist_ok=True,
            optimizer="auto" if opts.lr0 is None else "AdamW",
            lr0=0.01 if opts.lr0 is None else opts.lr0,
            warmup_epochs=opts.warmup_epochs,
            warmup_bias_lr=opts.warmup_bias_lr,
            freeze=opts.freeze,
            hsv_h=0.0,
            hsv_s=0.0,
            hsv_v=0.0,
            flipud=0.5,
            fliplr=0.5,
            cache=False,
        )
    best = run_dir / "weights" / "best.pt"
    if not best.exists():
        best = run_dir / "weights" / "last.pt"
    return best


def train_detector(
    data_yaml: str | Path,
    out_dir: str | Path,
    opts: TrainOptions,
    resume: bool = False,
    force: bool = False,
    channels: tuple[str, ...] | None = None,
    command: str | None = None,
) -> dict:
    """Train, evaluate, export; write the model folder; return the model card."""
    out = ensure_dir(out_dir)
    _check_output(out, resume, force)
    data = read_data(data_yaml, channels)
    from minescan.kernel import offline

    offline.ultralytics()
    check_images(data)
    _check_model_channels(opts.model, data.channels)

    command_file = out / "_runs" / "command.txt"
    if not resume:
        write_text(command_file, (command or command_line()) + "\n")
    started = time.perf_counter()
    best = _fit(data, opts, out, resume)
    train_s = _train_seconds(out / "_runs" / "train") or time.perf_counter() - started
    if command_file.exists():
        command = command_file.read_text().strip()  # a resumed run reports how it was started

    with atomic_path(out / DETECTOR_PT) as tmp:
        shutil.copyfile(best, tmp)
    with atomic_path(out / SCALING) as tmp:
        tmp.write_text(data.scaling_text)
    export_onnx(out / DETECTOR_PT, out / DETECTOR_ONNX, opts.imgsz, data.bands, data.scaling_text)
    metrics = evaluate(
        out / DETECTOR_PT, data, out / "_runs" / "eval", opts.imgsz, opts.device, opts.batch
    )
    card = model_card(data, opts, metrics, train_s, command or command_line())
    # scan --backend ultralytics opens detector.pt (a pickle) only when its hash matches this.
    card["sha256"] = file_hashes(out, (DETECTOR_PT, DETECTOR_ONNX))
    write_json(out / CARD_JSON, card)
    write_text(out / CARD_MD, card_markdown(card))
    return card


def _train_seconds(run_dir: Path) -> float | None:
    """Training time over all sessions of a run.

    ultralytics logs each epoch's cumulative seconds, counted again from 0
    when a run is resumed; a drop marks a new session, whose time adds on.
    """
    results = run_dir / "results.csv"
    if not results.exists():
        return None
    lines = results.read_text().strip().splitlines()
    header = [h.strip() for h in lines[0].split(",")]
    if "time" not in header or len(lines) < 2:
        return None
    times = [float(line.split(",")[header.index("time")]) for line in lines[1:]]
    return sum(a for a, b in zip(times[:-1], times[1:], strict=True) if b < a) + times[-1]


def _check_model_channels(model: str, channels: int) -> None:
    """A ``.pt`` model must take as many channels as the data; a yaml is built to match."""
    if model.endswith(".pt"):
        from minescan.kernel import offline

        ul = offline.ultralytics()
        try:
            m = ul.YOLO(model)
        except Exception as exc:
            raise MinescanError(f"cannot load model {model}: {first_line(exc)}") from None
        got = m.model.yaml.get("channels", 3)
        if got != channels:
            raise MinescanError(
                f"model {model} takes {got} channels but the YOLO set has {channels}"
            )
