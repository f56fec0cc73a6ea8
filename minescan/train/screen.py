"""Fit the spectral screen: a LASSO path (Tibshirani 1996), an L1-logistic path, and the tile rule.

Two L1 paths run on the same 78 standardised features (12 bands + 66
normalized differences):

- LASSO on the clipped, scaled signed distance to the mine outline (the design's
  target: negative inside, so a high prediction means "far outside");
- L1-regularised logistic regression on inside/outside.

Both record, for every lambda, the validation score and the weights, so one
sees the weights drop to zero one after another. Lambda is chosen by a stated
rule: the sparsest model whose validation score is within 1% of the best.

The pixel scorer is the logistic model: the screen's question is "does this
pixel look like mine", a classification, and its score (the log-odds) has the
same meaning at every zoom; the distance regression spends its capacity on how
far outside a pixel lies, which the screen does not need. Its pixel threshold
and the per-zoom tile floor are then calibrated on whole validation chips so
that at least 99% of the tiles that hold a mine are kept, while as many empty
tiles as possible are dropped.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from minescan.kernel.bands import S2_BANDS
from minescan.kernel.errors import MinescanError
from minescan.kernel.model import LASSO_PATH_CSV, LASSO_PATH_PNG, SCREEN
from minescan.kernel.screen import Screen, bands_needed, compute_features, feature_names
from minescan.train.l1_paths import (
    CLIP_M,
    RULE,
    L1Path,
    lasso_path_fit,
    logistic_path_fit,
    path_table,
    plot_paths,
)
from minescan.train.tile_calibration import (
    DROP_EMPTY_TILES,
    KEEP_MINE_TILES,
    calibrate,
    score_chips,
    tile_figures,
)

PIXEL_COLUMNS = ("signed_distance_m", "inside", "cell", "z", "split")


def read_pixels(path: str | Path) -> pd.DataFrame:
    """Read ``pixels.parquet``; one-line errors for a missing, unreadable or empty table."""
    p = Path(path)
    if not p.exists():
        raise MinescanError(f"pixel table not found: {p}")
    try:
        df = pd.read_parquet(p)
    except Exception as exc:  # pyarrow raises several types
        raise MinescanError(f"cannot read pixel table {p}: {str(exc).splitlines()[0]}") from None
    missing = [c for c in (*S2_BANDS, *PIXEL_COLUMNS) if c not in df.columns]
    if missing:
        raise MinescanError(f"pixel table {p} lacks columns: {', '.join(missing)}")
    if len(df) == 0:
        raise MinescanError(f"pixel table {p} is empty: no pixels to fit the screen on")
    return df


def pixel_features(df: pd.DataFrame) -> np.ndarray:
    """(n, 78) float32 features of the table's rows."""
    data = df[list(S2_BANDS)].to_numpy(dtype=np.float32).T
    return compute_features(data, S2_BANDS).T


def standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column mean and scale (std, 1 where a feature is constant)."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    return mean, np.where(scale > 1e-12, scale, 1.0)


def screen_from_path(path: L1Path, names: list[str], mean: np.ndarray, scale: np.ndarray) -> Screen:
    """The chosen model's non-zero weights as an uncalibrated :class:`Screen`."""
    w = path.coefs[path.chosen]
    keep = np.flatnonzero(w != 0)
    features = [names[i] for i in keep]
    return Screen(
        bands=bands_needed(features),
        features=features,
        mean=mean[keep],
        scale=scale[keep],
        weights=w[keep],
        intercept=float(path.intercepts[path.chosen]),
        pixel_threshold=0.0,
        tile_min_fraction={0: 0.0},
    )


def default_chips_dir(pixels_path: Path) -> Path:
    """The chips folder recorded in the table's metadata, else ``chips/`` beside or above it."""
    import pyarrow.parquet as pq

    meta = pq.read_schema(pixels_path).metadata or {}
    for key in (b"chips", b"chips_dir", b"minescan_chips"):
        if key in meta:
            recorded = Path(meta[key].decode())
            return recorded if recorded.is_absolute() else pixels_path.parent / recorded
    for candidate in (pixels_path.parent / "chips", pixels_path.parent.parent / "chips"):
        if candidate.is_dir():
            return candidate
    return pixels_path.parent / "chips"


def sample_rows(df: pd.DataFrame, n: int, seed: int = 0) -> pd.DataFrame:
    """At most ``n`` rows, stratified by inside/outside so small mines keep their pixels."""
    if len(df) <= n:
        return df
    parts = []
    for _, group in df.groupby("inside"):
        share = max(1, round(n * len(group) / len(df)))
        parts.append(group.sample(min(share, len(group)), random_state=seed))
    return pd.concat(parts)


