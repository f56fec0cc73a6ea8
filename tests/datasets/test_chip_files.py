import json

import numpy as np
import pandas as pd
import pytest
import rasterio
from PIL import Image

from minescan.datasets.chip_files import (
    CHIP_BANDS,
    ChipJob,
    cell_tags,
    chip_path,
    mines_from_file,
    rasterize_mines,
    read_cells,
    write_chips,
)
from minescan.kernel.bands import S2_BANDS
from minescan.kernel.errors import MinescanError
from minescan.kernel.mercator import tile_transform
from tests.datasets.conftest import (
    CLOUDY,
    EAST,
    MIN_VALID,
    MINE_PX,
    SIZE,
    TILE,
    StandInSource,
    name,
    truth,
    write_cells,
)


@pytest.fixture
def mines_file(tmp_path):
    path = tmp_path / "mines.gpkg"
    truth().drop(columns="start_date").to_file(path)
    return path


def chips_args(cells_file, out, mines_file, *extra):
    return (
        "datasets", "chips", "--cells", cells_file, "--mines", mines_file,
        "--period", "2019", "--out", out, "--size", SIZE, "--quiet", *extra,
    )  # fmt: skip


def test_chips_files_bands_tags_and_mine_band(standin, run_cli, cells_file, mines_file, tmp_path):
    out = tmp_path / "chips"
    code, stdout, stderr = run_cli(*chips_args(cells_file, out, mines_file))
    assert code == 0, stderr
    assert "3 chips" in stdout
    path = chip_path(out, name(TILE), 14)
    assert path == out / "z14" / f"{name(TILE)}.tif"
    with rasterio.open(path) as src:
        assert src.count == 13 and src.dtypes[0] == "float32"
        assert tuple(src.descriptions) == CHIP_BANDS
        assert src.crs.to_epsg() == 3857
        assert src.profile["compress"] == "zstd" and src.profile["tiled"]
        assert src.transform.almost_equals(tile_transform(TILE, SIZE))
        tags, data = src.tags(), src.read()
    assert tags["period"] == "2019" and tags["source"] == "standin"
    assert (tags["z"], tags["x"], tags["y"], tags["label"]) == ("14", "8100", "7900", "pos")
    assert tags["quadkey"]  # the cell's other columns come along
    expected = StandInSource().read(TILE, SIZE, bands=S2_BANDS).data
    np.testing.assert_array_equal(data[:12], expected)
    # The rectangle mine covers exactly its pixels (plus the two other mines' parts).
    c0, r0, c1, r1 = MINE_PX
    assert data[-1, r0:r1, c0:c1].all()
    assert not data[-1, r0 - 1, c0:c1].any() and not data[-1, r0:r1, c1].any()
    assert int(tags["mine_px"]) == int(data[-1].sum())
    preview = np.asarray(Image.open(out / "previews" / f"{name(TILE)}.png"))
    assert preview.shape == (SIZE, SIZE, 3)
    inner = preview[r0 + 2 : r1 - 2, c0 + 2 : c1 - 2]
    assert (inner[..., 0] > inner[..., 1]).all()  # tinted red inside the polygon
    assert preview[60, 5, 0] == preview[60, 5, 1] or preview[60, 5, 0] < 255  # not red outside
    report = json.loads((out / "chips_report.json").read_text())
    assert report["cells"] == 3 and report["written"] == 3 and report["with_mine"] == 2
    assert report["empty"] == [name(CLOUDY)]
    with rasterio.open(chip_path(out, name(CLOUDY), 14)) as src:
        assert src.tags()["empty"] == "true"
        assert np.isnan(src.read(1)).all()
    assert not list(out.rglob(".*tmp*"))  # no temporary file left behind


def test_rerun_skips_and_rewrites_corrupt(standin, run_cli, cells_file, mines_file, tmp_path):
    out = tmp_path / "chips"
    assert run_cli(*chips_args(cells_file, out, mines_file))[0] == 0
    good = chip_path(out, name(TILE), 14)
    bad = chip_path(out, name(EAST), 14)
    before = good.stat().st_mtime_ns
    bad.write_bytes(bad.read_bytes()[:2000])  # truncated, as after a crash mid-copy
    (out / "previews" / f"{name(TILE)}.png").unlink()
    code, stdout, stderr = run_cli(*chips_args(cells_file, out, mines_file))
    assert code == 0, stderr
    assert "2 already there, 1 rewritten" in stdout
    assert f"chip {bad} is corrupt" in stderr
    assert good.stat().st_mtime_ns == before
    assert (out / "previews" / f"{name(TILE)}.png").exists()  # missing preview rebuilt
    with rasterio.open(bad) as src:
        assert src.read().shape == (13, SIZE, SIZE)
    report = json.loads((out / "chips_report.json").read_text())
    assert report["skipped"] == 2 and report["rewritten"][0]["name"] == name(EAST)
    assert report["empty"] == [name(CLOUDY)]  # still reported from the kept chip's tag


def test_rerun_with_another_period_rewrites(standin, run_cli, cells_file, mines_file, tmp_path):
    out = tmp_path / "chips"
    assert run_cli(*chips_args(cells_file, out, mines_file, "--limit", "1"))[0] == 0
    args = list(chips_args(cells_file, out, mines_file, "--limit", "1"))
    args[args.index("2019")] = "2020"
    code, stdout, _ = run_cli(*args)
    assert code == 0 and "1 rewritten" in stdout
    with rasterio.open(chip_path(out, name(TILE), 14)) as src:
        assert src.tags()["period"] == "2020"


