"""minescan train finetune: mosaics of real-size patches, region hold-out, boxes, errors.

Fast tests use tiny GeoTIFF patches written here, in six 5-degree regions
along the equator, each with two mine and two non-mine patches; one mine per
region has an outline, the other is boxed whole.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import box

from minescan.config import section
from minescan.datasets.patches import Patch, load_patches
from minescan.datasets.yolo import read_image
from minescan.kernel.bands import DETECTOR_BANDS
from minescan.kernel.errors import MinescanError
from minescan.kernel.scaling import Scaling
from minescan.train.card import finetune_markdown
from minescan.train.detector import TrainOptions, train_detector
from minescan.train.finetune import (
    FinetuneOptions,
    Labels,
    finetune,
    heldout_table,
    manifest,
    split_patches,
)
from minescan.train.mosaics import (
    build_mosaic_set,
    fit_tile,
    mix_simulated,
    mosaic,
    mosaic_groups,
    target_mask,
)
from minescan.train.yolo_data import read_data

PATCH_PX = 12
RES_DEG = 0.0001  # about 11 m
LONS = (-72.0, -67.0, -62.0, -57.0, -52.0, -47.0)  # one 5-degree region each


def _write_patch(path: Path, lon: float, lat: float, value: float, bands=DETECTOR_BANDS) -> None:
    data = np.full((len(bands), PATCH_PX, PATCH_PX), value, np.float32)
    data += (
        np.random.default_rng(abs(int(lon * 100 + lat * 10)))
        .normal(0, 0.005, data.shape)
        .astype(np.float32)
    )
    transform = from_origin(lon, lat, RES_DEG, RES_DEG)
    with rasterio.open(
        path, "w", driver="GTiff", width=PATCH_PX, height=PATCH_PX, count=len(bands),
        dtype="float32", crs="EPSG:4326", transform=transform, nodata=float("nan"),
    ) as dst:  # fmt: skip
        dst.write(data)
        dst.descriptions = tuple(bands)


@pytest.fixture
def real_set(tmp_path) -> Path:
    """scenes.csv (file, group) and labels.gpkg (outlines) over 24 tiny patches."""
    rows, outlines = [], []
    for r, lon in enumerate(LONS):
        for k in range(4):
            mine = k < 2
            lat = -1.0 - k * 0.01
            name = f"r{r}_{k}.tif"
            _write_patch(tmp_path / name, lon, lat, 0.2 if mine else 0.05)
            rows.append({"file": name, "group": "mine" if mine else "no_mine_hard_negative"})
            if k == 0:  # an outline over the patch's top-left 6x8 px
                outlines.append(box(lon, lat - 6 * RES_DEG, lon + 8 * RES_DEG, lat))
    rows.append({"file": "r0_0.tif", "group": "pre_mine"})  # filtered out by --classes
    pd.DataFrame(rows).to_csv(tmp_path / "scenes.csv", index=False)
    gpd.GeoDataFrame(geometry=outlines, crs="EPSG:4326").to_file(
        tmp_path / "labels.gpkg", layer="mine_polygons"
    )
    return tmp_path


def _labels(root: Path) -> Labels:
    return Labels(
        str(root / "scenes.csv"),
        "group",
        ("mine", "no_mine_hard_negative"),
        str(root / "labels.gpkg"),
        "mine_polygons",
    )


def _patches(root: Path) -> list[Patch]:
    lab = _labels(root)
    return load_patches(
        lab.table,
        lab.label_column,
        outlines=lab.outlines,
        outlines_layer=lab.outlines_layer,
        classes=lab.classes,
        progress=False,
    )


def _patch(label: bool, mine: np.ndarray | None, size: int = 8) -> Patch:
    data = np.zeros((1, size, size), np.float32)
    return Patch(Path("p.tif"), data, ("B04",), from_origin(0, 0, 10, 10), None, label, mine)


def test_fit_tile_pads_at_native_resolution_and_crops_larger():
    data = np.arange(48 * 48, dtype=np.float32).reshape(1, 48, 48)
    mask = np.zeros((48, 48), bool)
    tile, m = fit_tile(data, mask, 64)
    assert tile.shape == (1, 64, 64) and m.shape == (64, 64)
    np.testing.assert_array_equal(tile[:, 8:56, 8:56], data)  # centred, never resampled
    np.testing.assert_array_equal(tile[0, 7], data[0, 1, :].take(np.r_[8:0:-1, 0:48, 46:38:-1]))
    big = np.arange(100 * 80, dtype=np.float32).reshape(1, 100, 80)
    tile, _ = fit_tile(big, np.zeros((100, 80), bool), 64)
    np.testing.assert_array_equal(tile, big[:, 18:82, 8:72])
    crops = {fit_tile(big, np.zeros((100, 80), bool), 64, np.random.default_rng(s))[0].min()
             for s in range(8)}  # fmt: skip
    assert len(crops) > 1  # random crops (and turns) with a generator


def test_fit_tile_turns_data_and_mask_together():
    data = np.zeros((2, 10, 10), np.float32)
    mask = np.zeros((10, 10), bool)
    data[:, 1:3, 6:9], mask[1:3, 6:9] = 1.0, True
    for seed in range(10):
        tile, m = fit_tile(data, mask, 16, np.random.default_rng(seed))
        assert m.sum() >= 6  # the mine and its reflections in the pad
        np.testing.assert_array_equal(tile[0] == 1.0, m)
        np.testing.assert_array_equal(tile[1] == 1.0, m)


def test_target_mask_outlines_whole_patch_or_nothing():
    outline = np.zeros((8, 8), bool)
    outline[1:6, 2:7] = True
    assert (target_mask(_patch(True, outline), 4) == outline).all()
    assert target_mask(_patch(True, None), 4).all()  # no outlines: the whole patch
    sliver = np.zeros((8, 8), bool)
    sliver[0, :] = True
    assert target_mask(_patch(True, sliver), 4).all()  # only a sliver: the whole patch
    assert not target_mask(_patch(False, outline), 4).any()  # the table beats a stray outline


def test_mosaic_layout_and_boxes_per_tile():
    s = Scaling.default(("B04", "B08"))
    tiles = []
    for k in range(5):
        data = np.full((2, 16, 16), 0.03 * (k + 1), np.float32)
        mask = np.ones((16, 16), bool) if k % 2 == 0 else np.zeros((16, 16), bool)
        tiles.append((data, mask))
    with pytest.raises(ValueError, match="do not fit"):
        mosaic(tiles, 40, 16, s)  # a 2x2 grid holds four
    image, boxes = mosaic(tiles[:4], 40, 16, s, min_box_px=4)
    assert image.shape == (2, 40, 40)
    # the grid is centred with a 4 px margin, filled row by row; no-data is 0
    assert image[0, 4, 4] == s.to_uint8(np.full((2, 1, 1), 0.03))[0, 0, 0]
    assert image[0, 4, 20] == s.to_uint8(np.full((2, 1, 1), 0.06))[0, 0, 0]
    assert image[0, 20, 4] == s.to_uint8(np.full((2, 1, 1), 0.09))[0, 0, 0]
    assert image[0, 0, 0] == 0 and image[0, 39, 39] == 0
    # mine tiles 0 and 2 touch tile 1's edge, but each is its own box
    assert boxes.tolist() == [[4, 4, 20, 20], [4, 20, 20, 36]]


def test_mosaic_groups_cover_every_patch_each_copy():
    groups = mosaic_groups(np.arange(10), 4, 3, np.random.default_rng(0))
    flat = np.concatenate(groups)
    assert len(groups) == 8 and sorted(flat.tolist()) == sorted(list(range(10)) * 3)


def test_split_holds_out_whole_regions(real_set):
    patches = _patches(real_set)
    assert len(patches) == 24
    split, regions = split_patches(patches, FinetuneOptions())
    assert set(split) == {"train", "val", "test"}
    for region in set(regions):
        assert len(set(split[regions == region])) == 1  # a region lies in one split only
    labels = np.array([p.label for p in patches])
    assert labels[split == "test"].any() and (~labels[split == "test"]).any()
    table = heldout_table(patches, split, regions, _labels(real_set))
    assert len(table) == (split == "test").sum()
    assert set(table["group"]) == {"mine", "no_mine_hard_negative"}
    assert all(Path(f).is_absolute() and Path(f).exists() for f in table["file"])


def test_mosaic_set_keeps_held_out_patches_out_of_training(real_set, tmp_path):
    patches = _patches(real_set)
    outlined = [p for p in patches if p.mine is not None and p.mine.any()]
    assert len(outlined) == 6 and all(p.mine.sum() == 48 for p in outlined)
    opts = FinetuneOptions(tile_px=16, copies=2)
    split, _ = split_patches(patches, opts)
    out = tmp_path / "set"
    counts = build_mosaic_set(patches, split, out, Scaling.default(DETECTOR_BANDS), 64, opts, False)
    record = pd.read_csv(out / "mosaics.csv")
    held = {str(p.path) for p, s in zip(patches, split, strict=True) if s == "test"}
    assert held and not held & set(record.loc[record.split != "test", "file"])
    assert set(record.loc[record.split == "test", "file"]) == held
    n_train = (split == "train").sum()
    assert (record.split == "train").sum() == 2 * n_train  # every training patch, twice
    assert counts["train"]["mosaics"] == -(-2 * n_train // 16)
    data = read_data(out / "data.yaml", DETECTOR_BANDS)
    assert len(data.images["test"]) == counts["test"]["mosaics"]
    image = read_image(data.images["test"][0])
    assert image.shape == (6, 64, 64)
    # test mosaics are not augmented: each mine has one box, outlined ones smaller than a tile
    sizes = []
    for f in (out / "labels" / "test").glob("*.txt"):
        for line in f.read_text().splitlines():
            w, h = (float(v) * 64 for v in line.split()[3:])
            sizes.append((round(w), round(h)))
    mines_held = sum(p.label for p, s in zip(patches, split, strict=True) if s == "test")
    assert len(sizes) == mines_held == counts["test"]["boxes"]
    assert (16, 16) in sizes and any(w * h < 16 * 16 for w, h in sizes)


def test_simulated_images_join_train_and_val(real_set, tmp_path, yolo_set):
    patches = _patches(real_set)
    opts = FinetuneOptions(tile_px=16)
    split, _ = split_patches(patches, opts)
    out = tmp_path / "set"
    sim_scaling = Scaling.load(Path(yolo_set).parent / "scaling.json")
    build_mosaic_set(patches, split, out, sim_scaling, 64, opts, False)
    used = mix_simulated(out, yolo_set, sim_scaling, 3, seed=0)
    assert used == {"train": 3, "val": 4}
    data = read_data(out / "data.yaml", DETECTOR_BANDS)
    assert sum("mosaic" not in f.name for f in data.images["train"]) == 3
    assert all("mosaic" in f.name for f in data.images["test"])
    with pytest.raises(MinescanError, match="scaled differently"):
        mix_simulated(out, yolo_set, Scaling.default(DETECTOR_BANDS), 3, seed=0)


def _fake_base(folder: Path) -> Path:
    """A model folder that passes the base checks (its weights are never opened here)."""
    folder.mkdir()
    (folder / "detector.pt").write_bytes(b"not used")
    (folder / "model_card.json").write_text('{"imgsz": 64}')
    Scaling.default(DETECTOR_BANDS).save(folder / "scaling.json")
    return folder


def test_bad_inputs_are_one_line_errors(real_set, tmp_path, run_cli):
    lab = _labels(real_set)
    with pytest.raises(MinescanError, match="base detector"):
        finetune(lab, tmp_path / "nobase", tmp_path / "out")
    base = _fake_base(tmp_path / "base")
    with pytest.raises(MinescanError, match="not the --base"):
        finetune(lab, base, base)
    _write_patch(real_set / "rgb.tif", -40.0, -1.0, 0.1, bands=("B02", "B03", "B04"))
    pd.DataFrame({"file": ["r0_0.tif", "rgb.tif"], "label": [1, 0]}).to_csv(
        real_set / "rgb.csv", index=False
    )
    with pytest.raises(MinescanError, match="rgb.tif has bands B02,B03,B04 but .* needs B08"):
        finetune(Labels(str(real_set / "rgb.csv")), base, tmp_path / "out")
    with pytest.raises(MinescanError, match="exceeds"):
        build_mosaic_set([], np.array([]), tmp_path, Scaling.default(DETECTOR_BANDS), 32,
                         FinetuneOptions(tile_px=64), False)  # fmt: skip
    code, _, err = run_cli(
        "train", "finetune", "--labels", real_set / "scenes.csv", "--label-column", "nope",
        "--base", base, "--out", tmp_path / "o",
    )  # fmt: skip
    assert code != 0 and "no column 'nope'" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(
        "train", "finetune", "--labels", real_set / "scenes.csv", "--base", base,
        "--out", tmp_path / "o", "--holdout-fraction", "0.9",
    )  # fmt: skip
    assert code != 0 and "0.9" in err
    (tmp_path / "sim.yaml").write_text("train: x\n")
    code, _, err = run_cli(
        "train", "finetune", "--labels", real_set / "scenes.csv", "--label-column", "group",
        "--classes", "mine,no_mine_hard_negative", "--base", base, "--out", tmp_path / "o",
        "--sim-data", tmp_path / "sim.yaml", "--quiet",
    )  # fmt: skip
    assert code != 0 and "must name train and val" in err


def test_one_region_cannot_be_held_out(tmp_path):
    for k in range(4):
        _write_patch(tmp_path / f"p{k}.tif", -60.0, -1.0 - k * 0.01, 0.1)
    pd.DataFrame({"file": [f"p{k}.tif" for k in range(4)], "label": [1, 0, 1, 0]}).to_csv(
        tmp_path / "l.csv", index=False
    )
    patches = load_patches(tmp_path / "l.csv", progress=False)
    with pytest.raises(MinescanError, match="too few regions"):
        split_patches(patches, FinetuneOptions())


@pytest.fixture(scope="module")
def tiny_base(yolo_set, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("base")
    train_detector(
        yolo_set,
        out,
        TrainOptions.from_settings(section("train", imgsz=64, epochs=1, batch=8, workers=0)),
    )
    (out / "screen.json").write_text('{"stub": true}')
    return out


@pytest.mark.slow
def test_finetune_end_to_end_and_resume_guard(real_set, tiny_base, tmp_path, yolo_set):
    out = tmp_path / "model"
    opts = FinetuneOptions(tile_px=16, copies=1, epochs=1, batch=4, workers=0)
    card = finetune(_labels(real_set), tiny_base, out, opts, sim_yaml=yolo_set, progress=False)
    for name in ("detector.pt", "detector.onnx", "scaling.json", "screen.json", "heldout.csv"):
        assert (out / name).exists(), name
    assert Scaling.load(out / "scaling.json") == Scaling.load(tiny_base / "scaling.json")
    recorded = json.loads((out / "model_card.json").read_text())["finetune"]["heldout"]
    held = pd.read_csv(out / "heldout.csv")
    assert recorded["file"] == "heldout.csv" and len(held) == recorded["mine"] + recorded["other"]
    assert sorted(set(held["region"])) == recorded["regions"]
    text = (out / "model_card.md").read_text()
    for phrase in ("Amazon", "industrial open pits", "Africa", "Asia",
                   "Contains modified Copernicus Sentinel data", "Amazon Mining Watch",
                   "CC BY 4.0"):  # fmt: skip
        assert phrase in text
    assert card["finetune"]["simulated_images"]["train"] > 0
    card["real_pixel_figures"] = ["held-out AUC 0.70 (minescan evaluate)"]
    assert "## Measured on real pixels\n\n- held-out AUC 0.70" in finetune_markdown(card)
    with pytest.raises(MinescanError, match="--force"):
        finetune(_labels(real_set), tiny_base, out, opts, progress=False)


def test_shared_real_patches_split_by_region(shared_data):
    """The real Amazon set: whole regions held out, both classes in every split."""
    real = shared_data / "real"
    lab = Labels(
        str(real / "scenes.csv"),
        "group",
        ("mine", "no_mine_hard_negative"),
        str(real / "labels.gpkg"),
        "mine_polygons",
    )
    patches = load_patches(
        lab.table,
        lab.label_column,
        outlines=lab.outlines,
        outlines_layer=lab.outlines_layer,
        classes=lab.classes,
        progress=False,
    )
    split, regions = split_patches(patches, FinetuneOptions())
    labels = np.array([p.label for p in patches])
    for s in ("train", "val", "test"):
        assert labels[split == s].any() and (~labels[split == s]).any()
    assert not set(regions[split == "test"]) & set(regions[split != "test"])
    outlined = sum(bool(p.label and p.mine is not None and p.mine.any()) for p in patches)
    assert outlined > 150  # AMW outlines land on the patches' own grids


def test_jitter_changes_training_tiles_only(real_set, tmp_path):
    patches = _patches(real_set)
    split, _ = split_patches(patches, FinetuneOptions())
    scaling = Scaling.default(DETECTOR_BANDS)
    images = {}
    for amount in (0.0, 0.3):
        out = tmp_path / f"j{amount}"
        opts = FinetuneOptions(tile_px=16, gain_jitter=amount)
        build_mosaic_set(patches, split, out, scaling, 64, opts, False)
        images[amount] = {
            f.relative_to(out).as_posix(): read_image(f) for f in out.glob("images/*/*.tif")
        }
    assert images[0.0].keys() == images[0.3].keys()
    for name, image in images[0.0].items():
        same = np.array_equal(image, images[0.3][name])
        assert same == (not name.startswith("images/train/")), name


def test_manifest_reads_back_equal_and_follows_mosaic_options(real_set):
    patches = _patches(real_set)
    opts = FinetuneOptions()
    split, _ = split_patches(patches, opts)
    first = manifest(patches, split, _labels(real_set), opts, None, 256)
    assert json.loads(json.dumps(first)) == first  # what a rerun reads back: the set is kept
    again = manifest(patches, split, _labels(real_set), FinetuneOptions(epochs=5), None, 256)
    assert again == first  # epochs decide training, not the set
    other = manifest(patches, split, _labels(real_set), FinetuneOptions(copies=2), None, 256)
    assert other != first
