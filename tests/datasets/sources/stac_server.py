"""A small STAC API on 127.0.0.1 for tests and benchmarks: item search plus COGs with Range reads.

It serves ``/``, ``/conformance``, ``/collections[/ID]``, ``/search`` (GET and
POST: collections, bbox, datetime, ``query`` on ``eo:cloud_cover``) and the
asset files under ``/files/`` with HTTP Range support, so GDAL does real COG
range reads. ``faults`` makes the next requests to a path prefix fail with
given statuses; ``log`` records every request and ``bytes_sent`` counts the bytes served.
"""

from __future__ import annotations

import json
import operator
import re
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
from pyproj import Transformer

from minescan.kernel.bands import S2_BANDS
from minescan.kernel.raster import write_cog

C1_KEYS = {
    "B01": "coastal", "B02": "blue", "B03": "green", "B04": "red", "B05": "rededge1",
    "B06": "rededge2", "B07": "rededge3", "B08": "nir", "B8A": "nir08", "B09": "nir09",
    "B11": "swir16", "B12": "swir22", "SCL": "scl",
}  # fmt: skip

CONFORMANCE = [
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/collections",
    "https://api.stacspec.org/v1.0.0/item-search",
    "https://api.stacspec.org/v1.0.0/item-search#query",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
]


def write_scene_item(
    folder: Path,
    item_id: str,
    when: str,
    reflectance: np.ndarray,
    scl: np.ndarray,
    transform,
    crs: str,
    cloud_cover: float,
    collection: str = "sentinel-2-c1-l2a",
    keys: dict[str, str] | None = None,
    offset: float = -0.1,
    raster_metadata: bool = True,
    **cog_options,
) -> dict:
    """Write one scene as single-band uint16 COGs (like Earth Search c1) and return its item dict.

    ``reflectance`` is ``(12, H, W)`` in S2 order; NaN becomes nodata 0. Asset
    hrefs are relative (``files/...``); :class:`StacServer` makes them absolute.
    ``cog_options`` go to :func:`~minescan.kernel.raster.write_cog` (e.g. ``blocksize=1024``).
    """

    def stored(i: int) -> np.ndarray:
        refl = reflectance[i]
        values = np.where(np.isnan(refl), 0, np.clip(np.round((refl - offset) / 1e-4), 1, 65535))
        return values.astype("uint16")

    return write_stored_scene(
        folder, item_id, when, stored, scl, transform, crs, cloud_cover, collection, keys,
        offset, raster_metadata, **cog_options,
    )  # fmt: skip


def write_stored_scene(
    folder: Path,
    item_id: str,
    when: str,
    stored,
    scl: np.ndarray,
    transform,
    crs: str,
    cloud_cover: float,
    collection: str = "sentinel-2-c1-l2a",
    keys: dict[str, str] | None = None,
    offset: float = -0.1,
    raster_metadata: bool = True,
    **cog_options,
) -> dict:
    """:func:`write_scene_item` from stored uint16 values: ``stored(i)`` gives S2 band ``i``.

    One band is in memory at a time, so a benchmark can write scenes of a
    hundred megapixels.
    """
    keys = keys or C1_KEYS
    folder.mkdir(parents=True, exist_ok=True)
    height, width = scl.shape
    assets = {}
    for i, band in enumerate((*S2_BANDS, "SCL")):
        if band == "SCL":
            values = scl.astype("uint8")
            meta = {"nodata": 0, "data_type": "uint8"}
        else:
            values = stored(i)
            meta = {"nodata": 0, "data_type": "uint16", "scale": 0.0001, "offset": offset}
        name = f"{item_id}_{keys[band]}.tif"
        write_cog(folder / name, values, transform, crs=crs, nodata=0, **cog_options)
        asset = {
            "href": f"files/{name}",
            "type": "image/tiff; application=geotiff; profile=cloud-optimized",
            "roles": ["data"],
        }
        asset["proj:shape"] = [height, width]
        asset["proj:transform"] = list(transform)[:6]
        if raster_metadata:
            asset["raster:bands"] = [meta]
        assets[keys[band]] = asset
    to4326 = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    x0, y0 = transform @ (0, 0)
    x1, y1 = transform @ (width, height)
    xs, ys = to4326.transform([x0, x1, x1, x0], [y0, y0, y1, y1])
    bbox = [min(xs), min(ys), max(xs), max(ys)]
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [
            "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
            "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
            "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
        ],
        "id": item_id,
        "collection": collection,
        "bbox": bbox,
        "geometry": {
            "type": "Polygon",
            "coordinates": [
                [
                    [bbox[0], bbox[1]],
                    [bbox[2], bbox[1]],
                    [bbox[2], bbox[3]],
                    [bbox[0], bbox[3]],
                    [bbox[0], bbox[1]],
                ]
            ],
        },
        "properties": {
            "datetime": f"{when}T10:30:00Z",
            "eo:cloud_cover": cloud_cover,
            "proj:epsg": int(crs.split(":")[1]),
        },
        "links": [],
        "assets": assets,
    }


