"""Every HTML map minescan writes renders with no network: Leaflet inline, nothing from a CDN."""

import re
import shutil
import subprocess

import folium
import geopandas as gpd
import pytest
import shapely

from minescan.kernel.webmap import LEAFLET, leaflet_assets, offline_map

REMOTE_ASSET = re.compile(r"<(?:script|link)\b[^>]*\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//", re.I)


def remote_assets(html: str) -> list[str]:
    """The ``<script src>`` and ``<link href>`` tags that would load from the network."""
    return REMOTE_ASSET.findall(html)


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; make browser)")
    return found


def rendered_dom(path, browser: str) -> str:
    """The page's DOM after its scripts ran, in headless Chromium with every remote fetch refused."""
    done = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--proxy-server=127.0.0.1:9",
         "--proxy-bypass-list=<-loopback>", "--virtual-time-budget=5000", "--dump-dom",
         path.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_vendored_leaflet_ships_with_its_licence():
    script, css = leaflet_assets()
    assert "Leaflet 1.9.3" in script[:200]
    assert "BSD 2-Clause" in (LEAFLET / "LICENSE").read_text()
    assert "url(images/" not in css and "data:image/png;base64," in css


def test_offline_map_links_nothing_remote_and_keeps_layers():
    fmap = offline_map(tiles=None)
    folium.GeoJson(shapely.to_geojson(shapely.box(0, 0, 1, 1)), name="box").add_to(fmap)
    folium.LayerControl().add_to(fmap)
    html = fmap.get_root().render()
    assert remote_assets(html) == []
    assert html.count("L.map(") == 1 and "L.geoJson(" in html


def test_remote_asset_pattern_catches_cdn_links():
    """The check itself can fail: folium's own page links its CDNs."""
    assert remote_assets(folium.Map(tiles=None).get_root().render())


def test_grid_preview_and_scan_map_render_offline_in_chromium(tmp_path, run_cli):
    browser = chromium()
    polygons = tmp_path / "mines.geojson"
    gpd.GeoDataFrame(geometry=[shapely.box(-1.62, 6.68, -1.61, 6.69)], crs=4326).to_file(polygons)
    code, _, err = run_cli("grid", "--polygons", polygons, "--zooms", "14", "--out", tmp_path / "g")
    assert code == 0, err
    page = tmp_path / "g" / "preview.html"
    assert remote_assets(page.read_text()) == []
    dom = rendered_dom(page, browser)
    assert "leaflet-container" in dom
    assert dom.count("leaflet-interactive") >= 1  # the cells and polygons were drawn
    assert "leaflet-control-layers" in dom


def test_scan_map_renders_offline_in_chromium(tmp_path, run_cli):
    browser = chromium()
    out = tmp_path / "scan"
    code, _, err = run_cli("scan", "--aoi", "bbox:-1.64,6.66,-1.60,6.70", "--out", out, "--quiet")
    assert code == 0, err
    page = out / "map.html"
    assert remote_assets(page.read_text()) == []
    dom = rendered_dom(page, browser)
    assert "leaflet-container" in dom and "leaflet-control-layers" in dom
    assert dom.count("leaflet-interactive") >= 1  # the AOI and the tiles were drawn
