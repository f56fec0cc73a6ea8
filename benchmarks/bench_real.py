"""Real Sentinel-2 against its simulated twin: detector figures, a realism score, the screen.

In one run, on the real Amazon patches of ``../shared/data/real`` (332 mine,
374 hard negatives, 48x48 px at 10 m, bands B02 B03 B04 B08 B11 B12):

1. **Real**: the model (default ``models/demo``) scored by ``minescan evaluate``'s
   own functions (:mod:`minescan.evaluate.score`, :mod:`minescan.evaluate.metrics`):
   AUC, sensitivity / specificity at the scan's threshold, sensitivity at
   specificity 0.95; on all patches and on the project's region-held-out split
   (``holdout_regions``, 5-degree squares, seed 0). The held-out figures use a
   verifier fitted without those regions: the model's own when it holds them
   out, else the same recipe fitted without them (``--holdout-verifier``,
   fitted there on first use), since the shipped one is fitted on every region.
2. **Twin**: the same places in the simulated world (seed 0, no drawn mines; the
   Amazon Mining Watch 2020 outlines of ``labels.gpkg`` layer ``mine_polygons``
   as its mines, dug from the start), at the patch's own period (its ``date``,
   e.g. ``2021-01-01/2021-12-31``) and ground resolution: the z16 tile holding
   the patch centre is read at ``round(611.5 m x cos(lat) / 10 m)`` px (about
   61 px: 9.9-10.0 m on the ground, where 64 px would give 9.4-9.5 m), with a
   24 px margin, and the 48x48 px around the patch centre is cut out. All 12
   bands are read so the screen can run on the twin; labels are the real ones.
   Same scoring.
3. **Realism**: a small classifier (gradient boosting, and logistic regression
   as a second opinion) on per-patch band statistics (percentiles 5-95, std,
   mean absolute difference of neighbours at 1 and 4 px) told to separate real
   patches from their twins; out-of-fold accuracy with folds grouped by region
   (a place's real patch and its twin always fall in the same fold). 0.5: it
   cannot tell them apart. Overall, per band (that band's features only), per
   kind (mine / hard negative, and the twin's dominant simulated land cover).
4. **Screen** on the 12-band real non-mine scenes (``scenes/nomine``), cut in
   48 px tiles: the share of tiles whose mine-like share reaches the z14 floor
   (``kernel.screen.keeps_tile`` at z14), per scene and overall; and how many
   of those tiles of ordinary land the verifier calls a mine (its false alarms). On the 6-band real
   patches the screen lacks its bands and is off (keeps every patch).

    .venv/bin/python benchmarks/bench_real.py [--model models/demo] [--out runs/bench_real.json]
        [--limit N] [--holdout-verifier runs/bench_real_holdout_verifier]

``--limit N`` scores N patches (half mines, half hard negatives) for a quick
run; the held-out split is still the one computed on all patches.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from minescan.datasets.patches import (  # noqa: E402
    Patch,
    holdout_regions,
    load_patches,
    patch_centres,
    rasterise_outlines,
    read_patch,
    region_ids,
)
from minescan.evaluate import metrics  # noqa: E402
from minescan.evaluate.score import score_patches, score_table, screen_patch  # noqa: E402
from minescan.kernel.mercator import lattice_res  # noqa: E402

REAL = REPO.parent / "shared" / "data" / "real"
CLASSES = ("mine", "no_mine_hard_negative")
PATCH_BANDS = ("B02", "B03", "B04", "B08", "B11", "B12")
#: The twin: z16 tiles, read so their pixels are TWIN_RES_M on the ground, cut to TWIN_PX.
TWIN_ZOOM, TWIN_RES_M, TWIN_PX = 16, 10.0, 48
#: Zoom whose screen floor the non-mine scenes are judged at, and their tile size.
SCREEN_ZOOM, SCREEN_TILE_PX = 14, 48
PERCENTILES = (5, 25, 50, 75, 95)
FEATURES = (*(f"p{q}" for q in PERCENTILES), "std", "tex1", "tex4")
#: A kind is given its own classifier when it has this many twin pairs (and 3 regions).
MIN_KIND_PAIRS = 20


# ----------------------------------------------------------------------------- data
def real_patches(root: Path) -> list[Patch]:
    """The labelled real Amazon patches (mines and hard negatives) with outline masks."""
    return load_patches(
        root / "scenes.csv",
        "group",
        outlines=root / "labels.gpkg",
        outlines_layer="mine_polygons",
        classes=CLASSES,
        progress=True,
    )


def amw_outlines(root: Path):
    """The Amazon Mining Watch outlines of ``labels.gpkg`` (each polygon once), EPSG:4326."""
    from minescan.kernel.io import read_vector

    frame = read_vector(root / "labels.gpkg", layer="mine_polygons")
    frame = frame[frame["label_source"].astype(str).str.startswith("amw")]
    frame = frame[~frame.geometry.normalize().to_wkb().duplicated()]
    return frame[["geometry"]].reset_index(drop=True)


def limited(labels: np.ndarray, n: int | None) -> np.ndarray:
    """Indices of ``n`` patches, half of each class, spread over the list (all when None).

    Examples
    --------
    >>> limited(np.array([1, 1, 1, 1, 0, 0, 0, 0], bool), 4).tolist()
    [0, 2, 4, 6]
    """
    if n is None or n >= len(labels):
        return np.arange(len(labels))
    picks = []
    for cls, k in ((True, n - n // 2), (False, n // 2)):
        where = np.flatnonzero(labels == cls)
        picks.append(where[np.linspace(0, len(where), k, endpoint=False).astype(int)])
    return np.sort(np.concatenate(picks))


# ----------------------------------------------------------------------------- twin
def twin_tile_px(lat: float, zoom: int = TWIN_ZOOM, res_m: float = TWIN_RES_M) -> int:
    """Pixels per side of a ``zoom`` tile read so its pixels are ``res_m`` on the ground at ``lat``.

    Examples
    --------
    >>> twin_tile_px(0.0), twin_tile_px(-10.0)
    (61, 60)
    """
    tile_m = lattice_res(zoom, 1)
    return max(1, round(tile_m * math.cos(math.radians(lat)) / res_m))


def read_twin(world, patch: Patch, lon: float, lat: float, outlines=None, size: int = TWIN_PX):
    """The simulated twin of ``patch``: the same place and period, ``size`` px at about 10 m.

    Returns the twin as a :class:`Patch` in EPSG:3857 (all 12 bands, the real
    label and attributes, the outlines rasterised on its grid) and its
    simulated land-cover codes.
    """
    import mercantile
    from rasterio.crs import CRS
    from rasterio.transform import Affine

    from minescan.kernel.mercator import lonlat_to_xy

    tile = mercantile.tile(lon, lat, TWIN_ZOOM)
    px, margin = twin_tile_px(lat), size // 2
    period = str(patch.attrs.get("date", "2021"))
    chip = world.read(tile, px, period, None, margin_px=margin)
    codes = world.landcover(tile, px, period, margin_px=margin)
    x, y = lonlat_to_xy(lon, lat)
    col, row = ~chip.transform @ (float(x), float(y))
    c0, r0 = int(round(col - size / 2)), int(round(row - size / 2))
    window = (slice(r0, r0 + size), slice(c0, c0 + size))
    twin = Patch(
        patch.path,
        np.ascontiguousarray(chip.data[:, window[0], window[1]]),
        tuple(chip.bands),
        chip.transform @ Affine.translation(c0, r0),
        CRS.from_epsg(3857),
        patch.label,
        None,
        dict(patch.attrs),
    )
    twin.mine = rasterise_outlines(twin, outlines)
    return twin, codes[window]


def read_twins(patches: list[Patch], lonlat: np.ndarray, outlines) -> tuple[list[Patch], list]:
    """Every patch's twin and its land-cover codes (see :func:`read_twin`)."""
    from tqdm import tqdm

    from minescan.simulated import SimulatedSentinel2

    world = SimulatedSentinel2(seed=0, mines=outlines)
    twins, codes = [], []
    for patch, (lon, lat) in tqdm(
        list(zip(patches, lonlat, strict=True)), desc="twins", unit="patch"
    ):
        twin, cover = read_twin(world, patch, float(lon), float(lat), outlines)
        twins.append(twin)
        codes.append(cover)
    return twins, codes


