"""The user side: the map, a page per mine, jurisdiction statistics, search and downloads.

No login. Every answer reads the published view of the store, so users keep
seeing the old run until a publish switches it in one transaction.
"""

from __future__ import annotations

import hashlib
import io
import re

import geopandas as gpd
import shapely
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from minescan.kernel.errors import MinescanError
from minescan.serve import queries
from minescan.serve.app import inside, server_of
from minescan.serve.view import map_features
from minescan.store.boundaries import KINDS
from minescan.store.previews import preview_png
from minescan.store.query import MINE_COLUMNS, write_layer
from minescan.store.stats import TOTAL

router = APIRouter()
#: Download formats of a selection: suffix -> media type.
EXPORTS = {
    "geojson": "application/geo+json",
    "gpkg": "application/geopackage+sqlite3",
    "csv": "text/csv",
}
#: Largest box the boundary layers are drawn for, in degrees across.
MAX_BOUNDARY_SPAN = 60.0


def parse_bbox(text: str | None):
    """``"min_lon,min_lat,max_lon,max_lat"`` as four floats, ``None`` for no box.

    Examples
    --------
    >>> parse_bbox("-1,5,1.5,6")
    (-1.0, 5.0, 1.5, 6.0)
    """
    if not text:
        return None
    try:
        box = tuple(float(v) for v in text.split(","))
    except ValueError:
        box = ()
    if len(box) != 4 or box[0] > box[2] or box[1] > box[3]:
        raise MinescanError("bbox is min_lon,min_lat,max_lon,max_lat")
    return box


@router.get("/", response_class=HTMLResponse)
def map_page(request: Request):
    return request.app.state.templates.TemplateResponse(request, "map.html", {"kinds": KINDS})


@router.get("/mine/{mine_id}", response_class=HTMLResponse)
def mine_html(request: Request, mine_id: int):
    page = queries.mine_page(server_of(request).backend(), mine_id)
    return request.app.state.templates.TemplateResponse(request, "mine.html", {"page": page})


@router.get("/api/periods")
def periods(request: Request):
    return server_of(request).index().periods


@router.get("/api/extent")
def extent(request: Request):
    """The box around every published mine, ``null`` when there is none."""
    bounds = server_of(request).index().bounds
    if not len(bounds):
        return None
    return [float(bounds[:, 0].min()), float(bounds[:, 1].min())] + [
        float(bounds[:, 2].max()),
        float(bounds[:, 3].max()),
    ]


@router.get("/api/summary")
def summary(request: Request, period: str | None = None, bbox: str | None = None):
    """Counts per layer at ``period`` and the mined area the statistics give for it."""
    server = server_of(request)
    counts = server.index().counts(period, parse_bbox(bbox))
    total = queries.jurisdiction_stats(
        server.backend(), TOTAL, None, counts["period"], counts["period"]
    )
    row = total.iloc[0] if len(total) else None
    counts["area_ha"] = float(row["area_ha"]) if row is not None else 0.0
    counts["new_area_ha"] = float(row["new_area_ha"]) if row is not None else 0.0
    return counts


@router.get("/api/map")
def mines_map(
    request: Request,
    bbox: str,
    period: str | None = None,
    layer: str = "cumulative",
    zoom: int = Query(8, ge=0, le=22),
):
    server = server_of(request)
    found = map_features(server.backend(), server.index(), period, layer, parse_bbox(bbox), zoom)
    return JSONResponse(found)  # plain JSON: FastAPI's encoder is slow on thousands of features


@router.get("/api/boundaries")
def boundaries(request: Request, kind: str, bbox: str):
    """One boundary layer's shapes in ``bbox``, simplified to the box's scale."""
    box = parse_bbox(bbox)
    if kind not in KINDS:
        raise MinescanError(f"unknown boundary kind {kind!r}; expected one of {', '.join(KINDS)}")
    span = min(box[2] - box[0], MAX_BOUNDARY_SPAN)
    rows = (
        server_of(request)
        .backend()
        .select("boundaries", {"kind": kind}, bbox=box, columns=["boundary_id", "name", "geometry"])
    )
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": shapely.geometry.mapping(shapely.simplify(r["geometry"], span / 2000)),
                "properties": {"name": r["name"], "kind": kind},
            }
            for r in rows
        ],
    }


