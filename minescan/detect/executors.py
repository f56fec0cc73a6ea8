"""Where batches run: in-process, a local process pool, or an existing Dask cluster.

Every executor takes the same picklable tasks and a module-level function, and
yields results as they finish (order does not matter: the pyramid keys results
by batch index). A worker builds its imagery source and detector from the
settings carried by the task and caches them for its lifetime, so a global
sweep runs on a cluster with no code change: only ``--scheduler`` differs.
At most ``window`` tasks are in flight, so memory stays flat however many
tiles a level has.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from itertools import islice

from minescan.kernel.errors import MinescanError
from minescan.kernel.orphans import exit_with_parent


class LocalExecutor:
    """Runs each task in this process, one after the other."""

    workers = 1

    def map_unordered(self, fn: Callable, tasks: Iterable) -> Iterator:
        """Yield ``fn(task)`` for each task."""
        for task in tasks:
            yield fn(task)

    def close(self) -> None:
        """Nothing to release."""


class PoolExecutor:
    """A local pool of ``workers`` processes (``spawn``: safe with onnxruntime and torch)."""

    def __init__(self, workers: int):
        self.workers = workers
        self.pool = cf.ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=exit_with_parent,  # a SIGKILLed scan leaves no worker behind
        )

    def map_unordered(self, fn: Callable, tasks: Iterable) -> Iterator:
        """Yield results as they finish, keeping ``2 x workers`` tasks in flight."""
        tasks = iter(tasks)
        pending = {self.pool.submit(fn, t) for t in islice(tasks, 2 * self.workers)}
        while pending:
            done, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for future in done:
                yield future.result()
                pending |= {self.pool.submit(fn, t) for t in islice(tasks, 1)}

    def close(self) -> None:
        """Stop the worker processes."""
        self.pool.shutdown(cancel_futures=True)


class DaskExecutor:
    """Sends tasks to a running Dask distributed scheduler (``tcp://HOST:PORT``)."""

    def __init__(self, address: str, timeout_s: float = 30):
        from distributed import Client

        try:
            self.client = Client(address, timeout=timeout_s, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise MinescanError(f"cannot reach Dask scheduler {address}: {exc}") from None
        self.workers = max(1, sum(self.client.nthreads().values()))

    def map_unordered(self, fn: Callable, tasks: Iterable) -> Iterator:
        """Yield results as they finish, keeping ``2 x worker threads`` tasks in flight."""
        from distributed import as_completed

        tasks = iter(tasks)
        first = [self.client.submit(fn, t, pure=False) for t in islice(tasks, 2 * self.workers)]
        if not first:
            return
        running = as_completed(first, loop=self.client.loop)
        for future in running:
            result = future.result()
            future.release()
            for t in islice(tasks, 1):
                running.add(self.client.submit(fn, t, pure=False))
            yield result

    def close(self) -> None:
        """Disconnect (the cluster keeps running)."""
        self.client.close()


def make_executor(workers: int = 1, scheduler: str | None = None):
    """The executor the flags ask for: ``--scheduler`` wins, then ``--workers N > 1``."""
    if scheduler:
        if not scheduler.startswith(("tcp://", "tls://", "inproc://", "ws://", "wss://")):
            raise MinescanError(f"bad scheduler address {scheduler!r}; expected tcp://HOST:PORT")
        return DaskExecutor(scheduler)
    if workers > 1:
        return PoolExecutor(workers)
    return LocalExecutor()
