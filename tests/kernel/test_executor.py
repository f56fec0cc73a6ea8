"""One executor for every stage: in-process, a local pool or Dask, each worker's context built once."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from minescan.kernel.errors import MinescanError
from minescan.kernel.executor import (
    THREAD_VARIABLES,
    DaskExecutor,
    Executor,
    PoolExecutor,
    WorkerContext,
    cores_per_worker,
    limit_native_threads,
    open_executor,
)

REPO = Path(__file__).resolve().parents[2]


def built_in(folder: str) -> dict:
    """A context build that leaves one file per build, named after the building process."""
    path = Path(folder) / f"{os.getpid()}-{time.monotonic_ns()}"
    path.touch()
    return {"pid": os.getpid(), "folder": folder}


def pid_of(task, context):
    """The task and the process that ran it, with the context that process built."""
    return task, context.get()["pid"], os.getpid()


def double(task, context):
    return 2 * task


def fail_on_three(task, context):
    if task == 3:
        raise MinescanError("task 3 failed")
    time.sleep(0.05)
    return task


def slow_mark(task, context):
    """Leave a file per task that started, then take a while."""
    (Path(context.settings) / str(task)).touch()
    time.sleep(0.3)
    return task


def native_threads(task, context):
    """The thread counts this worker's native pools (BLAS, OpenMP) report, and its OMP variable."""
    import numpy  # noqa: F401  (loads OpenBLAS, if the fork server has not)
    from threadpoolctl import threadpool_info

    return {pool["num_threads"] for pool in threadpool_info()}, os.environ.get("OMP_NUM_THREADS")