def dominant_cover(codes: np.ndarray) -> str:
    """The most common simulated class of a twin, every ``mine_*`` class counted as ``mine``."""
    from minescan.simulated import CLASSES as SIM_CLASSES

    names = np.array(["mine" if c.startswith("mine_") else c for c in SIM_CLASSES])
    values, counts = np.unique(names[codes.ravel().astype(int)], return_counts=True)
    return str(values[np.argmax(counts)])


# ----------------------------------------------------------------------------- scoring
def score(patches, detector, screen, conf_at, lonlat, verifier=None) -> tuple:
    """``minescan evaluate``'s patch table and scores for ``patches`` (its functions, its protocol)."""
    scores = score_patches(
        patches,
        detector,
        screen,
        lats=lonlat[:, 1],
        progress=True,
        verifier=verifier,
        conf_at=conf_at,
    )
    table = score_table(patches, scores, conf_at)
    return table, scores


def figures(table, patches=None, scores=None, conf_at=None) -> dict:
    """AUC, the model-threshold decision, sensitivity at 0.95 specificity, screen, boxes."""
    out = metrics.summary(table)
    out["screen"] = metrics.screen_summary(table)
    if patches is not None:
        out["boxes"] = metrics.box_level(patches, scores, conf_at)
    return out


def detector_alone(table):
    """The table as the detector alone scores it: its best box, before the verifier."""
    score = table["detector_score"]
    return table.assign(score=score, detected=score >= table["threshold"])


