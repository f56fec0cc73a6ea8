"""Fixtures of the scan tests: the bright-square world and its model."""

from __future__ import annotations

import pytest

from tests.detect.fakes import bright_model


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    """A model folder whose ONNX detector finds bright squares."""
    return bright_model(tmp_path_factory.mktemp("model") / "bright")
