"""Labelled real imagery: GeoTIFF patches with a class each, mine outlines, or both.

This is how a user's own ground truth comes in, for scoring a model
(``minescan evaluate``) and for fine-tuning one (``minescan train finetune``).
A patch keeps its own CRS and pixel grid: nothing is reprojected or resampled,
so a model sees it at the imagery's native resolution.

Labels come from a table (CSV, or any vector file GDAL reads) with a ``file``
column, paths relative to the table, and a class column; and/or from mine
polygons in any CRS, rasterised onto each patch's own grid. A patch with no
table row is a mine when outlines cover at least ``min_mine_fraction`` of it.

Regions for validation are whole areas, never single patches: the places of
an independent evaluation are elsewhere, so a figure is only honest when the
patches it is measured on share no ground and no neighbourhood with training.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from minescan.kernel.bands import S2_BANDS, parse_bands
from minescan.kernel.errors import MinescanError

#: Values of the class column that mean "mine" (compared case-insensitively).
MINE_VALUES: tuple[str, ...] = ("mine", "1", "true", "yes", "positive")

#: Integer imagery above this is taken as Sentinel-2 L2A digital numbers (reflectance x 10,000).
DN_FLOOR = 2.0


@dataclass
class Patch:
    """One labelled patch on its own grid: reflectance ``(B, H, W)``, NaN where no data."""

    path: Path
    data: np.ndarray
    bands: tuple[str, ...]
    transform: object
    crs: object
    label: bool | None
    mine: np.ndarray | None = None
    attrs: dict = field(default_factory=dict)

    @property
    def valid(self) -> np.ndarray:
        """``(H, W)`` True where every band is finite."""
        return np.isfinite(self.data).all(axis=0)

    @property
    def res_m(self) -> float:
        """Pixel size in the patch CRS units (metres for UTM, degrees x 111 km for EPSG:4326)."""
        size = abs(self.transform.a)
        return size * 111_320.0 if self.crs is not None and self.crs.is_geographic else size

    def select(self, bands: tuple[str, ...]) -> np.ndarray:
        """The named bands in that order; a one-line error names any the patch lacks."""
        missing = [b for b in bands if b not in self.bands]
        if missing:
            raise MinescanError(
                f"{self.path.name} has bands {','.join(self.bands)} but the model needs "
                f"{','.join(missing)} too"
            )
        return self.data[[self.bands.index(b) for b in bands]]


def patch_bands(descriptions, count: int, override: tuple[str, ...] | None) -> tuple[str, ...]:
    """Band names from ``--bands``, else from the file's band descriptions.

    Examples
    --------
    >>> patch_bands(("B02", "B03", "B04"), 3, None)
    ('B02', 'B03', 'B04')
    >>> patch_bands((None, None), 2, ("B04", "B08"))
    ('B04', 'B08')
    """
    if override is not None:
        if len(override) != count:
            raise MinescanError(f"--bands names {len(override)} bands but the file has {count}")
        return tuple(override)
    names = [str(d or "").strip().upper() for d in descriptions]
    if all(n in S2_BANDS for n in names):
        return tuple(names)
    raise MinescanError(
        "band descriptions are not Sentinel-2 names (B01..B12, B8A): give --bands B02,B03,..."
    )


def to_reflectance(data: np.ndarray, nodata) -> np.ndarray:
    """Float32 reflectance with NaN for nodata; integer digital numbers are divided by 10,000."""
    out = data.astype(np.float32)
    if nodata is not None and not np.isnan(nodata):
        out[data == nodata] = np.nan
    if np.issubdtype(data.dtype, np.integer) and np.nanmax(out, initial=0.0) > DN_FLOOR:
        out /= 10_000.0
    return out


def read_patch(
    path: str | Path, label: bool | None = None, bands=None, attrs: dict | None = None
) -> Patch:
    """Read one GeoTIFF patch as it is: its own CRS, grid and resolution."""
    import rasterio

    path = Path(path)
    override = None if bands is None else parse_bands(bands)
    try:
        with rasterio.open(path) as src:
            data = src.read()
            names = patch_bands(src.descriptions, src.count, override)
            nodata, transform, crs = src.nodata, src.transform, src.crs
    except rasterio.errors.RasterioError as exc:
        raise MinescanError(f"cannot read patch {path}: {str(exc).splitlines()[0]}") from None
    return Patch(
        path, to_reflectance(data, nodata), names, transform, crs, label, None, attrs or {}
    )


def is_mine(value) -> bool:
    """Whether a class value means mine.

    Examples
    --------
    >>> [is_mine(v) for v in ("mine", "Mine", 1, "0", "no_mine", True)]
    [True, True, True, False, False, True]
    """
    return str(value).strip().lower() in MINE_VALUES


def read_labels(table: str | Path, label_column: str) -> pd.DataFrame:
    """The label table (CSV or vector) with absolute ``path`` and boolean ``label`` columns."""
    from minescan.kernel.io import require_file

    table = require_file(table, "labels file")
    if table.suffix.lower() == ".csv":
        frame = pd.read_csv(table)
    else:
        import pyogrio

        frame = pd.DataFrame(pyogrio.read_dataframe(table, read_geometry=False))
    for column in ("file", label_column):
        if column not in frame.columns:
            raise MinescanError(
                f"labels file {table} has no column {column!r} (columns: {', '.join(frame.columns)})"
            )
    frame = frame.copy()
    frame["path"] = [str((table.parent / str(f)).resolve()) for f in frame["file"]]
    frame["label"] = [is_mine(v) for v in frame[label_column]]
    return frame


def rasterise_outlines(patch: Patch, outlines) -> np.ndarray:
    """``(H, W)`` bool: pixel centres inside the mine outlines, on the patch's own grid."""
    from rasterio.features import rasterize
    from shapely.geometry import box

    h, w = patch.data.shape[1:]
    if outlines is None or len(outlines) == 0:
        return np.zeros((h, w), dtype=bool)
    local = outlines.to_crs(patch.crs) if patch.crs is not None else outlines
    from rasterio.transform import array_bounds

    west, south, east, north = array_bounds(h, w, patch.transform)
    shapes = [
        g for g in local.geometry.intersection(box(west, south, east, north)) if not g.is_empty
    ]
    if not shapes:
        return np.zeros((h, w), dtype=bool)
    return rasterize(shapes, out_shape=(h, w), transform=patch.transform).astype(bool)


