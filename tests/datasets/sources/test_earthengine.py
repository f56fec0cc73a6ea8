"""EarthEngineSource offline: the real ee expressions, serialised, and the fetch loop on a stand-in.

``ee.apitestcase.ApiTestCase`` initialises earthengine-api with the algorithm
list it ships (``ee/tests/algorithms.json``) and no server, which is how the
library tests itself; the expressions below are the ones a live account gets.
"""

from __future__ import annotations

import json
import threading
import time

import ee
import mercantile
import numpy as np
import pytest
from ee import apitestcase
from shapely.geometry import Point

from minescan.config import section
from minescan.datasets.sources import SourceSettings, open_source
from minescan.datasets.sources.earthengine import EarthEngineSource, initialize
from minescan.datasets.sources.ee_expressions import (
    CLEAR_COUNT,
    FILL,
    clear_scenes,
    composite,
    daily,
    ee_band,
    pixels_request,
    region,
    to_array,
)
from minescan.datasets.sources.extent import tile_grid
from minescan.kernel.bands import S2_BANDS
from minescan.kernel.errors import MinescanError

TILE = mercantile.Tile(16110, 12445, 15)
GRID = tile_grid(TILE, 256, 8)


@pytest.fixture
def offline_ee():
    case = apitestcase.ApiTestCase("setUp")
    case.setUp()
    yield ee
    case.tearDown()


def graph(obj) -> dict:
    """The serialised expression as a tree: ``{"fn": name, "args": {...}}`` nodes and constants."""
    encoded = ee.serializer.encode(obj, for_cloud_api=True)
    values = encoded["values"]

    def resolve(node):
        if "valueReference" in node:
            return resolve(values[node["valueReference"]])
        if "constantValue" in node:
            return node["constantValue"]
        if "arrayValue" in node:
            return [resolve(v) for v in node["arrayValue"]["values"]]
        if "functionInvocationValue" in node:
            call = node["functionInvocationValue"]
            args = {k: resolve(v) for k, v in call.get("arguments", {}).items()}
            return {"fn": call["functionName"], "args": args}
        if "functionDefinitionValue" in node:
            return {
                "fn": "<lambda>",
                "args": {"body": resolve(values[node["functionDefinitionValue"]["body"]])},
            }
        if "argumentReference" in node:
            return {"ref": node["argumentReference"]}
        if "dictionaryValue" in node:
            return {k: resolve(v) for k, v in node["dictionaryValue"]["values"].items()}
        raise AssertionError(f"unknown node {node}")

    return resolve(values[encoded["result"]])


