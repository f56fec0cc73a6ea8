"""Tiny synthetic training inputs made by code: a YOLO set, chips and a pixel table.

The "mine" is a bright-in-SWIR, dark-in-NIR rectangle on a vegetated background,
so both the detector and the spectral screen have something learnable.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import mercantile
import numpy as np
import pandas as pd
import pytest
import yaml

from minescan.kernel.bands import DETECTOR_BANDS, S2_BANDS
from minescan.kernel.mercator import tile_transform
from minescan.kernel.raster import write_cog

#: Reflectance of background vegetation and of mine ground, per S2 band.
VEGETATION = dict(
    zip(
        S2_BANDS,
        [0.03, 0.04, 0.07, 0.04, 0.10, 0.25, 0.30, 0.33, 0.35, 0.36, 0.18, 0.09],
        strict=True,
    )
)
MINE = dict(
    zip(
        S2_BANDS,
        [0.10, 0.12, 0.16, 0.20, 0.22, 0.24, 0.25, 0.26, 0.27, 0.27, 0.36, 0.33],
        strict=True,
    )
)


def synthetic_reflectance(size: int, rng: np.random.Generator, mine: bool):
    """(12, size, size) reflectance and the mine mask (a rectangle, or none)."""
    mask = np.zeros((size, size), bool)
    if mine:
        h, w = rng.integers(size // 5, size // 2, 2)
        r, c = rng.integers(0, size - h), rng.integers(0, size - w)
        mask[r : r + h, c : c + w] = True
    data = np.empty((len(S2_BANDS), size, size), np.float32)
    for i, band in enumerate(S2_BANDS):
        data[i] = np.where(mask, MINE[band], VEGETATION[band])
    data *= rng.normal(1.0, 0.08, data.shape).astype(np.float32)
    return np.clip(data, 0, 1), mask


def write_yolo_set(root: Path, n_train=8, n_val=4, n_test=4, size=64, bands=DETECTOR_BANDS, seed=0):
    """YDIR with images/{split}/*.tif (uint8 pages), labels, data.yaml, scaling.json, split.json."""
    rng = np.random.default_rng(seed)
    idx = [S2_BANDS.index(b) for b in bands]
    split_of = {}
    for split, n in (("train", n_train), ("val", n_val), ("test", n_test)):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        for k in range(n):
            name = f"{split}{k:03d}_14_neg" if k % 4 == 3 else f"{split}{k:03d}_14_050"
            data, mask = synthetic_reflectance(size, rng, mine=k % 4 != 3)
            pages = [np.round(np.clip(data[i] / 0.4, 0, 1) * 255).astype(np.uint8) for i in idx]
            assert cv2.imwritemulti(str(root / "images" / split / f"{name}.tif"), pages)
            lines = []
            if mask.any():
                rows, cols = np.nonzero(mask)
                x0, x1, y0, y1 = cols.min(), cols.max() + 1, rows.min(), rows.max() + 1
                lines.append(
                    f"0 {(x0 + x1) / 2 / size:.6f} {(y0 + y1) / 2 / size:.6f} "
                    f"{(x1 - x0) / size:.6f} {(y1 - y0) / size:.6f}"
                )
            (root / "labels" / split / f"{name}.txt").write_text("\n".join(lines))
            split_of[name] = split
    doc = {
        "path": str(root),
        "train": "images/train",
        "val": "images/val",
        "test": "images/test",
        "nc": 1,
        "names": {0: "mine"},
        "channels": len(bands),
    }
    (root / "data.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    scaling = {
        "bands": list(bands),
        "low": [0.0] * len(bands),
        "high": [0.4] * len(bands),
        "method": "linear",
    }
    (root / "scaling.json").write_text(json.dumps(scaling))
    (root / "split.json").write_text(json.dumps({"rule": "synthetic", "cells": split_of}))
    return root / "data.yaml"


def write_chips_and_pixels(root: Path, per_split=(10, 6, 6), zooms=(13, 14), size=32, seed=0):
    """chips/z{z}/{cell}.tif (12 bands + _mine) and pixels.parquet sampled from them."""
    rng = np.random.default_rng(seed)
    rows = []
    for split, n in zip(("train", "val", "test"), per_split, strict=True):
        for z in zooms:
            for k in range(n):
                mine = k % 2 == 0
                cell = f"{split}{k:03d}_{z}_{'050' if mine else 'neg'}"
                data, mask = synthetic_reflectance(size, rng, mine)
                tile = mercantile.Tile(k, 100 + ["train", "val", "test"].index(split), z)
                stack = np.concatenate([data, mask[None].astype(np.float32)])
                write_cog(
                    root / "chips" / f"z{z}" / f"{cell}.tif",
                    stack,
                    tile_transform(tile, size),
                    band_names=[*S2_BANDS, "_mine"],
                    nodata=float("nan"),
                )
                rr, cc = np.nonzero(np.ones((size, size), bool))
                pick = rng.choice(rr.size, size=size * size // 4, replace=False)
                r, c = rr[pick], cc[pick]
                inside = mask[r, c]
                part = pd.DataFrame({"row": r, "col": c})
                for i, band in enumerate(S2_BANDS):
                    part[band] = data[i, r, c]
                part["signed_distance_m"] = np.where(inside, -20.0, 20.0) * rng.uniform(
                    0.5, 5, r.size
                )
                part["inside"] = inside
                part["cell"] = cell
                part["z"] = z
                part["split"] = split
                rows.append(part)
    table = pd.concat(rows, ignore_index=True)
    table.to_parquet(root / "pixels.parquet")
    return root / "pixels.parquet"


@pytest.fixture(scope="session")
def yolo_set(tmp_path_factory) -> Path:
    """data.yaml of a 16-image, 6-channel, 64 px YOLO set."""
    return write_yolo_set(tmp_path_factory.mktemp("yolo"))


@pytest.fixture(scope="session")
def pixel_table(tmp_path_factory) -> Path:
    """pixels.parquet with chips/ beside it."""
    return write_chips_and_pixels(tmp_path_factory.mktemp("pixels"))
