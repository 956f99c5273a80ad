"""HTML views of the OGC API pages: landing, conformance, collections, one collection, items and one item.

Collections, item pages and single items get a small Leaflet map (our npm copy under ``/static/vendor``, no
CDN). The page data travels as JSON in a non-executing ``<script type="application/json">`` element and is read
by ``/static/gebiedscheck/ogc.js``: no inline script, and names are drawn as text, never as markup.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any
from urllib.parse import quote

from maps.overview import basemaps
from service.settings import Settings, get_settings

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
NOTE = "Geometrieën zijn indicatief (handmatig getekend), tenzij een object als officieel is gemarkeerd."


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _json_script(data: Any) -> str:
    raw = json.dumps(data, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script id="ogc-data" type="application/json">{raw}</script>'


def _links(doc: dict[str, Any], skip: tuple[str, ...] = ("self",)) -> str:
    rows = "".join(
        f'<li><a href="{_e(link["href"])}">{_e(link.get("title") or link["rel"])}</a> '
        f"<small>({_e(link.get('type', ''))})</small></li>"
        for link in doc.get("links", [])
        if link.get("rel") not in skip
    )
    return f"<ul class='ogc-links'>{rows}</ul>" if rows else ""


def _page(title: str, body: str, *, static: str, data: Any = None) -> str:
    map_assets = ""
    if data is not None:
        map_assets = (
            f'<link rel="stylesheet" href="{static}/vendor/leaflet/leaflet.css">'
            f'<script src="{static}/vendor/leaflet/leaflet.js" defer></script>'
            f'<script src="{static}/gebiedscheck/ogc.js" defer></script>'
        )
    return (
        "<!doctype html><html lang='nl'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{_e(title)} — Gebiedscheck Assen</title>"
        f'<link rel="stylesheet" href="{static}/gebiedscheck/ogc.css">{map_assets}</head><body>'
        "<header><a href='./'>Gebiedscheck Assen</a> · OGC API – Features</header>"
        f"<main><h1>{_e(title)}</h1>{body}<p class='ogc-note'><small>{NOTE}</small></p></main>"
        f"{_json_script(data) if data is not None else ''}</body></html>"
    )


def _map_data(settings: Settings, *, geojson: Any = None, bbox: list[float] | None = None) -> dict[str, Any]:
    name, url, attribution = basemaps(settings)[0]
    return {"geojson": geojson, "bbox": bbox, "tiles": {"name": name, "url": url, "attribution": attribution}}


MAP_DIV = "<div id='ogc-kaart' class='ogc-kaart' role='region' aria-label='Kaart'></div>"


def landing_html(doc: dict[str, Any], *, static: str = "/static") -> str:
    pages = (
        "<h2>Ook van Gebiedscheck Assen</h2><ul class='ogc-links'>"
        "<li><a href='kaart'>De kaart</a>: klik een plek aan voor de gebieden, Natura 2000 en hitte</li>"
        "<li><a href='quickscan'>Quickscan</a>: teken of upload een plan en krijg het rapport (ook als PDF)</li>"
        "<li><a href='over'>Over deze kaart</a>: bronnen, indicatief en privacy</li>"
        "<li><a href='docs'>API-documentatie</a> (Swagger UI, Engels)</li></ul>"
    )
    body = f"<p>{_e(doc.get('description'))}</p>{_links(doc)}{pages}"
    return _page(doc.get("title") or "Gebiedscheck Assen", body, static=static)


def conformance_html(doc: dict[str, Any], *, static: str = "/static") -> str:
    rows = "".join(f"<li><a href='{_e(c)}'>{_e(c)}</a></li>" for c in doc["conformsTo"])
    return _page("Conformiteit", f"<p>Deze dienst voldoet aan:</p><ul>{rows}</ul>", static=static)


def _table(headers: list[str], rows: list[list[str]]) -> str:
    """A table that reflows at narrow widths (ogc.css stacks its cells, each labelled by ``data-label``); the
    explicit roles keep it a table for screen readers when its cells are displayed as blocks. Cells are markup."""
    head = "".join(f"<th scope='col' role='columnheader'>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr role='row'>"
        + "".join(f"<td role='cell' data-label='{_e(h)}'>{cell}</td>" for h, cell in zip(headers, row, strict=True))
        + "</tr>"
        for row in rows
    )
    return (
        f"<table class='ogc-tabel' role='table'><thead role='rowgroup'><tr role='row'>{head}</tr></thead>"
        f"<tbody role='rowgroup'>{body}</tbody></table>"
    )


def collections_html(doc: dict[str, Any], *, static: str = "/static") -> str:
    rows = [
        [
            f"<a href='{_e(c['links'][0]['href'])}?f=html'>{_e(c['title'])}</a>",
            _e(c["id"]),
            _e(c.get("version")),
            f"<a href='{_e(c['links'][1]['href'])}?f=html'>objecten bekijken</a>",
        ]
        for c in doc["collections"]
    ]
    body = f"<p>{len(doc['collections'])} collecties.</p>{_table(['titel', 'id', 'versie', 'objecten'], rows)}"
    return _page("Collecties", body, static=static)


def collection_html(doc: dict[str, Any], *, settings: Settings | None = None, static: str = "/static") -> str:
    settings = settings or get_settings()
    bbox = doc["extent"]["spatial"]["bbox"][0]
    body = (
        f"<p>{_e(doc.get('description'))}</p>{MAP_DIV}<dl class='ogc-eigenschappen'>"
        f"<dt>id</dt><dd>{_e(doc['id'])}</dd><dt>versie</dt><dd>{_e(doc.get('version'))}</dd>"
        f"<dt>omvang (CRS84)</dt><dd>{_e(', '.join(f'{v:.5f}' for v in bbox))}</dd>"
        f"<dt>opslag-CRS</dt><dd>{_e(doc.get('storageCrs'))}</dd>"
        f"<dt>uitvoer-CRS</dt><dd>{'<br>'.join(_e(c) for c in doc.get('crs', []))}</dd></dl>"
        f"<p><a href='{_e(doc['links'][1]['href'])}?f=html'>Objecten bekijken</a></p>{_links(doc)}"
    )
    return _page(doc["title"], body, static=static, data=_map_data(settings, bbox=bbox))


def items_html(
    doc: dict[str, Any], *, slug: str, crs: str, settings: Settings | None = None, static: str = "/static"
) -> str:
    settings = settings or get_settings()
    coll = next(link["href"] for link in doc["links"] if link["rel"] == "collection")
    rows = [
        [
            f"<a href='{_e(coll)}/items/{_e(quote(str(f['id']), safe=''))}?f=html'>{_e(f['id'])}</a>",
            _e(f["properties"].get("name")),
            _e(f["properties"].get("note")),
        ]
        for f in doc["features"]
    ]
    nav = " · ".join(
        f"<a rel='{_e(link['rel'])}' href='{_e(_html_href(link['href']))}'>"
        f"{'volgende' if link['rel'] == 'next' else 'vorige'}</a>"
        for link in doc["links"]
        if link["rel"] in ("next", "prev")
    )
    note = "" if crs == CRS84 else f"<p>Kaart niet getoond: coördinaten in {_e(crs)}.</p>"
    capped = f"<p class='ogc-let-op'>{_e(doc['limitCapped'])}</p>" if doc.get("limitCapped") else ""
    body = (
        f"{MAP_DIV if crs == CRS84 else note}<p>{doc['numberReturned']} van {doc['numberMatched']} objecten.</p>"
        f"{capped}{_table(['id', 'naam', 'toelichting'], rows)}<p class='ogc-paging'>{nav}</p>"
    )
    data = _map_data(settings, geojson={"type": "FeatureCollection", "features": doc["features"]})
    return _page(f"Objecten: {slug}", body, static=static, data=data if crs == CRS84 else None)


def item_html(doc: dict[str, Any], *, crs: str, settings: Settings | None = None, static: str = "/static") -> str:
    settings = settings or get_settings()
    props = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in doc["properties"].items())
    title = str(doc["properties"].get("name") or doc["id"])
    body = (
        f"{MAP_DIV if crs == CRS84 else ''}<dl class='ogc-eigenschappen'><dt>id</dt><dd>{_e(doc['id'])}</dd>"
        f"{props}</dl>{_links(doc)}"
    )
    data = _map_data(settings, geojson=doc) if crs == CRS84 else None
    return _page(title, body, static=static, data=data)


def _html_href(href: str) -> str:
    if "f=html" in href.split("?", 1)[-1].split("&"):
        return href
    return href + ("&" if "?" in href else "?") + "f=html"
