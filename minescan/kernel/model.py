"""The model folder: which files a trained model is, and how they are found, read, hashed and shipped.

``minescan train`` writes a model folder; ``scan``, ``evaluate`` and
``monitor`` read one; ``make train`` ships one into ``models/``. Every stage
names the files through the constants here, so the folder one stage writes is
the folder every other stage reads:

- ``detector.onnx``: the YOLO detector for onnxruntime (the default backend);
- ``detector.pt``: the same weights for ultralytics; a pickle, so it is opened
  only when its sha256 is the one the model card records (:func:`verify_pickle`);
- ``scaling.json``: reflectance to uint8 per band (:class:`~minescan.kernel.scaling.Scaling`);
- ``screen.json``: the spectral screen (:class:`~minescan.kernel.screen.Screen`),
  with ``lasso_path.csv`` / ``.png``, the L1 paths it was chosen from;
- ``verifier.json`` / ``verifier.onnx``: the real-imagery verifier
  (:class:`~minescan.kernel.verifier.Verifier`), a small CNN ensemble fitted on real
  patches, which judges detector boxes and proposes windows on real sources;
- ``model_card.json`` / ``.md``: how the detector was trained and how well it does.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from minescan.kernel.errors import MinescanError, first_line

DETECTOR_ONNX = "detector.onnx"
DETECTOR_PT = "detector.pt"
SCALING = "scaling.json"
SCREEN = "screen.json"
VERIFIER = "verifier.json"
VERIFIER_NET = "verifier.onnx"
CARD_JSON = "model_card.json"
CARD_MD = "model_card.md"
LASSO_PATH_CSV = "lasso_path.csv"
LASSO_PATH_PNG = "lasso_path.png"
#: The record ``make train`` leaves of its steps and their seconds.
PIPELINE = "pipeline.json"

#: The detector file each scan backend opens.
DETECTOR_FILES = {"onnx": DETECTOR_ONNX, "ultralytics": DETECTOR_PT}
#: The screen and the record of how it was chosen; a fine-tuned model keeps its base's.
SCREEN_FILES = (SCREEN, LASSO_PATH_CSV, LASSO_PATH_PNG)
#: Files ``make train`` copies from the build's model folder into the shipped one.
SHIPPED_FILES = (
    DETECTOR_PT,
    DETECTOR_ONNX,
    SCALING,
    SCREEN,
    VERIFIER,
    VERIFIER_NET,
    CARD_MD,
    CARD_JSON,
    LASSO_PATH_CSV,
    LASSO_PATH_PNG,
    PIPELINE,
)

#: The model folder scan uses by default; found beside the package (see :func:`model_folder`).
DEFAULT_MODEL = "models/demo"
#: The shipped model in a checkout or an editable install: beside the package.
CHECKOUT_MODEL = Path(__file__).resolve().parent.parent.parent / DEFAULT_MODEL
#: Where a wheel installs it, under ``sys.prefix`` (``[options.data_files]`` in setup.cfg).
INSTALLED_MODEL = Path("share") / "minescan" / DEFAULT_MODEL


def model_folder(spec: str | os.PathLike) -> Path:
    """The model folder ``spec`` names, as an absolute path.

    A folder that exists as given (relative to the current folder) wins. The
    default, ``models/demo``, is otherwise the shipped model: beside the
    package in a checkout, or under ``sys.prefix/share/minescan`` after a
    plain ``pip install``; so ``minescan scan`` works from any folder.

    Examples
    --------
    >>> (model_folder("models/demo") / DETECTOR_ONNX).is_file()
    True
    """
    import sys

    given = Path(spec)
    if given.is_dir() or str(spec) != DEFAULT_MODEL:
        return given.resolve()
    shipped = (CHECKOUT_MODEL, Path(sys.prefix) / INSTALLED_MODEL)
    return next((p for p in shipped if p.is_dir()), given.resolve())


def scan_files(backend: str, use_screen: bool, use_verifier: bool = False) -> list[str]:
    """The files a scan with ``backend`` reads from the model folder (hashed into its run id).

    Examples
    --------
    >>> scan_files("ultralytics", use_screen=False)
    ['detector.pt', 'scaling.json']
    >>> scan_files("onnx", use_screen=True, use_verifier=True)[-1]
    'verifier.onnx'
    """
    return (
        [DETECTOR_FILES[backend], SCALING]
        + ([SCREEN] if use_screen else [])
        + ([VERIFIER, VERIFIER_NET] if use_verifier else [])
    )


def model_file(
    model_dir: str | os.PathLike, name: str, needed_for: str = "train or export the model first"
) -> Path:
    """``model_dir/name``; a one-line error that says which is missing, the folder or the file."""
    folder = Path(model_dir)
    if not folder.is_dir():
        raise MinescanError(f"model folder not found: {folder}")
    path = folder / name
    if not path.is_file():
        raise MinescanError(f"model file missing: {path} ({needed_for})")
    return path


def file_hashes(model_dir: str | os.PathLike, names) -> dict[str, str]:
    """SHA-256 of each named file of the folder; a one-line error for a missing one."""
    from minescan.kernel.io import file_sha256

    return {name: file_sha256(model_file(model_dir, name)) for name in names}


def load_scaling(model_dir: str | os.PathLike):
    """The folder's :class:`~minescan.kernel.scaling.Scaling`: how the detector's pixels are scaled."""
    from minescan.kernel.scaling import Scaling

    path = model_file(model_dir, SCALING)
    try:
        return Scaling.load(path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise MinescanError(f"cannot read {path}: {first_line(exc)}") from None


def load_screen(model_dir: str | os.PathLike):
    """The folder's :class:`~minescan.kernel.screen.Screen`, which the pyramid scan cannot do without."""
    from minescan.kernel.screen import Screen

    return Screen.load(model_file(model_dir, SCREEN, "the pyramid needs the spectral screen"))


