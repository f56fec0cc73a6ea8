"""Fit the real-imagery verifier on labelled real patches: ``minescan train verifier``.

The verifier (:mod:`minescan.kernel.verifier`) is an L1-penalised logistic
regression on patch-relative spectral features. Real labels are regional (a
five-degree square may hold only mines, or only look-alikes), so a random
split rewards learning the landscape; everything here is grouped by region:

1. Whole regions are held out first (:func:`~minescan.datasets.patches.holdout_regions`)
   and never seen: not for fitting, not for choosing the penalty. They are
   named in ``verifier.json`` so ``minescan evaluate`` can score exactly them.
2. The penalty strength is chosen by cross-validation with folds of whole
   training regions (the best mean out-of-fold AUC, ties to the sparser model).
3. The verifier is refitted at that strength on every training region.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from minescan.datasets.patches import holdout_regions, load_patches, patch_centres, region_ids
from minescan.kernel.errors import MinescanError
from minescan.kernel.lock import writes_output
from minescan.kernel.verifier import VERIFIER_BANDS, Verifier, feature_names, patch_features


@dataclass(frozen=True)
class PatchLabels:
    """Where the labelled patches are and which rows count (as for ``minescan evaluate``)."""

    labels: str
    label_column: str = "label"
    classes: tuple[str, ...] | None = None
    bands: tuple[str, ...] | None = None


def standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and scales (1 where a column is constant, so it standardises to 0).

    Examples
    --------
    >>> mean, scale = standardise(np.array([[1.0, 5.0], [3.0, 5.0]]))
    >>> mean.tolist(), scale.tolist()
    ([2.0, 5.0], [1.0, 1.0])
    """
    mean, scale = x.mean(axis=0), x.std(axis=0)
    return mean, np.where(scale > 0, scale, 1.0)


