"""Boundary layers: countries, provinces, protected areas, indigenous territories,
concessions and no-go zones, each imported with its kind.

Statistics count every hectare once per layer, so a layer whose polygons
overlap (two protected areas sharing ground) is made a partition first
(:func:`partition`): shared ground goes to the jurisdiction whose name sorts
first. Natural Earth's countries ship with minescan; ``natural-earth`` as the
file name imports them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import shapely

from minescan.kernel.errors import MinescanError
from minescan.kernel.io import read_vector
from minescan.store import audit
from minescan.store.areas import clean, to_equal_area
from minescan.store.backend import Backend

#: The kinds a boundary layer can have (``--kind``).
KINDS = ("country", "province", "protected_area", "indigenous_territory", "concession", "nogo")
#: Natural Earth admin-0 countries shipped in the package.
NATURAL_EARTH = Path(__file__).resolve().parents[1] / "data" / "ne_admin0.parquet"
#: What ``boundaries natural-earth`` means.
NATURAL_EARTH_NAME = "natural-earth"


def normalise_kind(text: str) -> str:
    """``--kind`` as stored: ``"Protected area"`` and ``protected-area`` are ``protected_area``.

    Examples
    --------
    >>> normalise_kind("No-go zone"), normalise_kind("Indigenous territory")
    ('nogo', 'indigenous_territory')
    """
    kind = "_".join(str(text).strip().lower().replace("-", " ").split())
    kind = {"no_go": "nogo", "no_go_zone": "nogo", "nogo_zone": "nogo"}.get(kind, kind)
    if kind not in KINDS:
        raise MinescanError(f"unknown boundary kind {text!r}; expected one of {', '.join(KINDS)}")
    return kind


def import_boundaries(
    backend: Backend,
    path,
    kind: str,
    name_column: str,
    layer: str | None = None,
    actor: str | None = None,
) -> dict:
    """Import a boundary layer, replacing an earlier import of the same file and kind.

    Cached statistics are dropped in the same transaction: they no longer
    match the boundaries. ``actor`` is who imports (see
    :func:`minescan.store.audit.record`).
    """
    kind = normalise_kind(kind)
    source_path = NATURAL_EARTH if str(path) == NATURAL_EARTH_NAME else Path(path)
    frame = read_vector(source_path, layer=layer, what="boundary file")
    if name_column not in frame.columns:
        columns = ", ".join(c for c in frame.columns if c != frame.geometry.name)
        raise MinescanError(f"{path} has no column {name_column!r}; it has {columns or 'none'}")
    names = frame[name_column]
    if names.isna().any():
        raise MinescanError(f"{int(names.isna().sum())} boundaries in {path} have no {name_column}")
    geometries = clean(frame.geometry.to_numpy())
    source = source_path.name
    rows = [
        {"kind": kind, "name": str(name), "source": source, "geometry": geometry}
        for name, geometry in zip(names, geometries, strict=True)
        if geometry is not None and not geometry.is_empty
    ]
    with backend.transaction():
        replaced = backend.delete("boundaries", {"kind": kind, "source": source})
        backend.insert("boundaries", rows)
        backend.delete("stats", {})
        detail = {"kind": kind, "file": str(source_path), "boundaries": len(rows)}
        audit.record(backend, "boundaries", {**detail, "replaced": replaced}, actor)
    return {**detail, "replaced": replaced}


def kinds_in(backend: Backend) -> list[str]:
    """The kinds of the imported boundary layers, in :data:`KINDS` order."""
    found = {r["kind"] for r in backend.select("boundaries", columns=["kind"])}
    return [k for k in KINDS if k in found]


def partition(backend: Backend, kind: str) -> tuple[list[str], np.ndarray]:
    """The jurisdictions of layer ``kind`` and their geometries in EPSG:6933, overlaps removed.

    Names that occur several times (a country drawn as several rows) are one
    jurisdiction; shared ground belongs to the name that sorts first.
    """
    rows = backend.select("boundaries", {"kind": kind}, columns=["name", "geometry"])
    by_name: dict[str, list] = {}
    for row in rows:
        by_name.setdefault(row["name"], []).append(row["geometry"])
    names = sorted(by_name)
    merged = to_equal_area([shapely.union_all(by_name[n]) for n in names])
    merged = shapely.make_valid(merged)
    tree = shapely.STRtree(merged)
    later, earlier = tree.query(merged, predicate="intersects")
    for i in range(len(names)):
        before = earlier[(later == i) & (earlier < i)]
        if len(before):
            merged[i] = shapely.difference(merged[i], shapely.union_all(merged[before]))
    return names, merged


def layer_union(backend: Backend, kind: str):
    """The union of every boundary of ``kind`` in EPSG:6933, ``None`` when there are none."""
    rows = backend.select("boundaries", {"kind": kind}, columns=["geometry"])
    if not rows:
        return None
    return shapely.union_all(shapely.make_valid(to_equal_area([r["geometry"] for r in rows])))
