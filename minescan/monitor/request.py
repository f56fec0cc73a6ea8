"""What one monitor run asks for, and what makes a finished mine of it reusable by a rerun.

:class:`Request` carries the dates, method, dumped settings sections and
input files to every worker as plain values; :meth:`Request.stamp` is the
record a mine's ``mine.json`` keeps of it, compared on a rerun. The mine
folders (:func:`mine_folder`) and the monitor's screen (:func:`load_screen`)
are named here too, since the stamp hashes the screen file.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import shapely

from minescan.kernel.io import child_path, file_sha256
from minescan.monitor.inputs import MineJob

#: Files and folders ``--out`` holds beside the mine folders: no mine folder may take their name.
RUN_FILES = ("alerts.csv", "mines.csv", "metrics.json")


@dataclass(frozen=True)
class Request:
    """Everything a worker needs, as plain picklable values.

    ``source`` and ``monitor`` are the dumped ``source:`` and ``monitor:``
    sections: the only settings a mine's result depends on.
    """

    start: str
    end: str
    method: str
    out: str
    source: dict = field(default_factory=dict)
    monitor: dict = field(default_factory=dict)
    lease: str | None = None
    restricted: str | None = None
    class_column: str | None = None
    growth: str | None = None

    def stamp(self, job: MineJob) -> dict:
        """What makes a finished mine of ``job`` reusable by a rerun: all that decides its result.

        The dates, method and monitor settings stay readable; the source and its
        settings, ``--restricted-class-column``, the content of every input file
        (growth, lease, restricted and the source's own files) and the mine's
        outline are hashed into ``inputs_sha256``, so changing any of them redoes
        the mine instead of replaying a stale result.
        """
        decided = {
            "source": self.source,
            "class_column": self.class_column,
            "files": {role: _content_hash(path) for role, path in self.input_files()},
            "geometry": shapely.to_wkb(job.geometry, hex=True),
        }
        blob = json.dumps(decided, sort_keys=True, default=str).encode()
        return {
            "start": self.start,
            "end": self.end,
            "method": self.method,
            "monitor": self.monitor,
            "growth": self.growth,
            "inputs_sha256": hashlib.sha256(blob).hexdigest(),
        }

    def input_files(self) -> list[tuple[str, str]]:
        """``(role, path)`` of every file the result depends on, the source's own included."""
        source = self.source
        files = [("growth", self.growth), ("lease", self.lease), ("restricted", self.restricted)]
        files.append(("source.mines", source.get("mines")))
        files.append(("monitor.screen", load_screen(self.monitor, path=True)))
        files += [(f"source.files[{i}]", f) for i, f in enumerate(source.get("files", []))]
        for key in ("band_files", "dated_files"):
            files += [(f"source.{key}[{k}]", f) for k, f in source.get(key, {}).items()]
        return [(role, str(path)) for role, path in files if path]


def _content_hash(path: str) -> str | None:
    """SHA-256 of ``path`` (``None`` when it is not a file), computed once per file version."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return _hash_of(path, info.st_size, info.st_mtime_ns) if os.path.isfile(path) else None


@functools.lru_cache(maxsize=256)
def _hash_of(path: str, size: int, mtime_ns: int) -> str:
    # Size and mtime are only the cache key: a rerun after an edit hashes the new content.
    return file_sha256(path)


def load_screen(monitor: dict, path: bool = False):
    """The monitor's spectral screen (``monitor.screen``, a model folder or screen.json), or None.

    With ``path``, only the screen file's path (its content decides the
    starting footprint, so reruns hash it).
    """
    from minescan.kernel.model import SCREEN
    from minescan.kernel.screen import Screen

    where = monitor.get("screen")
    if not where:
        return None
    file = Path(where) / SCREEN if Path(where).is_dir() else Path(where)
    return str(file) if path else Screen.load(file)


def mine_folder(out: str | Path, mine_id: str) -> Path:
    """``OUT/<safe mine id>``: unique per id, never outside ``out``, never through a link."""
    return child_path(out, mine_id, reserved=RUN_FILES)
