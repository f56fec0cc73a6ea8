"""Executors give the same levels: in-process and a process pool (a real Dask cluster: test_cli)."""

import numpy as np
import pytest

from minescan.detect.checkpoint import Checkpoint
from minescan.detect.executors import DaskExecutor, LocalExecutor, PoolExecutor, make_executor
from minescan.detect.pyramid import Task, sweep
from minescan.detect.settings import ScanSettings
from minescan.grid.tiles import tiles_covering
from minescan.kernel.errors import MinescanError
from tests.detect.fakes import bright_spec, run_bright, squares_at
from tests.detect.test_pyramid import AOI

SQUARES = squares_at([(-2.03, 6.02), (-1.97, 6.08)], [300, 150])


def double(x):
    return 2 * x


def sweep_with(executor, model_dir, folder):
    spec = bright_spec(model_dir, SQUARES, batch_size=3)
    cfg = ScanSettings(batch_size=3)
    ck = Checkpoint(folder, "test")
    ck.open()
    levels = sweep(
        tiles_covering(AOI, 13),
        cfg.zooms,
        lambda z, i, t, nz: Task(spec, z, i, t, cfg.conf_at(z), True, nz),
        executor,
        ck,
        lambda t: np.ones(len(t), bool),
        cfg.batch_size,
        run=run_bright,
        progress=False,
    )
    return [
        (lv.zoom, lv.tiles.tolist(), lv.column("hit").tolist(),
         np.concatenate([r.boxes for r in lv.results]).tolist())
        for lv in levels
    ]  # fmt: skip


def test_make_executor_picks_by_flags():
    assert isinstance(make_executor(1, None), LocalExecutor)
    assert make_executor(1, None).workers == 1
    with pytest.raises(MinescanError, match="tcp://HOST:PORT"):
        make_executor(1, "localhost:8786")


def test_pool_yields_every_result_once():
    pool = PoolExecutor(2)
    try:
        assert sorted(pool.map_unordered(double, range(9))) == [2 * i for i in range(9)]
    finally:
        pool.close()


def test_unreachable_scheduler_is_a_clear_error():
    with pytest.raises(MinescanError, match="cannot reach Dask scheduler"):
        DaskExecutor("tcp://127.0.0.1:9", timeout_s=2)


def test_process_pool_matches_in_process(model_dir, tmp_path):
    local = sweep_with(LocalExecutor(), model_dir, tmp_path / "local")
    assert sum(len(level[3]) for level in local) > 0
    pool = PoolExecutor(2)
    try:
        assert sweep_with(pool, model_dir, tmp_path / "pool") == local
    finally:
        pool.close()
