"""Where tasks run: in this process, in a local process pool, or on a Dask distributed cluster.

Every stage that fans out (datasets chips, detect batches, monitor mines) hands
:func:`open_executor` the same three things: picklable tasks, a module-level
function ``fn(task, context)`` and a :class:`WorkerContext`, the run's shared
tools (imagery source, detector, no-go layers) described by typed settings
validated once in the parent. A worker builds those tools on its first task
and keeps them for the rest of its life, so a global sweep runs on a cluster
with no code change: only ``--scheduler`` differs.

Results come back as they finish; at most ``2 x workers`` tasks are in flight,
so memory stays flat however many tasks a run has. Local pools start their
workers from a fork server (:data:`START_METHOD`) and every worker ends when the
process that started the run is killed (:func:`~minescan.kernel.orphans.exit_with_parent`).
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import threading
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from minescan.kernel.errors import MinescanError
from minescan.kernel.orphans import exit_with_parent

#: How local pools start workers. A fork server is a clean single-threaded process,
#: so its forks are safe beside onnxruntime, torch and GDAL threads (plain ``fork``
#: is not), and forking it costs milliseconds where ``spawn`` re-imports everything.
START_METHOD = "forkserver"

#: Built contexts a process keeps: a long-lived Dask worker serves run after run.
KEPT_CONTEXTS = 2

#: Address schemes of a Dask scheduler.
SCHEDULER_SCHEMES = ("tcp://", "tls://", "inproc://", "ws://", "wss://")

_BUILT: OrderedDict[str, Any] = OrderedDict()
_BUILDING = threading.Lock()


def _given(value):
    return value


@dataclass(frozen=True)
class WorkerContext:
    """What every task of one run shares, built once per process from picklable settings.

    ``build(settings)`` makes the tools (``build`` is module-level, so it
    pickles by name); ``key`` names this run's context, so a process that
    receives it again (with every Dask task, or through a pool's initializer)
    finds the tools it built before instead of building them twice.

    Examples
    --------
    >>> context = WorkerContext(sorted, (3, 1, 2))
    >>> context.get() is context.get()
    True
    >>> context.get()
    [1, 2, 3]
    """

    build: Callable[[Any], Any]
    settings: Any
    key: str = field(default_factory=lambda: uuid.uuid4().hex)

    @classmethod
    def given(cls, value) -> WorkerContext:
        """A context that is already built: stand-in tools for a run in this process."""
        return cls(_given, value)

    def get(self):
        """``build(settings)``, built on the first call in this process and cached after.

        A build that raises caches nothing, so the next task reports the same error.
        """
        with _BUILDING:
            if self.key not in _BUILT:
                _BUILT[self.key] = self.build(self.settings)
                while len(_BUILT) > KEPT_CONTEXTS:
                    _BUILT.popitem(last=False)
            return _BUILT[self.key]


#: The context a pool worker received through its initializer.
_INSTALLED: dict[str, WorkerContext | None] = {}


def cores_per_worker(workers: int = 1) -> int:
    """This machine's cores shared out between ``workers`` processes, at least one each.

    Examples
    --------
    >>> cores_per_worker(10**6)
    1
    """
    return max(1, (os.cpu_count() or 1) // max(1, workers))


#: Environment variables that size native thread pools (OpenMP, OpenBLAS, MKL, OpenCV)
#: in libraries a worker loads after it starts.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENCV_FOR_THREADS_NUM",
)


def limit_native_threads(threads: int) -> None:
    """Cap this process's native thread pools at ``threads``, loaded now or later.

    A pool worker inherits numpy's OpenBLAS sized for the whole machine, so with
    a worker per core every worker's BLAS threads compete for every core.
    (BENCHMARKS.md: one early z13 run was 1.4 x faster capped; later runs
    showed no difference outside noise.) Libraries loaded already are capped through threadpoolctl, later ones by
    the environment variables they read when they load. Where the user has set
    any of :data:`THREAD_VARIABLES`, nothing changes: they have sized the pools.
    """
    from threadpoolctl import threadpool_limits

    if any(name in os.environ for name in THREAD_VARIABLES):
        return
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    threadpool_limits(limits=threads)


def _install(context: WorkerContext | None, threads: int) -> None:
    limit_native_threads(threads)
    _INSTALLED["context"] = context


def _run_installed(fn: Callable, task):
    return fn(task, _INSTALLED.get("context"))


class Executor:
    """Runs ``fn(task, context)`` for every task; subclasses say where."""

    workers = 1

    def __init__(self, context: WorkerContext | None = None):
        self.context = context

    def map_unordered(self, fn: Callable, tasks: Iterable) -> Iterator:
        """Yield ``fn(task, context)`` for each task, here, one after the other."""
        for task in tasks:
            yield fn(task, self.context)

    def close(self) -> None:
        """Release the workers (nothing to release in this process)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *_) -> None:
        self.close()