def verifier_alone(table):
    """The table as the verifier alone ranks it (AUC and sensitivity at 0.95 specificity only)."""
    return table.assign(score=table["verifier_probability"], detected=False)


def subset(items, mask):
    """The items where ``mask`` is True."""
    return [x for x, keep in zip(items, mask, strict=True) if keep]


# ----------------------------------------------------------------------------- realism
def band_features(band: np.ndarray) -> list[float]:
    """Percentiles, std and 1 px / 4 px texture of one band's valid pixels (NaN when none)."""
    values = band[np.isfinite(band)]
    if not len(values):
        return [np.nan] * len(FEATURES)
    out = [float(v) for v in np.percentile(values, PERCENTILES)] + [float(values.std())]
    for lag in (1, 4):
        dx = np.abs(band[:, lag:] - band[:, :-lag])
        dy = np.abs(band[lag:, :] - band[:-lag, :])
        out.append(float(np.nanmean(np.concatenate([dx.ravel(), dy.ravel()]))))
    return out


def patch_features(patch: Patch, bands=PATCH_BANDS) -> np.ndarray:
    """``(len(bands) * len(FEATURES),)`` statistics of a patch, band by band."""
    return np.concatenate([band_features(b) for b in patch.select(tuple(bands))])


def feature_columns(bands=PATCH_BANDS) -> list[str]:
    """Names of :func:`patch_features`' values, ``B02_p5`` ..."""
    return [f"{b}_{f}" for b in bands for f in FEATURES]


