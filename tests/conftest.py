"""Shared fixtures. The network is blocked by pytest-socket (see pyproject), loopback allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from minescan.kernel import offline

offline.configure()

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data``; the test is skipped, saying why, where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (it sits beside the clone in CI)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def dask_scheduler():
    """Address of a local Dask cluster of 2 worker processes, started once for every Dask test.

    A cluster takes seconds to start and stop, more than the runs the tests send it.
    """
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        yield cluster.scheduler_address


@pytest.fixture
def run_cli():
    """Run ``minescan ARGS`` in-process; return (exit code, stdout, stderr)."""

    def run(*args: str):
        from click.testing import CliRunner

        from minescan.cli import main

        runner = CliRunner()
        result = runner.invoke(_Wrapper(main), list(map(str, args)))
        return result.exit_code, result.stdout, result.stderr

    return run


class _Wrapper:
    """Lets CliRunner call :func:`minescan.cli.main`, which returns an exit status."""

    def __init__(self, main):
        self.main_fn = main
        self.name = "minescan"

    def main(self, args=None, prog_name=None, **_):
        raise SystemExit(self.main_fn(args))
