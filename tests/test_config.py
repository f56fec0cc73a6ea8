import pytest

from minescan.config import load_settings
from minescan.kernel.errors import MinescanError


def test_defaults_load():
    s = load_settings()
    assert s.grid.zooms == [13, 14, 15]
    assert s.source.kind == "simulated"


def test_file_and_flags_override(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("grid:\n  min_overlap: 0.05\nsource:\n  seed: 7\n")
    s = load_settings(cfg, {"source": {"seed": 9, "mines": None}})
    assert s.grid.min_overlap == 0.05
    assert s.source.seed == 9
    assert s.grid.zooms == [13, 14, 15]


def test_bad_config_is_one_line(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("grid:\n  min_overlap: 5\n")
    with pytest.raises(MinescanError, match="grid.min_overlap"):
        load_settings(cfg)
    cfg.write_text("gridd: {}\n")
    with pytest.raises(MinescanError, match="gridd"):
        load_settings(cfg)
    with pytest.raises(MinescanError, match="not found"):
        load_settings(tmp_path / "none.yaml")
