"""The overview map: every layer as its own toggleable group, the heat overlay, legends, PDOK basemap.

The page carries a bounded amount of geometry (see maps.data): a layer too big to embed is drawn from our
vector tiles (Leaflet.VectorGrid, from npm) where the page has a tile server (``tiles``), and otherwise
left out with a note in the legend that says where to see it.
"""

from __future__ import annotations

import json
import re
from html import escape
from typing import Any

import folium
from branca.element import Element, MacroElement
from jinja2 import Template
from sqlalchemy.orm import Session

from maps.assets import render_local
from maps.data import TILED_MIN_ZOOM, DisplayLayer, display_layers
from maps.heat_png import legend_stops
from service.core.settings import Settings, get_settings

ASSEN = (52.993, 6.560)
PDOK = "https://service.pdok.nl/brt/achtergrondkaart/wmts/v2_0/{style}/EPSG:3857/{{z}}/{{x}}/{{y}}.png"
PDOK_ATTRIBUTION = 'Kaartgegevens &copy; <a href="https://www.kadaster.nl">Kadaster</a> (BRT-Achtergrondkaart)'
OSM = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
OSM_ATTRIBUTION = '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a>-bijdragers'


def basemaps(settings: Settings) -> list[tuple[str, str, str]]:
    """(name, url, attribution) of the basemaps, the first shown by default."""
    if settings.tile_url:
        return [("Achtergrond", settings.tile_url, settings.tile_attribution or "")]
    if settings.basemap == "osm":
        return [("OpenStreetMap", OSM, OSM_ATTRIBUTION)]
    return [
        ("BRT-Achtergrondkaart grijs", PDOK.format(style="grijs"), PDOK_ATTRIBUTION),
        ("BRT-Achtergrondkaart standaard", PDOK.format(style="standaard"), PDOK_ATTRIBUTION),
    ]


def _style(colour: str, category: str) -> Any:
    dash = "6 4" if category == "referentie" else None
    fill = 0.0 if category == "referentie" else 0.25

    def style(_feature: Any) -> dict[str, Any]:
        return {"color": colour, "weight": 2, "fillColor": colour, "fillOpacity": fill, "dashArray": dash}

    return style


LEGEND = Template(
    """{% macro html(this, kwargs) %}
<div class="gc-legend" role="region" aria-label="Legenda">
<details class="gc-legend-details" open>
  <summary class="gc-legend-knop"><strong>Legenda</strong> <span class="gc-indicatief">indicatief</span></summary>
  <ul>{% for l in this.layers %}<li>
    <span class="gc-swatch" style="border-color:{{ l.colour }};background:{{ l.colour }}40"></span>{{ l.title|e }}
  </li>{% endfor %}</ul>
  {% if this.heat %}<div><strong>Hitte-eiland (°C)</strong><div class="gc-ramp">{% for s in this.stops %}
    <span style="background:{{ s.rgb }};color:{{ s.text }}">{{ s.label }}</span>{% endfor %}</div>
  <small>zomergemiddeld verschil stad–platteland</small></div>{% endif %}
  {% for n in this.notes %}<p class="gc-noot">{{ n|e }}</p>{% endfor %}
  <small>Geometrieën zijn indicatief: handmatig getekend, niet de officiële GIO's.</small>
</details>
</div>
{% endmacro %}
{% macro script(this, kwargs) %}
if (window.matchMedia && window.matchMedia("(max-width: 600px)").matches) {
    document.querySelectorAll(".gc-legend-details").forEach(function (d) { d.open = false; });
}
{% endmacro %}"""
)