def load_patches(
    labels: str | Path | None = None,
    label_column: str = "label",
    outlines: str | Path | None = None,
    patches: list[str | Path] | None = None,
    bands=None,
    min_mine_fraction: float = 0.01,
    classes: tuple[str, ...] | None = None,
    progress: bool = True,
    outlines_layer: str | None = None,
) -> list[Patch]:
    """Every labelled patch, with its outline mask where outlines are given.

    Parameters
    ----------
    labels
        Table with ``file`` and ``label_column``; its other columns travel in ``Patch.attrs``.
    outlines
        Mine polygons (any CRS); patches without a table label take theirs from them.
    patches
        GeoTIFF files to score when there is no table (each needs ``outlines``).
    min_mine_fraction
        Share of a patch the outlines must cover to call it a mine without a table label.
    outlines_layer
        Layer of ``outlines`` holding the polygons (a GeoPackage may hold several).
    classes
        Keep only table rows whose class value is one of these (others are not scored).
    outlines_layer
        Layer of ``outlines`` holding the polygons (a GeoPackage may hold several).
    """
    from tqdm import tqdm

    from minescan.kernel.io import read_vector

    if labels is None and outlines is None:
        raise MinescanError("give labels (a table with a class per patch), mine outlines, or both")
    rows: list[tuple[str, bool | None, dict]] = []
    if labels is not None:
        table = read_labels(labels, label_column)
        if classes is not None:
            table = table[table[label_column].astype(str).isin(classes)]
        extra = [c for c in table.columns if c not in ("path", "label", "geometry")]
        for record in table.to_dict("records"):
            rows.append((record["path"], bool(record["label"]), {c: record[c] for c in extra}))
    else:
        if not patches:
            raise MinescanError("with outlines only, name the patch files to score")
        rows = [(str(Path(p).resolve()), None, {"file": Path(p).name}) for p in patches]
    mines = None if outlines is None else read_vector(outlines, layer=outlines_layer)
    out = []
    for path, label, attrs in tqdm(rows, desc="patches", unit="patch", disable=not progress):
        patch = read_patch(path, label, bands, attrs)
        if mines is not None:
            patch.mine = rasterise_outlines(patch, mines)
            if patch.label is None:
                patch.label = bool(patch.mine.mean() >= min_mine_fraction)
        out.append(patch)
    if not out:
        raise MinescanError("no patches to read")
    return out


