"""How well does the verifier's recipe carry to unseen regions? More regions, other splits.

The shipped recipe (``minescan train verifier``, the ``verifier:`` section of
``configs/default.yaml``) is fitted on growing shares of the training regions
and scored on the same held-out regions every time (``holdout_regions``,
5-degree squares, seed 0: the regions ``bench_real.py`` scores). Smaller
shares drop whole regions, chosen as the held-out ones are
(``holdout_regions`` with another seed), so both classes shrink alike. If the
held-out AUC still climbs at the full share, a verifier fitted on every
labelled region (``minescan train verifier --holdout-fraction 0``, as
``models/demo`` ships) should do better on regions nobody labelled than one
that leaves a quarter of them out.

With ``--splits 1,2,3,4`` it also fits the recipe on other region hold-outs
(``holdout_regions`` with those seeds, a quarter of each class, whole regions)
and scores each on its own held-out regions; their spread says how much one
split's figure can be trusted. ``--set key=value`` changes one ``verifier:``
setting for every fit (``--set augment_shift_px=8``), to compare a recipe
change over several splits rather than one.

    .venv/bin/python benchmarks/bench_verifier_data.py [--labels ../shared/data/real/scenes.csv]
        [--shares 0.5,0.75,1] [--repeats 2] [--splits 1,2,3,4] [--set key=value] [--members 5]
        [--out runs/bench_verifier_data.json]

Needs ``../shared/data/real``; prints one row per fit and a summary per share and over splits.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from minescan.config import defaults  # noqa: E402
from minescan.datasets.patches import (  # noqa: E402
    holdout_regions,
    load_patches,
    patch_centres,
    region_ids,
)
from minescan.kernel.io import write_json  # noqa: E402
from minescan.kernel.roc import auc, sensitivity_at_specificity  # noqa: E402
from minescan.kernel.verifier import standardise  # noqa: E402
from minescan.train.verifier import (  # noqa: E402
    band_standardisation,
    ensemble,
    fit_network,
    predict,
    windows_of,
)

DEFAULT_LABELS = REPO.parent / "shared" / "data" / "real" / "scenes.csv"


def kept_regions(regions: np.ndarray, y: np.ndarray, share: float, seed: int) -> np.ndarray:
    """Mask of the patches in about ``share`` of the regions (whole regions, both classes alike)."""
    if share >= 1.0:
        return np.ones(len(regions), dtype=bool)
    return ~holdout_regions(regions, y, fraction=1.0 - share, seed=seed)


def with_overrides(settings, pairs: list[str]):
    """``settings`` with ``key=value`` pairs (YAML values) merged over it, checked like the config."""
    import yaml

    update = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or key not in type(settings).model_fields:
            sys.exit(f"--set {pair}: not a verifier setting (key=value)")
        update[key] = yaml.safe_load(value)
    return type(settings).model_validate({**settings.model_dump(), **update})


def fit_and_score(x, y, regions, fit, test, settings, members: int) -> dict:
    """The recipe's ensemble fitted on the ``fit`` patches, its figures on the ``test`` patches."""
    t0 = time.perf_counter()
    z = standardise(x, *band_standardisation(x[fit]))
    nets = [fit_network(z[fit], y[fit], settings, settings.seed + m) for m in range(members)]
    p = predict(ensemble(nets), z[test])
    return {
        "patches": int(fit.sum()),
        "mines": int(y[fit].sum()),
        "regions": len(set(regions[fit])),
        "test_patches": int(test.sum()),
        "test_mines": int(y[test].sum()),
        "heldout_auc": auc(y[test], p),
        "heldout_sens_at_spec95": sensitivity_at_specificity(y[test], p, 0.95)["sensitivity"],
        "seconds": round(time.perf_counter() - t0, 1),
    }