def classifiers() -> dict:
    """The realism classifiers: gradient boosting and a standardised logistic regression."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return {
        "gradient_boosting": lambda: HistGradientBoostingClassifier(
            max_iter=150, max_leaf_nodes=15, learning_rate=0.1, random_state=0
        ),
        "logistic": lambda: make_pipeline(
            SimpleImputer(), StandardScaler(), LogisticRegression(max_iter=2000)
        ),
    }


def out_of_fold(x: np.ndarray, y: np.ndarray, groups: np.ndarray, make) -> np.ndarray | None:
    """Out-of-fold predictions of ``make()`` with folds grouped by region; None under 3 regions."""
    from sklearn.model_selection import GroupKFold, cross_val_predict

    n = len(np.unique(groups))
    if n < 3:
        return None
    return cross_val_predict(make(), x, y, groups=groups, cv=GroupKFold(n_splits=min(5, n)))


def accuracy(x, y, groups, make) -> float | None:
    """Grouped cross-validated accuracy of telling real (1) from twin (0)."""
    pred = out_of_fold(x, y, groups, make)
    return None if pred is None else float((pred == y).mean())


def realism(real_x, twin_x, regions, kinds) -> dict:
    """Real-vs-twin accuracy: overall, per band, per kind (0.5 = indistinguishable).

    ``real_x`` and ``twin_x`` are paired rows (patch i and its twin); ``kinds``
    maps a kind name to a boolean mask over the pairs. Fits run on one thread:
    the problem is tiny, and OpenMP threads on a busy machine make a 1 s fit
    take minutes.
    """
    from threadpoolctl import threadpool_limits

    models = classifiers()  # loads OpenMP first, so the limit below reaches it
    with threadpool_limits(limits=1):
        return _realism(real_x, twin_x, regions, kinds, models)


def _realism(real_x, twin_x, regions, kinds, models) -> dict:
    from tqdm import tqdm

    x = np.vstack([real_x, twin_x])
    y = np.r_[np.ones(len(real_x), int), np.zeros(len(twin_x), int)]
    groups = np.r_[regions, regions]
    jobs = [("overall", None, None)]
    jobs += [(f"band {b}", i, None) for i, b in enumerate(PATCH_BANDS)]
    jobs += [(f"kind {k}", None, m) for k, m in kinds.items()]
    out: dict = {"pairs": int(len(real_x)), "regions": int(len(np.unique(regions)))}
    overall_pred = None
    width = len(FEATURES)
    for name, band, mask in tqdm(jobs, desc="realism", unit="fit"):
        cols = slice(None) if band is None else slice(band * width, (band + 1) * width)
        rows = np.ones(len(x), bool) if mask is None else np.r_[mask, mask]
        entry = {"pairs": int(rows.sum() // 2)}
        for key, make in models.items():
            if mask is not None and (
                entry["pairs"] < MIN_KIND_PAIRS or len(np.unique(groups[rows])) < 3
            ):
                entry[key] = None
                continue
            pred = out_of_fold(x[rows][:, cols], y[rows], groups[rows], make)
            entry[key] = None if pred is None else float((pred == y[rows]).mean())
            if name == "overall" and key == "gradient_boosting":
                overall_pred = pred
        if mask is not None and overall_pred is not None:
            entry["overall_classifier"] = float((overall_pred[rows] == y[rows]).mean())
        out[name] = entry
    return out


def band_medians(real_x, twin_x) -> dict:
    """Per band: median over patches of the patch median and of the 1 px texture, real vs twin."""
    out = {}
    width = len(FEATURES)
    for i, b in enumerate(PATCH_BANDS):
        p50, tex = i * width + FEATURES.index("p50"), i * width + FEATURES.index("tex1")
        out[b] = {
            "median_real": float(np.nanmedian(real_x[:, p50])),
            "median_twin": float(np.nanmedian(twin_x[:, p50])),
            "texture_real": float(np.nanmedian(real_x[:, tex])),
            "texture_twin": float(np.nanmedian(twin_x[:, tex])),
        }
    return out


# ----------------------------------------------------------------------------- screen
def tiles_of(patch: Patch, size: int) -> list[Patch]:
    """Non-overlapping ``size`` px tiles of a patch (the ragged edge is left out)."""
    from rasterio.transform import Affine

    h, w = patch.data.shape[1:]
    return [
        Patch(
            patch.path,
            patch.data[:, r : r + size, c : c + size],
            patch.bands,
            patch.transform @ Affine.translation(c, r),
            patch.crs,
            False,
        )
        for r in range(0, h - size + 1, size)
        for c in range(0, w - size + 1, size)
    ]


def verifier_passes(verifier, tiles: list[Patch]) -> int | None:
    """How many tiles the verifier calls a mine (probability at or above its threshold)."""
    if verifier is None:
        return None
    p = [verifier.probability(t.data, t.bands, t.res_m) for t in tiles]
    return int(sum(q is not None and q >= verifier.threshold for q in p))


def screen_scenes(
    screen, folder: Path, size: int = SCREEN_TILE_PX, zoom: int = SCREEN_ZOOM, verifier=None
):
    """Per 12-band non-mine scene: tiles, share the screen keeps at ``zoom``'s floor, verifier passes."""
    from minescan.kernel.screen import nearest_zoom_value

    rows = []
    for path in sorted(folder.glob("*.tif")):
        scene = read_patch(path)
        tiles = tiles_of(scene, size)
        verdicts = [screen_patch(screen, t, zoom) for t in tiles]
        fractions = [f for f, _ in verdicts if f is not None]
        rows.append(
            {
                "scene": path.stem,
                "tiles": len(verdicts),
                "verifier_passed": verifier_passes(verifier, tiles),
                "kept": int(sum(k for _, k in verdicts)),
                "kept_share": float(np.mean([k for _, k in verdicts])) if verdicts else None,
                "median_mine_like_share": float(np.median(fractions)) if fractions else None,
                "screen_ran": bool(fractions),
            }
        )
    tiles = sum(r["tiles"] for r in rows)
    kept = sum(r["kept"] for r in rows)
    passed = [r["verifier_passed"] for r in rows if r["verifier_passed"] is not None]
    return {
        "zoom": zoom,
        "tile_px": size,
        "verifier_passed": sum(passed) if passed else None,
        "floor": nearest_zoom_value(screen.tile_min_fraction, zoom),
        "scenes": rows,
        "tiles": tiles,
        "kept": kept,
        "kept_share": kept / tiles if tiles else None,
        "kept_share_scene_mean": float(np.mean([r["kept_share"] for r in rows])) if rows else None,
    }


