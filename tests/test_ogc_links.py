"""OGC API – Features Part 1 links and formats: ``self`` and ``alternate`` on every resource (JSON and HTML alike),
content negotiation by ``f`` and ``Accept``, and every accepted query parameter declared in the OpenAPI document."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.core.settings import Settings
from tests.conftest import defaults_database

RESOURCES = [
    ("/", "application/json"),
    ("/conformance", "application/json"),
    ("/collections", "application/json"),
    ("/collections/natura2000", "application/json"),
    ("/collections/natura2000/items", "application/geo+json"),
    ("/collections/natura2000/items/witterveld", "application/geo+json"),
]
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"


@pytest.fixture(scope="module")
def client(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    data = tmp_path_factory.mktemp("ldata")
    with defaults_database(server_url, data, "gebiedscheck_test_f_links") as settings:  # type: Settings
        with TestClient(create_app(settings), raise_server_exceptions=False) as c:
            yield c


def local(href: str) -> str:
    return href.replace("http://testserver", "")


@pytest.mark.parametrize(("path", "media"), RESOURCES, ids=[p for p, _ in RESOURCES])
def test_json_has_self_and_an_html_alternate_that_lead_there(client, path: str, media: str) -> None:
    r = client.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith(media)
    found = r.json()["links"]
    (me,) = [link for link in found if link["rel"] == "self"]
    assert me["type"] == media
    again = client.get(local(me["href"]))
    assert again.status_code == 200 and again.headers["content-type"].startswith(media)
    html = [link for link in found if link["rel"] == "alternate" and link["type"] == "text/html"]
    assert len(html) == 1
    page = client.get(local(html[0]["href"]))
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    if path.endswith("/items"):
        (csv_link,) = [link for link in found if link["rel"] == "alternate" and link["type"] == "text/csv"]
        table = client.get(local(csv_link["href"]))
        assert table.headers["content-type"] == "text/csv; charset=utf-8" and table.text.startswith("id,name,")


@pytest.mark.parametrize(("path", "media"), RESOURCES, ids=[p for p, _ in RESOURCES])
def test_html_links_back_to_json(client, path: str, media: str) -> None:
    page = client.get(path, headers={"Accept": BROWSER})
    assert page.headers["content-type"].startswith("text/html")
    head = re.search(r'<link rel="alternate" type="([^"]+)" href="([^"]+)">', page.text)
    assert head is not None and head.group(1) == media
    back = client.get(local(head.group(2).replace("&amp;", "&")))
    assert back.status_code == 200 and back.headers["content-type"].startswith(media)
    assert "Dit document als JSON" in page.text  # and a visible link to it


def test_collections_list_links_each_collection_and_its_items(client) -> None:
    doc = client.get("/collections").json()
    for c in doc["collections"]:
        rels = {(link["rel"], link["type"]) for link in c["links"]}
        assert ("items", "application/geo+json") in rels and ("items", "text/html") in rels
    page = client.get("/collections?f=html").text
    assert "href='http://testserver/collections/natura2000/items?f=html'" in page


@pytest.mark.parametrize(
    ("accept", "query", "media"),
    [
        (None, "", "application/geo+json"),
        ("*/*", "", "application/geo+json"),
        ("application/json", "", "application/geo+json"),
        ("application/geo+json", "", "application/geo+json"),
        (BROWSER, "", "text/html"),
        ("text/html", "", "text/html"),
        ("text/csv", "", "text/csv"),
        ("text/html;q=0.5, application/geo+json", "", "application/geo+json"),
        ("text/html, application/json;q=0.2", "", "text/html"),
        ("text/csv;q=0.9, text/html;q=0.1", "", "text/csv"),
        ("image/png", "", "application/geo+json"),
        (BROWSER, "f=json", "application/geo+json"),  # f wins
        ("application/json", "f=html", "text/html"),
        ("text/html", "f=csv", "text/csv"),
    ],
)
def test_content_negotiation_on_items(client, accept: str | None, query: str, media: str) -> None:
    headers = {"Accept": accept} if accept else {}
    r = client.get(f"/collections/natura2000/items?{query}", headers=headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith(media)


def test_items_have_a_timestamp_and_paging_links_keep_the_query(client) -> None:
    doc = client.get("/collections/natura2000/items?limit=1&sortby=-site_number&filter=site_number>0").json()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", doc["timeStamp"])
    nxt = next(link["href"] for link in doc["links"] if link["rel"] == "next")
    second = client.get(local(nxt)).json()
    assert second["numberMatched"] == 3 and second["features"][0]["properties"]["site_number"] == 24


def test_every_accepted_parameter_is_declared() -> None:
    doc = create_app(Settings(_env_file=None)).openapi()
    paths = doc["paths"]

    def params(path: str) -> dict[str, dict]:
        return {p["name"]: p for p in paths[path]["get"].get("parameters", []) if p["in"] == "query"}

    items = params("/collections/{slug}/items")
    assert set(items) == {
        "f", "crs", "bbox", "bbox-crs", "limit", "offset", "datetime", "filter", "filter-lang", "filter-crs",
        "sortby", "properties", "name", "as_of",
    }  # fmt: skip
    assert items["bbox"]["style"] == "form" and items["bbox"]["explode"] is False
    assert items["bbox"]["schema"] == {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}}
    assert items["limit"]["schema"]["type"] == "integer" and items["limit"]["schema"]["default"] == 10
    assert items["offset"]["schema"]["minimum"] == 0
    assert set(items["f"]["schema"]["enum"]) == {"json", "html", "csv"}
    assert items["filter-lang"]["schema"]["enum"] == ["cql2-text", "cql2-json"]
    assert items["filter-lang"]["schema"]["default"] == "cql2-text"
    crs = "http://www.opengis.net/def/crs/EPSG/0/28992"
    assert crs in items["filter-crs"]["schema"]["enum"] and crs in items["crs"]["schema"]["enum"]
    assert crs in items["bbox-crs"]["schema"]["enum"]
    assert "half-bounded" in items["datetime"]["description"] and "as_of" in items["datetime"]["description"]
    assert items["as_of"]["schema"]["format"] == "date"
    assert set(params("/collections/{slug}/items/{fid}")) == {"f", "crs", "as_of"}
    for path in ("/", "/conformance", "/collections", "/collections/{slug}", "/collections/{slug}/queryables"):
        assert set(params(path)) == {"f"}, path
    content = paths["/collections/{slug}/items"]["get"]["responses"]["200"]["content"]
    assert set(content) == {"application/geo+json", "text/html", "text/csv"}


@pytest.mark.parametrize(
    "url",
    [
        "/?foo=1",
        "/conformance?bbox=1,2,3,4",
        "/collections?limit=1",
        "/collections/natura2000?filter=x",
        "/collections/natura2000/items/witterveld?limit=1",
        "/collections/natura2000/queryables?f=csv",
    ],
)
def test_unknown_or_unsupported_parameters_are_400(client, url: str) -> None:
    r = client.get(url)
    assert r.status_code == 400, r.text
    assert isinstance(r.json()["detail"], str)


def test_the_collection_link_reads_dutch_on_item_and_items_pages(client) -> None:
    """The HTML views show a link's title: the way back to the collection is "Collectie", not the rel."""
    for path in ("/collections/natura2000/items/witterveld", "/collections/natura2000/items"):
        link = next(x for x in client.get(path).json()["links"] if x["rel"] == "collection")
        assert link["title"] == "Collectie"
        assert ">Collectie</a>" in client.get(path, params={"f": "html"}).text