def load_verifier(model_dir: str | os.PathLike):
    """The folder's :class:`~minescan.kernel.verifier.Verifier`, or None: a model may ship without one."""
    from minescan.kernel.verifier import Verifier

    folder = Path(model_dir)
    return Verifier.load(folder) if (folder / VERIFIER).is_file() else None


def verify_pickle(path: Path) -> None:
    """Refuse a ``.pt`` file unless its SHA-256 is the one its folder's ``model_card.json`` records.

    Loading a ``.pt`` unpickles it, and a crafted pickle runs code while it is
    read; ``torch.load(weights_only=True)`` cannot read ultralytics' files,
    which pickle the whole network. So the file's hash is checked first,
    against ``sha256`` in the model card that ``minescan train detector``
    writes: a ``.pt`` swapped in after training is never opened. Trusting the
    card itself is the user's part (README: "Safety and recovery").
    """
    import json

    from minescan.kernel.io import file_sha256

    card = path.parent / CARD_JSON
    try:
        expected = json.loads(card.read_text())["sha256"][path.name]
    except (OSError, ValueError, KeyError, TypeError):
        raise MinescanError(
            f"refusing to load {path}: {card} records no sha256 for it, and a .pt file can run "
            "code when loaded; use the default --backend onnx, or add its hash to the card if "
            "you trust the file"
        ) from None
    if file_sha256(path) != expected:
        raise MinescanError(
            f"refusing to load {path}: its sha256 differs from the one in {card} (the file was "
            "changed after training); a .pt file can run code when loaded"
        )


def ship_model(model: str | os.PathLike, dest: str | os.PathLike, names=SHIPPED_FILES) -> Path:
    """Copy the named files that ``model`` holds into ``dest``, each atomically; returns ``dest``.

    A file the folder lacks is skipped: a model trained without a screen ships without one.
    """
    from minescan.kernel.io import atomic_path, ensure_dir

    source, out = Path(model), ensure_dir(dest)
    for name in names:
        if (source / name).exists():
            with atomic_path(out / name) as tmp:
                shutil.copyfile(source / name, tmp)
    return out
