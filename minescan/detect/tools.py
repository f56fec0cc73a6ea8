"""A worker's tools: the imagery source, detector and screen it scans with, built once per process.

:class:`ToolSpec` is what crosses to a worker (typed settings, picklable);
:func:`build_tools` turns it into :class:`Tools` there, and the executor keeps
them for every batch that process runs. :func:`make_tools` bundles them (tests
bundle stand-ins) and checks that the source has the bands the detector needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from minescan.kernel.bands import S2_BANDS
from minescan.kernel.errors import MinescanError

if TYPE_CHECKING:
    from minescan.datasets.sources import SourceSettings
    from minescan.detect.settings import ScanSettings


@dataclass
class Tools:
    """A worker's imagery source, detector and screen, and the bands it reads.

    ``verifier`` (real sources only, see :func:`scan_verifier`) judges candidates and proposes windows.
    """

    source: object
    detector: object
    screen: object | None
    bands: tuple[str, ...]
    verifier: object | None = None


def source_bands(source) -> tuple[str, ...]:
    """Bands a source can read; sources that do not say offer all 12 S2 bands."""
    return tuple(getattr(source, "bands", None) or S2_BANDS)


def make_tools(source, detector, screen=None) -> Tools:
    """Bundle the tools and check that the source has every band the detector needs.

    A screen that reads a band the source lacks is left out (see
    :func:`~minescan.kernel.screen.missing_bands`): every tile then goes to the
    detector, so a source with fewer bands costs speed, never a mine.
    """
    from minescan.kernel.screen import bands_needed, missing_bands

    offered = source_bands(source)
    needed = list(detector.channels)
    if screen is not None and missing_bands(screen, offered):
        screen = None
    if screen is not None:
        needed += [b for b in bands_needed(screen.features) if b not in needed]
    missing = [b for b in needed if b not in offered]
    if missing:
        raise MinescanError(
            f"the model needs band(s) {','.join(missing)} that source {source.name!r} does not "
            f"provide (it has {','.join(offered)})"
        )
    return Tools(source, detector, screen, tuple(b for b in S2_BANDS if b in needed))


@dataclass(frozen=True)
class ToolSpec:
    """What a worker builds its tools from: typed settings, picklable, validated once.

    ``scan.model`` is the model folder as an absolute path (workers may run
    elsewhere); ``threads`` are the detector's threads in each worker.
    """

    source: SourceSettings
    scan: ScanSettings
    threads: int


def scan_verifier(source_kind: str, model_dir, offered: tuple[str, ...]):
    """The model's verifier when a scan of ``source_kind`` uses it, else None.

    It is fitted on real pixels, so it runs on real sources only (never on the
    simulated world, whose figures it cannot change), and only where the
    source offers every band it reads.
    """
    from minescan.kernel.model import load_verifier
    from minescan.kernel.verifier import VERIFIER_BANDS

    if source_kind == "simulated" or any(b not in offered for b in VERIFIER_BANDS):
        return None
    return load_verifier(model_dir)


def build_tools(spec: ToolSpec) -> Tools:
    """Build source, detector and screen (the executor caches them once per process)."""
    from minescan.datasets.sources import open_source
    from minescan.detect.backends import load_detector

    scan = spec.scan
    source = open_source(spec.source)
    detector = load_detector(scan.model, scan.backend, scan.device, spec.threads)
    screen = None
    if scan.screen and not scan.exhaustive:
        from minescan.kernel.model import load_screen

        screen = load_screen(scan.model)
    tools = make_tools(source, detector, screen)
    if scan.verifier:
        tools.verifier = scan_verifier(spec.source.kind, scan.model, source_bands(source))
    return tools
