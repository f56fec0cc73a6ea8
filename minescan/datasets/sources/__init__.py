"""Imagery sources behind one :class:`~minescan.kernel.source.ImagerySource` protocol."""

from __future__ import annotations

import importlib

from minescan.datasets.sources.settings import SourceSettings
from minescan.kernel.errors import MinescanError
from minescan.kernel.source import Cube, ImagerySource

#: kind -> "module:Class"; each class has ``from_settings(SourceSettings)``.
SOURCES: dict[str, str] = {
    "simulated": "minescan.simulated:SimulatedSentinel2",
    "earthengine": "minescan.datasets.sources.earthengine:EarthEngineSource",
    "stac": "minescan.datasets.sources.stac:StacSource",
    "geotiff": "minescan.datasets.sources.geotiff:GeoTiffSource",
}


def open_source(settings: SourceSettings) -> ImagerySource:
    """Build the source that ``settings.kind`` names.

    Examples
    --------
    >>> from minescan.config import section
    >>> open_source(section("source", kind="simulated")).name
    'simulated'
    """
    if settings.kind not in SOURCES:
        raise MinescanError(
            f"unknown source {settings.kind!r}; expected one of {', '.join(SOURCES)}"
        )
    module_name, class_name = SOURCES[settings.kind].split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls.from_settings(settings)


__all__ = ["Cube", "ImagerySource", "SourceSettings", "SOURCES", "open_source"]