def describe(row: dict) -> str:
    """One printed line of a fit."""
    return (
        f"{row['patches']} patches ({row['mines']} mines, {row['regions']} regions) -> "
        f"{row['test_patches']} held out ({row['test_mines']} mines): AUC {row['heldout_auc']:.3f}, "
        f"sens at spec 0.95 {row['heldout_sens_at_spec95']:.3f} ({row['seconds']:.0f} s)"
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labels", default=str(DEFAULT_LABELS))
    ap.add_argument("--shares", default="0.5,0.75,1")
    ap.add_argument("--repeats", type=int, default=2, help="region draws per share under 1")
    ap.add_argument("--splits", default="", help="hold-out seeds of other splits to score: 1,2,3,4")
    ap.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="a verifier setting"
    )
    ap.add_argument("--members", type=int, default=None, help="networks per fit (default: config)")
    ap.add_argument("--out", default="runs/bench_verifier_data.json")
    args = ap.parse_args(argv)
    if not Path(args.labels).is_file():
        print(f"skipped: {args.labels} is absent (needs ../shared/data/real)")
        return 0
    settings = with_overrides(defaults().verifier, args.set)
    members = args.members or settings.members
    patches = load_patches(
        args.labels, "group", classes=("mine", "no_mine_hard_negative"), progress=False
    )
    x, usable = windows_of(patches)
    used = [p for p, ok in zip(patches, usable, strict=True) if ok]
    y = np.array([p.label for p in used], dtype=bool)
    regions = region_ids(patch_centres(used))
    held = holdout_regions(regions, y, settings.holdout_fraction, settings.seed)
    print(
        f"{len(y)} patches; held out {held.sum()} ({y[held].sum()} mines, "
        f"{len(set(regions[held]))} regions); training {(~held).sum()} in "
        f"{len(set(regions[~held]))} regions; {members} networks per fit"
    )
    rows = []
    for share in (float(s) for s in args.shares.split(",") if s):
        for repeat in range(1 if share >= 1.0 else args.repeats):
            fit = ~held
            fit[fit] = kept_regions(regions[fit], y[fit], share, seed=100 + repeat)
            row = fit_and_score(x, y, regions, fit, held, settings, members)
            rows.append({"share": share, "repeat": repeat, **row})
            print(f"share {share:.2f} draw {repeat}: {describe(row)}", flush=True)
    splits = []
    for seed in (int(v) for v in args.splits.split(",") if v):
        other = holdout_regions(regions, y, settings.holdout_fraction, seed)
        row = fit_and_score(x, y, regions, ~other, other, settings, members)
        row["held_out_regions"] = sorted(set(regions[other]))
        splits.append({"holdout_seed": seed, **row})
        print(f"split seed {seed}: {describe(row)}", flush=True)
    if rows:
        print("\nshare | fits | patches | held-out AUC (mean, range) | sens at spec 0.95 (mean)")
    for share in sorted({r["share"] for r in rows}):
        part = [r for r in rows if r["share"] == share]
        aucs = [r["heldout_auc"] for r in part]
        print(
            f"{share:.2f} | {len(part)} | {np.mean([r['patches'] for r in part]):.0f} | "
            f"{np.mean(aucs):.3f} ({min(aucs):.3f}-{max(aucs):.3f}) | "
            f"{np.mean([r['heldout_sens_at_spec95'] for r in part]):.3f}"
        )
    if splits:
        aucs = np.array([r["heldout_auc"] for r in splits])
        sens = np.array([r["heldout_sens_at_spec95"] for r in splits])
        print(
            f"\n{len(splits)} splits: held-out AUC mean {aucs.mean():.3f} (sd {aucs.std(ddof=1) if len(aucs) > 1 else 0:.3f}, "
            f"{aucs.min():.3f}-{aucs.max():.3f}); sens at spec 0.95 mean {sens.mean():.3f} "
            f"({sens.min():.3f}-{sens.max():.3f})"
        )
    write_json(
        Path(args.out), {"set": args.set, "members": members, "shares": rows, "splits": splits}
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