# ----------------------------------------------------------------------------- printing
def fmt(value, digits: int = 3) -> str:
    """A number for the tables, ``-`` for none.

    Examples
    --------
    >>> fmt(0.51234), fmt(None)
    ('0.512', '-')
    """
    return "-" if value is None else f"{value:.{digits}f}"


def print_detection(rows: dict) -> None:
    """One line per (imagery, split): AUC, sens/spec at the model threshold, sens at spec 0.95."""
    print(
        f"\n{'imagery, split':44s} {'n':>4s} {'mines':>5s} {'AUC':>6s} {'thr':>6s} "
        f"{'sens':>6s} {'spec':>6s} {'sens@spec.95':>12s} {'(thr)':>7s} {'screen keeps':>13s} "
        f"{'box rec/prec':>12s}"
    )
    for name, f in rows.items():
        m, s = f["at_model_threshold"], f["at_specificity_0.95"]
        thr = ",".join(str(t) for t in m["threshold"])
        scr = f["screen"]
        keeps = (
            "off (100%)"
            if scr["patches_screened"] == 0
            else f"{fmt(scr['mine_patches_kept'], 2)}/{fmt(scr['other_patches_kept'], 2)}"
        )
        b = f.get("boxes")
        boxes = "-" if not b else f"{fmt(b['recall'], 2)}/{fmt(b['precision'], 2)}"
        print(
            f"{name:44s} {f['patches']:4d} {m['mines']:5d} {fmt(f['auc']):>6s} {thr:>6s} "
            f"{fmt(m['sensitivity']):>6s} {fmt(m['specificity']):>6s} "
            f"{fmt(s['sensitivity']):>12s} {fmt(s['threshold'], 4):>7s} {keeps:>13s} {boxes:>12s}"
        )
    print(
        "screen keeps: share of mine / of other patches kept (off: the patches lack its bands); "
        "box rec/prec: outline parts a box at the threshold touches / boxes on an outline"
    )


def print_realism(r: dict, medians: dict) -> None:
    """The realism table: accuracy of telling real from twin, 0.5 = indistinguishable."""
    print(
        f"\nrealism: accuracy telling real from twin ({r['pairs']} pairs, {r['regions']} regions, "
        "folds grouped by region; 0.5 = indistinguishable)"
    )
    print(
        f"{'features of':34s} {'pairs':>5s} {'grad.boost':>10s} {'logistic':>9s} {'(overall)':>9s}"
    )
    for name, e in r.items():
        if not isinstance(e, dict):
            continue
        print(
            f"{name:34s} {e['pairs']:5d} {fmt(e['gradient_boosting']):>10s} "
            f"{fmt(e['logistic']):>9s} {fmt(e.get('overall_classifier')):>9s}"
        )
    print("(overall): the overall classifier's out-of-fold accuracy on that kind's pairs")
    print(f"\n{'band':5s} {'median real':>11s} {'twin':>7s} {'texture real':>12s} {'twin':>7s}")
    for b, m in medians.items():
        print(
            f"{b:5s} {m['median_real']:11.4f} {m['median_twin']:7.4f} "
            f"{m['texture_real']:12.4f} {m['texture_twin']:7.4f}"
        )


def print_screen(s: dict) -> None:
    """Per scene and overall: tiles the screen keeps at the z14 floor."""
    print(
        f"\nscreen on the 12-band real non-mine scenes: {s['tile_px']} px tiles, "
        f"z{s['zoom']} floor {s['floor']:.4f}"
    )
    for r in s["scenes"]:
        print(
            f"  {r['scene']:48s} {r['kept']:4d}/{r['tiles']:<4d} kept {fmt(r['kept_share'], 3)}"
            f"  (median mine-like share {fmt(r['median_mine_like_share'], 4)})"
            + ("" if r["verifier_passed"] is None else f"  verifier: {r['verifier_passed']} mines")
        )
    print(
        f"  overall {s['kept']}/{s['tiles']} tiles kept: {fmt(s['kept_share'])} "
        f"(mean of scenes {fmt(s['kept_share_scene_mean'])})"
    )
    if s["verifier_passed"] is not None:
        print(f"  the verifier calls {s['verifier_passed']} of the {s['tiles']} tiles a mine")