def fit_screen(
    pixels_path: str | Path,
    out_dir: str | Path,
    chips_dir: str | Path | None = None,
    max_rows: int = 60_000,
    seed: int = 0,
) -> Screen:
    """Fit both paths, write lasso_path.csv/.png and screen.json into ``out_dir``; return the screen."""
    from minescan.kernel.io import atomic_path, ensure_dir, write_json

    pixels_path = Path(pixels_path)
    out = ensure_dir(out_dir)
    df = read_pixels(pixels_path)
    df = df[np.isfinite(df[list(S2_BANDS)].to_numpy(dtype=np.float32)).all(axis=1)]
    train = sample_rows(df[df["split"] == "train"], max_rows, seed)
    val = sample_rows(df[df["split"] == "val"], max_rows // 2, seed)
    if len(train) == 0 or len(val) == 0:
        raise MinescanError(
            f"pixel table {pixels_path} needs rows in both the train and val splits "
            f"(has {len(train)} train, {len(val)} val)"
        )
    names = feature_names()
    x_train, x_val = pixel_features(train), pixel_features(val)
    mean, scale = standardise(x_train)
    z_train, z_val = (x_train - mean) / scale, (x_val - mean) / scale

    lasso = lasso_path_fit(
        z_train,
        train["signed_distance_m"].to_numpy(float),
        z_val,
        val["signed_distance_m"].to_numpy(float),
    )
    logistic = logistic_path_fit(
        z_train,
        train["inside"].to_numpy(bool).astype(int),
        z_val,
        val["inside"].to_numpy(bool).astype(int),
    )
    table = path_table([lasso, logistic], names)
    with atomic_path(out / LASSO_PATH_CSV) as tmp:
        table.to_csv(tmp, index=False)
    plot_paths([lasso, logistic], names, out / LASSO_PATH_PNG)

    screen = screen_from_path(logistic, names, mean, scale)
    chips = Path(chips_dir) if chips_dir is not None else default_chips_dir(pixels_path)
    cells = df.drop_duplicates("cell")[["cell", "z", "split"]]
    val_tiles = score_chips(screen, chips, cells[cells["split"] == "val"])
    rule = calibrate(val_tiles)
    test_cells = cells[cells["split"] == "test"]
    test_tiles = score_chips(screen, chips, test_cells) if len(test_cells) else []

    screen.pixel_threshold = rule.pixel_threshold
    screen.tile_min_fraction = rule.tile_min_fraction
    screen.info = {
        "scorer": "l1-logistic (log-odds of inside a mine polygon)",
        "scorer_why": "the screen asks whether a pixel looks like mine: a classification whose "
        "log-odds mean the same at every zoom; the LASSO distance fit is recorded beside it",
        "lambda": float(logistic.lambdas[logistic.chosen]),
        "rule": RULE,
        "tile_rule": f"keep a tile when the share of its valid pixels with score >= pixel_threshold "
        f"is >= tile_min_fraction[zoom]; on validation chips, per zoom, the floor sits in the "
        f"middle (log scale) of the gap between the largest floor keeping "
        f"{KEEP_MINE_TILES:.0%} of mine tiles and the smallest dropping "
        f"{DROP_EMPTY_TILES:.0%} of empty tiles; the threshold with the widest gap wins",
        "validation": {
            "logistic": {
                "average_precision": float(logistic.scores[logistic.chosen]),
                "best_average_precision": float(np.nanmax(logistic.scores)),
                "auc": float(logistic.extra["auc"][logistic.chosen]),
                "f1": float(logistic.extra["f1"][logistic.chosen]),
                "n_features": int(logistic.n_nonzero[logistic.chosen]),
            },
            "lasso": {
                "lambda": float(lasso.lambdas[lasso.chosen]),
                "r2": float(lasso.scores[lasso.chosen]),
                "mae_m": float(lasso.extra["mae_m"][lasso.chosen]),
                "n_features": int(lasso.n_nonzero[lasso.chosen]),
                "features": [names[i] for i in np.flatnonzero(lasso.coefs[lasso.chosen])],
                "target": f"signed_distance_m clipped to +-{CLIP_M:g} m, divided by {CLIP_M:g}",
            },
            "tiles": tile_figures(val_tiles, rule),
        },
        "test": {"tiles": tile_figures(test_tiles, rule)} if test_tiles else None,
        "pixels": {"train_rows": len(train), "val_rows": len(val), "table": str(pixels_path)},
    }
    write_json(out / SCREEN, screen.to_dict())
    return screen


def summary(screen: Screen) -> str:
    """A few lines for the terminal."""
    v = screen.info.get("validation", {})
    t = (screen.info.get("test") or {}).get("tiles") or v.get("tiles", {})
    where = "test" if screen.info.get("test") else "val"
    return json.dumps(
        {
            "features": screen.features,
            "lambda": screen.info.get("lambda"),
            "val_ap": v.get("logistic", {}).get("average_precision"),
            "val_auc": v.get("logistic", {}).get("auc"),
            f"{where}_mine_tiles_kept": t.get("mine_tiles_kept"),
            f"{where}_empty_tiles_dropped": t.get("empty_tiles_dropped"),
            "tile_min_fraction": screen.tile_min_fraction,
        },
        indent=1,
    )
