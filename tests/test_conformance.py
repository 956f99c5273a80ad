"""/conformance tells the truth: every class we declare has a check here, and every check's class is declared.

Each check tests the class's main requirements against the running app (not the whole abstract test suite; OGC's
own ``ogctests`` runs in tests/test_ogctests.py). A class without a check fails
``test_every_declared_class_has_a_check``; a check whose class is not declared fails the other way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from openapi_spec_validator import OpenAPIV30SpecValidator, validate

from service.api.app import create_app

F1 = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/"
F2 = "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/"
T1 = "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/"
CHECKS: dict[str, Callable[[TestClient], None]] = {}
COLLECTION = "havenkwartier"


def check(uri: str) -> Callable[[Callable[[TestClient], None]], Callable[[TestClient], None]]:
    def register(fn: Callable[[TestClient], None]) -> Callable[[TestClient], None]:
        CHECKS[uri] = fn
        return fn

    return register


@pytest.fixture(scope="module")
def client(qsettings) -> Iterator[TestClient]:
    with TestClient(create_app(qsettings), raise_server_exceptions=False) as c:
        yield c


def rels(doc: dict) -> set[str]:
    return {link["rel"] for link in doc["links"]}


@check(F1 + "core")
def features_core(c: TestClient) -> None:
    landing = c.get("/")
    assert landing.status_code == 200
    assert {"self", "service-desc", "conformance", "data"} <= rels(landing.json())
    assert c.get("/conformance").json()["conformsTo"]
    collections = c.get("/collections").json()
    assert COLLECTION in {x["id"] for x in collections["collections"]}
    coll = c.get(f"/collections/{COLLECTION}").json()
    assert coll["id"] == COLLECTION and "items" in rels(coll)
    items = c.get(f"/collections/{COLLECTION}/items", params={"limit": 1, "bbox": "6.5,52.9,6.7,53.1"}).json()
    assert items["type"] == "FeatureCollection" and items["numberReturned"] == len(items["features"]) == 1
    fid = items["features"][0]["id"]
    assert c.get(f"/collections/{COLLECTION}/items/{fid}").json()["id"] == fid
    assert c.get(f"/collections/{COLLECTION}/items/does-not-exist").status_code == 404
    assert c.get(f"/collections/{COLLECTION}/items", params={"limit": 0}).status_code == 400
    assert c.get(f"/collections/{COLLECTION}/items", params={"unknown": 1}).status_code == 400


@check(F1 + "oas30")
def features_oas30(c: TestClient) -> None:
    doc = c.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.0.")
    validate(doc, cls=OpenAPIV30SpecValidator)


@check(F1 + "geojson")
def features_geojson(c: TestClient) -> None:
    r = c.get(f"/collections/{COLLECTION}/items", params={"f": "json"})
    assert r.headers["content-type"].startswith("application/geo+json")
    feature = r.json()["features"][0]
    assert feature["type"] == "Feature" and feature["geometry"]["type"] in ("Polygon", "MultiPolygon")


@check(F1 + "html")
def features_html(c: TestClient) -> None:
    for path in ("/", "/conformance", "/collections", f"/collections/{COLLECTION}", f"/collections/{COLLECTION}/items"):
        r = c.get(path, params={"f": "html"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), path
        assert "<html" in r.text.lower()


@check(F2 + "crs")
def features_crs(c: TestClient) -> None:
    coll = c.get(f"/collections/{COLLECTION}").json()
    rd = "http://www.opengis.net/def/crs/EPSG/0/28992"
    assert rd in coll["crs"] and coll["storageCrs"] == rd
    r = c.get(f"/collections/{COLLECTION}/items", params={"crs": rd, "limit": 1})
    assert r.headers["content-crs"] == f"<{rd}>"
    x, y = r.json()["features"][0]["geometry"]["coordinates"][0][0][0]
    assert 200_000 < x < 260_000 and 540_000 < y < 580_000
    bad = c.get(f"/collections/{COLLECTION}/items", params={"crs": "http://example.com/crs"})
    assert bad.status_code == 400


F3 = "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/"
CQL2 = "http://www.opengis.net/spec/cql2/1.0/conf/"
WMQ_TILE = (14, 5336, 8491)  # the Havenkwartier: tileMatrix, tileRow, tileCol


def items(c: TestClient, **params: str) -> list[str]:
    r = c.get(f"/collections/{COLLECTION}/items", params=params)
    assert r.status_code == 200, r.text
    return [f["id"] for f in r.json()["features"]]


@check(T1 + "core")
def tiles_core(c: TestClient) -> None:
    z, row, col = WMQ_TILE
    r = c.get(f"/collections/{COLLECTION}/tiles/WebMercatorQuad/{z}/{row}/{col}")
    assert r.status_code == 200 and r.content
    assert c.get(f"/collections/{COLLECTION}/tiles/WebMercatorQuad/{z}/{row}/{2**z}").status_code == 404
    assert c.get("/tileMatrixSets/NoSuchSet").status_code == 404


@check(T1 + "tileset")
def tiles_tileset(c: TestClient) -> None:
    for tms in ("WebMercatorQuad", "NetherlandsRDNewQuad"):
        meta = c.get(f"/collections/{COLLECTION}/tiles/{tms}").json()
        assert meta["dataType"] == "vector" and meta["tileMatrixSetURI"] and meta["crs"]
        assert "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme" in rels(meta)
        item = next(link for link in meta["links"] if link["rel"] == "item")
        assert item["templated"] and item["href"].endswith("/{tileMatrix}/{tileRow}/{tileCol}")
        assert meta["tileMatrixSetLimits"]


@check(T1 + "tilesets-list")
def tiles_tilesets_list(c: TestClient) -> None:
    sets = c.get(f"/collections/{COLLECTION}/tiles").json()["tilesets"]
    assert len(sets) == 2 and all(any(link["rel"] == "self" for link in s["links"]) for s in sets)


@check(T1 + "geodata-tilesets")
def tiles_geodata(c: TestClient) -> None:
    coll = c.get(f"/collections/{COLLECTION}").json()
    assert any(link["href"].endswith(f"/collections/{COLLECTION}/tiles") for link in coll["links"])


@check(T1 + "mvt")
def tiles_mvt(c: TestClient) -> None:
    import mapbox_vector_tile

    z, row, col = WMQ_TILE
    r = c.get(f"/collections/{COLLECTION}/tiles/WebMercatorQuad/{z}/{row}/{col}")
    assert r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert [f["properties"]["name"] for f in mapbox_vector_tile.decode(r.content)[COLLECTION]["features"]] == [
        "Havenkwartier"
    ]


@check(F3 + "filter")
def filter_param(c: TestClient) -> None:
    assert items(c, filter="name = 'Havenkwartier'") == ["havenkwartier"]
    assert c.get(f"/collections/{COLLECTION}/items", params={"filter": "name = "}).status_code == 400
    assert c.get(f"/collections/{COLLECTION}/items", params={"filter": "nope = 1"}).status_code == 400


@check(F3 + "features-filter")
def features_filter(c: TestClient) -> None:
    assert items(c, filter="name <> 'Havenkwartier'") == []
    assert items(c, filter="name = 'Havenkwartier'", bbox="6.5,52.9,6.7,53.1") == ["havenkwartier"]


@check(F3 + "queryables")
def queryables(c: TestClient) -> None:
    q = c.get(f"/collections/{COLLECTION}/queryables").json()
    assert q["type"] == "object" and q["$schema"].startswith("https://json-schema.org/")
    assert q["properties"]["name"]["type"] == "string"


@check(CQL2 + "basic-cql2")
def basic_cql2(c: TestClient) -> None:
    assert items(c, filter="name = 'Havenkwartier' AND NOT (name = 'x') OR name IS NULL") == ["havenkwartier"]
    assert items(c, filter="name < 'A'") == []


@check(CQL2 + "cql2-text")
def cql2_text(c: TestClient) -> None:
    assert items(c, filter="name LIKE 'Haven%'", **{"filter-lang": "cql2-text"}) == ["havenkwartier"]


@check(CQL2 + "cql2-json")
def cql2_json(c: TestClient) -> None:
    expr = '{"op": "=", "args": [{"property": "name"}, "Havenkwartier"]}'
    assert items(c, filter=expr, **{"filter-lang": "cql2-json"}) == ["havenkwartier"]


@check(CQL2 + "basic-spatial-functions")
def spatial(c: TestClient) -> None:
    assert items(c, filter="S_INTERSECTS(geometry, POINT(6.569 53.0))") == ["havenkwartier"]
    assert items(c, filter="S_INTERSECTS(geometry, POINT(6.0 52.0))") == []
    env = "S_INTERSECTS(geometry, BBOX(6.56, 52.99, 6.58, 53.01))"
    assert items(c, filter=env) == ["havenkwartier"]


@check(CQL2 + "advanced-comparison-operators")
def advanced(c: TestClient) -> None:
    assert items(c, filter="name IN ('Havenkwartier', 'x')") == ["havenkwartier"]
    assert items(c, filter="name BETWEEN 'H' AND 'I'") == ["havenkwartier"]
    assert items(c, filter="name LIKE '%kwartier'") == ["havenkwartier"]


def test_every_declared_class_has_a_check(client) -> None:
    declared = set(client.get("/conformance").json()["conformsTo"])
    assert sorted(declared - set(CHECKS)) == []


def test_every_checked_class_is_declared(client) -> None:
    declared = set(client.get("/conformance").json()["conformsTo"])
    assert sorted(set(CHECKS) - declared) == []


@pytest.mark.parametrize("uri", sorted(CHECKS))
def test_class(client, uri: str) -> None:
    CHECKS[uri](client)
