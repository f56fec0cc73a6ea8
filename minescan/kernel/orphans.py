"""Worker processes that end when the process that started them is killed.

A pool's workers normally learn of their parent's end only when it shuts the
pool down, which a SIGKILL never does: they would keep running, holding cores
and memory, with nobody to collect their results. Every process pool in
minescan (:mod:`minescan.kernel.executor`) runs :func:`exit_with_parent` as its
initializer, naming the run's own process: with a fork server that process is
not the worker's parent (the server is, and it outlives the run while workers
hold its pipe), so watching ``os.getppid()`` alone is not enough.
"""

from __future__ import annotations

import os
import select
import threading
import time

#: Seconds between two checks of the parent where the system offers no process handle.
POLL_S = 0.5


def exit_with_parent(parent: int, *then) -> None:
    """Pool initializer: end this process once process ``parent`` has ended, then run ``then``.

    ``then`` is an optional ``(initializer, *args)`` to run after the watch is
    set up, for pools that have an initializer of their own. The watch is a
    daemon thread.
    """

    def watch() -> None:
        wait_for_end(parent)
        os._exit(1)  # no cleanup: the parent that would use the results is gone

    threading.Thread(target=watch, name="minescan-exit-with-parent", daemon=True).start()
    if then:
        then[0](*then[1:])


def wait_for_end(pid: int) -> None:
    """Return once process ``pid`` has ended (killed or exited, reaped or not).

    Linux's process handle (``pidfd``) becomes readable the moment the process
    ends; elsewhere the process is polled every :data:`POLL_S` seconds.
    """
    try:
        handle = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    except (AttributeError, OSError):  # not Linux >= 5.3, or not allowed: poll
        while is_running(pid):
            time.sleep(POLL_S)
        return
    select.select([handle], [], [])


def is_running(pid: int) -> bool:
    """Whether process ``pid`` exists (a zombie counts as running until it is reaped).

    Examples
    --------
    >>> is_running(os.getpid())
    True
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True