# ----------------------------------------------------------------------------- held-out verifier
def holdout_verifier(verifier, folder: Path, held_regions: set[str], data: Path):
    """The verifier whose figures on the held-out regions are honest: one fitted without them.

    The model's own when it holds out exactly these regions. A shipped verifier
    fitted on every region (``--holdout-fraction 0``) is not: then the one in
    ``folder``, fitted there by the same recipe with the regions held out
    (``minescan train verifier`` with the defaults, a few minutes) when absent.
    """
    from minescan.config import defaults
    from minescan.kernel.model import VERIFIER, load_verifier
    from minescan.train.verifier import PatchLabels, train_verifier

    if verifier is None or set(verifier.info["holdout"]["regions"]) == held_regions:
        return verifier
    if not (folder / VERIFIER).is_file():
        print(
            f"the model's verifier was fitted on the held-out regions: fitting the recipe "
            f"without them into {folder} (a few minutes)"
        )
        labels = PatchLabels(str(data / "scenes.csv"), "group", CLASSES)
        train_verifier(labels, folder, defaults().verifier, progress=True)
    fitted = load_verifier(folder)
    if fitted is None or set(fitted.info["holdout"]["regions"]) != held_regions:
        sys.exit(f"{folder}: its verifier does not hold out {','.join(sorted(held_regions))}")
    return fitted


