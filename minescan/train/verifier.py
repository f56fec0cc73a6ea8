"""Fit the real-imagery verifier on labelled real patches: ``minescan train verifier``.

The verifier (:mod:`minescan.kernel.verifier`) is an ensemble of small CNNs on
window-relative log reflectance. Real labels are regional (a five-degree
square may hold only mines, or only look-alikes), so a random split rewards
learning the landscape; everything here is grouped by region:

1. Whole regions are held out first (:func:`~minescan.datasets.patches.holdout_regions`)
   and never seen: not for fitting, not for choosing anything. They are named
   in ``verifier.json`` so ``minescan evaluate`` can score exactly them. With
   ``holdout_fraction`` 0 nothing is held out: once a recipe has been validated
   on held-out regions, the verifier to ship is fitted on every region, since
   on held-out regions more training regions ranked better
   (``benchmarks/bench_verifier_data.py``).
2. Cross-validation with folds of whole training regions gives out-of-fold
   probabilities and the AUC they reach, recorded in ``info["cv"]``: the
   honest figure a user gets before touching the held-out regions.
3. The verifier's threshold is set on those out-of-fold probabilities
   (:func:`verifier_threshold`): where sensitivity + specificity is highest
   (Youden's J), or where a chosen share of the mines is kept.
4. ``members`` networks, each from its own seed, are fitted on every training
   region and exported as one ONNX graph that averages them over the four
   rotations of the window.

Training sees each patch rotated, flipped, with a random per-band gain (a
log shift) and pixel noise, so it cannot lean on one composite's brightness.
With ``balance_regions`` each region's mines and each region's look-alikes
weigh the same in the loss (:func:`region_class_weights`), so a region of one
class cannot teach its landscape as the class.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from minescan.datasets.patches import holdout_regions, load_patches, patch_centres, region_ids
from minescan.kernel.errors import MinescanError
from minescan.kernel.lock import writes_output
from minescan.kernel.model import VERIFIER_NET
from minescan.kernel.roc import auc
from minescan.kernel.verifier import VERIFIER_BANDS, Verifier, relative_log, standardise


@dataclass(frozen=True)
class PatchLabels:
    """Where the labelled patches are and which rows count (as for ``minescan evaluate``)."""

    labels: str
    label_column: str = "label"
    classes: tuple[str, ...] | None = None
    bands: tuple[str, ...] | None = None


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


def band_standardisation(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-band mean and scale of ``x`` ``(N, B, H, W)`` (scale 1 where a band is constant).

    Examples
    --------
    >>> mean, scale = band_standardisation(np.stack([np.zeros((2, 2, 2)), np.ones((2, 2, 2))]))
    >>> mean.tolist(), scale.tolist()
    ([0.5, 0.5], [0.5, 0.5])
    """
    mean, scale = x.mean(axis=(0, 2, 3)), x.std(axis=(0, 2, 3))
    return mean, np.where(scale > 0, scale, 1.0)


def make_network(width: int):
    """One verifier CNN: three 3x3 stages (width, 2x, 4x), two poolings, global average, one logit.

    Fully convolutional up to the global average, so a window of any size of
    at least ``MIN_SIDE_PX`` goes through it.
    """
    from torch import nn

    def stage(cin, cout):
        return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]

    return nn.Sequential(
        *stage(len(VERIFIER_BANDS), width),
        *stage(width, width),
        nn.MaxPool2d(2),
        *stage(width, 2 * width),
        nn.MaxPool2d(2),
        *stage(2 * width, 4 * width),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Dropout(0.3),
        nn.Linear(4 * width, 1),
    )


def rotations(x):
    """The four 90-degree rotations of a batch ``(N, C, H, W)``, built from transposes and flips."""
    r90 = x.transpose(2, 3).flip(3)
    return [x, r90, x.flip(2).flip(3), r90.flip(2).flip(3)]


