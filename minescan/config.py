"""Typed settings: ``configs/default.yaml``, then ``--config FILE``, then CLI flags.

Each stage owns its section model (``minescan/<stage>/settings.py``); this
module only stitches them together and merges the layers.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from minescan.datasets.settings import DatasetSettings
from minescan.datasets.sources.settings import SourceSettings
from minescan.detect.settings import ScanSettings
from minescan.grid.settings import GridSettings
from minescan.kernel.errors import MinescanError
from minescan.monitor.settings import MonitorSettings
from minescan.train.settings import TrainSettings

#: Repository root when running from a checkout (editable install).
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "configs" / "default.yaml"


class Settings(BaseModel):
    """All of minescan's knobs, one section per stage."""

    model_config = ConfigDict(extra="forbid")

    grid: GridSettings = GridSettings()
    source: SourceSettings = SourceSettings()
    datasets: DatasetSettings = DatasetSettings()
    train: TrainSettings = TrainSettings()
    scan: ScanSettings = ScanSettings()
    monitor: MonitorSettings = MonitorSettings()


def deep_merge(base: dict, override: dict) -> dict:
    """Merge ``override`` into a copy of ``base``; nested dicts merge, other values replace.

    Examples
    --------
    >>> deep_merge({"a": {"b": 1, "c": 2}}, {"a": {"c": 3}})
    {'a': {'b': 1, 'c': 3}}
    """
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _read_yaml(path: Path) -> dict:
    if not path.exists():
        raise MinescanError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise MinescanError(
            f"config file {path} is not valid YAML: {exc}".splitlines()[0]
        ) from None
    if not isinstance(data, dict):
        raise MinescanError(f"config file {path} must hold a mapping of sections")
    return data


def load_settings(
    config_file: str | Path | None = None, overrides: dict[str, Any] | None = None
) -> Settings:
    """Load default.yaml (when present), merge ``config_file`` and ``overrides`` over it, validate.

    ``overrides`` holds only the flags the user actually gave, as nested dicts
    (``{"scan": {"workers": 4}}``); ``None`` values are ignored.
    """
    data: dict = _read_yaml(DEFAULT_CONFIG) if DEFAULT_CONFIG.exists() else {}
    if config_file is not None:
        data = deep_merge(data, _read_yaml(Path(config_file)))
    if overrides:
        data = deep_merge(data, _drop_none(overrides))
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise MinescanError(f"invalid setting {where}: {err['msg']}") from None


def _drop_none(d: dict) -> dict:
    return {k: _drop_none(v) if isinstance(v, dict) else v for k, v in d.items() if v is not None}