def _luminance(rgb: str) -> float:
    """Relative luminance (WCAG 2.1) of a ``#rrggbb`` colour."""

    def channel(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (int(rgb[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def text_colour(background: str) -> str:
    """Black or white text, whichever contrasts more with ``background`` (WCAG 1.4.3)."""
    lum = _luminance(background)
    return "#000" if (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) else "#fff"


def decimal(x: float, digits: int = 1) -> str:
    """A number in Dutch notation: ``2,4``; thousands with a point: ``3.596``."""
    return f"{x:,.{digits}f}".replace(",", " ").replace(".", ",").replace(" ", ".")


class ImageUrlOverlay(MacroElement):
    """L.imageOverlay from a URL on our own server (Folium's ImageOverlay wants a file or an http URL)."""

    _template = Template(
        """{% macro script(this, kwargs) %}
var {{ this.get_name() }} = L.imageOverlay({{ this.url|tojson }}, {{ this.bounds|tojson }},
    {opacity: 1, interactive: false, alt: "Hitte-eiland (UHI, °C)"}).addTo({{ this._parent.get_name() }});
{% endmacro %}"""
    )

    def __init__(self, url: str, bounds: list[list[float]]) -> None:
        super().__init__()
        self._name = "ImageUrlOverlay"
        self.url = url
        self.bounds = bounds


class VectorTiles(MacroElement):
    """A layer drawn from our own vector tiles (``L.vectorGrid.protobuf``), a tile at a time, not clickable
    itself (the viewer's click-to-query answers for every layer)."""

    _template = Template(
        """{% macro script(this, kwargs) %}
var {{ this.get_name() }} = L.vectorGrid.protobuf({{ this.url|tojson }}, {
    vectorTileLayerStyles: {{ this.styles|tojson }}, interactive: false, minZoom: {{ this.min_zoom }},
    rendererFactory: L.canvas.tile, className: "gc-vectortegels"
}).addTo({{ this._parent.get_name() }});
{% endmacro %}"""
    )

    def __init__(self, url: str, layer: DisplayLayer, min_zoom: int = TILED_MIN_ZOOM) -> None:
        super().__init__()
        self._name = "VectorTiles"
        self.url = url
        self.min_zoom = min_zoom
        style = _style(layer.colour, layer.category)(None)
        self.styles = {layer.slug: {k: v for k, v in {**style, "weight": 1, "fill": True}.items() if v is not None}}


def _count(n: int) -> str:
    return f"{n:,}".replace(",", ".")


def tiled_note(layer: DisplayLayer, *, drawn: bool) -> str:
    """The legend's Dutch note on a layer too big to embed in the page."""
    if drawn:
        return (
            f"{layer.title} ({_count(layer.features)} gebieden) is te groot om in één keer te tonen: de laag wordt "
            f"per kaarttegel getekend, vanaf zoomniveau {TILED_MIN_ZOOM}."
        )
    return (
        f"{layer.title} ({_count(layer.features)} gebieden) is te groot voor deze kaart en is niet getekend; "
        f"bekijk de laag in de kaartviewer (/kaart) of via /collections/{layer.slug}."
    )


class Legend(MacroElement):
    _template = LEGEND

    def __init__(self, layers: list[DisplayLayer], heat: bool, notes: list[str] | None = None) -> None:
        super().__init__()
        self._name = "Legend"
        self.layers = layers
        self.heat = heat
        self.stops = [{**s, "text": text_colour(s["rgb"]), "label": decimal(s["c"])} for s in legend_stops()]
        self.notes = notes or []


CSS = """
<style>
.gc-legend{position:fixed;bottom:28px;right:10px;z-index:1000;background:#fff;color:#1a1a1a;padding:6px 10px;
border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.3);font:12px/1.4 system-ui,sans-serif;max-width:16rem;
max-height:50vh;overflow:auto}
.gc-legend-knop{cursor:pointer;padding:2px 0;min-height:24px}.gc-legend ul{list-style:none;margin:4px 0;padding:0}
.gc-swatch{display:inline-block;width:12px;height:12px;border:2px solid;margin-right:6px;vertical-align:middle}
.gc-ramp{display:flex}.gc-ramp span{flex:1;text-align:center;font-size:11px;padding:1px}
.gc-indicatief{background:#fde68a;color:#1a1a1a;border-radius:3px;padding:0 4px;font-size:11px;font-weight:normal}
.gc-noot{margin:4px 0;font-size:11px;color:#444}
@media (max-width:600px){.gc-legend{max-width:min(15rem,calc(100vw - 20px));font-size:12px;bottom:20px;right:4px;
max-height:60vh}}
</style>
"""

# Leaflet's own controls speak English: Dutch titles, a metric scale bar and a Dutch attribution prefix.
DUTCH_CONTROLS = Template(
    """{% macro script(this, kwargs) %}
(function (map) {
    map.zoomControl = L.control.zoom({position: {{ this.zoom_position|tojson }}, zoomInTitle: "Inzoomen",
        zoomOutTitle: "Uitzoomen"}).addTo(map);
    L.control.scale({metric: true, imperial: false, position: "bottomleft"}).addTo(map);
    if (map.attributionControl) {
        map.attributionControl.setPrefix('<a href="https://leafletjs.com" ' +
            'title="Een JavaScript-bibliotheek voor interactieve kaarten">Leaflet</a>');
    }
    map.getContainer().querySelectorAll(".leaflet-control-layers-toggle").forEach(function (a) {
        a.title = "Kaartlagen"; a.setAttribute("aria-label", "Kaartlagen kiezen");
    });
    map.on("popupopen", function (e) {
        var b = e.popup.getElement() && e.popup.getElement().querySelector(".leaflet-popup-close-button");
        if (b) { b.title = "Sluiten"; b.setAttribute("aria-label", "Sluiten"); }
    });
})({{ this._parent.get_name() }});
{% endmacro %}"""
)


class DutchControls(MacroElement):
    """Zoom buttons (at ``zoom_position``), scale bar and attribution prefix in Dutch; added after the layer
    control (whose toggle it names)."""

    _template = DUTCH_CONTROLS

    def __init__(self, zoom_position: str = "topleft") -> None:
        super().__init__()
        self._name = "DutchControls"
        self.zoom_position = zoom_position


def overview_map(
    session: Session,
    *,
    settings: Settings | None = None,
    heat_url: str | None = None,
    heat_bounds: list[list[float]] | None = None,
    popups: bool = True,
    tiles: str | None = None,
) -> tuple[folium.Map, dict[str, str]]:
    """The overview map and {layer slug: JS variable of its group} (for the viewer's URL state).

    ``tiles`` is the base URL of our API (``""``: this server) for the layers too big to embed; without it
    they are left out, with a note. Leaflet's controls are labelled in Dutch."""
    settings = settings or get_settings()
    layers = display_layers(
        session,
        tolerance_m=settings.display_tolerance_m,
        max_vertices=settings.viewer_max_vertices,
        popups=popups,
    )
    m = folium.Map(
        location=ASSEN, zoom_start=12, tiles=None, control_scale=False, zoom_control=False, prefer_canvas=False
    )
    for i, (name, url, attribution) in enumerate(basemaps(settings)):
        folium.TileLayer(url, name=name, attr=attribution, max_zoom=19, show=i == 0, overlay=False).add_to(m)
    groups: dict[str, str] = {}
    notes: list[str] = []
    if heat_url and heat_bounds:
        group = folium.FeatureGroup(name="Hitte-eiland (°C)", show=True)
        ImageUrlOverlay(heat_url, heat_bounds).add_to(group)
        group.add_to(m)
        groups["hitte-eiland"] = group.get_name()
    for layer in layers:
        if not layer.tiled and not layer.geojson["features"]:
            continue  # a layer without features
        if layer.tiled:
            notes.append(tiled_note(layer, drawn=tiles is not None))
            if tiles is None:
                continue
        group = folium.FeatureGroup(name=f"{escape(layer.title)} ({layer.label})", show=True)
        if layer.tiled:
            # OGC API – Tiles order: tile matrix, row, column (Leaflet's {y} is the row, {x} the column)
            url = f"{tiles.rstrip('/')}/collections/{layer.slug}/tiles/WebMercatorQuad/{{z}}/{{y}}/{{x}}"  # type: ignore[union-attr]
            VectorTiles(url, layer).add_to(group)
        else:
            _geojson(layer, popups).add_to(group)
        group.add_to(m)
        groups[layer.slug] = group.get_name()
    if tiles is not None and any(layer.tiled for layer in layers):
        m.default_js = [*m.default_js, ("vectorgrid", "Leaflet.VectorGrid.bundled.min.js")]
    folium.LayerControl(collapsed=True).add_to(m)
    DutchControls().add_to(m)
    root: Any = m.get_root()
    root.header.add_child(Element(CSS))
    m.add_child(Legend(layers, heat=bool(heat_url), notes=notes))
    return m, groups


def _geojson(layer: DisplayLayer, popups: bool) -> folium.GeoJson:
    return folium.GeoJson(
        layer.geojson,
        name=layer.title,
        style_function=_style(layer.colour, layer.category),
        highlight_function=lambda _f: {"weight": 4},
        tooltip=folium.GeoJsonTooltip(fields=["naam", "laag"], aliases=["", ""], labels=False),
        popup=folium.GeoJsonPopup(
            fields=["naam", "laag", "beleid", "herkomst"],
            aliases=["Gebied", "Laag", "Omgevingsvisie", "Herkomst"],
            max_width=360,
        )
        if popups
        else None,
        smooth_factor=1.0,
    )


_VIEWPORT = re.compile(r'<meta name="viewport"[^>]*>')


def render(m: folium.Map, *, base: str = "/static/vendor") -> str:
    """The map as one HTML page whose scripts and stylesheets come from ``base`` (our copy, no CDN). Folium's
    viewport forbids zooming the page (``user-scalable=no``): ours lets a phone pinch-zoom (WCAG 1.4.4)."""
    html = render_local(m, base=base)
    return _VIEWPORT.sub('<meta name="viewport" content="width=device-width, initial-scale=1">', html, count=1)


VIEWER_HEADER = """<header class="gc-kop">
<h1>Gebiedscheck Assen <span class="gc-kop-sub">kaart</span></h1>
<nav class="gc-nav" aria-label="Meer over deze kaart">
<a href="{api}/quickscan">Quickscan</a> <a href="{api}/over">Over deze kaart</a>
<a href="{api}/toegankelijkheid">Toegankelijkheid</a>
<a href="{api}/docs">API</a> <a href="{api}/?f=html">OGC API</a>
</nav>
</header>
<p id="gc-kaart-uitleg" class="gc-sr">Klik op de kaart om een plek op te vragen. Met het toetsenbord:
pijltjestoetsen verschuiven, plus en min zoomen, Enter vraagt het midden van de kaart op (het kruisje),
Escape sluit het antwoord. Met de knop Meten zet Enter een meetpunt bij het kruisje.</p>
"""
VIEWER_SCRIPTS = ("viewer.js", "viewer-zoeken.js", "viewer-meten.js")  # in this order (see viewer.js)


def js_json(value: Any) -> str:
    """JSON for inside a ``<script>``: ``<``, ``>`` and ``&`` escaped (a value can never close the element)."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def viewer_boot(
    m: folium.Map,
    groups: dict[str, str],
    *,
    api: str = "",
    static: str = "/static",
    nearby_m: float | None = None,
    locatieserver: str = "",
    zones_url: str | None = None,
) -> None:
    """Expose the map and its groups to viewer.js, load it (and the search box and the measure tool) after
    Folium's own script block, and put the page's header (links to /over, /toegankelijkheid, /docs and the OGC
    landing page of ``api``) above the map. ``nearby_m``: the distance within which /zones/at names nearby zones
    (for the answer's wording). ``locatieserver``: the base URL of PDOK's Locatieserver the browser asks for
    addresses ("": no address search); ``zones_url``: our zone names (default ``{api}/kaart/gebieden``)."""
    group_js = ", ".join(f"{js_json(slug)}: {var}" for slug, var in groups.items())
    search = {"locatieserver": locatieserver, "zones": f"{api}/kaart/gebieden" if zones_url is None else zones_url}
    srcs = js_json([f"{static}/gebiedscheck/{name}" for name in VIEWER_SCRIPTS])
    # Folium writes the map's own script after this element: run once the page has loaded.
    boot = (
        "window.addEventListener('DOMContentLoaded', function () {\n"
        f"  window.gebiedscheck = {{map: {m.get_name()}, groups: {{{group_js}}}, api: {js_json(api)}, "
        f"nearbyM: {js_json(nearby_m)}, search: {js_json(search)}}};\n"
        f"  {srcs}.forEach(function (src) {{ var s = document.createElement('script'); s.src = src; s.async = false;"
        " document.body.appendChild(s); });\n"
        "});"
    )
    root: Any = m.get_root()
    root.header.add_child(Element(f'<link rel="stylesheet" href="{static}/gebiedscheck/viewer.css">'))
    root.html.add_child(Element(VIEWER_HEADER.format(api=escape(api))), name="gebiedscheck_header", index=0)
    root.script.add_child(Element(boot), name="gebiedscheck_boot")