@router.get("/api/mines/{mine_id}")
def mine_json(request: Request, mine_id: int):
    return queries.mine_page(server_of(request).backend(), mine_id)


@router.get("/api/previews/{obs_id}.png")
def preview(request: Request, obs_id: int):
    """The true-colour preview of one observation, as the store keeps it."""
    png = preview_png(server_of(request).backend(), obs_id)
    return Response(png, media_type="image/png", headers={"Cache-Control": "max-age=86400"})


@router.get("/api/search")
def search(request: Request, q: str = Query(..., max_length=200)):
    return queries.search(server_of(request).backend(), q)


@router.get("/api/jurisdictions")
def jurisdictions(request: Request):
    return queries.jurisdictions(server_of(request).backend())


def _stats(request: Request, kind: str, name: str | None, start: str | None, end: str | None):
    return queries.jurisdiction_stats(server_of(request).backend(), kind, name, start, end)


@router.get("/api/stats")
def stats(
    request: Request,
    kind: str = TOTAL,
    name: str | None = None,
    start: str | None = Query(None, alias="from"),
    end: str | None = Query(None, alias="to"),
):
    """Per period: mined and new area of one jurisdiction, and the last period's compliance."""
    table = _stats(request, kind, name, start, end)
    rows = table.to_dict("records")
    return {"rows": rows, "compliance": queries.compliance_share(rows[-1]) if rows else None}


@router.get("/api/stats.csv")
def stats_csv(
    request: Request,
    kind: str = TOTAL,
    name: str | None = None,
    start: str | None = Query(None, alias="from"),
    end: str | None = Query(None, alias="to"),
):
    buffer = io.StringIO()
    _stats(request, kind, name, start, end).to_csv(buffer, index=False)
    headers = {"Content-Disposition": 'attachment; filename="minescan-stats.csv"'}
    return Response(buffer.getvalue(), media_type="text/csv", headers=headers)


@router.get("/api/export")
def export(
    request: Request,
    format: str = "geojson",
    period: str | None = None,
    layer: str = "cumulative",
    bbox: str | None = None,
):
    """The selection (layer, period, box) as a file under the server's exports folder."""
    if format not in EXPORTS:
        raise MinescanError(f"unknown format {format!r}; expected one of {', '.join(EXPORTS)}")
    server = server_of(request)
    index = server.index()
    ids = [int(i) for i in index.ids[index.select(period, layer, parse_bbox(bbox))]]
    rows = server.backend().select("mines", {"mine_id": ids}, columns=[*MINE_COLUMNS, "geometry"])
    frame = gpd.GeoDataFrame(
        sorted(rows, key=lambda r: r["mine_id"]),
        columns=[*MINE_COLUMNS, "geometry"],
        geometry="geometry",
        crs=4326,
    )
    label = index.period(period)["period"]
    digest = hashlib.sha256(repr((label, layer, bbox, ids[:50], len(ids))).encode()).hexdigest()
    name = f"mines-{layer}-{re.sub(r'[^A-Za-z0-9_-]', '_', label)}-{digest[:10]}.{format}"
    server.exports.mkdir(parents=True, exist_ok=True)
    write_layer(frame, server.exports / name)
    return download(request, name)


@router.get("/downloads/{name}")
def download(request: Request, name: str):
    """A file of the exports folder; any name leading elsewhere is a 404."""
    path = inside(server_of(request).exports, name)
    media = EXPORTS.get(path.suffix.lstrip("."), "application/octet-stream")
    return FileResponse(path, media_type=media, filename=path.name)
