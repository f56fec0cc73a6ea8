"""Fitting the verifier: region folds, the held-out regions, the CLI, and the real patches."""

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from minescan.cli import app
from minescan.config import section
from minescan.kernel.errors import MinescanError
from minescan.kernel.verifier import feature_names
from minescan.train.verifier import fit_verifier, region_folds

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"


def test_region_folds_keep_each_region_whole_and_cover_every_row():
    groups = np.array(list("aabbbcdddde"))
    masks = region_folds(groups, 3)
    assert (np.sum(masks, axis=0) == 1).all()
    for mask in masks:
        assert not set(groups[mask]) & set(groups[~mask])


def test_fit_finds_the_informative_feature_and_records_the_cv():
    rng = np.random.default_rng(0)
    n = len(feature_names())
    x = rng.normal(size=(300, n))
    y = x[:, 3] + 0.3 * rng.normal(size=300) > 0
    groups = np.repeat(np.arange(10), 30).astype(str)
    v = fit_verifier(x, y, groups, section("verifier"))
    assert feature_names()[3] in v.info["kept_features"]
    assert abs(v.coef[3]) == max(abs(c) for c in v.coef)
    assert v.info["cv"]["chosen_strength"] in section("verifier").strengths
    assert v.prior == pytest.approx(y.mean())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--labels", "missing.csv", "--out", "m"], "labels file"),
        (["--labels", "{d}/t.csv", "--label-column", "nope", "--out", "m"], "no column 'nope'"),
        (["--labels", "{d}/t.csv", "--out", "m", "--folds", "1"], "folds"),
    ],
)
def test_bad_inputs_are_one_line_errors(tmp_path, args, message):
    (tmp_path / "t.csv").write_text("file,label\na.tif,mine\n")
    args = [a.replace("{d}", str(tmp_path)) for a in args]
    result = CliRunner().invoke(app, ["train", "verifier", *args])
    assert result.exit_code != 0
    # minescan's entry point prints a MinescanError as one "error:" line
    assert isinstance(result.exception, MinescanError)
    assert message in str(result.exception) and "\n" not in str(result.exception)


@pytest.mark.skipif(not (REAL / "scenes.csv").is_file(), reason=f"real patches not in {REAL}")
def test_on_real_patches_the_verifier_ranks_held_out_regions_well(tmp_path):
    from minescan.kernel.verifier import Verifier
    from minescan.train.verifier import PatchLabels, train_verifier

    labels = PatchLabels(str(REAL / "scenes.csv"), "group", ("mine", "no_mine_hard_negative"))
    fitted = train_verifier(labels, tmp_path, section("verifier"), progress=False)
    assert Verifier.load(tmp_path) == fitted
    assert fitted.info["holdout"]["mine"] == 109 and fitted.info["holdout"]["other"] == 114
    best = max(r["cv_auc"] for r in fitted.info["cv"]["strengths"])
    assert best > 0.6