def patch_centres(patches: list[Patch]) -> np.ndarray:
    """``(N, 2)`` lon, lat of each patch centre."""
    from pyproj import Transformer

    out = np.empty((len(patches), 2))
    for i, p in enumerate(patches):
        h, w = p.data.shape[1:]
        x, y = p.transform @ (w / 2, h / 2)
        if p.crs is None or p.crs.is_geographic:
            out[i] = x, y
        else:
            out[i] = Transformer.from_crs(p.crs, 4326, always_xy=True).transform(x, y)
    return out


def region_ids(lonlat: np.ndarray, cell_deg: float = 5.0) -> np.ndarray:
    """A region per ``cell_deg`` square of longitude and latitude, as ``"W065S10"`` names.

    Whole squares are held out together, so no validation patch has a training
    neighbour closer than the square's edge allows.

    Examples
    --------
    >>> region_ids(np.array([[-63.2, -7.5], [-61.0, -9.9], [10.0, 45.0]])).tolist()
    ['W065S10', 'W065S10', 'E010N45']
    """
    lon0 = np.floor(lonlat[:, 0] / cell_deg) * cell_deg
    lat0 = np.floor(lonlat[:, 1] / cell_deg) * cell_deg
    return np.array(
        [
            f"{'W' if x < 0 else 'E'}{abs(int(x)):03d}{'S' if y < 0 else 'N'}{abs(int(y)):02d}"
            for x, y in zip(lon0, lat0, strict=True)
        ]
    )


def holdout_regions(
    regions: np.ndarray, labels: np.ndarray, fraction: float = 0.25, seed: int = 0
) -> np.ndarray:
    """Boolean mask of the patches in held-out regions: about ``fraction`` of them, both classes.

    Regions are shuffled with ``seed`` and taken whole until the held-out share
    of mine patches and of other patches each reaches ``fraction``; a region is
    skipped when it would push either class past twice that share. No region is
    chosen by hand, so the split cannot be tuned to one place.

    Examples
    --------
    >>> regions = np.array(["a", "a", "b", "b", "c", "c", "d", "d"])
    >>> labels = np.array([1, 0, 1, 0, 1, 0, 1, 0], bool)
    >>> int(holdout_regions(regions, labels, fraction=0.25).sum())
    2
    """
    labels = np.asarray(labels, dtype=bool)
    order = np.random.default_rng(seed).permutation(np.unique(regions))
    held = np.zeros(len(regions), dtype=bool)
    totals = np.array([(~labels).sum(), labels.sum()], dtype=float)
    for region in order:
        counts = np.array([(~labels[held]).sum(), labels[held].sum()], dtype=float) / totals
        if (counts >= fraction).all():
            break
        inside = regions == region
        add = np.array([(~labels & inside).sum(), (labels & inside).sum()]) / totals
        if ((counts + add) > 2 * fraction).any():
            continue
        held |= inside
    if held.all() or not held.any():
        raise MinescanError("too few regions to hold any out: label more places")
    return held
