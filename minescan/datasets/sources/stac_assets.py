"""The assets of Sentinel-2 L2A STAC items: which key holds a band, and how to read it.

Catalogues key their assets differently (Earth Search by colour names, Planetary Computer
and CDSE by band ids) and state the stored value's scale, offset, pixel size and type in
their raster metadata, when they do. These helpers read both, with the L2A defaults.
"""

from __future__ import annotations

from minescan.kernel.bands import S2_BANDS

#: Earth Search (c1 and the older sentinel-2-l2a) asset keys.
EARTH_SEARCH_ASSETS: dict[str, str] = {
    "B01": "coastal", "B02": "blue", "B03": "green", "B04": "red", "B05": "rededge1",
    "B06": "rededge2", "B07": "rededge3", "B08": "nir", "B8A": "nir08", "B09": "nir09",
    "B11": "swir16", "B12": "swir22", "SCL": "scl",
}  # fmt: skip

#: Catalogues that key assets by band id (Planetary Computer, CDSE).
BAND_ID_ASSETS: dict[str, str] = {b: b for b in (*S2_BANDS, "SCL")}


def asset_names(items, override: dict[str, str] | None = None) -> dict[str, str]:
    """Band (and ``SCL``) -> asset key for these items: ``override``, else guessed from the keys.

    Examples
    --------
    >>> class I: assets = {"blue": 0, "scl": 0}
    >>> asset_names([I()])["B02"], asset_names([I()], {"B02": "b2"})["B02"]
    ('blue', 'b2')
    """
    keys = set().union(*(item.assets for item in items)) if items else set()
    base = BAND_ID_ASSETS if "B02" in keys and "blue" not in keys else EARTH_SEARCH_ASSETS
    return {**base, **(override or {})}


def scale_offset(asset, collection: str) -> tuple[float, float]:
    """Stored value -> reflectance, from the asset's raster metadata.

    Reads ``raster:bands`` (STAC raster extension 1.x) or ``bands`` with
    ``raster:scale``/``raster:offset`` (STAC 1.1). Without metadata, assumes the
    L2A convention: scale 0.0001, offset -0.1 for processing-baseline >= 04.00
    collections (``c1``), else 0.
    """
    fields = asset.extra_fields
    for entry in (fields.get("raster:bands") or [])[:1]:
        if "scale" in entry or "offset" in entry:
            return float(entry.get("scale", 1.0)), float(entry.get("offset", 0.0))
    for entry in (fields.get("bands") or [])[:1]:
        if "raster:scale" in entry or "raster:offset" in entry:
            return float(entry.get("raster:scale", 1.0)), float(entry.get("raster:offset", 0.0))
    if "raster:scale" in fields or "raster:offset" in fields:
        return float(fields.get("raster:scale", 1.0)), float(fields.get("raster:offset", 0.0))
    return 0.0001, (-0.1 if "c1" in collection else 0.0)


def asset_res(asset) -> float:
    """An asset's pixel size in metres from ``proj:transform`` (10 m when not given)."""
    transform = (asset.extra_fields.get("proj:transform") if asset is not None else None) or []
    return abs(float(transform[0])) if transform else 10.0


def asset_bytes(asset) -> int:
    """Bytes per stored pixel from ``raster:bands`` ``data_type`` (uint16 when not given)."""
    bands = (asset.extra_fields.get("raster:bands") if asset is not None else None) or [{}]
    return {"uint8": 1, "int8": 1, "uint16": 2, "int16": 2}.get(bands[0].get("data_type"), 2)
