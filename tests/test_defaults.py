"""Defaults live once, in configs/default.yaml: the settings models and every --help agree with it."""

import re

import click
import pytest
import yaml
from click.testing import CliRunner

from minescan.cli import app
from minescan.clitools import shown
from minescan.config import DEFAULT_CONFIG, Settings, defaults, section

YAML = yaml.safe_load(DEFAULT_CONFIG.read_text())

#: Every flag that overrides a setting: (command path, option name) -> "section.key".
SETTING_FLAGS = {
    ("grid", "zooms"): "grid.zooms",
    ("grid", "min_overlap"): "grid.min_overlap",
    ("grid", "negatives"): "grid.negatives",
    ("grid", "land_negatives"): "grid.land_negatives",
    ("scan", "aoi"): "scan.aoi",
    ("scan", "source"): "source.kind",
    ("scan", "period"): "scan.period",
    ("scan", "model"): "scan.model",
    ("scan", "zooms"): "scan.zooms",
    ("scan", "exhaustive"): "scan.exhaustive",
    ("scan", "workers"): "scan.workers",
    ("scan", "scheduler"): "scan.scheduler",
    ("scan", "backend"): "scan.backend",
    ("scan", "device"): "scan.device",
    ("monitor", "source"): "source.kind",
    ("monitor", "method"): "monitor.method",
    ("monitor", "workers"): "monitor.workers",
    ("datasets chips", "source"): "source.kind",
    ("datasets chips", "period"): "datasets.period",
    ("datasets chips", "size"): "datasets.size_px",
    ("datasets yolo", "channels"): "datasets.channels",
    ("datasets yolo", "rule"): "datasets.split",
    ("datasets yolo", "block_zoom"): "datasets.block_zoom",
    ("datasets yolo", "split_column"): "datasets.split_column",
    ("datasets yolo", "val"): "datasets.val",
    ("datasets yolo", "test"): "datasets.test",
    ("datasets yolo", "seed"): "datasets.seed",
    ("datasets yolo", "min_box_px"): "datasets.min_box_px",
    ("datasets pixels", "sample"): "datasets.sample",
    ("datasets pixels", "seed"): "datasets.seed",
    ("train detector", "model"): "train.model",
    ("train detector", "imgsz"): "train.imgsz",
    ("train detector", "epochs"): "train.epochs",
    ("train detector", "batch"): "train.batch",
    ("train detector", "device"): "train.device",
    ("train verifier", "holdout_fraction"): "verifier.holdout_fraction",
    ("train verifier", "seed"): "verifier.seed",
    ("train verifier", "folds"): "verifier.folds",
    ("train verifier", "members"): "verifier.members",
    ("train verifier", "epochs"): "verifier.epochs",
    ("train verifier", "sensitivity"): "verifier.sensitivity",
    ("simulate truth", "mines"): "source.mines",
    ("simulate truth", "seed"): "source.seed",
    ("evaluate", "model"): "scan.model",
    ("evaluate", "backend"): "scan.backend",
}

#: The suffix clitools.with_default puts on a help text.
SETTING_SUFFIX = re.compile(r"\s*\[default: [^\]]* \((\w+)\.(\w+)\)\]$")
#: A default written into a help text by hand: "default 1", "Default: 0.001", "[256]", "[config: 16]".
HAND_WRITTEN = re.compile(r"(?i)\bdefault\b[^.;\]]*?\d|\[[\d.,\s]+\]|\[config:|\[[\w.]+, [\d.]+\]")


def commands(group=app, path=()):
    """(path, command) for every leaf command under ``group``."""
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))
        else:
            yield " ".join((*path, name)), command


COMMANDS = dict(commands())


def test_the_yaml_sets_every_field_of_every_section_and_nothing_else():
    assert set(YAML) == set(Settings.model_fields)
    for name, field in Settings.model_fields.items():
        assert set(YAML[name]) == set(field.annotation.model_fields), name


def test_no_section_model_holds_a_default_of_its_own():
    for name, field in Settings.model_fields.items():
        with_default = [k for k, f in field.annotation.model_fields.items() if not f.is_required()]
        assert with_default == [], name


def test_settings_without_overrides_are_the_yaml():
    assert defaults().model_dump() == YAML
    for name in Settings.model_fields:
        assert section(name) == getattr(defaults(), name)


def test_section_overrides_replace_fields_and_keep_none():
    scan = section("scan", conf={14: 0.3}, aoi="bbox:0,0,1,1")
    assert scan.conf == {14: 0.3} and scan.aoi == "bbox:0,0,1,1"
    assert section("monitor", screen=None).screen is None


@pytest.mark.parametrize(("where", "setting"), sorted(SETTING_FLAGS.items()))
def test_help_shows_the_yaml_value_of_each_setting_flag(where, setting):
    path, option = where
    command = COMMANDS[path]
    (param,) = [p for p in command.params if p.name == option]
    assert param.default is None, "a flag that defaults to a value would override --config"
    key, field = setting.split(".")
    suffix = SETTING_SUFFIX.search(param.help)
    assert suffix and suffix.groups() == (key, field)
    out = CliRunner().invoke(command, ["--help"]).output
    assert f"[default: {shown(YAML[key][field])} ({setting})]" in " ".join(out.split())


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_no_help_text_writes_a_default_by_hand(path):
    command = COMMANDS[path]
    for param in command.params:
        text = SETTING_SUFFIX.sub("", getattr(param, "help", None) or "")
        assert not HAND_WRITTEN.search(text), (path, param.name, text)
        if SETTING_SUFFIX.search(param.help or ""):
            assert (path, param.name) in SETTING_FLAGS, "add the flag to SETTING_FLAGS"


def test_a_wheel_install_finds_the_shipped_yaml(tmp_path, monkeypatch):
    from minescan import config

    installed = tmp_path / config.INSTALLED_CONFIG
    installed.parent.mkdir(parents=True)
    installed.write_text(DEFAULT_CONFIG.read_text())
    monkeypatch.setattr(config, "ROOT", tmp_path / "site-packages")
    monkeypatch.setattr(config.sys, "prefix", str(tmp_path))
    assert config._default_config() == installed
