"""Two runs into one output at once: the second is refused on one line, for every writing command.

The first run is a child process holding the output's lock (:mod:`tests.lock_holder`), as
a running ``minescan`` would; the second is the command of the row, run in-process. The
lock is taken before the stage reads its inputs, so a row's inputs need only get past the
command's own flag checks.
"""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box

from tests.lock_holder import holding

LON, LAT = -1.95, 6.54  # Ashanti, Ghana
BBOX = "bbox:-1.96,6.53,-1.94,6.55"
REFUSED = re.compile(
    r"error: another minescan run \(pid (\d+), 'minescan (.+)'\) is writing to (.+); "
    r"wait for it or choose another --out"
)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A mine polygon, a cells table and a labels table: enough for every command's flags."""
    d = tmp_path_factory.mktemp("lock_inputs")
    mine = box(LON, LAT, LON + 0.002, LAT + 0.002)
    gpd.GeoDataFrame({"mine_id": ["m"]}, geometry=[mine], crs=4326).to_file(d / "mine.gpkg")
    pd.DataFrame({"name": ["c"], "z": [14], "x": [7999], "y": [7913]}).to_parquet(
        d / "cells.parquet"
    )
    pd.DataFrame({"file": ["p.tif"], "label": ["mine"]}).to_csv(d / "labels.csv", index=False)
    (d / "data.yaml").write_text("path: .\ntrain: images/train\nval: images/val\n")
    return d


#: (stage family, arguments with {d} the inputs and {o} the output, the output, a file output)
CASES = [
    ("grid", ["grid", "--polygons", "{d}/mine.gpkg", "--out", "{o}"], "{o}", False),
    ("simulate", ["simulate", "truth", "--aoi", BBOX, "--out", "{o}/t.gpkg"], "{o}/t.gpkg", True),
    ("chips", ["datasets", "chips", "--cells", "{d}/cells.parquet", "--out", "{o}"], "{o}", False),
    ("yolo", ["datasets", "yolo", "--chips", "{d}", "--out", "{o}"], "{o}", False),
    ("pixels", ["datasets", "pixels", "--chips", "{d}", "--out", "{o}/p.parquet"], "{o}/p.parquet", True),
    ("scan", ["scan", "--aoi", BBOX, "--out", "{o}"], "{o}", False),
    ("monitor", ["monitor", "--mine", "{d}/mine.gpkg", "--start", "2019-01-01", "--end", "2019-06-30", "--out", "{o}"], "{o}", False),
    ("evaluate", ["evaluate", "--labels", "{d}/labels.csv", "--out", "{o}"], "{o}", False),
    ("train-detector", ["train", "detector", "--data", "{d}/data.yaml", "--out", "{o}"], "{o}", False),
    ("train-screen", ["train", "screen", "--pixels", "{d}/cells.parquet", "--out", "{o}"], "{o}", False),
    ("train-verifier", ["train", "verifier", "--labels", "{d}/labels.csv", "--out", "{o}"], "{o}", False),
    ("train-finetune", ["train", "finetune", "--labels", "{d}/labels.csv", "--out", "{o}"], "{o}", False),
    ("train-demo", ["train", "demo", "--build", "{o}"], "{o}", False),
]  # fmt: skip


@pytest.mark.parametrize(("args", "out", "file"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_second_run_into_a_busy_output_is_refused_on_one_line(
    inputs, tmp_path, run_cli, args, out, file
):
    fill = {"d": inputs, "o": tmp_path / "out"}
    args = [a.format(**fill) for a in args]
    out = out.format(**fill)
    with holding(out, *args, file=file) as first:
        code, _, err = run_cli(*args)
        assert code == 2, err
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        refused = REFUSED.fullmatch(lines[0])
        assert refused, lines[0]
        pid, command, busy = refused.groups()
        assert (pid, busy) == (str(first.pid), out)
        assert " ".join(args).startswith(command.removesuffix("..."))  # long ones are cut
    assert not Path(out).exists()  # the refused run leaves nothing behind


def test_every_command_that_writes_a_run_folder_has_a_row():
    """The commands that write outputs; a new one must be added above (store and serve write a
    database, which has its own one-writer rule)."""
    from minescan.cli import SUBCOMMANDS

    covered = {c[1][0] for c in CASES}
    assert covered == set(SUBCOMMANDS) - {"store", "serve", "users"}
