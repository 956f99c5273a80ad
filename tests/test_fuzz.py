"""Schemathesis against our own OpenAPI document: no 5xx, and every answer as documented.

One test per API operation (positive and negative cases, a bounded number each, derandomized so CI sees the same
cases on every run). The requests go in-process to the ASGI app of the questions database (``qsettings``: the
default layers plus 'testgebied'), through Schemathesis' ASGI client, which runs the app's lifespan (the engine).

The schema is the app's own document: built once at import (the OpenAPI document needs no database) and compared
with what the running app serves at /openapi.json. (``schemathesis.pytest.from_fixture`` would load it from the
running app, but its lazy loader fails under pytest 9.2: it sets the removed `Node._nodeid`.)
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service.api.app import create_app
from service.core.settings import Settings
from tests.conftest import api_key

BASE_URL = f"http://{asgi.HOST}"
# Per operation; GEBIEDSCHECK_FUZZ_EXAMPLES=500 for a deeper (slower) run by hand.
MAX_EXAMPLES = int(os.environ.get("GEBIEDSCHECK_FUZZ_EXAMPLES", "50"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
OPENAPI = create_app(Settings(_env_file=None)).openapi()

schema = schemathesis.openapi.from_dict(OPENAPI)


@pytest.fixture(scope="module")
def client(qsettings: Settings) -> Iterator[Any]:
    """The app on the questions database, its lifespan started (and stopped before the database is dropped).

    The fuzzer sends hundreds of writes without a valid key; the throttle of failed authentications (429 past
    ten a minute, tests/test_hostile_clients.py) is set out of its reach, so that every refusal is the 401
    that is checked here."""
    app = create_app(qsettings.model_copy(update={"auth_failures_per_minute": 1_000_000}))
    try:
        with asgi.get_client(app) as c:
            served = c.get(f"{BASE_URL}/openapi.json")
            assert served.status_code == 200
            doc = served.json()
            # What is fuzzed is what is served: the templates, plus concrete copies per collection (routes_apidoc)
            templates = {p: v for p, v in doc["paths"].items() if p in OPENAPI["paths"]}
            assert {**doc, "paths": templates} == OPENAPI
            assert all(p.startswith("/collections/") for p in doc["paths"].keys() - OPENAPI["paths"].keys())
            assert c.get(f"{BASE_URL}/openapi-templates.json").json() == OPENAPI
            yield c
    finally:
        asgi.shutdown_lifespans()


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
def test_api_conforms_to_its_openapi(case: Any, client: Any) -> None:
    case.call_and_validate(session=client, base_url=BASE_URL, checks=CHECKS)


@pytest.fixture(scope="module")
def key(qsettings: Settings) -> str:
    return api_key(qsettings, "fuzz")


@schema.include(path="/layers/{slug}/versions", method="POST").parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
def test_uploads_with_a_valid_key_conform(case: Any, client: Any, key: str) -> None:
    """The multipart upload fuzzed past the key check: the route parses its body itself, and whatever the
    fuzzer sends gets a documented answer, never a 5xx. (Its files are named 'file', without a known format:
    nothing is loaded into the shared database.)"""
    response = case.call_and_validate(
        session=client, base_url=BASE_URL, headers={"Authorization": f"Bearer {key}"}, checks=CHECKS
    )
    assert response.status_code not in (401, 403, 429), response.text


ASSEN = {"lat": 52.9925, "lon": 6.5625}
SQUARE = {
    "type": "Polygon",
    "coordinates": [[[6.56, 52.99], [6.57, 52.99], [6.57, 53.0], [6.56, 53.0], [6.56, 52.99]]],
}
FEATURE = {"type": "Feature", "properties": {"naam": "plan"}, "geometry": SQUARE}
KNOWN_GOOD: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/health", {}),
    ("GET", "/layers", {}),
    ("GET", "/layers/{slug}", {"path_parameters": {"slug": "havenkwartier"}}),
    ("GET", "/layers/{slug}", {"path_parameters": {"slug": "hitte-eiland"}}),
    ("GET", "/layers/{slug}/versions", {"path_parameters": {"slug": "testgebied"}}),
    ("GET", "/zones/at", {"query": ASSEN}),
    ("GET", "/zones/at", {"query": {"x": 236200, "y": 560200, "crs": "EPSG:28992"}}),
    ("GET", "/natura2000/distance", {"query": ASSEN}),
    ("GET", "/heat/at", {"query": {**ASSEN, "threshold_c": 1.0}}),
    ("GET", "/heat/overlap", {"query": {"layer": "havenkwartier", "feature_id": "havenkwartier"}}),
    ("POST", "/heat/overlap", {"body": SQUARE, "media_type": "application/json"}),
    ("GET", "/heat/zones", {}),
    ("POST", "/check", {"body": FEATURE, "media_type": "application/geo+json"}),
    ("POST", "/check", {"body": {"type": "Point", "coordinates": [6.5625, 52.9925]}, "media_type": "application/json"}),
    (
        "POST",
        "/check/batch",
        {"body": {"type": "FeatureCollection", "features": [FEATURE]}, "media_type": "application/json"},
    ),
    ("POST", "/check", {"body": FEATURE, "media_type": "application/json", "query": {"f": "html"}}),
    ("GET", "/", {}),
    ("GET", "/", {"query": {"f": "html"}}),
    ("GET", "/conformance", {}),
    ("GET", "/collections", {}),
    ("GET", "/collections/{slug}", {"path_parameters": {"slug": "natura2000"}}),
    ("GET", "/collections/{slug}", {"path_parameters": {"slug": "natura2000"}, "query": {"f": "html"}}),
    ("GET", "/collections/{slug}/queryables", {"path_parameters": {"slug": "natura2000"}}),
    ("GET", "/collections/{slug}/items", {"path_parameters": {"slug": "natura2000"}}),
    ("GET", "/collections/{slug}/items", {"path_parameters": {"slug": "natura2000"}, "query": {"f": "html"}}),
    ("GET", "/collections/{slug}/items/{fid}", {"path_parameters": {"slug": "natura2000", "fid": "witterveld"}}),
    ("GET", "/collections/{slug}/tiles", {"path_parameters": {"slug": "havenkwartier"}}),
    ("GET", "/tileMatrixSets", {}),
    ("GET", "/tileMatrixSets/{tileMatrixSetId}", {"path_parameters": {"tileMatrixSetId": "NetherlandsRDNewQuad"}}),
    (
        "GET",
        "/collections/{slug}/tiles/{tileMatrixSetId}",
        {"path_parameters": {"slug": "havenkwartier", "tileMatrixSetId": "NetherlandsRDNewQuad"}},
    ),
    ("GET", "/collections/{slug}/tiles/WebMercatorQuad/tilejson.json", {"path_parameters": {"slug": "havenkwartier"}}),
    (
        "GET",
        "/collections/{slug}/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}",
        {
            "path_parameters": {
                "slug": "havenkwartier",
                "tileMatrixSetId": "WebMercatorQuad",
                "tileMatrix": 12,
                "tileRow": 1334,
                "tileCol": 2122,
            }
        },
    ),
]


@pytest.mark.parametrize(("method", "path", "data"), KNOWN_GOOD, ids=[f"{m} {p}" for m, p, _ in KNOWN_GOOD])
def test_real_answers_conform(client: Any, method: str, path: str, data: dict[str, Any]) -> None:
    """Questions with real answers (zones, layers, features that exist), validated against the documented 200."""
    case = schema[path][method].Case(**data)
    response = case.call_and_validate(session=client, base_url=BASE_URL, checks=CHECKS)
    assert response.status_code == 200, response.text


NEW_LAYER = {"slug": "nieuw", "title": "Nieuw", "provenance": "indicatief — test"}
UPLOAD = ("plan.geojson", b'{"type":"FeatureCollection","features":[]}', "application/geo+json")
WRITES: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/layers", {"body": NEW_LAYER, "media_type": "application/json"}),
    ("POST", "/layers/{slug}/versions", {"path_parameters": {"slug": "havenkwartier"}}),
    ("POST", "/layers/{slug}/versions/{number}/activate", {"path_parameters": {"slug": "havenkwartier", "number": 1}}),
]


@pytest.mark.parametrize("key", [None, "Bearer not-a-key", "Basic Zm9vOmJhcg=="])
@pytest.mark.parametrize(("method", "path", "data"), WRITES, ids=[f"{m} {p}" for m, p, _ in WRITES])
def test_writes_without_a_valid_key_are_401(
    client: Any, method: str, path: str, data: dict[str, Any], key: str | None
) -> None:
    """Well-formed writes without a valid key: 401 as documented. (The fuzzer's uploads are named 'file', which
    the upload route refuses as an unknown format before it authenticates; here the file has a real name.)"""
    headers = {"Authorization": key} if key else {}
    case = schema[path][method].Case(headers=headers, **data)
    if path.endswith("/versions"):
        response = client.post(f"{BASE_URL}/layers/havenkwartier/versions", files={"file": UPLOAD}, headers=headers)
        case.validate_response(response, checks=CHECKS)
    else:
        response = case.call_and_validate(session=client, base_url=BASE_URL, checks=CHECKS)
    assert response.status_code == 401, response.text
    assert "key" in response.json()["detail"]


def test_errors_are_documented_as_strings() -> None:
    """Regression: every 4xx was documented as FastAPI's list-shaped HTTPValidationError (or not at all), while
    the app answers {"detail": "<string>"}."""
    assert "HTTPValidationError" not in json.dumps(OPENAPI)
    error = {"$ref": "#/components/schemas/ErrorDetail"}
    assert OPENAPI["components"]["schemas"]["ErrorDetail"]["properties"]["detail"]["type"] == "string"
    for path, operations in OPENAPI["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status.startswith("4") and status != "429":
                    assert response["content"]["application/json"]["schema"] == error, (method, path, status)
            if operation.get("parameters") or "requestBody" in operation:
                assert "422" in operation["responses"], (method, path)
    assert "400" in OPENAPI["paths"]["/zones/at"]["get"]["responses"]  # a NUL character (the middleware)
    items = OPENAPI["paths"]["/collections/{slug}/items"]["get"]["responses"]["200"]["content"]
    assert set(items) == {"application/geo+json", "text/html", "text/csv"}
