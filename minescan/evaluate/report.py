"""The evaluation picture: ROC curve, and the worst misses and false alarms as thumbnails."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

#: Thumbnails per row (worst misses on one row, worst false alarms on the next).
THUMBS = 8
#: True-colour stretch, as in the chip previews: reflectance 0-0.3 to 0-1.
RGB_HIGH = 0.3


def true_colour(patch) -> np.ndarray:
    """``(H, W, 3)`` in 0-1 from B04, B03, B02 (grey from the first band when they are absent)."""
    names = ("B04", "B03", "B02")
    if all(b in patch.bands for b in names):
        rgb = patch.select(names)
    else:
        rgb = np.repeat(patch.data[:1], 3, axis=0)
    return np.clip(np.nan_to_num(rgb.transpose(1, 2, 0)) / RGB_HIGH, 0, 1)


def worst(table: pd.DataFrame) -> tuple[list[int], list[int]]:
    """Row positions of the lowest-scoring mines and the highest-scoring other patches."""
    labels = table["label"].to_numpy(bool)
    scores = table["score"].to_numpy(float)
    mines = np.flatnonzero(labels)
    others = np.flatnonzero(~labels)
    misses = mines[np.argsort(scores[mines], kind="stable")][:THUMBS]
    alarms = others[np.argsort(-scores[others], kind="stable")][:THUMBS]
    return misses.tolist(), alarms.tolist()


def write_report(path: Path, table: pd.DataFrame, patches, scores, roc, figures: dict) -> Path:
    """Write the PNG: ROC with AUC and the model-threshold point, then the two thumbnail rows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from minescan.kernel.io import atomic_path

    fpr, tpr, _ = roc
    misses, alarms = worst(table)
    fig = plt.figure(figsize=(16, 7.5))
    grid = fig.add_gridspec(2, 2 + THUMBS, width_ratios=[3, 0.3] + [1] * THUMBS)
    ax = fig.add_subplot(grid[:, 0])
    ax.plot(fpr, tpr, color="tab:red", lw=2)
    ax.plot([0, 1], [0, 1], color="0.7", ls="--", lw=1)
    point = figures["at_model_threshold"]
    if point["specificity"] is not None and point["sensitivity"] is not None:
        ax.plot(1 - point["specificity"], point["sensitivity"], "ko", label="model threshold")
        ax.legend(loc="lower right")
    auc = figures["auc"]
    ax.set_title(f"ROC, {figures['patches']} patches, AUC {auc:.3f}" if auc else "ROC")
    ax.set_xlabel("1 - specificity (false alarms)")
    ax.set_ylabel("sensitivity (mines found)")
    ax.set_aspect("equal")
    for row, (title, picks) in enumerate(
        (("worst misses", misses), ("worst false alarms", alarms))
    ):
        for k in range(THUMBS):
            cell = fig.add_subplot(grid[row, 2 + k])
            cell.axis("off")
            if k >= len(picks):
                continue
            i = picks[k]
            cell.imshow(true_colour(patches[i]), interpolation="nearest")
            for x0, y0, x1, y1, _ in scores[i].boxes[:3]:
                cell.add_patch(
                    plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec="yellow", lw=1)
                )
            name = str(table["file"].iloc[i])
            cell.set_title(f"{name[-22:]}\n{table['score'].iloc[i]:.3f}", fontsize=7)
        fig.text(0.27, 0.93 - row * 0.47, title, fontsize=11, weight="bold")
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)
    return path
