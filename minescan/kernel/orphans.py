"""Worker processes that end when the process that started them is killed.

A pool's workers normally learn of their parent's end only when it shuts the
pool down, which a SIGKILL never does: they would keep running, holding cores
and memory, with nobody to collect their results. Every process pool in
minescan runs :func:`exit_with_parent` as its initializer.
"""

from __future__ import annotations

import os
import threading
import time

#: Seconds between two checks of the parent.
POLL_S = 0.5


def exit_with_parent(*then) -> None:
    """Pool initializer: end this process once its parent is gone, then run ``then``.

    ``then`` is an optional ``(initializer, *args)`` to run after the watch is
    set up, for pools that have an initializer of their own. The watch is a
    daemon thread comparing ``os.getppid()`` with its first value: a worker
    whose parent died is handed to another process (init, or a subreaper).
    """
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(POLL_S)
        os._exit(1)  # no cleanup: the parent that would use the results is gone

    threading.Thread(target=watch, name="minescan-exit-with-parent", daemon=True).start()
    if then:
        then[0](*then[1:])
