"""The screen's two L1 regularisation paths: LASSO on the signed distance, L1-logistic inside/outside.

Both run on the same standardised features and record, for every lambda, the
validation score and the weights (:class:`L1Path`), so one sees the weights
drop to zero one after another; :func:`choose` applies the stated rule
(:data:`RULE`). :func:`path_table` and :func:`plot_paths` write what
``train screen`` shows of them (``lasso_path.csv`` / ``.png``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from minescan.kernel.errors import MinescanError

#: The rule used to pick lambda on each path (stored in screen.json).
RULE = "sparsest model whose validation score is within 1% of the best validation score"
#: Signed distances are clipped to +-CLIP_M metres and divided by it (the LASSO target in -1..1).
CLIP_M = 200.0


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
