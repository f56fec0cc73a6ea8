"""Web maps that render with no network: Leaflet inline from the vendored copy, no CDN.

minescan runs offline by default, so a page that loads Leaflet, jQuery or
Bootstrap from a CDN is a blank page for most of its users. Every HTML map the
project writes (the scan's ``map.html``, the grid's ``preview.html``) starts from
:func:`offline_map`, which inlines ``minescan/data/vendor/leaflet`` (Leaflet
1.9.3, BSD-2-Clause, its LICENSE beside it) and drops folium's CDN links. Only
basemap tiles need the network, and the page works without them.
"""

from __future__ import annotations

import base64
import functools
import re
from pathlib import Path

#: The vendored Leaflet distribution (``leaflet.js``, ``leaflet.css``, ``images/``).
LEAFLET = Path(__file__).resolve().parent.parent / "data" / "vendor" / "leaflet"


@functools.cache
def leaflet_assets() -> tuple[str, str]:
    """``(javascript, css)`` of the vendored Leaflet, the CSS images as data URIs.

    Inlining the images keeps one self-contained file: a map copied to another
    folder or sent by mail still shows its layer control and markers.
    """
    script = (LEAFLET / "leaflet.js").read_text(encoding="utf-8")

    def data_uri(match: re.Match) -> str:
        png = (LEAFLET / match.group(1)).read_bytes()
        return f"url(data:image/png;base64,{base64.b64encode(png).decode('ascii')})"

    css = re.sub(r"url\((images/[\w.@-]+\.png)\)", data_uri, (LEAFLET / "leaflet.css").read_text())
    return script, css


def offline_map(**kwargs):
    """A ``folium.Map`` whose Leaflet is inline and which links nothing from a CDN.

    ``kwargs`` go to ``folium.Map``. folium's default jQuery, Bootstrap and
    awesome-markers links are dropped: GeoJSON layers, tooltips and the layer
    control need only Leaflet.

    Examples
    --------
    >>> html = offline_map(tiles=None).get_root().render()
    >>> "cdn." in html, "L.map(" in html
    (False, True)
    """
    import folium

    fmap = folium.Map(**kwargs)
    fmap.default_js, fmap.default_css = [], []
    script, css = leaflet_assets()
    header = fmap.get_root().header
    header.add_child(folium.Element(f"<style>{css}</style>"), name="leaflet_css")
    header.add_child(folium.Element(f"<script>{script}</script>"), name="leaflet_js")
    return fmap
