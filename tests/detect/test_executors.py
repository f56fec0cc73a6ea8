"""A sweep gives the same levels in-process and in a process pool (a real Dask cluster: test_cli)."""

import numpy as np

from minescan.config import section
from minescan.detect.batch import Task
from minescan.detect.checkpoint import Checkpoint
from minescan.detect.pyramid import sweep
from minescan.grid.tiles import tiles_covering
from minescan.kernel.executor import Executor, PoolExecutor
from tests.detect.fakes import bright_context, squares_at
from tests.detect.test_pyramid import AOI

SQUARES = squares_at([(-2.03, 6.02), (-1.97, 6.08)], [300, 150])


def sweep_with(executor, folder):
    cfg = section("scan", batch_size=3)
    ck = Checkpoint(folder, "test")
    ck.open()
    levels = sweep(
        tiles_covering(AOI, 13),
        cfg.zooms,
        lambda z, i, t, nz: Task(cfg, z, i, t, cfg.conf_at(z), True, nz),
        executor,
        ck,
        lambda t: np.ones(len(t), bool),
        cfg.batch_size,
        progress=False,
    )
    return [
        (lv.zoom, lv.tiles.tolist(), lv.column("hit").tolist(),
         np.concatenate([r.boxes for r in lv.results]).tolist())
        for lv in levels
    ]  # fmt: skip


def test_process_pool_matches_in_process(model_dir, tmp_path):
    context = bright_context(model_dir, SQUARES)
    local = sweep_with(Executor(context), tmp_path / "local")
    assert sum(len(level[3]) for level in local) > 0
    with PoolExecutor(2, context) as pool:
        assert sweep_with(pool, tmp_path / "pool") == local
    with PoolExecutor(2, context, run_length=2) as pool:  # neighbouring batches kept together
        assert sweep_with(pool, tmp_path / "runs") == local
