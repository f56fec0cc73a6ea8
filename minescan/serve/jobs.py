"""Scan and monitor jobs started from the admin page: a queue and one worker thread.

A job runs the ``minescan`` command as a child process (an argument list,
never a shell) into its own folder under the server's work folder, keeps the
last lines of its output as progress, and when it succeeds ingests its run
into the store: a scan as a draft, for an admin to publish; a monitor run as
it is. One job runs at a time, so two sweeps never compete for the machine.
"""

from __future__ import annotations

import itertools
import queue
import shutil
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from minescan.kernel.errors import MinescanError
from minescan.store import audit

KINDS = ("scan", "monitor")
LOG_LINES = 200


@dataclass
class Job:
    """One queued, running or finished job; ``log`` holds its last output lines."""

    id: int
    kind: str
    args: list[str]
    out: Path
    user: str
    state: str = "queued"  # queued, running, ingesting, done, failed
    log: deque = field(default_factory=lambda: deque(maxlen=LOG_LINES))
    result: dict | None = None
    queued_at: str = field(default_factory=audit.now)
    finished_at: str | None = None

    def public(self) -> dict:
        """What the admin page shows: state, progress lines, result."""
        return {
            "id": self.id,
            "kind": self.kind,
            "args": self.args,
            "user": self.user,
            "state": self.state,
            "lines": len(self.log),
            "log": list(self.log)[-20:],
            "result": self.result,
            "queued_at": self.queued_at,
            "finished_at": self.finished_at,
        }


def minescan_command() -> list[str]:
    """How to run the ``minescan`` CLI from here: the script beside this Python, else on PATH."""
    beside = Path(sys.executable).with_name("minescan")
    found = str(beside) if beside.exists() else shutil.which("minescan")
    if found is None:
        raise MinescanError("cannot find the minescan command to run jobs")
    return [found]


class JobQueue:
    """Jobs in order; ``ingest(job)`` stores a finished job's run (called in the worker)."""

    def __init__(self, work: Path, ingest: Callable[[Job], dict]):
        self.work = Path(work)
        self._ingest = ingest
        self._jobs: dict[int, Job] = {}
        self._ids = itertools.count(1)
        self._queue: queue.Queue[Job] = queue.Queue()
        self._worker = threading.Thread(target=self._run_forever, daemon=True, name="jobs")
        self._worker.start()

    def submit(self, kind: str, args: list[str], user: str) -> Job:
        """Queue ``minescan KIND ARGS --out FOLDER``; the server picks the folder."""
        if kind not in KINDS:
            raise MinescanError(f"unknown job {kind!r}; expected one of {', '.join(KINDS)}")
        if not all(isinstance(a, str) for a in args) or any(a.startswith("--out") for a in args):
            raise MinescanError("job arguments are strings, without --out (the server picks it)")
        job_id = next(self._ids)
        job = Job(job_id, kind, list(args), self.work / f"job-{job_id:04d}-{kind}", user)
        self._jobs[job_id] = job
        self._queue.put(job)
        return job

    def jobs(self) -> list[dict]:
        """Every job of this server's life, newest first."""
        return [j.public() for j in sorted(self._jobs.values(), key=lambda j: -j.id)]

    def _run_forever(self) -> None:
        while True:
            self._run(self._queue.get())

    def _run(self, job: Job) -> None:
        job.state = "running"
        try:
            command = [*minescan_command(), job.kind, *job.args, "--out", str(job.out)]
            job.out.parent.mkdir(parents=True, exist_ok=True)
            with subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            ) as child:
                for line in child.stdout:
                    job.log.append(line.rstrip()[:500])
            if child.returncode != 0:
                raise MinescanError(f"minescan {job.kind} exited with {child.returncode}")
            job.state = "ingesting"
            job.result = self._ingest(job)
            job.state = "done"
        except Exception as exc:  # a job's failure is shown on the page, never kills the server
            job.log.append(f"error: {exc}")
            job.state = "failed"
        job.finished_at = audit.now()