def calls(tree, name: str) -> list[dict]:
    """Every distinct invocation of ``name`` in ``tree`` (shared subgraphs count once)."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("fn") == name:
                found.append(node["args"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(tree)
    unique = {json.dumps(args, sort_keys=True): args for args in found}
    return list(unique.values())


def settings(**kw) -> SourceSettings:
    return section("source", kind="earthengine", **kw)


def test_band_names():
    assert [ee_band(b) for b in ("B01", "B08", "B8A", "B09", "B12")] == [
        "B1",
        "B8",
        "B8A",
        "B9",
        "B12",
    ]


def test_composite_expression_cloud_score_plus(offline_ee):
    image = composite(
        clear_scenes(
            settings(cs_cdf_threshold=0.65), region(GRID.bounds_4326()), "2019-01-01", "2019-12-31"
        ),
        ("B02", "B8A", "B11"),
    )
    tree = graph(image)
    ids = {c["id"] for c in calls(tree, "ImageCollection.load")}
    assert ids == {"COPERNICUS/S2_SR_HARMONIZED", "GOOGLE/CLOUD_SCORE_PLUS/V1/S2_HARMONIZED"}
    # bounds: the chip footprint (margin included), planar lon/lat
    (rect,) = calls(tree, "GeometryConstructors.Rectangle")
    np.testing.assert_allclose(rect["coordinates"], GRID.bounds_4326())
    assert rect["geodesic"] is False
    # dates: the whole of 2019, end exclusive
    (dates,) = calls(tree, "DateRange")
    assert (dates["start"], dates["end"]) == ("2019-01-01", "2020-01-01")
    # cloud mask: link cs_cdf, keep cs_cdf >= threshold
    (link,) = calls(tree, "Image.linkCollection")
    assert link["linkedBands"] == ["cs_cdf"]
    (gte,) = calls(tree, "Image.gte")
    assert gte["image1"]["fn"] == "Image.select" and gte["image1"]["args"]["bandSelectors"] == [
        "cs_cdf"
    ]
    assert calls(gte["image2"], "Image.constant")[0]["value"] == 0.65
    assert calls(tree, "Image.updateMask")
    assert not calls(tree, "Image.remap")
    # reducer, bands (EE names renamed to S2 names), scaling, fill, count band
    assert len(calls(tree, "reduce.median")) == 1 and len(calls(tree, "reduce.count")) == 1
    selects = [c for c in calls(tree, "Image.select") if c.get("newNames")]
    assert selects[0]["bandSelectors"] == ["B2", "B8A", "B11"]
    assert selects[0]["newNames"] == ["B02", "B8A", "B11"]
    (divide,) = calls(tree, "Image.divide")
    assert calls(divide["image2"], "Image.constant")[0]["value"] == 10000
    unmask_values = sorted(
        calls(u["value"], "Image.constant")[0]["value"] for u in calls(tree, "Image.unmask")
    )
    assert unmask_values == [FILL, 0]
    rename = calls(tree, "Image.rename")[0]
    assert rename["names"] == [CLEAR_COUNT]


def test_composite_expression_scl(offline_ee):
    image = composite(
        clear_scenes(
            settings(cloud_mask="scl"), region(GRID.bounds_4326()), "2019-03-01", "2019-03-31"
        ),
        ("B04",),
    )
    tree = graph(image)
    assert {c["id"] for c in calls(tree, "ImageCollection.load")} == {"COPERNICUS/S2_SR_HARMONIZED"}
    (remap,) = calls(tree, "Image.remap")
    assert remap["from"] == [4, 5, 6, 7, 11] and remap["to"] == [1, 1, 1, 1, 1]
    assert remap["defaultValue"] == 0
    assert remap["image"]["args"]["bandSelectors"] == ["SCL"]
    (dates,) = calls(tree, "DateRange")
    assert (dates["start"], dates["end"]) == ("2019-03-01", "2019-04-01")
    assert not calls(tree, "Image.linkCollection")


def test_daily_image_is_one_day_mosaic(offline_ee):
    scenes_ = clear_scenes(settings(), region(GRID.bounds_4326()), "2019-01-01", "2019-12-31")
    tree = graph(daily(scenes_, "2019-05-04", ("B03",)))
    assert len(calls(tree, "ImageCollection.mosaic")) == 1
    ranges = {(d["start"], d["end"]) for d in calls(tree, "DateRange")}
    assert ranges == {("2019-01-01", "2020-01-01"), ("2019-05-04", "2019-05-05")}
    assert not calls(tree, "reduce.median")


def test_compute_pixels_request_grid(offline_ee):
    image = ee.Image(1)
    request = pixels_request(image, GRID)
    assert request["expression"] is image and request["fileFormat"] == "NUMPY_NDARRAY"
    grid = request["grid"]
    assert grid["crsCode"] == "EPSG:3857"
    assert grid["dimensions"] == {"width": 272, "height": 272}
    t = grid["affineTransform"]
    bounds = mercantile.xy_bounds(TILE)
    res = (bounds.right - bounds.left) / 256
    assert t["scaleX"] == pytest.approx(res) and t["scaleY"] == pytest.approx(-res)
    assert t["shearX"] == 0 and t["shearY"] == 0
    assert t["translateX"] == pytest.approx(bounds.left - 8 * res)
    assert t["translateY"] == pytest.approx(bounds.top + 8 * res)


class StandIn:
    """A stand-in for ``ee.data.computePixels``: fixture arrays, after scripted failures.

    Each pixel's reflectance encodes the request's grid so a test can check
    the chip came from its own tile: B-band value = 0.1 + column / 10000.
    """

    def __init__(self, failures=(), clear_count=3, delay=0.0):
        self.failures = list(failures)
        self.clear_count = clear_count
        self.delay = delay
        self.calls = 0
        self.requests = []
        self.lock = threading.Lock()
        self.in_flight = 0
        self.peak = 0

    def __call__(self, request):
        with self.lock:
            self.calls += 1
            self.requests.append(request)
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            failure = self.failures.pop(0) if self.failures else None
        try:
            time.sleep(self.delay)
            if failure is not None:
                raise failure
            return self.pixels(request)
        finally:
            with self.lock:
                self.in_flight -= 1

    def pixels(self, request):
        dims = request["grid"]["dimensions"]
        h, w = dims["height"], dims["width"]
        names = [n for n in graph_band_names(request["expression"])]
        out = np.zeros((h, w), dtype=[(n, "<f4") for n in names])
        col = np.broadcast_to(np.arange(w, dtype=np.float32), (h, w))
        for n in names:
            out[n] = self.clear_count if n == CLEAR_COUNT else 0.1 + col / 10000
        if self.clear_count == 0:
            for n in names:
                if n != CLEAR_COUNT:
                    out[n] = FILL
        return out


def graph_band_names(image) -> list[str]:
    tree = graph(image)
    names = [c["newNames"] for c in calls(tree, "Image.select") if c.get("newNames")][0]
    return [*names, CLEAR_COUNT] if calls(tree, "reduce.count") else names


def make_source(tmp_path, stand_in, **kw):
    waits = []
    src = EarthEngineSource(
        settings(
            cache_dir=str(tmp_path),
            ee_project="p",
            retries=kw.pop("retries", 4),
            backoff_s=1.0,
            **kw,
        ),
        compute_pixels=stand_in,
        init=lambda project: None,
        sleep=waits.append,
    )
    return src, waits


def test_read_returns_fixture_pixels_on_the_tile_grid(offline_ee, tmp_path):
    stand_in = StandIn()
    src, _ = make_source(tmp_path, stand_in)
    chip = src.read(TILE, size_px=64, period="2019", bands=("B04", "B08"), margin_px=4)
    assert chip.data.shape == (2, 72, 72) and chip.valid.all()
    np.testing.assert_allclose(chip.band("B08")[0], 0.1 + np.arange(72) / 10000, atol=1e-6)
    assert chip.transform.almost_equals(tile_grid(TILE, 64, 4).transform)
    assert chip.meta["all_cloud"] is False and chip.meta["clear_observations_median"] == 3
    assert stand_in.requests[0]["grid"]["dimensions"] == {"width": 72, "height": 72}


def test_retries_429_5xx_and_timeouts_then_caches(offline_ee, tmp_path):
    failures = [
        ee.EEException("Too many concurrent aggregations."),
        ee.EEException("Internal error (503)"),
        TimeoutError("read timed out"),
    ]
    stand_in = StandIn(failures)
    src, waits = make_source(tmp_path, stand_in)
    chip = src.read(TILE, size_px=32, bands=("B02",))
    assert stand_in.calls == 4 and len(waits) == 3
    assert waits[1] > waits[0] * 1.0 and max(waits) <= 4.0  # exponential, jittered, capped by 2**k
    again = src.read(TILE, size_px=32, bands=("B02",))
    assert stand_in.calls == 4 and again.meta["cached"] is True
    np.testing.assert_array_equal(chip.data, again.data)


def test_rate_limit_after_retries_is_one_line_error_and_resumable(offline_ee, tmp_path):
    stand_in = StandIn([ee.EEException("Too Many Requests: 429")] * 3)
    src, _ = make_source(tmp_path, stand_in, retries=2)
    with pytest.raises(MinescanError) as err:
        src.read(TILE, size_px=16, bands=("B02",))
    message = str(err.value)
    assert message.startswith(f"tile 15/{TILE.x}/{TILE.y}: failed after 3 attempts: EEException")
    assert "\n" not in message
    assert src.read(TILE, size_px=16, bands=("B02",)).valid.all()  # the next run resumes


def test_permanent_error_fails_fast(offline_ee, tmp_path):
    stand_in = StandIn([ee.EEException("Image.select: Pattern 'B99' did not match any bands.")])
    src, waits = make_source(tmp_path, stand_in)
    with pytest.raises(MinescanError, match="did not match any bands"):
        src.read(TILE, size_px=16, bands=("B02",))
    assert stand_in.calls == 1 and waits == []


def test_all_cloud_period_gives_flagged_nan_chip(offline_ee, tmp_path):
    src, _ = make_source(tmp_path, StandIn(clear_count=0))
    chip = src.read(TILE, size_px=16, period="2019-02", bands=("B02", "B03"))
    assert chip.meta["all_cloud"] is True
    assert np.isnan(chip.data).all() and not chip.valid.any()


def test_read_many_bounds_concurrency(offline_ee, tmp_path):
    stand_in = StandIn(delay=0.02)
    src, _ = make_source(tmp_path, stand_in, max_concurrency=3)
    tiles = list(mercantile.children(TILE, zoom=17))
    got = dict(src.read_many(tiles, size_px=8, bands=("B04",)))
    assert set(got) == set(tiles) and stand_in.calls == 16
    assert stand_in.peak <= 3 and stand_in.peak >= 2


def test_series_one_request_per_date(offline_ee, tmp_path):
    stand_in = StandIn()
    day = np.datetime64("2019-05-04T10:31:00", "ms").astype(int)
    other = np.datetime64("2019-05-09T10:31:00", "ms").astype(int)
    src = EarthEngineSource(
        settings(cache_dir=str(tmp_path), ee_project="p"),
        compute_pixels=stand_in,
        compute_value=lambda expr: [
            int(day),
            int(day) + 5000,
            int(other),
        ],  # two granules on one day
        init=lambda project: None,
    )
    dates, cube = src.series(
        Point(-3.0, 40.0).buffer(0.002), "2019-01-01", "2019-12-31", bands=("B04",)
    )
    assert dates.tolist() == [np.datetime64("2019-05-04"), np.datetime64("2019-05-09")]
    assert stand_in.calls == 2 and cube.data.shape[:2] == (2, 1)
    assert cube.transform.a * np.cos(np.radians(40.0)) == pytest.approx(10.0, rel=1e-3)
    ranges = {
        tuple(sorted((d["start"], d["end"]) for d in calls(graph(r["expression"]), "DateRange")))
        for r in stand_in.requests
    }
    assert ranges == {
        (("2019-01-01", "2020-01-01"), ("2019-05-04", "2019-05-05")),
        (("2019-01-01", "2020-01-01"), ("2019-05-09", "2019-05-10")),
    }


def test_to_array_checks_bands_and_shape():
    grid = tile_grid(TILE, 4)
    pixels = np.zeros((4, 4), dtype=[("B02", "<f4")])
    pixels["B02"][0, 0] = FILL
    arr = to_array(pixels, ["B02"], grid)
    assert np.isnan(arr[0, 0, 0]) and arr[0, 1, 1] == 0
    with pytest.raises(MinescanError, match="no band B03"):
        to_array(pixels, ["B03"], grid)
    with pytest.raises(MinescanError, match="asked for"):
        to_array(pixels, ["B02"], tile_grid(TILE, 8))


def test_missing_project_gives_hint(monkeypatch):
    monkeypatch.delenv("EE_PROJECT", raising=False)
    monkeypatch.delenv("MINESCAN_EE_PROJECT", raising=False)
    with pytest.raises(MinescanError, match="earthengine authenticate"):
        initialize(None, init=lambda project: None)
    monkeypatch.setenv("EE_PROJECT", "from-env")
    seen = []
    assert initialize(None, init=lambda project: seen.append(project)) == "from-env" and seen == [
        "from-env"
    ]


def test_expired_credentials_give_hint_without_details():
    def init(project):
        raise ee.EEException("invalid_grant: token ya29.SECRET has expired")

    with pytest.raises(MinescanError) as err:
        initialize("proj", init=init)
    message = str(err.value)
    assert "earthengine authenticate" in message and "proj" in message
    assert "SECRET" not in message and "ya29" not in message and "\n" not in message


def test_missing_credentials_with_the_real_client(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.delenv("EARTHENGINE_TOKEN", raising=False)
    src = open_source(settings(ee_project="proj", cache_dir=str(tmp_path)))
    with pytest.raises(MinescanError, match="earthengine authenticate"):
        src.read(TILE, size_px=8, bands=("B02",))


def test_credentials_refused_mid_run_gives_hint(offline_ee, tmp_path):
    stand_in = StandIn(
        [ee.EEException("Request had invalid authentication credentials (401). ya29.SECRET")]
    )
    src, waits = make_source(tmp_path, stand_in)
    with pytest.raises(MinescanError) as err:
        src.read(TILE, size_px=8, bands=("B02",))
    assert "earthengine authenticate" in str(err.value) and "SECRET" not in str(err.value)
    assert waits == []


def test_project_precedence(monkeypatch):
    monkeypatch.setenv("EE_PROJECT", "env")
    monkeypatch.delenv("MINESCAN_EE_PROJECT", raising=False)
    assert initialize("config", init=lambda project: None) == "config"
    monkeypatch.setenv("MINESCAN_EE_PROJECT", "flag")
    assert initialize("config", init=lambda project: None) == "flag"


def test_cli_without_credentials_is_one_line_error_with_hint(monkeypatch, tmp_path, run_cli):
    from tests.datasets.conftest import write_cells

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("MINESCAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.delenv("MINESCAN_EE_PROJECT", raising=False)  # restored after the flag sets it
    write_cells(tmp_path / "cells.parquet", [TILE])
    code, out, err = run_cli(
        "datasets", "chips", "--cells", tmp_path / "cells.parquet", "--source", "earthengine",
        "--ee-project", "my-proj", "--period", "2019", "--size", 16, "--quiet", "--out", tmp_path / "out",
    )  # fmt: skip
    assert code == 2
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "earthengine authenticate" in lines[0] and "my-proj" in lines[0]
    assert "Traceback" not in err


def test_neighbouring_tiles_share_one_request_per_block(offline_ee, tmp_path):
    """A z15 cluster of 4 x 4 tiles at 288 px, 12 bands: 2 x 2 tiles per request (4 x 4 would
    pass the 48 MB limit), each chip cut from its block at the right place and cached alone."""
    stand_in = StandIn()
    src, _ = make_source(tmp_path, stand_in)
    bands = S2_BANDS
    tiles = list(mercantile.children(mercantile.parent(TILE, zoom=13), zoom=15))
    chips = src.read_tiles(tiles, size_px=256, bands=bands, margin_px=16)
    assert stand_in.calls == 4 and src.io.snapshot()["requests"] == 4
    assert all(r["grid"]["dimensions"] == {"width": 544, "height": 544} for r in stand_in.requests)
    assert src.io.bytes == 4 * 544 * 544 * 4 * (len(bands) + 1)
    for tile, chip in zip(tiles, chips, strict=True):
        assert chip.tile == tile and chip.data.shape == (12, 288, 288)
        assert chip.transform.almost_equals(tile_grid(tile, 256, 16).transform)
        first_col = 256 * (tile.x % 2)  # the stand-in writes each block column into the pixels
        np.testing.assert_allclose(
            chip.band("B04")[0], 0.1 + (first_col + np.arange(288)) / 10000, atol=1e-6
        )
    again = src.read_tiles(tiles, size_px=256, bands=bands, margin_px=16)
    assert stand_in.calls == 4 and all(c.meta["cached"] for c in again)
    # six bands and the count fit 4 x 4 tiles under the limit: one request
    fewer, _ = make_source(tmp_path / "six", StandIn())
    fewer._compute_pixels = six = StandIn()
    fewer.read_tiles(tiles, size_px=256, bands=bands[:6], margin_px=16)
    assert six.calls == 1 and six.requests[0]["grid"]["dimensions"]["width"] == 1056
