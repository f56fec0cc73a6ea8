"""A second minescan run, as the lock tests need one: a child process holding an output's lock."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

#: The child: take the lock as ``minescan ARGS`` would, say so, hold it until stdin closes.
HOLD = """
import sys
out, file, *argv = sys.argv[1:]
sys.argv = ["/venv/bin/minescan", *argv]
from minescan.kernel.lock import output_lock
with output_lock(out, file=file == "file"):
    print("held", flush=True)
    sys.stdin.read()
"""


@contextlib.contextmanager
def holding(out: str | Path, *command: str, file: bool = False) -> Iterator[subprocess.Popen]:
    """A child process holding the lock of ``out`` as ``minescan COMMAND`` would; ends on exit."""
    args = [sys.executable, "-c", HOLD, str(out), "file" if file else "folder", *command]
    child = subprocess.Popen(
        args, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline() == "held\n", "the holder did not take the lock"
        yield child
    finally:
        child.stdin.close()  # the holder's cue to release and end
        child.wait(timeout=30)
        child.stdout.close()
