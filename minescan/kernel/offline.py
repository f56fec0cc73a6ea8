"""Keep ultralytics, matplotlib and friends offline and out of the user's home folder.

Call :func:`configure` before importing ultralytics. It points every cache at a
project-owned folder, turns off ultralytics' auto-install, downloads and
telemetry, and puts a local TrueType font where ultralytics looks for Arial.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent


def cache_root() -> Path:
    """``$MINESCAN_CACHE``, else ``.cache`` in the checkout, else ``~/.cache/minescan``."""
    env = os.environ.get("MINESCAN_CACHE")
    if env:
        return Path(env)
    if os.access(_ROOT, os.W_OK) and (_ROOT / "pyproject.toml").exists():
        return _ROOT / ".cache"
    return Path.home() / ".cache" / "minescan"


def point_caches() -> Path:
    """Point every library cache at the project cache; return that folder.

    matplotlib (``MPLCONFIGDIR``), onnxruntime (its device id under
    ``$XDG_CACHE_HOME/Microsoft``) and ultralytics (``YOLO_CONFIG_DIR``) would
    otherwise write under ``~/.cache`` or ``~/.config``. Only environment
    variables are set (nothing is imported or created), so the CLI calls this
    first, before any subcommand loads those libraries, and worker processes
    inherit it. Variables the user set are kept.
    """
    root = cache_root()
    os.environ.setdefault("YOLO_CONFIG_DIR", str(root / "ultralytics"))
    os.environ.setdefault("MPLCONFIGDIR", str(root / "matplotlib"))
    os.environ.setdefault("XDG_CACHE_HOME", str(root / "xdg"))
    os.environ.setdefault("MPLBACKEND", "Agg")
    return root


def configure() -> Path:
    """Set the offline environment once; return the ultralytics config folder."""
    point_caches()
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "False")
    os.environ.setdefault("YOLO_VERBOSE", "False")
    yolo_dir = Path(os.environ["YOLO_CONFIG_DIR"])
    yolo_dir.mkdir(parents=True, exist_ok=True)
    _install_font(yolo_dir)
    return yolo_dir


def _install_font(folder: Path) -> None:
    """ultralytics insists on Arial.ttf in its config folder; give it matplotlib's DejaVuSans."""
    for name in ("Arial.ttf", "Arial.Unicode.ttf"):
        target = folder / name
        if target.exists():
            continue
        import matplotlib

        source = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
        tmp = target.with_suffix(".tmp")
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)


def ultralytics():
    """Import ultralytics with the offline environment and settings sync off."""
    configure()
    import ultralytics as ul
    from ultralytics.utils import SETTINGS

    if SETTINGS.get("sync", False):
        SETTINGS.update({"sync": False})
    return ul
