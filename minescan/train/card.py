"""Model cards: what a trained (or fine-tuned) detector is, how it was made and how it scores.

:func:`model_card` is the JSON card ``train detector`` writes beside the
weights; :func:`card_markdown` its Markdown page, and :func:`finetune_markdown`
that page with what fine-tuning on real patches adds.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from typing import TYPE_CHECKING

from minescan.train.yolo_data import YoloData, data_hash

if TYPE_CHECKING:
    from minescan.train.detector import TrainOptions


#: What the model card says about where the model has and has not been checked on real pixels.
VALIDATED = (
    "Validated on real Sentinel-2 pixels only for artisanal gold mining in the Amazon basin "
    "(region-held-out patches, figures below). NOT validated on real pixels for industrial "
    "open pits, nor anywhere in Africa or Asia: there the figures describe the simulated "
    "world only."
)

#: The credits a fine-tuned model's card carries: the imagery and the labels it learnt from.
ATTRIBUTION = (
    "Contains modified Copernicus Sentinel data.",
    "Mine outlines: Amazon Mining Watch (Earth Genome / Earthrise), CC BY 4.0.",
)


def command_line() -> str:
    """How this process was started, as a ``minescan ...`` line a user can paste."""
    return "minescan " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def _device_name(device: str) -> str:
    import platform

    if device != "cpu":
        import torch

        if torch.cuda.is_available():
            return f"cuda:{device} {torch.cuda.get_device_name(int(device.split(',')[0]))}"
    return f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch threads 2)"


def model_card(
    data: YoloData, opts: TrainOptions, metrics: dict, train_s: float, command: str
) -> dict:
    """Everything needed to judge and reproduce the detector."""
    import ultralytics

    split_rule = None
    split_json = data.yaml_path.parent / "split.json"
    if split_json.exists():
        try:
            split_rule = json.loads(split_json.read_text()).get("rule")
        except (json.JSONDecodeError, AttributeError):
            split_rule = None
    return {
        "model": opts.model,
        "channels": list(data.bands),
        "imgsz": opts.imgsz,
        "epochs": opts.epochs,
        "batch": opts.batch,
        "data": {
            "yaml": str(data.yaml_path),
            "sha256": data_hash(data),
            "images": {s: len(v) for s, v in data.images.items()},
            "split_rule": split_rule,
        },
        "metrics": metrics,
        "training_seconds": round(train_s, 1),
        "device": _device_name(opts.device),
        "ultralytics": ultralytics.__version__,
        "command": command,
    }


def card_markdown(card: dict) -> str:
    """The model card as a short Markdown page."""
    lines = [
        "# minescan detector",
        "",
        f"- model: `{card['model']}` "
        + (
            "built from the yaml, trained from scratch"
            if card["model"].endswith((".yaml", ".yml"))
            else "weights, trained further"
        )
        + f", {card['epochs']} epochs, imgsz {card['imgsz']}, batch {card['batch']}",
        f"- channels: {', '.join(card['channels'])} (uint8 scaling in scaling.json and the ONNX metadata)",
        f"- data: `{card['data']['yaml']}` sha256 `{card['data']['sha256'][:16]}...`, images "
        + ", ".join(f"{k} {v}" for k, v in card["data"]["images"].items()),
        f"- split rule: {card['data']['split_rule']}",
        f"- training time: {card['training_seconds'] / 60:.1f} min on {card['device']}",
        f"- ultralytics {card['ultralytics']}",
        "",
        "| split | images | mAP50 | mAP50-95 | precision | recall |",
        "|---|---|---|---|---|---|",
    ]
    for split, groups in card["metrics"].items():
        for key, m in groups.items():
            label = split if key == "all" else f"{split} {key}"
            lines.append(
                f"| {label} | {m['images']} | {m['mAP50']:.3f} | {m['mAP50-95']:.3f} | "
                f"{m['precision']:.3f} | {m['recall']:.3f} |"
            )
    lines += ["", "Reproduce:", "", "```", card["command"], "```", ""]
    return "\n".join(lines)


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
