"""Resumable scans: one small JSON file per finished batch, written atomically.

Layout under ``RUNDIR/_checkpoint``::

    header.json            {"run_id": ..., "format": 2}
    z13/b0000000.json      one finished batch of zoom 13 (tiles and results)
    z14/...

Batches are fixed slices of each level's sorted tile list, so a rerun knows
exactly which batches are done and recomputes the others with the same inputs:
a resumed scan gives the same candidates as an uninterrupted one. A batch file
appears whole or not at all (write to a temporary file, then rename), so a
SIGKILL at any moment leaves at most a hidden temporary file, which is removed.
Each batch carries the SHA-256 of its own content (``sha256``), so a batch
edited or damaged on disk afterwards is refused instead of silently reused.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from minescan.kernel.errors import MinescanError
from minescan.kernel.io import ensure_dir, write_json

FORMAT = 2  # 2: every batch carries its checksum


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
            stored = _read(header)
            found = stored.get("run_id")
            if stored.get("format") != FORMAT:
                raise MinescanError(
                    f"{self.folder} was written by another minescan version (checkpoint format "
                    f"{stored.get('format')}, this one {FORMAT}); use another --out or delete it"
                )
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
            stored = record.pop("sha256", None)
            if record.get("zoom") != zoom or "index" not in record or stored != checksum(record):
                raise MinescanError(
                    f"checkpoint file {path} is corrupt or was edited (its checksum does not "
                    "match); delete it and rerun to redo that batch"
                )
            out[int(record["index"])] = record
        return out

    def write(self, zoom: int, index: int, record: dict) -> None:
        """Store one finished batch with its checksum, atomically."""
        body = json.loads(json.dumps({"zoom": zoom, "index": index, **record}, default=_plain))
        write_json(self.batch_path(zoom, index), {**body, "sha256": checksum(body)})


def checksum(record: dict) -> str:
    """SHA-256 of a batch record's canonical JSON (sorted keys), without its own checksum."""
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def _plain(value):
    """NumPy scalars and arrays as JSON values, as :func:`minescan.kernel.io.write_json` stores them."""
    return value.tolist() if hasattr(value, "tolist") else str(value)


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