# ----------------------------------------------------------------------------- main
def model_sha(model_dir: Path) -> str:
    """First 12 hex digits of the detector's sha256."""
    from minescan.kernel.model import DETECTOR_ONNX, file_hashes

    return file_hashes(model_dir, [DETECTOR_ONNX])[DETECTOR_ONNX][:12]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/demo", help="model folder (models/demo)")
    parser.add_argument("--out", default=None, help="write every figure to this JSON file")
    parser.add_argument("--limit", type=int, default=None, help="score only N patches")
    parser.add_argument("--data", type=Path, default=REAL, help="the shared real data folder")
    parser.add_argument(
        "--holdout-verifier",
        type=Path,
        default=REPO / "runs" / "bench_real_holdout_verifier",
        help="verifier fitted without the held-out regions, for their figures when the model's "
        "was fitted on every region (fitted there when absent)",
    )
    args = parser.parse_args(argv)
    if not (args.data / "scenes.csv").is_file() or not (args.data / "labels.gpkg").is_file():
        sys.exit(
            f"real data not found: {args.data} (scenes.csv, labels.gpkg; it lives in "
            "../shared/data/real beside the clone, see its README)"
        )

    from minescan.config import load_settings
    from minescan.detect.backends import load_detector
    from minescan.kernel.io import write_json
    from minescan.kernel.model import SCREEN, load_screen, load_verifier, model_folder

    t0 = time.time()
    settings = load_settings(None, {"scan": {"model": args.model}})
    cfg = settings.scan
    model_dir = model_folder(cfg.model)
    detector = load_detector(model_dir, cfg.backend, cfg.device, cfg.threads)
    screen = load_screen(model_dir) if (model_dir / SCREEN).is_file() else None
    verifier = load_verifier(model_dir)
    print(f"model {model_dir} (detector.onnx sha256 {model_sha(model_dir)})")

    patches = real_patches(args.data)
    lonlat = patch_centres(patches)
    labels = np.array([p.label for p in patches], bool)
    regions = region_ids(lonlat)
    held = holdout_regions(regions, labels, 0.25, seed=0)
    held_verifier = holdout_verifier(verifier, args.holdout_verifier, set(regions[held]), args.data)
    if held_verifier is not verifier:
        print(f"held-out regions scored with the verifier in {args.holdout_verifier}")
    keep = limited(labels, args.limit)
    patches, lonlat, labels = (
        subset(patches, np.isin(np.arange(len(labels)), keep)),
        lonlat[keep],
        labels[keep],
    )
    regions, held = regions[keep], held[keep]
    # Where the twin's labels are sound: mines with an outline (the twin has a mine there)
    # and hard negatives no outline touches (the twin has none).
    touched = np.array([p.mine is not None and p.mine.any() for p in patches])
    clean = touched == labels
    print(
        f"{len(patches)} real patches ({labels.sum()} mine, {(~labels).sum()} hard negative), "
        f"{held.sum()} in held-out regions {','.join(sorted(set(regions[held])))}"
    )

    stages = {"read real": time.time() - t0}
    t = time.time()
    twins, covers = read_twins(patches, lonlat, amw_outlines(args.data))
    stages["read twins"], t = time.time() - t, time.time()
    real_all = score(patches, detector, screen, cfg.conf_at, lonlat, verifier)
    twin_all = score(twins, detector, screen, cfg.conf_at, lonlat, verifier)
    real_held, twin_held = real_all, twin_all
    if held_verifier is not verifier:
        real_held = score(patches, detector, screen, cfg.conf_at, lonlat, held_verifier)
        twin_held = score(twins, detector, screen, cfg.conf_at, lonlat, held_verifier)
    stages["score"], t = time.time() - t, time.time()

    detection = {}
    runs = (("real", real_all, real_held, patches), ("twin", twin_all, twin_held, twins))
    for name, (table, scored), (table_h, scored_h), items in runs:
        detection[f"{name}, all"] = figures(table, items, scored, cfg.conf_at)
        detection[f"{name}, held-out regions"] = figures(
            table_h[held], subset(items, held), subset(scored_h, held), cfg.conf_at
        )
        detection[f"{name}, outlined mines, untouched negatives"] = figures(table[clean])
    if verifier is not None:
        for name, (table, _), (table_h, _), _ in runs:
            for split, part in (("all", table), ("held-out regions", table_h[held])):
                detection[f"{name}, {split}, detector alone"] = figures(detector_alone(part))
                detection[f"{name}, {split}, verifier alone"] = figures(verifier_alone(part))
    print_detection(detection)

    real_x = np.vstack([patch_features(p) for p in patches])
    twin_x = np.vstack([patch_features(t) for t in twins])
    cover = np.array([dominant_cover(c) for c in covers])
    kinds = {"mine": labels, "hard negative": ~labels}
    for c in sorted(set(cover), key=lambda c: -(cover == c).sum()):
        kinds[f"twin land cover {c}"] = cover == c
    real_vs_twin = realism(real_x, twin_x, regions, kinds)
    medians = band_medians(real_x, twin_x)
    stages["realism"], t = time.time() - t, time.time()
    print_realism(real_vs_twin, medians)

    nomine = None
    if screen is not None and (args.data / "scenes" / "nomine").is_dir():
        nomine = screen_scenes(screen, args.data / "scenes" / "nomine", verifier=verifier)
        print_screen(nomine)
        if held_verifier is not verifier:
            nomine["verifier_passed_holdout_verifier"] = screen_scenes(
                screen, args.data / "scenes" / "nomine", verifier=held_verifier
            )["verifier_passed"]
            print(
                f"  the held-out regions' verifier calls {nomine['verifier_passed_holdout_verifier']}"
                f" of them a mine"
            )
    stages["screen scenes"] = time.time() - t
    print(
        f"\n{time.time() - t0:.0f} s ("
        + ", ".join(f"{k} {v:.0f} s" for k, v in stages.items())
        + f"; load average {' '.join(f'{v:.2f}' for v in os.getloadavg())})"
    )

    if args.out:
        write_json(
            args.out,
            {
                "model": str(model_dir),
                "detector_sha256_12": model_sha(model_dir),
                "holdout_verifier": None
                if held_verifier is verifier
                else str(args.holdout_verifier),
                "patches": len(patches),
                "limit": args.limit,
                "twin": {
                    "world": "SimulatedSentinel2(seed=0, mines=labels.gpkg mine_polygons (AMW))",
                    "zoom": TWIN_ZOOM,
                    "ground_res_m": TWIN_RES_M,
                    "crop_px": TWIN_PX,
                    "dominant_cover": {c: int((cover == c).sum()) for c in sorted(set(cover))},
                },
                "detection": detection,
                "realism": real_vs_twin,
                "band_medians": medians,
                "screen_nomine": nomine,
                "seconds": time.time() - t0,
                "stage_seconds": stages,
                "load_average": os.getloadavg(),
            },
        )
        print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
