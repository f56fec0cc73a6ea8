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
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from minescan.datasets.chips import chip_path
from minescan.kernel.bands import S2_BANDS
from minescan.kernel.errors import MinescanError
from minescan.kernel.model import LASSO_PATH_CSV, LASSO_PATH_PNG, SCREEN
from minescan.kernel.screen import (
    Screen,
    bands_needed,
    compute_features,
    feature_names,
    keeps_tile,
    mine_share,
)

#: The rule used to pick lambda on each path (stored in screen.json).
RULE = "sparsest model whose validation score is within 1% of the best validation score"
#: Signed distances are clipped to +-CLIP_M metres and divided by it (the LASSO target in -1..1).
CLIP_M = 200.0
#: Share of validation tiles holding a mine that the tile rule must keep.
KEEP_MINE_TILES = 0.99
#: Share of empty validation tiles the floor should drop at least (the target is 60% at test).
DROP_EMPTY_TILES = 0.8
#: Where mine and empty tiles overlap at every threshold, the floor is this share of the
#: largest floor that keeps 99% of mine tiles, so weaker unseen mine tiles are still kept.
SAFETY = 0.5
PIXEL_COLUMNS = ("signed_distance_m", "inside", "cell", "z", "split")


@dataclass(frozen=True)
class L1Path:
    """One regularisation path: weights and validation figures per lambda (strongest first)."""

    model: str  # "lasso" or "logistic"
    lambdas: np.ndarray  # (k,)
    coefs: np.ndarray  # (k, F) on standardised features
    intercepts: np.ndarray  # (k,)
    scores: np.ndarray  # (k,) the score the rule uses: R2 (lasso) or average precision (logistic)
    extra: dict[str, np.ndarray]  # other validation figures per lambda: MAE, or AUC and F1
    chosen: int

    @property
    def n_nonzero(self) -> np.ndarray:
        return (np.abs(self.coefs) > 0).sum(axis=1)


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


def choose(scores: np.ndarray, n_nonzero: np.ndarray, tol: float = 0.01) -> int:
    """Index of the sparsest model within ``tol`` (relative) of the best score.

    Ties in sparsity go to the stronger penalty (the earlier index, paths run
    from strong to weak). Models with no feature at all are never chosen.

    Examples
    --------
    >>> choose(np.array([0.5, 0.90, 0.955, 0.96]), np.array([0, 2, 5, 9]))
    2
    """
    ok = np.isfinite(scores) & (n_nonzero > 0)
    if not ok.any():
        raise MinescanError("screen: no lambda gave a usable model on the validation rows")
    best = scores[ok].max()
    good = ok & (scores >= best - tol * abs(best))
    candidates = np.flatnonzero(good)
    return int(candidates[np.argmin(n_nonzero[candidates])])


def distance_target(distance_m: np.ndarray) -> np.ndarray:
    """Signed distance clipped to +-CLIP_M and scaled to -1..1; NaN (a chip without any mine) is +1.

    Examples
    --------
    >>> distance_target(np.array([-500.0, 50.0, np.nan])).tolist()
    [-1.0, 0.25, 1.0]
    """
    d = np.where(np.isfinite(distance_m), distance_m, CLIP_M)
    return np.clip(d, -CLIP_M, CLIP_M) / CLIP_M


def lasso_path_fit(
    x_train: np.ndarray, d_train: np.ndarray, x_val: np.ndarray, d_val: np.ndarray, n: int = 30
) -> L1Path:
    """LASSO path on the clipped signed distance; validation R2 and MAE (metres) per lambda."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import lasso_path

    y_train, y_val = distance_target(d_train), distance_target(d_val)
    offset = y_train.mean()
    with warnings.catch_warnings():
        # the 78 features are strongly collinear; the tail of the path (tiny lambda) converges
        # slowly and is never the chosen model, so its warnings are noise here
        warnings.simplefilter("ignore", ConvergenceWarning)
        alphas, coefs, _ = lasso_path(
            x_train.astype(np.float64), y_train - offset, alphas=n, eps=1e-3, max_iter=2000
        )
    coefs = coefs.T.astype(np.float64)
    intercepts = np.full(len(alphas), offset)
    pred = x_val @ coefs.T + intercepts
    resid = pred - y_val[:, None]
    var = np.var(y_val)
    r2 = 1 - (resid**2).mean(axis=0) / var if var > 0 else np.full(len(alphas), np.nan)
    mae = np.abs(resid).mean(axis=0) * CLIP_M
    n_nz = (np.abs(coefs) > 0).sum(axis=1)
    return L1Path("lasso", alphas, coefs, intercepts, r2, {"mae_m": mae}, choose(r2, n_nz))


def logistic_path_fit(
    x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, n: int = 16
) -> L1Path:
    """L1-logistic path over C (lambda = 1 / (C n)); validation AP, AUC and F1 per lambda.

    The rule uses average precision: the tile rule lives at the high-precision end of
    the pixel ranking, where AUC barely moves but AP does.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import average_precision_score, f1_score, roc_auc_score
    from sklearn.svm import l1_min_c

    if len(np.unique(y_train)) < 2:
        raise MinescanError("screen: the training pixels hold only one class (inside or outside)")
    c_min = l1_min_c(x_train, y_train, loss="log")
    cs = c_min * np.logspace(0.05, 3.5, n)
    coefs, intercepts, ap, auc, f1 = [], [], [], [], []
    two_classes = len(np.unique(y_val)) == 2
    for c in cs:
        model = LogisticRegression(
            C=c,
            l1_ratio=1.0,
            solver="liblinear",
            class_weight="balanced",
            intercept_scaling=100.0,  # liblinear penalises the intercept; make that negligible
            max_iter=500,
            tol=1e-4,
        ).fit(x_train, y_train)
        coefs.append(model.coef_[0].copy())
        intercepts.append(float(model.intercept_[0]))
        logit = x_val @ model.coef_[0] + model.intercept_[0]
        auc.append(roc_auc_score(y_val, logit) if two_classes else np.nan)
        ap.append(average_precision_score(y_val, logit) if two_classes else np.nan)
        f1.append(f1_score(y_val, logit >= 0, zero_division=0))
    coefs = np.array(coefs)
    ap = np.array(ap)
    n_nz = (np.abs(coefs) > 0).sum(axis=1)
    lambdas = 1.0 / (cs * len(y_train))
    return L1Path(
        "logistic",
        lambdas,
        coefs,
        np.array(intercepts),
        ap,
        {"auc": np.array(auc), "f1": np.array(f1)},
        choose(ap, n_nz),
    )


