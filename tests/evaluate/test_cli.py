import hashlib
import json

import geopandas as gpd
import pandas as pd
import pytest

from minescan.evaluate.metrics import auc

from .conftest import BANDS, bright_patch, write_patch


def digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*"))
            if p.is_file()}  # fmt: skip


def test_evaluate_writes_every_output_consistently(run_cli, patch_set, tmp_path):
    before = digest(tmp_path)
    out = tmp_path / "eval"
    code, stdout, stderr = run_cli(
        "evaluate", "--labels", patch_set["labels"], "--label-column", "class",
        "--outlines", patch_set["outlines"], "--outlines-layer", "mines",
        "--by", "region", "--out", out, "--quiet",
    )  # fmt: skip
    assert code == 0, stderr
    assert "8 patches: AUC" in stdout
    for name in ("patches.csv", "thresholds.csv", "breakdown_region.csv", "metrics.json",
                 "boxes.gpkg", "report.png"):  # fmt: skip
        assert (out / name).stat().st_size > 0, name
    table = pd.read_csv(out / "patches.csv")
    figures = json.loads((out / "metrics.json").read_text())
    assert len(table) == 8 and table["label"].sum() == 4
    assert figures["auc"] == pytest.approx(auc(table["label"], table["score"]))
    assert (table["threshold"] == 0.02).all()  # the scan's z14 threshold for 10 m pixels
    assert figures["at_model_threshold"]["tp"] == int((table["label"] & table["detected"]).sum())
    assert figures["boxes"]["patches_with_outlines"] == 2 + 4  # two outlined mines, four others
    assert figures["screen"]["rule"].startswith("off: the patches lack B01")
    assert figures["screen"]["mine_patches_kept"] == 1.0
    assert set(pd.read_csv(out / "breakdown_region.csv")["region"]) == {"north", "south"}
    # the patches lie (UTM 21S, about 57 W 9 S) in a square the shipped verifier was fitted on
    assert set(table["region_5deg"]) == {"W060S10"}
    assert figures["verifier"]["patches_in_fitted_regions"] == 8
    assert "warning: 8 of 8 patches lie in 5-degree regions the verifier was fitted on" in stderr
    boxes = gpd.read_file(out / "boxes.gpkg", layer="boxes")
    assert boxes.crs.to_epsg() == 4326
    assert set(boxes["file"]) <= set(table.loc[table["detected"], "file"])
    assert (boxes["score"] >= 0.02).all()
    assert digest(tmp_path)["labels.csv"] == before["labels.csv"]  # inputs untouched
    assert {k: v for k, v in digest(tmp_path).items() if k in before} == before


def test_outlines_alone_label_the_patches(run_cli, patch_set, tmp_path):
    files = sorted(patch_set["folder"].glob("*.tif"))
    code, stdout, stderr = run_cli(
        "evaluate", *files, "--outlines", patch_set["outlines"], "--outlines-layer", "mines",
        "--out", tmp_path / "eval", "--quiet",
    )  # fmt: skip
    assert code == 0, stderr
    table = pd.read_csv(tmp_path / "eval" / "patches.csv")
    assert sorted(table.loc[table["label"], "file"]) == ["p0.tif", "p1.tif"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--label-column", "nope"], "has no column 'nope'"),
        (["--label-column", "class", "--by", "country"], "--by country: no such label column"),
        (["--label-column", "class", "--classes", "mine"], "all 4 patches are mines"),
        (["--label-column", "class", "--model", "/no/such/model"], "model folder not found"),
    ],
)
def test_bad_input_is_one_error_line(run_cli, patch_set, tmp_path, args, message):
    code, _, stderr = run_cli(
        "evaluate", "--labels", patch_set["labels"], *args, "--out", tmp_path / "e", "--quiet"
    )
    assert code != 0
    assert stderr.count("\n") == 1 and stderr.startswith("error:") and message in stderr


def test_a_patch_without_band_names_needs_bands(run_cli, tmp_path):
    write_patch(tmp_path / "a.tif", bright_patch(), descriptions=[""] * 6)
    pd.DataFrame({"file": ["a.tif"], "label": ["mine"]}).to_csv(tmp_path / "l.csv", index=False)
    code, _, stderr = run_cli("evaluate", "--labels", tmp_path / "l.csv", "--out", tmp_path / "e")
    assert code == 2 and "give --bands" in stderr


def test_digital_numbers_become_reflectance(tmp_path):
    from minescan.datasets.patches import read_patch

    dn = (bright_patch() * 10_000).astype("uint16")
    dn[:, 0, 0] = 0
    patch = read_patch(write_patch(tmp_path / "dn.tif", dn, nodata=0), True)
    assert patch.data.dtype.name == "float32"
    assert abs(float(patch.data[3, 5, 5]) - 0.3) < 0.02
    assert not patch.valid[0, 0] and patch.valid[1, 1]
    assert patch.bands == BANDS