def builds_per_process(folder: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for path in folder.iterdir():
        pid = path.name.split("-")[0]
        counts[pid] = counts.get(pid, 0) + 1
    return counts


def test_open_executor_picks_by_flags():
    assert type(open_executor(1, None)) is Executor
    assert open_executor(1, None).workers == 1
    with pytest.raises(MinescanError, match="tcp://HOST:PORT"):
        open_executor(1, "localhost:8786")


def test_in_process_builds_the_context_once(tmp_path):
    context = WorkerContext(built_in, str(tmp_path))
    with open_executor(1, None, context) as executor:
        got = list(executor.map_unordered(pid_of, range(5)))
    assert [t for t, *_ in got] == list(range(5))
    assert {pid for _, pid, ran in got} == {os.getpid()}
    assert builds_per_process(tmp_path) == {str(os.getpid()): 1}


def test_pool_builds_the_context_once_per_worker_process(tmp_path):
    context = WorkerContext(built_in, str(tmp_path))
    with PoolExecutor(2, context) as pool:
        got = list(pool.map_unordered(pid_of, range(12)))
    assert sorted(t for t, *_ in got) == list(range(12))
    assert all(pid == ran != os.getpid() for _, pid, ran in got)
    counts = builds_per_process(tmp_path)
    assert set(counts.values()) == {1} and set(counts) == {str(ran) for *_, ran in got}


def test_pool_yields_every_result_once():
    with PoolExecutor(2) as pool:
        assert sorted(pool.map_unordered(double, range(9))) == [2 * i for i in range(9)]


def test_a_failing_task_is_one_clean_error():
    with PoolExecutor(2) as pool, pytest.raises(MinescanError, match="^task 3 failed$"):
        list(pool.map_unordered(fail_on_three, range(20)))


def test_a_failed_build_is_reported_by_the_task():
    context = WorkerContext(int, "not a number")
    with PoolExecutor(2, context) as pool, pytest.raises(ValueError, match="not a number"):
        list(pool.map_unordered(pid_of, range(4)))


def test_stopping_early_cancels_the_tasks_not_started(tmp_path):
    context = WorkerContext.given(str(tmp_path))
    with PoolExecutor(2, context) as pool:
        results = pool.map_unordered(slow_mark, range(40))
        next(results)
        results.close()
    assert len(list(tmp_path.iterdir())) <= 8  # at most the 2 x workers in flight, and refills


def test_unreachable_scheduler_is_a_clear_error():
    with pytest.raises(MinescanError, match="cannot reach Dask scheduler"):
        DaskExecutor("tcp://127.0.0.1:9", timeout_s=1)


def test_dask_builds_the_context_once_per_worker_process(dask_scheduler, tmp_path):
    context = WorkerContext(built_in, str(tmp_path))
    with open_executor(1, dask_scheduler, context) as dask:
        got = list(dask.map_unordered(pid_of, range(16)))
        with pytest.raises(MinescanError, match="^task 3 failed$"):
            list(dask.map_unordered(fail_on_three, range(8)))
    assert sorted(t for t, *_ in got) == list(range(16))
    assert all(pid == ran != os.getpid() for _, pid, ran in got)
    assert set(builds_per_process(tmp_path).values()) == {1}


ORPHANS = """
import os, sys, time
from minescan.kernel.executor import PoolExecutor

def pid(task, context):
    time.sleep(0.2)
    return os.getpid()

if __name__ == "__main__":
    with PoolExecutor(2) as pool:
        for p in pool.map_unordered(pid, range(10_000)):
            print(p, flush=True)
"""


def test_pool_workers_end_when_the_run_is_killed(tmp_path):
    script = tmp_path / "orphans.py"
    script.write_text(ORPHANS)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, env=env, text=True
    )
    workers = {int(proc.stdout.readline()) for _ in range(6)}
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 10
    while any(alive(p) for p in workers):
        assert time.time() < deadline, "pool workers outlived the killed run"
        time.sleep(0.1)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_run_of_consecutive_tasks_stays_in_one_worker(tmp_path):
    context = WorkerContext(built_in, str(tmp_path))
    with PoolExecutor(2, context, run_length=4) as pool:
        got = sorted(pool.map_unordered(pid_of, range(16)))
    assert [t for t, *_ in got] == list(range(16))
    ran = [r for *_, r in got]
    for start in range(0, 16, 4):
        assert len(set(ran[start : start + 4])) == 1  # tasks 4k..4k+3 met one worker's caches
    assert len(set(ran)) == 2  # and both workers took runs
    with pytest.raises(MinescanError, match="run_length must be 1 or more"):
        PoolExecutor(2, run_length=0)


def test_two_tasks_run_in_two_workers(tmp_path):
    context = WorkerContext(built_in, str(tmp_path))
    with PoolExecutor(2, context) as pool:
        ran = {r for *_, r in pool.map_unordered(pid_of, range(2))}
    assert len(ran) == 2  # a level of two batches still uses both workers


@pytest.mark.skipif(
    any(name in os.environ for name in THREAD_VARIABLES),
    reason="thread-pool variables set in the environment: workers keep the user's sizes",
)
def test_pool_workers_share_the_cores_between_their_native_thread_pools(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert cores_per_worker(2) == 4 and cores_per_worker(16) == 1 and cores_per_worker(0) == 8
    monkeypatch.undo()
    workers = 2
    with PoolExecutor(workers) as pool:
        got = list(pool.map_unordered(native_threads, range(workers)))
    share = cores_per_worker(workers)
    for counts, variable in got:
        assert counts == {share}  # numpy's BLAS no longer sized for the whole machine
        assert variable == str(share)  # and libraries loaded later read the same cap


def test_native_thread_pools_the_user_sized_are_left_alone(monkeypatch):
    from threadpoolctl import threadpool_info

    before = {pool["filepath"]: pool["num_threads"] for pool in threadpool_info()}
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    limit_native_threads(1)
    assert os.environ["OMP_NUM_THREADS"] == "3"
    assert "OPENBLAS_NUM_THREADS" not in os.environ
    assert {pool["filepath"]: pool["num_threads"] for pool in threadpool_info()} == before
