"""OGC API – Features and vector tiles, checked with our own client and with GDAL's OAPIF driver."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from service.api.app import create_app
from service.ogc.features import CRS84, EPSG
from tests.conftest import live_server


@pytest.fixture(scope="module")
def client(qsettings) -> Iterator[TestClient]:
    with TestClient(create_app(qsettings), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def live(qsettings) -> Iterator[str]:
    with live_server(create_app(qsettings)) as url:
        yield url


def test_landing_conformance_collections(client) -> None:
    landing = client.get("/").json()
    rels = {link["rel"] for link in landing["links"]}
    assert {"self", "service-desc", "conformance", "data"} <= rels
    assert (
        "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs" in client.get("/conformance").json()["conformsTo"]
    )
    cols = client.get("/collections").json()["collections"]
    hk = next(c for c in cols if c["id"] == "havenkwartier")
    assert hk["storageCrs"] == EPSG.format(28992) and CRS84 in hk["crs"]
    x0, y0, x1, y1 = hk["extent"]["spatial"]["bbox"][0]
    assert 6.55 < x0 < x1 < 6.59 and 52.99 < y0 < y1 < 53.01
    assert "<h1>Gebiedscheck Assen</h1>" in client.get("/?f=html").text
    assert client.get("/", headers={"Accept": "text/html"}).headers["content-type"].startswith("text/html")


def test_items_paging_and_counts(client, qengine) -> None:
    with qengine.connect() as c:
        n = c.execute(
            text(
                "SELECT count(*) FROM features f JOIN layers l ON l.current_version_id = f.version_id "
                "WHERE l.slug = 'wijkwinkelcentra'"
            )
        ).scalar_one()
    page = client.get("/collections/wijkwinkelcentra/items?limit=2").json()
    assert page["numberMatched"] == n == 5 and page["numberReturned"] == 2
    seen = [f["id"] for f in page["features"]]
    while nxt := next((link["href"] for link in page["links"] if link["rel"] == "next"), None):
        page = client.get(nxt.replace("http://testserver", "")).json()
        seen += [f["id"] for f in page["features"]]
    assert len(seen) == len(set(seen)) == 5
    assert any(link["rel"] == "prev" for link in page["links"])
    capped = client.get("/collections/wijkwinkelcentra/items?limit=5000").json()
    assert "limitCapped" in capped and capped["numberReturned"] == 5


def test_crs_and_bbox(client) -> None:
    rd = client.get(f"/collections/havenkwartier/items?crs={EPSG.format(28992)}")
    assert rd.headers["content-crs"] == f"<{EPSG.format(28992)}>"
    x, y = rd.json()["features"][0]["geometry"]["coordinates"][0][0][0]
    assert 230_000 < x < 240_000 and 550_000 < y < 565_000 and "crs" not in rd.json()["features"][0]["geometry"]
    lonlat = client.get("/collections/havenkwartier/items").json()["features"][0]["geometry"]["coordinates"][0][0][0]
    latlon = client.get(f"/collections/havenkwartier/items?crs={EPSG.format(4258)}").json()
    lat, lon = latlon["features"][0]["geometry"]["coordinates"][0][0][0]
    assert lonlat[0] == pytest.approx(lon, abs=1e-5) and lonlat[1] == pytest.approx(lat, abs=1e-5)  # axis order
    inside = client.get("/collections/natura2000/items?bbox=6.45,52.94,6.52,52.98").json()
    assert [f["properties"]["name"] for f in inside["features"]] == ["Witterveld"]
    rd_box = client.get(f"/collections/natura2000/items?bbox=226000,549000,232000,555000&bbox-crs={EPSG.format(28992)}")
    assert [f["properties"]["name"] for f in rd_box.json()["features"]] == ["Witterveld"]
    assert client.get("/collections/natura2000/items?name=Witterveld").json()["numberMatched"] == 1


@pytest.mark.parametrize(
    ("url", "status", "message"),
    [
        ("/collections/havenkwartier/items?foo=1", 400, "unknown query parameter"),
        ("/collections/havenkwartier/items?bbox=1,2,3", 400, "four numbers"),
        ("/collections/havenkwartier/items?bbox=6,53,5,54", 400, "greater than"),
        ("/collections/havenkwartier/items?bbox=6,NaN,7,54", 400, "finite"),
        ("/collections/havenkwartier/items?bbox=6,95,7,96", 400, "out of range"),
        ("/collections/havenkwartier/items?crs=EPSG:3035", 400, "not supported"),
        ("/collections/havenkwartier/items?limit=abc", 400, "whole number"),
        ("/collections/bestaat-niet/items", 404, "does not exist"),
        ("/collections/havenkwartier/items/bestaat-niet", 404, "no item"),
        ("/collections/1;%20DROP%20TABLE%20features/items", 404, "does not exist"),
    ],
)
def test_bad_requests_as_the_standard_says(client, qengine, url: str, status: int, message: str) -> None:
    r = client.get(url)
    assert r.status_code == status and message in r.json()["detail"]
    with qengine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM features")).scalar_one() > 0  # every table still there


def tile_of(lat: float, lon: float, z: int) -> tuple[int, int]:
    import math

    n = 2**z
    lat_r = math.radians(lat)
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(lat_r)) / math.pi) / 2 * n)


def test_vector_tile_and_caching(client) -> None:
    col, row = tile_of(53.0, 6.569, 14)  # in the Havenkwartier; OGC API - Tiles: {tileMatrix}/{tileRow}/{tileCol}
    r = client.get(f"/collections/havenkwartier/tiles/WebMercatorQuad/14/{row}/{col}")
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    import mapbox_vector_tile

    decoded = mapbox_vector_tile.decode(r.content)
    feats = decoded["havenkwartier"]["features"]
    assert [f["properties"]["name"] for f in feats] == ["Havenkwartier"]
    assert feats[0]["geometry"]["type"] in ("Polygon", "MultiPolygon") and decoded["havenkwartier"]["extent"] == 4096
    again = client.get(
        f"/collections/havenkwartier/tiles/WebMercatorQuad/14/{row}/{col}",
        headers={"If-None-Match": r.headers["etag"]},
    )
    assert again.status_code == 304
    # Outside the layer's tileMatrixSetLimits: 404 naming the limits (OGC API - Tiles /req/core/tc-error)
    outside = client.get("/collections/havenkwartier/tiles/WebMercatorQuad/14/0/0")
    assert outside.status_code == 404 and "rows 5336-5337, columns 8490-8491" in outside.json()["detail"]
    assert client.get("/collections/havenkwartier/tiles/WebMercatorQuad/3/9/9").status_code == 404  # not in the matrix


def test_tile_set_metadata_and_tilejson(client) -> None:
    sets = client.get("/collections/havenkwartier/tiles").json()["tilesets"]
    assert {t["tileMatrixSetURI"].rsplit("/", 1)[-1] for t in sets} == {"WebMercatorQuad", "NetherlandsRDNewQuad"}
    meta = client.get("/collections/havenkwartier/tiles/WebMercatorQuad").json()
    assert meta["dataType"] == "vector" and meta["layers"][0]["id"] == "havenkwartier"
    template = next(link["href"] for link in meta["links"] if link["rel"] == "item")
    assert template.endswith("/{tileMatrix}/{tileRow}/{tileCol}")
    col, row = tile_of(53.0, 6.569, 14)
    path = template.replace("http://testserver", "").format(tileMatrix=14, tileRow=row, tileCol=col)
    assert client.get(path).content  # the template leads to a tile with data
    lon0, lat0 = meta["boundingBox"]["lowerLeft"]
    assert 6.55 < lon0 < 6.57 and 52.99 < lat0 < 53.0
    tj = client.get("/collections/havenkwartier/tiles/WebMercatorQuad/tilejson.json").json()
    assert tj["tilejson"] == "3.0.0" and tj["vector_layers"][0]["id"] == "havenkwartier" and tj["maxzoom"] == 22
    assert tj["tiles"][0].endswith("/WebMercatorQuad/{z}/{y}/{x}")  # TileJSON names: z, then row (y), col (x)
    assert client.get("/collections/nope/tiles").status_code == 404
    coll = client.get("/collections/havenkwartier").json()
    assert any(link["href"].endswith("/collections/havenkwartier/tiles") for link in coll["links"])


def test_html_views_have_a_small_map_and_escape_names(client) -> None:
    import json
    import re

    coll = client.get("/collections/havenkwartier?f=html").text
    assert "id='ogc-kaart'" in coll and "/static/vendor/leaflet/leaflet.js" in coll
    assert "/static/gebiedscheck/ogc.js" in coll
    data = json.loads(re.search(r'<script id="ogc-data" type="application/json">(.*?)</script>', coll).group(1))
    assert data["bbox"][0] < data["bbox"][2] and data["tiles"]["url"].startswith("https://")
    page = client.get("/collections/testgebied/items?f=html&limit=50").text
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    raw = re.search(r'<script id="ogc-data" type="application/json">(.*?)</script>', page, re.S).group(1)
    assert "<" not in raw  # nothing in the data can close the script element
    fc = json.loads(raw)["geojson"]
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == page.count("/items/") >= 2
    item = client.get("/collections/havenkwartier/items?limit=1").json()["features"][0]
    one = client.get(f"/collections/havenkwartier/items/{item['id']}?f=html").text
    assert "<h1>Havenkwartier</h1>" in one and "id='ogc-kaart'" in one
    rd = client.get(f"/collections/havenkwartier/items?f=html&crs={EPSG.format(28992)}").text
    assert "ogc-kaart" not in rd and "Kaart niet getoond" in rd
    paged = client.get("/collections/wijkwinkelcentra/items?f=html&limit=2").text
    assert "rel='next'" in paged and "f=html" in re.search(r"rel='next' href='([^']*)'", paged).group(1)
    assert client.get("/static/gebiedscheck/ogc.js").status_code == 200


@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="GDAL command-line tools (gdal-bin) not installed")
def test_gdal_reads_every_collection(live, qengine) -> None:
    listing = subprocess.run(
        ["ogrinfo", "-ro", "-so", f"OAPIF:{live}/"], capture_output=True, text=True, timeout=60
    ).stdout
    with qengine.connect() as c:
        counts = dict(
            c.execute(
                text(
                    "SELECT l.slug, count(*) FROM features f JOIN layers l ON l.current_version_id = f.version_id "
                    "WHERE l.kind = 'vector' GROUP BY l.slug"
                )
            ).all()
        )
    for slug in counts:
        assert f": {slug} (" in listing, slug
    for slug in ("natura2000", "wijkwinkelcentra", "testgebied"):
        out = subprocess.run(
            ["ogrinfo", "-ro", "-so", f"OAPIF:{live}/collections/{slug}", slug],
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
        assert f"Feature Count: {counts[slug]}" in out, out
    full = subprocess.run(
        ["ogrinfo", "-ro", "-al", "-q", f"OAPIF:{live}/collections/natura2000"],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert "Witterveld" in full and "Fochteloërveen" in full and "MULTIPOLYGON" in full


def test_owslib_reads_the_collections(live, qengine) -> None:
    from owslib.ogcapi.features import Features

    api = Features(f"{live}/")
    ids = {c["id"] for c in api.collections()["collections"]}
    assert {"havenkwartier", "natura2000", "trz"} <= ids
    items = api.collection_items("natura2000", limit=10)
    assert items["numberMatched"] == 3
    names = {f["properties"]["name"] for f in items["features"]}
    assert names == {"Witterveld", "Drentsche Aa-gebied", "Fochteloërveen"}
    with qengine.connect() as c:
        x, y = c.execute(
            text(
                "SELECT ST_X(p), ST_Y(p) FROM (SELECT "
                "ST_Transform(ST_PointN(ST_ExteriorRing(ST_GeometryN(f.geom, 1)), 1),"
                " 4326) p FROM features f JOIN layers l ON l.current_version_id = f.version_id "
                "WHERE l.slug = 'natura2000' AND f.name = 'Witterveld') s"
            )
        ).one()
    witterveld = next(f for f in items["features"] if f["properties"]["name"] == "Witterveld")
    first = witterveld["geometry"]["coordinates"][0][0][0]
    assert first[0] == pytest.approx(x, abs=1e-7) and first[1] == pytest.approx(y, abs=1e-7)


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("offset=1e21", "offset"),
        ("offset=1000000000000000000000", "offset"),  # 1e21 written out: past PostgreSQL's bigint
        ("offset=9223372036854775808", "offset"),  # bigint max + 1
        ("offset=-1", "offset"),
        ("offset=abc", "offset"),
        ("offset=", "offset"),
        ("offset=%2B5", "offset"),  # '+5'
        ("offset=5_000", "offset"),
        ("offset=%D9%A5", "offset"),  # an Arabic-Indic five: digits, but not ASCII ones
        ("limit=1e21", "limit"),
        ("limit=1000000000000000000000", "limit"),
        ("limit=0", "limit"),
        ("limit=-3", "limit"),
        ("limit=" + "9" * 5000, "limit"),  # longer than Python's int() takes
    ],
)
def test_paging_numbers_out_of_range_are_400(client, query: str, name: str) -> None:
    r = client.get(f"/collections/havenkwartier/items?{query}")
    assert r.status_code == 400, r.text
    detail = r.json()["detail"]
    assert detail.startswith(f"{name} must be a whole number from ") and "9223372036854775807" in detail
    assert len(detail) < 200


def test_paging_numbers_at_the_edges(client) -> None:
    far = client.get("/collections/wijkwinkelcentra/items?offset=9223372036854775807")
    assert far.status_code == 200, far.text
    page = far.json()
    assert page["numberMatched"] == 5 and page["numberReturned"] == 0 and page["features"] == []
    assert not any(link["rel"] == "next" for link in page["links"])
    big = client.get("/collections/wijkwinkelcentra/items?limit=9223372036854775807").json()
    assert big["numberReturned"] == 5 and "limitCapped" in big
    assert client.get("/collections/wijkwinkelcentra/items?offset=0&limit=1").json()["numberReturned"] == 1


def test_a_versions_extent_is_stored_at_load_and_scanned_only_without_it(qengine) -> None:
    """/collections and the tile limits read the box stored with the version (no scan of a national layer's
    million rows per request); a version loaded before it was stored gets the same box from a scan."""
    from sqlalchemy.orm import Session

    from service.ogc.features import layer_row

    with qengine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT l.slug, v.metadata->'extent_rd', (SELECT jsonb_build_array(ST_XMin(e), ST_YMin(e), ST_XMax(e), "
                "ST_YMax(e)) FROM (SELECT ST_Extent(geom) e FROM features WHERE version_id = v.id) b) "
                "FROM layers l JOIN layer_versions v ON v.id = l.current_version_id WHERE l.kind = 'vector'"
            )
        ).all()
        assert len(rows) >= 10 and all(stored == scanned and stored is not None for _, stored, scanned in rows), rows
        with Session(bind=conn) as session:
            stored = layer_row(session, "havenkwartier", extent=True)
            savepoint = conn.begin_nested()
            session.execute(
                text(
                    "UPDATE layer_versions SET metadata = metadata - 'extent_rd' WHERE id = "
                    "(SELECT current_version_id FROM layers WHERE slug = 'havenkwartier')"
                )
            )
            scanned = layer_row(session, "havenkwartier", extent=True)
            savepoint.rollback()
        conn.rollback()
    with qengine.connect() as conn:  # the shared database is as it was
        assert conn.execute(
            text(
                "SELECT v.metadata ? 'extent_rd' FROM layers l JOIN layer_versions v ON v.id = l.current_version_id "
                "WHERE l.slug = 'havenkwartier'"
            )
        ).scalar_one()
    assert (scanned.xmin, scanned.ymin, scanned.xmax, scanned.ymax) == (
        stored.xmin,
        stored.ymin,
        stored.xmax,
        stored.ymax,
    )
    assert 6.55 < stored.xmin < stored.xmax < 6.59


def test_number_matched_is_counted_up_to_a_bound(client, monkeypatch) -> None:
    """A national layer has a million matches for a country-wide bbox: they are counted up to MATCH_COUNT_MORE past
    the page (here 2), beyond that numberMatched is left out (optional in the standard) and paging goes on."""
    from service.ogc import features

    monkeypatch.setattr(features, "MATCH_COUNT_MORE", 2)
    first = client.get("/collections/wijkwinkelcentra/items?limit=2").json()  # 5 matches: at least 2 + 2 counted
    assert "numberMatched" not in first and first["numberReturned"] == 2
    assert any(link["rel"] == "next" for link in first["links"])
    later = client.get("/collections/wijkwinkelcentra/items?limit=2&offset=2").json()  # 5 < 2 + 2 + 2: exact
    assert later["numberMatched"] == 5 and later["numberReturned"] == 2
    html = client.get("/collections/wijkwinkelcentra/items?limit=2&f=html").text
    assert "2 objecten op deze pagina; na deze pagina volgen er nog ten minste 2 (niet alle geteld)." in html
    monkeypatch.undo()
    whole = client.get("/collections/wijkwinkelcentra/items?limit=2&f=html").text
    assert "2 van 5 objecten." in whole
