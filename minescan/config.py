"""Typed settings: ``configs/default.yaml``, then ``--config FILE``, then CLI flags.

Each stage owns its section model (``minescan/<stage>/settings.py``): the
types and validators of its knobs, not their default values. Those live once,
in ``configs/default.yaml`` (shipped in the wheel beside the demo model); this
module stitches the sections together, merges the layers over that file, and
hands out the defaults: :func:`defaults` (every section) and :func:`section`
(one section, with overrides).
"""

from __future__ import annotations

import copy
import functools
import sys
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
from minescan.train.settings import TrainSettings, VerifierSettings

#: Repository root when running from a checkout (editable install).
ROOT = Path(__file__).resolve().parent.parent
#: Where a wheel installs default.yaml, under ``sys.prefix`` (``[options.data_files]`` in setup.cfg).
INSTALLED_CONFIG = Path("share") / "minescan" / "configs" / "default.yaml"


def _default_config() -> Path:
    """The checkout's ``configs/default.yaml``, else (a wheel install) the copy under ``sys.prefix``."""
    checkout = ROOT / "configs" / "default.yaml"
    installed = Path(sys.prefix) / INSTALLED_CONFIG
    return installed if not checkout.is_file() and installed.is_file() else checkout


DEFAULT_CONFIG = _default_config()


class Settings(BaseModel):
    """All of minescan's knobs, one section per stage; every knob is set (by default.yaml at least)."""

    model_config = ConfigDict(extra="forbid")

    grid: GridSettings
    source: SourceSettings
    datasets: DatasetSettings
    train: TrainSettings
    verifier: VerifierSettings
    scan: ScanSettings
    monitor: MonitorSettings


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


@functools.cache
def _default_data() -> dict:
    """default.yaml as read once per process (callers merge over copies)."""
    return _read_yaml(DEFAULT_CONFIG)


def load_settings(
    config_file: str | Path | None = None, overrides: dict[str, Any] | None = None
) -> Settings:
    """Load default.yaml, merge ``config_file`` and ``overrides`` over it, validate.

    ``overrides`` holds only the flags the user actually gave, as nested dicts
    (``{"scan": {"workers": 4}}``); ``None`` values are ignored.
    """
    data = copy.deepcopy(_default_data())
    if config_file is not None:
        data = deep_merge(data, _read_yaml(Path(config_file)))
    if overrides:
        data = deep_merge(data, _drop_none(overrides))
    return _validated(data)


def defaults() -> Settings:
    """Every section at its default.yaml value: what a command runs with when given no config or flag.

    Examples
    --------
    >>> defaults().train.epochs
    65
    """
    return load_settings()


def section(name: str, **overrides: Any) -> BaseModel:
    """Section ``name`` at its default.yaml values, ``overrides`` replacing fields, validated.

    For code and tests that need one stage's settings. Unlike a CLI flag, an
    override of ``None`` is kept (``screen=None`` turns the monitor's screen
    off), and a mapping replaces the field's whole value.

    Examples
    --------
    >>> section("scan", conf={13: 0.1}).conf
    {13: 0.1}
    >>> section("scan").batch_size == defaults().scan.batch_size
    True
    """
    if name not in Settings.model_fields:
        raise MinescanError(
            f"no settings section {name!r}; sections: {', '.join(Settings.model_fields)}"
        )
    data = copy.deepcopy(_default_data())
    data[name] = {**data[name], **overrides}
    return getattr(_validated(data), name)


def _validated(data: dict) -> Settings:
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise MinescanError(f"invalid setting {where}: {err['msg']}") from None


def _drop_none(d: dict) -> dict:
    return {k: _drop_none(v) if isinstance(v, dict) else v for k, v in d.items() if v is not None}
