"""The training stage's two fits, as the CLI and the ``make train`` pipeline call them.

:func:`detector` trains the YOLO detector from the ``train:`` section;
:func:`screen` fits the LASSO spectral screen. Both refuse to overwrite a
model folder's files unless asked, and fail on bad options before any data is read.
"""

from __future__ import annotations

import re
from pathlib import Path

from minescan.kernel.errors import MinescanError
from minescan.kernel.lock import writes_output
from minescan.kernel.model import SCREEN
from minescan.train.settings import TrainSettings

#: ``--device`` values ultralytics takes: cpu, or CUDA indices such as 0 or 0,1.
DEVICE = re.compile(r"^(cpu|\d+(,\d+)*)$")


def check_device(device: str) -> None:
    """Refuse a ``--device`` that names no usable device, before any data is read.

    ultralytics would otherwise fail with a traceback (or fall back silently)
    only after the dataset checks.
    """
    if not DEVICE.match(device):
        raise MinescanError(f"bad --device {device!r}; use cpu or a CUDA index such as 0 or 0,1")
    if device == "cpu":
        return
    import torch

    count = torch.cuda.device_count()
    missing = [i for i in map(int, device.split(",")) if i >= count]
    if missing:
        raise MinescanError(
            f"--device {device}: torch sees {count} CUDA GPU(s), so GPU {missing[0]} does not "
            "exist; use --device cpu"
        )


def check_model(model: str) -> None:
    """``--model`` must be an ultralytics yaml (built from scratch) or an existing ``.pt``."""
    if model.endswith((".yaml", ".yml")):
        return
    if not model.endswith(".pt"):
        raise MinescanError(f"--model {model}: expected a model .yaml (yolo11n.yaml) or a .pt file")
    if not Path(model).is_file():
        raise MinescanError(f"--model {model}: file not found")


@writes_output("out")
def detector(
    settings: TrainSettings,
    data_yaml: str | Path,
    out: str | Path,
    resume: bool = False,
    force: bool = False,
    channels: tuple[str, ...] | None = None,
) -> dict:
    """Train the detector on the YOLO set of ``data_yaml`` into the model folder ``out``; the card.

    ``channels``, when given, must be the YOLO set's bands; ``resume`` continues
    an interrupted run, ``force`` replaces a detector already in ``out``.
    """
    from minescan.train.detector import TrainOptions, train_detector

    check_device(str(settings.device))
    check_model(settings.model)
    opts = TrainOptions.from_settings(settings)
    return train_detector(data_yaml, out, opts, resume=resume, force=force, channels=channels)


@writes_output("out")
def screen(
    pixels: str | Path,
    out: str | Path,
    chips_dir: str | Path | None = None,
    max_rows: int = 60_000,
    force: bool = False,
):
    """Fit the spectral screen on the pixel table ``pixels`` into ``out``; the fit's result.

    ``chips_dir`` holds the chips the tile rule is calibrated on (default: the
    one the table records); ``force`` replaces a ``screen.json`` already in ``out``.
    """
    from minescan.train.screen import fit_screen

    if (Path(out) / SCREEN).exists() and not force:
        raise MinescanError(f"{out} already holds a {SCREEN}; pass --force to overwrite it")
    return fit_screen(pixels, out, chips_dir=chips_dir, max_rows=max_rows)
