"""Resumable scans: one small JSON file per finished batch, written atomically.

Layout under ``RUNDIR/_checkpoint``::

    header.json            {"run_id": ..., "format": 1}
    z13/b0000000.json      one finished batch of zoom 13 (tiles and results)
    z14/...

Batches are fixed slices of each level's sorted tile list, so a rerun knows
exactly which batches are done and recomputes the others with the same inputs:
a resumed scan gives the same candidates as an uninterrupted one. A batch file
appears whole or not at all (write to a temporary file, then rename), so a
SIGKILL at any moment leaves at most a hidden temporary file, which is removed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from minescan.errors import MinescanError
from minescan.io import ensure_dir, write_json

FORMAT = 1


class Checkpoint:
    """The finished batches of one run, keyed by zoom and batch index.

    Parameters
    ----------
    folder
        ``RUNDIR/_checkpoint``.
    run_id
        The run's id; a checkpoint written by another run (other config, model
        or AOI) is refused rather than mixed in.
    """

    def __init__(self, folder: str | os.PathLike, run_id: str):
        self.folder = Path(folder)
        self.run_id = run_id

    def open(self) -> int:
        """Create or validate the header; return how many batches are already done."""
        header = self.folder / "header.json"
        if header.exists():
            found = _read(header).get("run_id")
            if found != self.run_id:
                raise MinescanError(
                    f"{self.folder} holds a checkpoint of another run (run_id {found}, this run "
                    f"{self.run_id}: config, model or AOI differ); use another --out or delete it"
                )
        else:
            ensure_dir(self.folder)
            write_json(header, {"run_id": self.run_id, "format": FORMAT})
        for stale in self.folder.glob("z*/.*.tmp*"):  # a write cut short by a kill
            stale.unlink(missing_ok=True)
        return sum(1 for _ in self.folder.glob("z*/b*.json"))

    def batch_path(self, zoom: int, index: int) -> Path:
        """Where batch ``index`` of level ``zoom`` is stored."""
        return self.folder / f"z{zoom}" / f"b{index:07d}.json"

    def load(self, zoom: int) -> dict[int, dict]:
        """Every finished batch of ``zoom``: index -> the record :meth:`write` stored."""
        out = {}
        for path in sorted((self.folder / f"z{zoom}").glob("b*.json")):
            record = _read(path)
            if record.get("zoom") != zoom or "index" not in record:
                raise MinescanError(f"checkpoint file {path} is corrupt; delete it to redo it")
            out[int(record["index"])] = record
        return out

    def write(self, zoom: int, index: int, record: dict) -> None:
        """Store one finished batch, atomically."""
        write_json(self.batch_path(zoom, index), {"zoom": zoom, "index": index, **record})


def _read(path: Path) -> dict:
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MinescanError(
            f"checkpoint file {path} is corrupt ({type(exc).__name__}); delete it to redo it"
        ) from None
    if not isinstance(record, dict):
        raise MinescanError(f"checkpoint file {path} is corrupt; delete it to redo it")
    return record
