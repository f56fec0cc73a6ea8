"""One writer per output: a second run into a folder (or file) already being written is refused.

Two runs writing one folder at once would interleave their files, and each
would take the other's half-written work for its own finished work on resume.
Every stage function that writes a run folder is wrapped in
:func:`writes_output`, which holds an exclusive advisory lock
(``fcntl.flock``) on ``OUT/.minescan.lock`` while it runs; a file output
(``pixels.parquet``, a truth GeoPackage) is locked through
``.pixels.parquet.minescan.lock`` beside it. The lock belongs to the open
file, so the operating system drops it when the process ends, SIGKILL
included: the same command resumes at once, and a lock file a killed run left
behind is simply taken over. The file records the holder's pid and command for the refusal message,
and a run that ends removes it, so finished outputs hold no trace of it.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import inspect
import json
import os
import shlex
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from minescan.kernel.errors import MinescanError
from minescan.kernel.io import ensure_dir

#: The lock file inside a locked output folder.
LOCK_NAME = ".minescan.lock"
#: Most characters of the holder's command kept in the refusal message.
MAX_COMMAND = 160

F = TypeVar("F", bound=Callable)


def lock_file_of(out: str | os.PathLike, file: bool = False) -> Path:
    """Where the lock of output ``out`` lives: inside the folder, or beside the file.

    Examples
    --------
    >>> lock_file_of("runs/gha").as_posix()
    'runs/gha/.minescan.lock'
    >>> lock_file_of("build/pixels.parquet", file=True).as_posix()
    'build/.pixels.parquet.minescan.lock'
    """
    out = Path(out)
    return out.parent / f".{out.name}{LOCK_NAME}" if file else out / LOCK_NAME


def this_command(argv: list[str] | None = None) -> str:
    """This process's command line on one line, as the refusal message quotes it.

    Examples
    --------
    >>> this_command(["/venv/bin/minescan", "scan", "--out", "runs/a b"])
    "minescan scan --out 'runs/a b'"
    """
    argv = sys.argv if argv is None else argv
    text = shlex.join([Path(argv[0]).name, *argv[1:]]) if argv else "python"
    text = " ".join(text.split())  # an argument with a newline must not break the one line
    return text if len(text) <= MAX_COMMAND else text[: MAX_COMMAND - 3] + "..."


def refusal(out: str | os.PathLike, holder: str) -> str:
    """The one-line message for a run refused because ``holder`` (the lock file's text) writes ``out``.

    Examples
    --------
    >>> refusal("runs/a", '{"pid": 42, "command": "minescan scan --out runs/a"}')
    "another minescan run (pid 42, 'minescan scan --out runs/a') is writing to runs/a; wait for it or choose another --out"
    >>> refusal("runs/a", "")
    'another minescan run is writing to runs/a; wait for it or choose another --out'
    """
    try:
        record = json.loads(holder)
        who = f" (pid {int(record['pid'])}, {str(record['command'])!r})"
    except (ValueError, TypeError, KeyError):  # the holder has not written its record yet
        who = ""
    return f"another minescan run{who} is writing to {out}; wait for it or choose another --out"


def _take(path: Path) -> int | None:
    """An open descriptor holding ``path``'s lock, or None when another process holds it.

    A run that ends removes its lock file while holding it; a run that opened
    the old file just before may then win a lock on a file no longer there,
    so the lock counts only if ``path`` still names the locked file.
    """
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except FileNotFoundError:  # a run that created the folder removed it on its way out
            ensure_dir(path.parent)
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)  # the file was removed under us: lock the one there now


def _holder(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


@contextlib.contextmanager
def output_lock(out: str | os.PathLike, file: bool = False) -> Iterator[Path]:
    """Hold the lock of output ``out`` (a folder, or a file with ``file``) for the body.

    The folder (for a file: the folder it goes in) is created first; one this
    lock created is removed again when the run leaves it empty (a run refused
    for bad input leaves no folder behind). A second holder, in this process
    or another, gets a :class:`MinescanError` naming the first one's pid and
    command.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "run"
    >>> with output_lock(out) as lock:
    ...     lock.name
    '.minescan.lock'
    >>> out.exists()
    False
    """
    path = lock_file_of(out, file)
    created = not path.parent.exists()
    ensure_dir(path.parent)
    fd = _take(path)
    if fd is None:
        raise MinescanError(refusal(out, _holder(path)))
    try:
        record = json.dumps({"pid": os.getpid(), "command": this_command()})
        os.ftruncate(fd, 0)
        os.write(fd, record.encode() + b"\n")
        yield path
    finally:
        path.unlink(missing_ok=True)  # before the lock goes, so no run ever takes a removed file
        os.close(fd)
        if created:
            with contextlib.suppress(OSError):  # not empty, or already gone: keep it
                path.parent.rmdir()


def writes_output(param: str, file: bool = False) -> Callable[[F], F]:
    """Decorate a stage function so it runs holding the lock of its argument ``param``.

    ``file`` says the argument names a file, not a folder. Every command that
    writes a run folder goes through one such function, so the lock is taken
    in one way everywhere.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> @writes_output("out")
    ... def stage(out):
    ...     return sorted(p.name for p in pathlib.Path(out).iterdir())
    >>> stage(pathlib.Path(tempfile.mkdtemp()))
    ['.minescan.lock']
    """

    def decorate(func: F) -> F:
        signature = inspect.signature(func)

        @functools.wraps(func)
        def locked(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            with output_lock(bound.arguments[param], file=file):
                return func(*args, **kwargs)

        return locked  # type: ignore[return-value]

    return decorate