def augment(batch, generator, settings):
    """A training batch rotated, maybe mirrored, cut at a random offset, with a per-band log gain and pixel noise.

    The cut (``augment_shift_px`` smaller on each side's length) moves the
    window over the patch, as a scan's window lattice falls anywhere over a mine.
    """
    import torch

    shift = settings.augment_shift_px
    if shift:
        dy, dx = (int(v) for v in torch.randint(shift + 1, (2,), generator=generator))
        h, w = batch.shape[2] - shift, batch.shape[3] - shift
        batch = batch[:, :, dy : dy + h, dx : dx + w]
    k = int(torch.randint(4, (1,), generator=generator))
    batch = rotations(batch)[k]
    if torch.rand(1, generator=generator) < 0.5:
        batch = batch.flip(3)
    n, c = batch.shape[:2]
    gain = torch.randn(n, c, 1, 1, generator=generator) * settings.augment_offset
    return batch + gain + torch.randn(batch.shape, generator=generator) * settings.augment_noise


def region_class_weights(y: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Sample weights giving every (region, class) the same total, with mean 1.

    A region that holds only mines (or only look-alikes) would otherwise teach
    its landscape as the class; balanced, each region's mines weigh as much
    as any region's look-alikes, and a one-class region half as much as a
    region holding both.

    Examples
    --------
    >>> y = np.array([True, True, True, False, True])
    >>> region_class_weights(y, np.array(["a", "a", "a", "a", "b"])).round(3).tolist()
    [0.556, 0.556, 0.556, 1.667, 1.667]
    """
    w = np.ones(len(y))
    for region in np.unique(groups):
        for label in (True, False):
            cell = (groups == region) & (y == label)
            if cell.any():
                w[cell] = 1.0 / cell.sum()
    return w * len(w) / w.sum()


def fit_network(x: np.ndarray, y: np.ndarray, settings, seed: int, weights=None):
    """One CNN fitted on standardised windows ``x`` ``(N, 6, H, W)`` and labels ``y``.

    ``weights`` (one per window, default 1) weigh each window's loss.
    """
    import torch

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    net = make_network(settings.width)
    optimiser = torch.optim.AdamW(
        net.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    xt, yt = torch.from_numpy(x), torch.from_numpy(y.astype(np.float32))
    wt = torch.from_numpy(np.ones(len(y)) if weights is None else np.asarray(weights)).float()
    for _ in range(settings.epochs):
        net.train()
        order = torch.randperm(len(xt), generator=generator)
        for start in range(0, len(xt), settings.batch_size):
            rows = order[start : start + settings.batch_size]
            if len(rows) < 2:  # batch norm needs two
                continue
            logits = net(augment(xt[rows], generator, settings))[:, 0]
            losses = torch.nn.functional.binary_cross_entropy_with_logits(
                logits, yt[rows], reduction="none"
            )
            loss = (losses * wt[rows]).sum() / wt[rows].sum()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return net.eval()


def ensemble(networks):
    """A module that averages the networks' probabilities over the four rotations of its input."""
    import torch
    from torch import nn

    class Ensemble(nn.Module):
        def __init__(self):
            super().__init__()
            self.members = nn.ModuleList(networks)

        def forward(self, x):
            views = rotations(x)
            probs = [torch.sigmoid(m(v))[:, 0] for m in self.members for v in views]
            return torch.stack(probs).mean(dim=0)

    return Ensemble().eval()


def predict(module, x: np.ndarray) -> np.ndarray:
    """Probabilities of an :func:`ensemble` on standardised windows, in torch (no export)."""
    import torch

    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


def export_onnx(module, path: Path) -> Path:
    """Write the ensemble as ONNX with a dynamic batch and window size, atomically."""
    import torch

    from minescan.kernel.io import atomic_path

    example = torch.zeros(2, len(VERIFIER_BANDS), 48, 48)
    with atomic_path(path) as tmp:
        torch.onnx.export(
            module,
            (example,),
            str(tmp),
            input_names=["window"],
            output_names=["probability"],
            dynamic_axes={"window": {0: "n", 2: "h", 3: "w"}, "probability": {0: "n"}},
            opset_version=17,
            dynamo=False,
        )
    return path


def training_weights(y: np.ndarray, groups: np.ndarray, settings) -> np.ndarray | None:
    """The windows' loss weights: region-and-class balanced when ``settings.balance_regions``."""
    return region_class_weights(y, groups) if settings.balance_regions else None


def out_of_fold(x, y, groups, settings, progress: bool = False) -> np.ndarray:
    """Out-of-fold probabilities of one network per fold of whole regions (NaN where a fold is one class)."""
    from tqdm import tqdm

    p = np.full(len(y), np.nan)
    folds = region_folds(groups, settings.folds)
    for k, val in enumerate(
        tqdm(folds, desc="cross-validation", unit="fold", disable=not progress)
    ):
        train = ~val
        if y[train].all() or not y[train].any():
            continue
        weights = training_weights(y[train], groups[train], settings)
        net = fit_network(x[train], y[train], settings, settings.seed + 1000 + k, weights)
        p[val] = predict(ensemble([net]), x[val])
    return p


def finite_auc(y: np.ndarray, p: np.ndarray) -> float | None:
    """ROC AUC (:func:`~minescan.kernel.roc.auc`) where a probability is known, rounded; None without both classes.

    Examples
    --------
    >>> finite_auc(np.array([True, True, False]), np.array([0.9, np.nan, 0.2]))
    1.0
    """
    ok = np.isfinite(p)
    value = auc(y[ok], p[ok])
    return None if value is None else round(value, 4)


def sensitivity_threshold(y: np.ndarray, p: np.ndarray, sensitivity: float) -> float:
    """The highest probability that at least ``sensitivity`` of the mines reach (NaN ignored).

    Examples
    --------
    >>> y = np.array([True] * 10 + [False] * 3)
    >>> p = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.1, 0.5, 0.9])
    >>> sensitivity_threshold(y, p, 0.9), sensitivity_threshold(y, p, 1.0)
    (0.2, 0.1)
    """
    mines = np.sort(p[y & np.isfinite(p)])
    if not len(mines):
        raise MinescanError("no out-of-fold probability for a mine: cannot set the threshold")
    allowed_misses = int(np.floor((1.0 - sensitivity) * len(mines) + 1e-9))
    return float(np.clip(mines[min(allowed_misses, len(mines) - 1)], 1e-6, 1 - 1e-6))


def youden_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The probability threshold maximising sensitivity + specificity (Youden's J; NaN ignored).

    Ties go to the lowest threshold, the one that keeps more mines.

    Examples
    --------
    >>> y = np.array([True, True, True, False, False, False])
    >>> youden_threshold(y, np.array([0.9, 0.8, 0.3, 0.7, 0.2, 0.1]))  # 0.8 scores as well
    0.3
    """
    ok = np.isfinite(p)
    y, p = y[ok], p[ok]
    if y.all() or not y.any():
        raise MinescanError("out-of-fold probabilities of one class only: cannot set the threshold")
    candidates = np.unique(p)
    hit = p[None, :] >= candidates[:, None]
    j = hit[:, y].mean(axis=1) + (~hit[:, ~y]).mean(axis=1)
    return float(np.clip(candidates[int(np.argmax(j))], 1e-6, 1 - 1e-6))


def verifier_threshold(y: np.ndarray, p: np.ndarray, sensitivity: float | None) -> float:
    """The shipped threshold: the one keeping ``sensitivity`` of the mines, or Youden's when None."""
    if sensitivity is None:
        return youden_threshold(y, p)
    return sensitivity_threshold(y, p, sensitivity)


def operating_point(y: np.ndarray, p: np.ndarray, threshold: float) -> dict:
    """Sensitivity and specificity of ``p >= threshold`` where ``p`` is known.

    Examples
    --------
    >>> operating_point(np.array([True, True, False, False]), np.array([0.9, 0.2, 0.1, 0.5]), 0.5)
    {'sensitivity': 0.5, 'specificity': 0.5}
    """
    ok = np.isfinite(p)
    y, hit = y[ok], p[ok] >= threshold
    return {
        "sensitivity": round(float(hit[y].mean()), 4) if y.any() else None,
        "specificity": round(float((~hit[~y]).mean()), 4) if (~y).any() else None,
    }


def windows_of(patches) -> tuple[np.ndarray, np.ndarray]:
    """The patches' verifier inputs stacked (cropped to their smallest common size) and which were usable."""
    rows = [relative_log(p.data, p.bands, p.res_m) for p in patches]
    usable = np.array([r is not None for r in rows])
    if usable.sum() < 2:
        raise MinescanError(
            f"only {usable.sum()} patches have enough valid {VERIFIER_BANDS} pixels"
        )
    kept = [r for r in rows if r is not None]
    h = min(r.shape[1] for r in kept)
    w = min(r.shape[2] for r in kept)
    return np.stack([r[:, :h, :w] for r in kept]).astype(np.float32), usable


@writes_output("out_dir")
def train_verifier(labels: PatchLabels, out_dir: str | Path, settings, progress=True) -> Verifier:
    """Fit the verifier on the training regions of the labelled patches; write ``verifier.json``/``.onnx``.

    ``settings`` is the ``verifier:`` section. The held-out regions are named
    in ``info["holdout"]`` (names and counts only: no patch or label is
    copied into the model folder).
    """
    from tqdm import tqdm

    from minescan.kernel.io import ensure_dir

    patches = load_patches(
        labels.labels,
        labels.label_column,
        bands=labels.bands,
        classes=labels.classes,
        progress=progress,
    )
    x, usable = windows_of(patches)
    used = [p for p, ok in zip(patches, usable, strict=True) if ok]
    y = np.array([p.label for p in used], dtype=bool)
    if y.all() or not y.any():
        raise MinescanError("the verifier needs mine and non-mine patches")
    regions = region_ids(patch_centres(used))
    held = (
        holdout_regions(regions, y, settings.holdout_fraction, settings.seed)
        if settings.holdout_fraction > 0
        else np.zeros(len(y), dtype=bool)
    )
    mean, scale = band_standardisation(x[~held])
    z = standardise(x, mean, scale)
    z_fit, y_fit, groups = z[~held], y[~held], regions[~held]
    oof = out_of_fold(z_fit, y_fit, groups, settings, progress)
    threshold = verifier_threshold(y_fit, oof, settings.sensitivity)
    rule = (
        "maximises sensitivity + specificity (Youden's J)"
        if settings.sensitivity is None
        else f"keeps {settings.sensitivity:g} of the mines"
    )
    weights = training_weights(y_fit, groups, settings)
    networks = [
        fit_network(z_fit, y_fit, settings, settings.seed + m, weights)
        for m in tqdm(range(settings.members), desc="verifier", unit="net", disable=not progress)
    ]
    folder = ensure_dir(out_dir)
    export_onnx(ensemble(networks), folder / VERIFIER_NET)
    verifier = Verifier(
        band_mean=tuple(float(v) for v in mean),
        band_scale=tuple(float(v) for v in scale),
        threshold=threshold,
        window_m=settings.window_m,
        res_m=settings.res_m,
        max_pixel_m=settings.max_pixel_m,
        floor=settings.floor,
        info={
            "network": f"{settings.members} CNNs (width {settings.width}), 4 rotations each",
            "input": "log reflectance minus each band's window median, standardised per band",
            "loss_weights": "each region's mines and each region's other patches weigh the same"
            if settings.balance_regions
            else "every patch the same",
            "cv": {
                "folds": settings.folds,
                "grouped_by": "5-degree region",
                "out_of_fold_auc": finite_auc(y_fit, oof),
                "threshold_rule": f"{rule} out of fold (one network per fold; the shipped "
                f"ensemble averages {settings.members})",
                "at_threshold": operating_point(y_fit, oof, threshold),
            },
            "mine_share": round(float(y_fit.mean()), 4),
            "fitted_on": summary_of(y_fit, groups),
            "holdout": {
                **summary_of(y[held], regions[held]),
                "fraction": settings.holdout_fraction,
                "seed": settings.seed,
                "rule": "datasets.patches.holdout_regions: never used for fitting or choosing"
                if held.any()
                else "holdout_fraction 0: every region fitted; the cross-validation is the "
                "figure to expect elsewhere",
            },
            "skipped_patches": int((~usable).sum()),
        },
    )
    verifier.save(folder)
    return Verifier.load(folder)


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