def path_table(paths: list[L1Path], names: list[str]) -> pd.DataFrame:
    """One row per (model, lambda): validation figures and the signed weight of every feature."""
    rows = []
    for path in paths:
        for i, lam in enumerate(path.lambdas):
            row = {
                "model": path.model,
                "lambda": float(lam),
                "log10_lambda": math.log10(lam),
                "n_nonzero": int(path.n_nonzero[i]),
                "val_score": float(path.scores[i]),
                "metric": "r2" if path.model == "lasso" else "average_precision",
                **{f"val_{k}": float(v[i]) for k, v in path.extra.items()},
                "chosen": i == path.chosen,
                "intercept": float(path.intercepts[i]),
            }
            row.update({f"w_{n}": float(w) for n, w in zip(names, path.coefs[i], strict=True)})
            rows.append(row)
    return pd.DataFrame(rows)


def plot_paths(paths: list[L1Path], names: list[str], path: Path) -> None:
    """Weights against log10 lambda (top) and validation score against it (bottom), per model."""
    from minescan.kernel import offline

    offline.configure()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from minescan.kernel.io import atomic_path

    fig, axes = plt.subplots(
        2, len(paths), figsize=(6 * len(paths), 8), sharex="col", squeeze=False
    )
    for col, p in enumerate(paths):
        loglam = np.log10(p.lambdas)
        ax = axes[0, col]
        ax.plot(loglam, p.coefs, lw=0.8)
        final = p.coefs[p.chosen]
        for j in np.argsort(-np.abs(final))[:6]:
            if final[j] != 0:
                ax.annotate(names[j], (loglam[p.chosen], final[j]), fontsize=7)
        ax.axvline(loglam[p.chosen], color="k", ls="--", lw=0.8)
        ax.set_title(f"{p.model}: weights (standardised features)")
        ax.set_ylabel("w_i")
        ax = axes[1, col]
        metric = "R2 (signed distance)" if p.model == "lasso" else "AP (inside/outside)"
        ax.plot(loglam, p.scores, marker="o", ms=3)
        ax2 = ax.twinx()
        ax2.plot(loglam, p.n_nonzero, color="grey", ls=":", lw=1)
        ax2.set_ylabel("non-zero weights", color="grey")
        ax.axvline(loglam[p.chosen], color="k", ls="--", lw=0.8)
        ax.set_ylabel(f"validation {metric}")
        ax.set_xlabel("log10 lambda")
    fig.suptitle("L1 paths; dashed: chosen lambda (" + RULE + ")", fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


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


# --- tile calibration --------------------------------------------------------------------------


@dataclass(frozen=True)
class TileScores:
    """Pixel scores of one whole chip (subsampled) and whether it holds a mine."""

    cell: str
    zoom: int
    split: str
    scores: np.ndarray  # valid pixels only, 1-D
    has_mine: bool


def score_chips(
    screen: Screen, chips_dir: Path, cells: pd.DataFrame, stride: int = 2
) -> list[TileScores]:
    """Score every chip named in ``cells`` (columns cell, z, split); missing chips are an error."""
    from tqdm import tqdm

    from minescan.kernel.raster import read_cog

    out = []
    for cell, zoom, split in tqdm(
        cells[["cell", "z", "split"]].itertuples(index=False),
        total=len(cells),
        desc="screen: scoring chips",
        disable=None,
    ):
        p = chip_path(chips_dir, str(cell), int(zoom))
        if not p.exists():
            raise MinescanError(f"chip not found for calibration: {p} (pass --chips DIR)")
        data, _, names, _ = read_cog(p)
        names = list(names)
        if "_mine" not in names:
            raise MinescanError(f"chip {p} has no _mine band")
        mine = data[names.index("_mine"), ::stride, ::stride] > 0.5
        bands = [n for n in names if n in S2_BANDS]
        pix = data[[names.index(b) for b in bands], ::stride, ::stride]
        valid = np.isfinite(pix).all(axis=0)
        s = screen.score(pix, bands)[valid]
        out.append(TileScores(str(cell), int(zoom), str(split), s, bool((mine & valid).any())))
    return out


def tile_floor(fractions: np.ndarray, keep: float = KEEP_MINE_TILES) -> float:
    """Largest floor that keeps at least ``keep`` of the tiles with these mine fractions.

    Examples
    --------
    >>> tile_floor(np.array([0.0, 0.1, 0.2, 0.3]))
    0.0
    >>> round(tile_floor(np.linspace(0.01, 1, 200)), 4)  # 198 of 200 kept: the 3rd smallest
    0.0199
    """
    if fractions.size == 0:
        return 0.0
    allowed = int(math.floor((1 - keep) * fractions.size + 1e-9))
    return float(np.sort(fractions)[allowed])


@dataclass(frozen=True)
class TileRule:
    pixel_threshold: float
    tile_min_fraction: dict[int, float]


def calibrate(tiles: list[TileScores], n_thresholds: int = 100) -> TileRule:
    """Pick the pixel threshold and per-zoom floors from validation tiles.

    For a candidate pixel threshold, each zoom has a gap between ``high``, the
    largest floor that still keeps :data:`KEEP_MINE_TILES` of its mine tiles,
    and ``low``, the smallest floor that drops :data:`DROP_EMPTY_TILES` of its
    empty tiles (never below one pixel). The floor goes in the middle of the
    gap on a log scale, and the threshold with the widest gap (worst zoom)
    wins: the most room for unseen tiles on both sides. Where no threshold opens
    a gap, keeping wins: the floor is :data:`SAFETY` times ``high``.
    """
    if not any(t.has_mine for t in tiles):
        raise MinescanError(
            "screen: no validation chip holds a mine; cannot calibrate the tile rule"
        )
    all_scores = np.concatenate([t.scores for t in tiles if t.scores.size])
    n_tail = n_thresholds * 2 // 3
    levels = np.concatenate(
        [np.linspace(0.05, 0.9, n_thresholds - n_tail), 1 - np.logspace(-1, -5, n_tail)]
    )
    # midpoints between quantiles: scores are discrete (quantised reflectance), and a threshold
    # sitting exactly on a crowded value would make the fractions jump with rounding
    q = np.unique(np.round(np.quantile(all_scores, levels), 3))
    candidates = (q[:-1] + q[1:]) / 2 if q.size > 1 else q
    zooms = sorted({t.zoom for t in tiles})
    one_pixel = 1.0 / max(max(t.scores.size for t in tiles), 1)
    best = None
    for thr in candidates:
        floors, gaps = {}, []
        for z in zooms:
            mine = np.array([_fraction(t, thr) for t in tiles if t.zoom == z and t.has_mine])
            empty = np.array([_fraction(t, thr) for t in tiles if t.zoom == z and not t.has_mine])
            high = tile_floor(mine)
            low = max(float(np.quantile(empty, DROP_EMPTY_TILES)) if empty.size else 0.0, one_pixel)
            if high > low:
                floors[z] = float(np.sqrt(high * low))
                gaps.append(high / low)
            else:
                floors[z] = SAFETY * high
                gaps.append(high / low if low > 0 else 0.0)
        rule = TileRule(float(thr), floors)
        key = (min(gaps), _drop_rate(tiles, rule))
        if best is None or key > best[0]:
            best = (key, rule)
    return best[1]


def _fraction(t: TileScores, threshold: float) -> float:
    # t.scores holds the chip's clear pixels only
    return mine_share(t.scores >= threshold)


def _kept(t: TileScores, rule: TileRule) -> bool:
    return keeps_tile(_fraction(t, rule.pixel_threshold), rule.tile_min_fraction, t.zoom)


def _drop_rate(tiles: list[TileScores], rule: TileRule) -> float:
    empty = [t for t in tiles if not t.has_mine]
    return float(np.mean([not _kept(t, rule) for t in empty])) if empty else 0.0


def tile_figures(tiles: list[TileScores], rule: TileRule) -> dict:
    """Keep rate of mine tiles and drop rate of empty tiles, overall and per zoom."""

    def figs(ts: list[TileScores]) -> dict:
        mine = [t for t in ts if t.has_mine]
        return {
            "mine_tiles": len(mine),
            "empty_tiles": len(ts) - len(mine),
            "mine_tiles_kept": float(np.mean([_kept(t, rule) for t in mine])) if mine else None,
            "empty_tiles_dropped": _drop_rate(ts, rule) if len(ts) > len(mine) else None,
        }

    out = figs(tiles)
    out["per_zoom"] = {
        str(z): figs([t for t in tiles if t.zoom == z]) for z in sorted({t.zoom for t in tiles})
    }
    return out


# --- the whole fit -----------------------------------------------------------------------------


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