class PoolExecutor(Executor):
    """A local pool of ``workers`` processes; each receives the context once, at its start.

    Each worker caps its native thread pools at its share of the cores
    (:func:`limit_native_threads`), so workers do not take each other's cores.

    With ``run_length`` k > 1, every k consecutive tasks run in the same worker
    (a free worker takes the next k), so tasks that read the same data, such as
    neighbouring batches of a Z-ordered sweep, meet that worker's caches (GDAL's
    block cache, open datasets) instead of each worker decompressing the same
    blocks. Each worker then has its own single-process pool.
    """

    def __init__(self, workers: int, context: WorkerContext | None = None, run_length: int = 1):
        super().__init__(context)
        if run_length < 1:
            raise MinescanError(f"run_length must be 1 or more, not {run_length}")
        self.workers = workers
        self.run_length = run_length
        ctx = multiprocessing.get_context(START_METHOD)
        preload = [__name__] + ([context.build.__module__] if context else [])
        ctx.set_forkserver_preload(preload)  # heeded when the fork server first starts
        self.pools = [
            cf.ProcessPoolExecutor(
                max_workers=1,
                mp_context=ctx,
                initializer=exit_with_parent,  # a SIGKILLed run leaves no worker behind
                initargs=(os.getpid(), _install, context, cores_per_worker(workers)),
            )
            for _ in range(workers)
        ]

    def map_unordered(self, fn: Callable, tasks: Iterable) -> Iterator:
        """Yield results as they finish; the first failing task raises its own error.

        Each worker keeps two tasks in flight; when its share of the iterator is
        used up it takes the next ``run_length`` tasks.
        """
        tasks = iter(tasks)
        queued = [deque() for _ in self.pools]
        pending: dict[cf.Future, int] = {}

        def submit_next(worker: int) -> None:
            if not queued[worker]:
                queued[worker].extend(islice(tasks, self.run_length))
            if queued[worker]:
                task = queued[worker].popleft()
                pending[self.pools[worker].submit(_run_installed, fn, task)] = worker

        for _ in range(2):  # two in flight per worker, dealt out a round at a time
            for worker in range(len(self.pools)):
                submit_next(worker)
        try:
            while pending:
                done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                for future in done:
                    worker = pending.pop(future)
                    yield _result(future)
                    submit_next(worker)
        finally:
            for future in pending:  # an error, or a caller that stopped reading
                future.cancel()

    def close(self) -> None:
        """Cancel what has not started, wait for what has, stop the workers."""
        for pool in self.pools:
            pool.shutdown(cancel_futures=True)


def _result(future: cf.Future):
    """The task's own result or error; a worker that died becomes one clear error."""
    try:
        return future.result()
    except cf.process.BrokenProcessPool:
        raise MinescanError(
            "a worker process ended abruptly (killed, or out of memory); rerun to resume, "
            "perhaps with fewer --workers"
        ) from None


class DaskExecutor(Executor):
    """Sends tasks to a running Dask distributed scheduler (``tcp://HOST:PORT``).

    The context travels with every task (it is small: settings, not tools);
    each worker process builds it once (:meth:`WorkerContext.get`).
    """

    def __init__(self, address: str, context: WorkerContext | None = None, timeout_s: float = 30):
        from distributed import Client

        super().__init__(context)
        try:
            self.client = Client(address, timeout=timeout_s, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise MinescanError(f"cannot reach Dask scheduler {address}: {exc}") from None
        self.workers = max(1, sum(self.client.nthreads().values()))

    def map_unordered(self, fn: Callable, tasks: Iterable) -> Iterator:
        """Yield results as they finish, keeping ``2 x worker threads`` tasks in flight."""
        from distributed import as_completed

        tasks = iter(tasks)
        submit = self._submitter(fn)
        first = [submit(t) for t in islice(tasks, 2 * self.workers)]
        if not first:
            return
        running = as_completed(first, loop=self.client.loop)
        try:
            for future in running:
                result = future.result()
                future.release()
                for t in islice(tasks, 1):
                    running.add(submit(t))
                yield result
        finally:  # an error, or a caller that stopped reading: drop the rest
            left = list(running.futures)
            running.clear()
            self.client.cancel(left)

    def _submitter(self, fn: Callable) -> Callable:
        def submit(task):
            return self.client.submit(fn, task, self.context, pure=False)

        return submit

    def close(self) -> None:
        """Disconnect (the cluster keeps running)."""
        self.client.close()


def check_scheduler(address: str) -> str:
    """``address`` when it names a Dask scheduler; a one-line error before any work otherwise.

    Examples
    --------
    >>> check_scheduler("tcp://10.0.0.5:8786")
    'tcp://10.0.0.5:8786'
    """
    if not address.startswith(SCHEDULER_SCHEMES):
        raise MinescanError(f"bad scheduler address {address!r}; expected tcp://HOST:PORT")
    return address


def open_executor(
    workers: int = 1,
    scheduler: str | None = None,
    context: WorkerContext | None = None,
    run_length: int = 1,
) -> Executor:
    """The executor the flags ask for: ``--scheduler`` wins, then ``--workers N > 1``.

    ``run_length`` (local pools only, see :class:`PoolExecutor`): consecutive tasks kept together.
    """
    if scheduler:
        return DaskExecutor(check_scheduler(scheduler), context)
    if workers > 1:
        return PoolExecutor(workers, context, run_length)
    return Executor(context)