def fit_l1(x: np.ndarray, y: np.ndarray, strength: float, seed: int = 0):
    """The L1-logistic fit at inverse penalty ``strength`` on standardised ``x``: (coef, intercept)."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(
        l1_ratio=1.0, C=strength, solver="liblinear", max_iter=5000, random_state=seed
    )
    model.fit(x, y)
    return model.coef_[0], float(model.intercept_[0])


def region_folds(groups: np.ndarray, folds: int) -> list[np.ndarray]:
    """Boolean validation masks, each of whole regions, every region in exactly one.

    Regions are dealt largest first to the fold with the fewest patches, so no
    fold is a handful of tiny regions.

    Examples
    --------
    >>> masks = region_folds(np.array(["a", "a", "b", "c", "c", "c"]), 2)
    >>> [m.astype(int).tolist() for m in masks]
    [[0, 0, 0, 1, 1, 1], [1, 1, 1, 0, 0, 0]]
    """
    names, counts = np.unique(groups, return_counts=True)
    if len(names) < folds:
        raise MinescanError(f"{len(names)} training regions cannot make {folds} folds")
    sizes = np.zeros(folds, dtype=int)
    masks = [np.zeros(len(groups), dtype=bool) for _ in range(folds)]
    for k in np.argsort(-counts, kind="stable"):
        f = int(np.argmin(sizes))
        masks[f] |= groups == names[k]
        sizes[f] += counts[k]
    return masks


def out_of_fold(x, y, groups, strength: float, folds: int) -> np.ndarray:
    """Out-of-fold verifier probabilities, folds of whole regions (each fold standardised on its own)."""
    p = np.full(len(y), np.nan)
    for val in region_folds(groups, folds):
        train = ~val
        if y[train].all() or not y[train].any():
            p[val] = y[train].mean()
            continue
        mean, scale = standardise(x[train])
        coef, intercept = fit_l1((x[train] - mean) / scale, y[train], strength)
        p[val] = 1.0 / (1.0 + np.exp(-(((x[val] - mean) / scale) @ coef + intercept)))
    return p


def choose_strength(x, y, groups, strengths, folds: int) -> tuple[float, list[dict]]:
    """The strength with the best region-grouped out-of-fold AUC, and the table of all of them.

    Ties (within 0.005 AUC) go to the smaller strength: fewer features.
    """
    from sklearn.metrics import roc_auc_score

    table = []
    for strength in sorted(strengths):
        p = out_of_fold(x, y, groups, strength, folds)
        table.append({"strength": strength, "cv_auc": round(float(roc_auc_score(y, p)), 4)})
    best = max(row["cv_auc"] for row in table)
    chosen = next(row["strength"] for row in table if row["cv_auc"] >= best - 0.005)
    return chosen, table


def fit_verifier(x, y, groups, settings) -> Verifier:
    """Choose the strength by region-grouped CV, refit on every row, and say how in ``info``."""
    strength, table = choose_strength(x, y, groups, settings.strengths, settings.folds)
    mean, scale = standardise(x)
    coef, intercept = fit_l1((x - mean) / scale, y, strength, settings.seed)
    names = feature_names()
    return Verifier(
        features=tuple(names),
        mean=tuple(float(v) for v in mean),
        scale=tuple(float(v) for v in scale),
        coef=tuple(float(v) for v in coef),
        intercept=intercept,
        prior=float(y.mean()),
        weight=settings.weight,
        window_m=settings.window_m,
        info={
            "kept_features": [n for n, c in zip(names, coef, strict=True) if c != 0],
            "cv": {
                "folds": settings.folds,
                "grouped_by": "5-degree region",
                "strengths": table,
                "chosen_strength": strength,
            },
        },
    )


@writes_output("out_dir")
def train_verifier(labels: PatchLabels, out_dir: str | Path, settings, progress=True) -> Verifier:
    """Fit the verifier on the training regions of the labelled patches; write ``verifier.json``.

    ``settings`` is the ``verifier:`` section. The held-out regions are named
    in ``info["holdout"]`` (names and counts only: no patch or label is
    copied into the model folder).
    """
    from minescan.kernel.io import ensure_dir

    patches = load_patches(
        labels.labels,
        labels.label_column,
        bands=labels.bands,
        classes=labels.classes,
        progress=progress,
    )
    rows = [patch_features(p.data, p.bands) for p in patches]
    usable = np.array([r is not None for r in rows])
    if usable.sum() < 2:
        raise MinescanError(
            f"only {usable.sum()} patches have enough valid {VERIFIER_BANDS} pixels"
        )
    x = np.vstack([r for r in rows if r is not None])
    y = np.array([p.label for p, ok in zip(patches, usable, strict=True) if ok], dtype=bool)
    if y.all() or not y.any():
        raise MinescanError("the verifier needs mine and non-mine patches")
    regions = region_ids(patch_centres([p for p, ok in zip(patches, usable, strict=True) if ok]))
    held = holdout_regions(regions, y, settings.holdout_fraction, settings.seed)
    verifier = fit_verifier(x[~held], y[~held], regions[~held], settings)
    verifier.info["fitted_on"] = summary_of(y[~held], regions[~held])
    verifier.info["holdout"] = {
        **summary_of(y[held], regions[held]),
        "fraction": settings.holdout_fraction,
        "seed": settings.seed,
        "rule": "datasets.patches.holdout_regions: never used for fitting or choosing",
    }
    verifier.info["skipped_patches"] = int((~usable).sum())
    verifier.save(ensure_dir(out_dir))
    return verifier


def summary_of(y: np.ndarray, regions: np.ndarray) -> dict:
    """Counts of mine and other patches and the regions they lie in.

    Examples
    --------
    >>> summary_of(np.array([True, False]), np.array(["b", "a"]))
    {'mine': 1, 'other': 1, 'regions': ['a', 'b']}
    """
    return {
        "mine": int(y.sum()),
        "other": int((~y).sum()),
        "regions": sorted({str(r) for r in regions}),
    }