class StacServer:
    """Serve ``items`` (dicts from :func:`write_scene_item`) and the files in ``folder``."""

    def __init__(self, folder: Path, items: list[dict]):
        self.folder = Path(folder)
        self.items = items
        self.faults: dict[str, list[int]] = {}
        self.log: list[str] = []
        self.bytes_sent = 0  # response bodies, files and documents alike
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> StacServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def requests_to(self, prefix: str) -> int:
        with self.lock:
            return sum(path.startswith(prefix) for path in self.log)

    # --- API documents
    def landing(self) -> dict:
        return {
            "type": "Catalog",
            "stac_version": "1.0.0",
            "id": "minescan-test",
            "description": "fixture STAC API",
            "conformsTo": CONFORMANCE,
            "links": [
                {"rel": "self", "href": f"{self.url}/", "type": "application/json"},
                {"rel": "root", "href": f"{self.url}/", "type": "application/json"},
                {
                    "rel": "conformance",
                    "href": f"{self.url}/conformance",
                    "type": "application/json",
                },
                {"rel": "data", "href": f"{self.url}/collections", "type": "application/json"},
                {
                    "rel": "search",
                    "href": f"{self.url}/search",
                    "type": "application/geo+json",
                    "method": "GET",
                },
                {
                    "rel": "search",
                    "href": f"{self.url}/search",
                    "type": "application/geo+json",
                    "method": "POST",
                },
            ],
        }

    def collection(self, cid: str) -> dict:
        return {
            "type": "Collection",
            "stac_version": "1.0.0",
            "id": cid,
            "description": cid,
            "license": "proprietary",
            "extent": {
                "spatial": {"bbox": [[-180, -90, 180, 90]]},
                "temporal": {"interval": [["2015-06-27T00:00:00Z", None]]},
            },
            "links": [{"rel": "self", "href": f"{self.url}/collections/{cid}"}],
        }

    def search(self, params: dict) -> dict:
        collections = params.get("collections") or []
        if isinstance(collections, str):
            collections = collections.split(",")
        bbox = params.get("bbox")
        if isinstance(bbox, str):
            bbox = [float(v) for v in bbox.split(",")]
        start, end = _interval(params.get("datetime"))
        query = params.get("query") or {}
        if isinstance(query, str):
            query = json.loads(query)
        found = []
        for item in self.items:
            if collections and item["collection"] not in collections:
                continue
            if bbox and not _overlaps(bbox, item["bbox"]):
                continue
            when = _parse_time(item["properties"]["datetime"])
            if (start and when < start) or (end and when > end):
                continue
            if not all(_matches(item["properties"].get(k), ops) for k, ops in query.items()):
                continue
            found.append(self._absolute(item))
        return {
            "type": "FeatureCollection",
            "features": found,
            "links": [],
            "numberReturned": len(found),
        }

    def _absolute(self, item: dict) -> dict:
        out = json.loads(json.dumps(item))
        for asset in out["assets"].values():
            if not asset["href"].startswith("http"):
                asset["href"] = f"{self.url}/{asset['href']}"
        out["links"] = [
            {
                "rel": "self",
                "href": f"{self.url}/collections/{item['collection']}/items/{item['id']}",
            }
        ]
        return out


def _interval(text: str | None):
    if not text:
        return None, None
    parts = text.split("/") if "/" in text else [text, text]
    return tuple(None if p in ("", "..") else _parse_time(p) for p in parts)


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _overlaps(a, b) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def _matches(value, ops: dict) -> bool:
    return value is not None and all(_OPS[op](value, ref) for op, ref in ops.items())


_OPS = {
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
    "eq": operator.eq,
}


def _handler(server: StacServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # keep test output clean
            pass

        def do_HEAD(self):
            self._dispatch(head=True)

        def do_GET(self):
            self._dispatch()

        def do_POST(self):
            self._dispatch()

        def _dispatch(self, head: bool = False):
            url = urlparse(self.path)
            path = url.path.rstrip("/") or "/"
            # read the body first: a keep-alive connection must not see it as the next request
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with server.lock:
                server.log.append(path)
                status = next(
                    (
                        codes.pop(0)
                        for prefix, codes in server.faults.items()
                        if path.startswith(prefix) and codes
                    ),
                    None,
                )
            if status is not None:
                return self._json({"code": status, "description": "injected fault"}, status)
            if path.startswith("/files/"):
                return self._file(server.folder / path[len("/files/") :], head)
            if path == "/":
                return self._json(server.landing())
            if path == "/conformance":
                return self._json({"conformsTo": CONFORMANCE})
            if path == "/collections":
                cids = sorted({item["collection"] for item in server.items})
                return self._json(
                    {"collections": [server.collection(c) for c in cids], "links": []}
                )
            match = re.fullmatch(r"/collections/([^/]+)", path)
            if match:
                return self._json(server.collection(match.group(1)))
            if path == "/search":
                if self.command == "POST":
                    params = json.loads(body or b"{}")
                else:
                    params = {k: v[0] for k, v in parse_qs(url.query).items()}
                return self._json(server.search(params), content_type="application/geo+json")
            return self._json({"code": 404, "description": f"no route {path}"}, 404)

        def _json(self, doc: dict, status: int = 200, content_type: str = "application/json"):
            body = json.dumps(doc).encode()
            with server.lock:
                server.bytes_sent += len(body) if self.command != "HEAD" else 0
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _file(self, path: Path, head: bool):
            if not path.is_file():
                return self._json({"code": 404}, 404)
            size = path.stat().st_size
            match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
            if match:
                start = int(match.group(1))
                stop = min(int(match.group(2)) if match.group(2) else size - 1, size - 1)
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{stop}/{size}")
            else:
                start, stop = 0, size - 1
                self.send_response(200)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Type", "image/tiff")
            self.send_header("Content-Length", str(stop - start + 1))
            self.end_headers()
            if not head:
                with server.lock:
                    server.bytes_sent += stop - start + 1
                with open(path, "rb") as fh:
                    fh.seek(start)
                    self.wfile.write(fh.read(stop - start + 1))

    return Handler
