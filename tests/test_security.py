"""Security: CORS (reads open, writes not), headers and CSP on HTML pages, request ids, injection payloads."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from service.api.app import create_app
from service.core.logs import RequestIdFilter


@pytest.fixture(scope="module")
def client(qsettings) -> Iterator[TestClient]:
    with TestClient(create_app(qsettings), raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize("path", ["/kaart", "/?f=html", "/collections/havenkwartier?f=html", "/docs"])
def test_html_pages_carry_a_content_security_policy(client, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = dict(part.strip().split(" ", 1) for part in r.headers["content-security-policy"].split(";"))
    assert csp["default-src"] == "'self'" and csp["object-src"] == "'none'"
    scripts = csp["script-src"].split()
    assert scripts[0] == "'self'" and all(s.startswith("'sha256-") for s in scripts[1:])
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts
    assert "https://service.pdok.nl" in csp["img-src"].split()  # the basemap's tiles, and no other host
    assert r.headers["x-content-type-options"] == "nosniff"


def test_json_answers_carry_nosniff_and_no_csp(client) -> None:
    r = client.get("/zones/at?lat=53.0&lon=6.569")
    assert r.headers["x-content-type-options"] == "nosniff" and "content-security-policy" not in r.headers


def test_cors_reads_open_writes_not(client) -> None:
    origin = {"Origin": "https://kaart.example.org"}
    r = client.get("/zones/at?lat=53.0&lon=6.569", headers=origin)
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "*"
    pre = {**origin, "Access-Control-Request-Method": "GET"}
    assert client.options("/layers", headers=pre).status_code == 200
    for method, path in [("POST", "/layers"), ("POST", "/layers/havenkwartier/versions"), ("DELETE", "/layers/x")]:
        refused = client.options(path, headers={**origin, "Access-Control-Request-Method": method})
        # A failed preflight: the browser does not send the request.
        assert refused.status_code == 400, (method, path)
        assert method not in refused.headers.get("access-control-allow-methods", ""), (method, path)
    key = client.options(
        "/layers",
        headers={**origin, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"},
    )
    assert key.status_code == 400  # an API key may not be sent cross-origin


def test_request_id_in_response_and_logs(client, caplog) -> None:
    caplog.handler.addFilter(RequestIdFilter())
    with caplog.at_level(logging.INFO):
        r = client.get("/collections/bestaat-niet", headers={"X-Request-ID": "rapport-42"})
    assert r.status_code == 404 and r.headers["x-request-id"] == "rapport-42"
    mine = [rec for rec in caplog.records if getattr(rec, "request_id", None) == "rapport-42"]
    # The domain's 404 message and the access line, both tagged with the request's id.
    assert any("does not exist" in rec.getMessage() for rec in mine)
    assert any(
        rec.name == "gebiedscheck.access" and "/collections/bestaat-niet 404" in rec.getMessage() for rec in mine
    )
    fresh = client.get("/health", headers={"X-Request-ID": "bad id\twith tab"}).headers["x-request-id"]
    assert fresh != "bad id\twith tab" and len(fresh) == 16 and fresh.isalnum()
    assert client.get("/health").headers["x-request-id"] != client.get("/health").headers["x-request-id"]


PAYLOADS = [
    "1; DROP TABLE features",
    "1'; DROP TABLE layers; --",
    "havenkwartier' OR '1'='1",
    "x' UNION SELECT key_hash, key_prefix FROM api_keys --",
    "1); SELECT pg_sleep(3); --",
    "'||pg_sleep(3)||'",
    "havenkwartier\x00",
    "../../etc/passwd",
]


def _tables(qengine) -> dict[str, int]:
    with qengine.connect() as c:
        names = c.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")).scalars()
        return {n: c.execute(text(f'SELECT count(*) FROM "{n}"')).scalar_one() for n in names if n != "rate_counters"}


@pytest.mark.parametrize("payload", PAYLOADS)
def test_injection_payloads_get_4xx_quickly_and_change_nothing(client, qengine, payload: str) -> None:
    from urllib.parse import quote

    before = _tables(qengine)
    q = quote(payload, safe="")
    urls = [
        f"/collections/{q}",
        f"/collections/{q}/items",
        f"/collections/havenkwartier/items/{q}",
        f"/collections/{q}/tiles/WebMercatorQuad/14/8452/5376",
        f"/collections/havenkwartier/items?bbox={q}",
        f"/collections/havenkwartier/items?crs={q}",
        f"/collections/havenkwartier/items?limit={q}",
        f"/collections/havenkwartier/items?datetime={q}",
        f"/collections/havenkwartier/items?{q}=1",
        f"/layers/{q}",
        f"/layers/{q}/versions",
        f"/heat/overlap?layer={q}&feature_id=havenkwartier",
        f"/zones/at?lat={q}&lon=6.569",
        f"/zones/at?lat=53.0&lon=6.569&as_of={q}",
        f"/natura2000/distance?x={q}&y=557000",
    ]
    for url in urls:
        t = time.perf_counter()
        r = client.get(url)
        took = time.perf_counter() - t
        assert 400 <= r.status_code < 500, (url, r.status_code, r.text)
        assert isinstance(r.json()["detail"], str) and took < 1.0, (url, took)  # pg_sleep(3) never ran
    # A free-text filter value is data, bound as a parameter: it matches nothing, it runs nothing.
    r = client.get(f"/collections/havenkwartier/items?name={q}")
    if "\x00" in payload:  # refused before anything runs
        assert r.status_code == 400 and "NUL" in r.json()["detail"]
    else:
        assert r.status_code == 200 and r.json()["numberMatched"] == 0
    assert _tables(qengine) == before


def test_nul_in_a_json_body_is_answered_not_a_500(client) -> None:
    """A NUL in a name is only echoed (never stored or compared): answered; for the database, a 4xx."""
    point = {"type": "Point", "coordinates": [6.569, 53.0]}
    r = client.post("/check", json={"type": "Feature", "properties": {"name": "a\u0000b"}, "geometry": point})
    assert r.status_code == 200 and r.json()["initiative"]["name"] == "a\x00b"
    assert (
        client.post(
            "/check?f=html", json={"type": "Feature", "properties": {"name": "a\u0000b"}, "geometry": point}
        ).status_code
        == 200
    )


def test_head_is_answered_like_get_without_a_body(client) -> None:
    for path in ("/health", "/kaart", "/zones/at?lat=53.0&lon=6.569"):
        head, get = client.head(path), client.get(path)
        assert head.status_code == get.status_code == 200 and head.content == b"", path
        assert head.headers["content-type"] == get.headers["content-type"]
    assert (
        client.head("/kaart").headers["content-security-policy"]
        == client.get("/kaart").headers["content-security-policy"]
    )
