"""HTML views of the OGC API pages: landing, conformance, collections, one collection, items and one item.

Each page is a Jinja2 template (service/core/templates/ogc_*.html on the frame ``ogc_basis.html``) rendered by the
service's one environment (service.core.templates: autoescape, so a feature or collection name is text, never
markup). The functions here only shape the OGC documents into what the templates show.

Collections, item pages and single items get a small Leaflet map (our npm copy under ``/static/vendor``, no
CDN). The page data travels as JSON in a non-executing ``<script type="application/json">`` element and is read
by ``/static/gebiedscheck/ogc.js``: no inline script, and names are drawn as text, never as markup.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from maps.overview import basemaps
from service.core.settings import Settings, get_settings
from service.core.templates import render
from service.ogc import features as ogc_features

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
NOTE = "Geometrieën zijn indicatief (handmatig getekend), tenzij een object als officieel is gemarkeerd."


def _page(template: str, title: str, *, static: str, data: Any = None, **context: Any) -> str:
    return render(template, title=title, static=static, data=data, note=NOTE, **context)


def _map_data(settings: Settings, *, geojson: Any = None, bbox: list[float] | None = None) -> dict[str, Any]:
    name, url, attribution = basemaps(settings)[0]
    return {"geojson": geojson, "bbox": bbox, "tiles": {"name": name, "url": url, "attribution": attribution}}


def landing_html(doc: dict[str, Any], *, static: str = "/static") -> str:
    return _page("ogc_landing.html", doc.get("title") or "Gebiedscheck Assen", static=static, doc=doc)


def conformance_html(doc: dict[str, Any], *, static: str = "/static") -> str:
    return _page("ogc_conformance.html", "Conformiteit", static=static, doc=doc)


def collections_html(doc: dict[str, Any], *, static: str = "/static") -> str:
    hrefs = [(_link(c["links"], "alternate", 0), _link(c["links"], "items", 1)) for c in doc["collections"]]
    return _page("ogc_collections.html", "Collecties", static=static, doc=doc, hrefs=hrefs)


def collection_html(doc: dict[str, Any], *, settings: Settings | None = None, static: str = "/static") -> str:
    settings = settings or get_settings()
    bbox = doc["extent"]["spatial"]["bbox"][0]
    extent = ", ".join(f"{v:.5f}" for v in bbox)
    data = _map_data(settings, bbox=bbox)
    items_href = _link(doc["links"], "items", 1)
    return _page(
        "ogc_collection.html", doc["title"], static=static, data=data, doc=doc, extent=extent, items_href=items_href
    )


def items_html(
    doc: dict[str, Any], *, slug: str, crs: str, settings: Settings | None = None, static: str = "/static"
) -> str:
    settings = settings or get_settings()
    coll = next(link["href"] for link in doc["links"] if link["rel"] == "collection")
    rows = [
        {
            "href": f"{coll}/items/{quote(str(f['id']), safe='')}?f=html",
            "id": f["id"],
            "name": f["properties"].get("name"),
            "note": f["properties"].get("note"),
        }
        for f in doc["features"]
    ]
    paging = [
        {
            "rel": link["rel"],
            "href": _html_href(link["href"]),
            "label": "volgende" if link["rel"] == "next" else "vorige",
        }
        for link in doc["links"]
        if link["rel"] in ("next", "prev")
    ]
    show_map = crs == CRS84
    data = _map_data(settings, geojson={"type": "FeatureCollection", "features": doc["features"]})
    return _page(
        "ogc_items.html",
        f"Objecten: {slug}",
        static=static,
        data=data if show_map else None,
        doc=doc,
        crs=crs,
        show_map=show_map,
        rows=rows,
        paging=paging,
        meer=ogc_features.MATCH_COUNT_MORE,
    )


def item_html(doc: dict[str, Any], *, crs: str, settings: Settings | None = None, static: str = "/static") -> str:
    settings = settings or get_settings()
    title = str(doc["properties"].get("name") or doc["id"])
    show_map = crs == CRS84
    data = _map_data(settings, geojson=doc) if show_map else None
    return _page("ogc_item.html", title, static=static, data=data, doc=doc, show_map=show_map)


def _link(links: list[dict[str, Any]], rel: str, position: int) -> str:
    """The HTML form of a link: the one of ``rel`` typed text/html, else the first of ``rel`` (or, in a document
    whose links carry no ``rel``, the one at ``position``) with ``f=html``."""
    html = [link for link in links if link.get("rel") == rel and link.get("type") == "text/html"]
    if html:
        return str(html[0]["href"])
    same = [link for link in links if link.get("rel") == rel] or [links[position]]
    return _html_href(str(same[0]["href"]))


def _html_href(href: str) -> str:
    if "f=html" in href.split("?", 1)[-1].split("&"):
        return href
    return href + ("&" if "?" in href else "?") + "f=html"
