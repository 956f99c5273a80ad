"""Issue 13 items 6 and 7: the OGC HTML views as templates of the one Jinja2 environment (names escaped on every
page), AssetError inside the error hierarchy, and the request transaction owned by the TransactionDep dependency."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from maps import ogc_html
from maps.assets import AssetError, render_local
from service.api.deps import TransactionDep
from service.core.errors import ConfigurationError, GebiedscheckError, status_for
from service.core.templates import ENV, render
from service.store.database import make_sessionmaker

EVIL = "<img src=x onerror=alert(1)>"
ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"
RD = "http://www.opengis.net/def/crs/EPSG/0/28992"
LINKS = [
    {"href": "http://t/collections/e", "rel": "self", "type": "application/json"},
    {"href": "http://t/collections/e?f=html", "rel": "alternate", "type": "text/html", "title": EVIL},
]
FEATURE = {
    "type": "Feature",
    "id": EVIL,
    "geometry": {"type": "Point", "coordinates": [6.56, 52.99]},
    "properties": {
        "name": EVIL,
        "note": EVIL,
        EVIL: EVIL,
        "official": False,
        "count": 0,
        "empty": None,
        "share": 0.25,
        "year": 2026,
        "codes": ["a", "é"],
    },
    "links": LINKS,
}
COLLECTION = {
    "id": EVIL,
    "title": EVIL,
    "description": EVIL,
    "version": 1,
    "storageCrs": RD,
    "crs": [ogc_html.CRS84, EVIL],
    "extent": {"spatial": {"bbox": [[6.5, 52.9, 6.6, 53.1]]}},
    "links": [LINKS[0], {"href": f"http://t/collections/{EVIL}/items", "rel": "items"}, LINKS[1]],
}
ITEMS = {
    "features": [FEATURE],
    "numberReturned": 1,
    "numberMatched": 2,
    "limitCapped": EVIL,
    "links": [
        {"href": "http://t/collections/e", "rel": "collection"},
        {"href": "http://t/collections/e/items?offset=1&f=json", "rel": "next"},
    ],
}
PAGES = {
    "landing": lambda: ogc_html.landing_html({"title": EVIL, "description": EVIL, "links": LINKS}),
    "conformance": lambda: ogc_html.conformance_html({"conformsTo": [f"http://t/{EVIL}"]}),
    "collections": lambda: ogc_html.collections_html(
        {"collections": [{**COLLECTION, "links": [{"href": "http://t/c/e"}, {"href": "http://t/c/e/items"}]}]}
    ),
    "collection": lambda: ogc_html.collection_html(COLLECTION),
    "items": lambda: ogc_html.items_html(ITEMS, slug=EVIL, crs=ogc_html.CRS84),
    "items in RD": lambda: ogc_html.items_html(ITEMS, slug=EVIL, crs=RD),
    "item": lambda: ogc_html.item_html(FEATURE, crs=ogc_html.CRS84),
    "item in RD": lambda: ogc_html.item_html(FEATURE, crs=RD),
}


@pytest.mark.parametrize("page", PAGES)
def test_every_ogc_page_shows_names_as_text(page: str) -> None:
    html = PAGES[page]()
    assert "<img" not in html and ESCAPED in html
    assert "None" not in html  # an absent value is empty, as before the templates
    assert html.startswith("<!doctype html>") and html.rstrip().endswith("</html>")
    data = re.search(r'<script id="ogc-data" type="application/json">(.*?)</script>', html, re.S)
    if page in ("collection", "items", "item"):
        assert data is not None and "<" not in data.group(1)  # nothing in the data can close the element
        if page != "collection":  # its map data is the extent only
            assert EVIL in json.dumps(json.loads(data.group(1)), ensure_ascii=False)  # the name survives, as data
        assert "id='ogc-kaart'" in html
    else:
        assert data is None and "ogc-kaart" not in html and "leaflet.js" not in html


def test_ogc_pages_keep_their_structure() -> None:
    items = PAGES["items"]()
    assert "rel='next' href='http://t/collections/e/items?offset=1&amp;f=json&amp;f=html'" in items
    assert "<td role='cell' data-label='naam'>" + ESCAPED + "</td>" in items
    assert f"href='http://t/collections/e/items/{'%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E'}?f=html'" in items
    assert "coördinaten in" in PAGES["items in RD"]() and "coördinaten in" not in items
    item = PAGES["item"]()
    assert "<dt>official</dt><dd>nee</dd>" in item and "<dt>count</dt><dd>0</dd>" in item  # Dutch, for a reader
    assert "<dt>share</dt><dd>0,25</dd>" in item and "<dt>year</dt><dd>2026</dd>" in item
    assert "<dt>codes</dt><dd>[&#34;a&#34;, &#34;é&#34;]</dd>" in item
    assert "<dt>empty</dt><dd></dd>" in item
    collection = PAGES["collection"]()
    assert "6.50000, 52.90000, 6.60000, 53.10000" in collection and f"{ESCAPED}<br>" not in collection
    assert f"{ogc_html.CRS84}<br>{ESCAPED}</dd>" in collection


def test_one_environment_escapes_every_html_template() -> None:
    assert callable(ENV.autoescape) and ENV.autoescape("ogc_items.html") and ENV.autoescape("fout.html")
    assert ESCAPED in render("fout.html", status=404, heading="Niet gevonden", dutch=None, english=EVIL)


def test_asset_error_is_a_configuration_error() -> None:
    assert issubclass(AssetError, ConfigurationError) and issubclass(AssetError, GebiedscheckError)
    assert status_for(AssetError("the map would load https://cdn.example/x.js")) == 503

    class Page:  # a map whose page would load a script from a CDN
        default_js = [("unknown-cdn-lib", "https://cdn.example/x.js")]
        default_css: list[tuple[str, str]] = []

    with pytest.raises(AssetError, match="unknown-cdn-lib") as caught:
        render_local(Page())
    assert caught.value.detail.startswith("the map needs asset")


def test_transaction_dependency_commits_or_rolls_back(engine: Engine) -> None:
    table = f"tx_probe_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {table} (v text)"))
    app = FastAPI()
    app.state.sessionmaker = make_sessionmaker(engine)

    @app.post("/ok/{v}")
    def ok(v: str, session: TransactionDep) -> dict[str, bool]:
        session.execute(text(f"INSERT INTO {table} VALUES (:v)"), {"v": v})
        return {"in_transaction": session.in_transaction()}

    @app.post("/fail/{v}")
    def fail(v: str, session: TransactionDep) -> None:
        session.execute(text(f"INSERT INTO {table} VALUES (:v)"), {"v": v})
        raise ConfigurationError("stop after the write")

    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            assert client.post("/ok/kept").json() == {"in_transaction": True}
            assert client.post("/fail/dropped").status_code == 500
        with engine.connect() as conn:
            rows = conn.execute(text(f"SELECT v FROM {table} ORDER BY v")).scalars().all()
        assert rows == ["kept"]  # committed when the route returned, rolled back when it raised
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP TABLE {table}"))