def test_process_pool_matches_single_process(cells_file, tmp_path):
    cells = read_cells(cells_file)
    for workers in (1, 2):
        job = ChipJob(
            tmp_path / f"w{workers}",
            "2019",
            SIZE,
            StandInSource,
            truth(),
            min_valid_fraction=MIN_VALID,
        )
        report = write_chips(cells, job, workers=workers, progress=False)
        assert report["written"] == 3
    for tile in (TILE, EAST, CLOUDY):
        with (
            rasterio.open(chip_path(tmp_path / "w1", name(tile), 14)) as a,
            rasterio.open(chip_path(tmp_path / "w2", name(tile), 14)) as b,
        ):
            np.testing.assert_array_equal(a.read(), b.read())


def test_rasterize_uses_pixel_centres():
    mine = rasterize_mines(truth().iloc[[0]], tile_transform(TILE, SIZE), SIZE)
    c0, r0, c1, r1 = MINE_PX
    expected = np.zeros((SIZE, SIZE), np.uint8)
    expected[r0:r1, c0:c1] = 1
    np.testing.assert_array_equal(mine, expected)
    assert not rasterize_mines(None, tile_transform(TILE, SIZE), SIZE).any()


def test_mines_from_file_keeps_only_mines_dug_by_the_period():
    mines = truth().drop(columns="start_date").assign(year=[2015, 2019, 2021])
    assert mines_from_file(mines, "2019")["mine_id"].tolist() == ["m1", "m2"]
    assert mines_from_file(mines, "2022")["mine_id"].tolist() == ["m1", "m2", "m3"]
    plain = truth().drop(columns="start_date")
    assert mines_from_file(plain, "2000") is plain


def test_zoom_filter_and_limit(cells_file):
    assert len(read_cells(cells_file, limit=2)) == 2
    with pytest.raises(MinescanError, match="no cells"):
        read_cells(cells_file, zooms=[13])


@pytest.mark.parametrize(
    "change, message",
    [
        ({"x": 1 << 14}, "outside the web-mercator grid"),
        ({"y": -1}, "outside the web-mercator grid"),
        ({"z": 40}, "outside the web-mercator grid"),
    ],
)
def test_cell_outside_web_mercator(standin, run_cli, tmp_path, change, message):
    cells = tmp_path / "cells.parquet"
    write_cells(cells, [TILE])
    table = pd.read_parquet(cells).assign(**change)
    table.to_parquet(cells)
    code, _, stderr = run_cli("datasets", "chips", "--cells", cells, "--out", tmp_path / "o")
    assert code == 2
    assert message in stderr and len(stderr.strip().splitlines()) == 1


def test_bad_inputs_one_line_errors(standin, run_cli, cells_file, tmp_path):
    cases = [
        (("--cells", tmp_path / "nope.parquet", "--out", tmp_path / "o"), "cells file not found"),
        (("--cells", tmp_path / "mines.txt", "--out", tmp_path / "o"), "cannot read cells file"),
        (("--cells", cells_file, "--out", tmp_path / "o", "--zooms", "x"), "bad zoom list"),
        (("--cells", cells_file, "--out", tmp_path / "o", "--mines", tmp_path / "m.gpkg"), "mines file not found"),
    ]  # fmt: skip
    (tmp_path / "mines.txt").write_text("not parquet")
    pd.DataFrame({"name": ["a"], "z": [14]}).to_parquet(tmp_path / "few.parquet")
    cases += [
        (("--cells", tmp_path / "few.parquet", "--out", tmp_path / "o"), "lacks column(s) x, y"),
        (
            ("--cells", cells_file, "--out", tmp_path / "o", "--limit", "0"),
            "Invalid value for '--limit'",
        ),
    ]
    for args, message in cases:
        code, _, stderr = run_cli("datasets", "chips", *args)
        assert code == 2, args
        assert message in stderr and len(stderr.strip().splitlines()) == 1, stderr


def test_unwritable_output_folder(standin, run_cli, cells_file, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")  # a folder cannot be made under a file, even as root
    code, _, stderr = run_cli(
        "datasets", "chips", "--cells", cells_file, "--out", blocker / "chips"
    )
    assert code == 2 and "output folder" in stderr and len(stderr.strip().splitlines()) == 1


def test_source_truth_labels_without_mines_file(standin, run_cli, cells_file, tmp_path):
    out = tmp_path / "chips"
    code, _, stderr = run_cli("datasets", "chips", "--cells", cells_file, "--out", out,
                              "--size", SIZE, "--limit", "1", "--quiet")  # fmt: skip
    assert code == 0, stderr
    with rasterio.open(chip_path(out, name(TILE), 14)) as src:
        mine = src.read(13)
    expected = rasterize_mines(truth(), tile_transform(TILE, SIZE), SIZE)
    np.testing.assert_array_equal(mine, expected)


def test_cell_tags_keep_scalars_and_skip_missing():
    cell = {"name": "a", "z": np.int64(14), "pair": None, "overlap": float("nan"), "box": [1, 2]}
    assert cell_tags(cell) == {"name": "a", "z": "14"}
