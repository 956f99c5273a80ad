"""service/api/openapi30.py: FastAPI's OpenAPI 3.1 document as a valid OpenAPI 3.0.3 one (/conformance: oas30)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from fastapi import FastAPI
from openapi_spec_validator import OpenAPIV30SpecValidator, validate

from service.api.app import create_app
from service.api.openapi30 import downgrade


def _doc(schema: dict[str, Any]) -> dict[str, Any]:
    """A 3.1 document holding one schema, in components and in a parameter and a response of one operation."""
    op = {
        "parameters": [{"name": "q", "in": "query", "required": False, "schema": copy.deepcopy(schema)}],
        "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": copy.deepcopy(schema)}}}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {"/x": {"get": op}},
        "components": {"schemas": {"S": schema, "T": {"type": "object"}}},
    }


def _converted(schema: dict[str, Any]) -> Any:
    """The schema after ``downgrade``; the three places it sits in must agree, and the document must be valid 3.0."""
    out = downgrade(_doc(schema))
    validate(out, cls=OpenAPIV30SpecValidator)
    op = out["paths"]["/x"]["get"]
    in_param = op["parameters"][0]["schema"]
    in_body = op["responses"]["200"]["content"]["application/json"]["schema"]
    assert in_param == in_body == out["components"]["schemas"]["S"]
    return in_param


FRAGMENTS = [
    pytest.param(
        {"anyOf": [{"type": "string", "maxLength": 5}, {"type": "null"}], "title": "Name", "default": None},
        {"type": "string", "maxLength": 5, "nullable": True, "title": "Name", "default": None},
        id="optional-string",
    ),
    pytest.param(
        {"anyOf": [{"$ref": "#/components/schemas/T"}, {"type": "null"}], "description": "d"},
        {"allOf": [{"$ref": "#/components/schemas/T"}], "nullable": True, "description": "d"},
        id="optional-ref",
    ),
    pytest.param(
        {"anyOf": [{"type": "integer"}, {"type": "string"}, {"type": "null"}]},
        {"anyOf": [{"type": "integer"}, {"type": "string"}], "nullable": True},
        id="optional-union",
    ),
    pytest.param({"type": ["number", "null"]}, {"type": "number", "nullable": True}, id="type-list-null"),
    pytest.param(
        {"type": ["integer", "string"]}, {"anyOf": [{"type": "integer"}, {"type": "string"}]}, id="type-list-two"
    ),
    pytest.param({"type": "null"}, {"nullable": True, "enum": [None]}, id="type-null"),
    pytest.param(
        {"$ref": "#/components/schemas/T", "description": "d"},
        {"allOf": [{"$ref": "#/components/schemas/T"}], "description": "d"},
        id="ref-with-siblings",
    ),
    pytest.param({"const": "FeatureCollection"}, {"enum": ["FeatureCollection"]}, id="const"),
    pytest.param({"type": "integer", "examples": [3, 4]}, {"type": "integer", "example": 3}, id="examples-list"),
    pytest.param(
        {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 10},
        {"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": 10, "exclusiveMaximum": True},
        id="exclusive-bounds",
    ),
    pytest.param(
        {"type": "number", "minimum": 5, "exclusiveMinimum": 0, "maximum": 1, "exclusiveMaximum": 1},
        {"type": "number", "minimum": 5, "maximum": 1, "exclusiveMaximum": True},
        id="exclusive-and-inclusive",
    ),
    pytest.param(
        {"type": "string", "contentMediaType": "application/octet-stream", "title": "File"},
        {"type": "string", "format": "binary", "title": "File"},
        id="upload",
    ),
    pytest.param({"type": "string", "contentEncoding": "base64"}, {"type": "string", "format": "byte"}, id="base64"),
    pytest.param(
        {"type": "array", "prefixItems": [{"type": "number"}, {"type": "number"}], "items": False, "minItems": 2},
        {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
        id="tuple-closed",
    ),
    pytest.param(
        {"type": "array", "prefixItems": [{"type": "number"}, {"type": "string"}]},
        {"type": "array", "items": {"anyOf": [{"type": "number"}, {"type": "string"}]}},
        id="tuple-open",
    ),
    pytest.param(
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "urn:x",
            "$comment": "c",
            "type": "object",
            "properties": {"a": {"type": "string", "x-extra": 1}, "b": True},
            "patternProperties": {"^v_": {"type": "integer"}},
            "propertyNames": {"maxLength": 3},
            "required": [],
            "if": {"required": ["a"]},
            "then": {"required": ["b"]},
        },
        {
            "type": "object",
            "properties": {"a": {"type": "string", "x-extra": 1}, "b": {}},
            "additionalProperties": {"type": "integer"},
        },
        id="2020-12-only-keywords",
    ),
    pytest.param({"type": "array"}, {"type": "array", "items": {}}, id="array-without-items"),
    pytest.param({"enum": ["a", None]}, {"enum": ["a", None], "nullable": True}, id="enum-with-null"),
    pytest.param(
        {
            "type": "object",
            "properties": {
                "rows": {
                    "type": "array",
                    "items": {"anyOf": [{"type": "number", "exclusiveMinimum": 1}, {"type": "null"}]},
                },
                "meta": {"additionalProperties": {"const": 1}},
            },
        },
        {
            "type": "object",
            "properties": {
                "rows": {
                    "type": "array",
                    "items": {"type": "number", "minimum": 1, "exclusiveMinimum": True, "nullable": True},
                },
                "meta": {"additionalProperties": {"enum": [1]}},
            },
        },
        id="nested",
    ),
]


@pytest.mark.parametrize(("given", "expected"), FRAGMENTS)
def test_schema_fragments(given: dict[str, Any], expected: dict[str, Any]) -> None:
    assert _converted(given) == expected


def test_document_level() -> None:
    given = {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "info": {"title": "t", "version": "1", "summary": "s", "license": {"name": "EUPL", "identifier": "EUPL-1.2"}},
        "webhooks": {"ping": {"post": {"responses": {"200": {"description": "ok"}}}}},
        "components": {
            "pathItems": {"P": {}},
            "headers": {"H": {"schema": {"type": ["string", "null"]}}},
            "requestBodies": {
                "B": {
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "file": {"type": "array", "items": {"contentMediaType": "application/pdf"}}
                                },
                            },
                            "encoding": {"file": {"headers": {"X": {"schema": {"const": 1}}}}},
                        }
                    }
                }
            },
        },
    }
    before = json.dumps(given, sort_keys=True)
    out = downgrade(given)
    assert json.dumps(given, sort_keys=True) == before  # the input is not changed
    validate(out, cls=OpenAPIV30SpecValidator)
    assert out == {
        "openapi": "3.0.3",
        "info": {
            "title": "t",
            "version": "1",
            "license": {"name": "EUPL", "url": "https://spdx.org/licenses/EUPL-1.2.html"},
        },
        "paths": {},
        "components": {
            "headers": {"H": {"schema": {"type": "string", "nullable": True}}},
            "requestBodies": {
                "B": {
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "file": {"type": "array", "items": {"type": "string", "format": "binary"}}
                                },
                            },
                            "encoding": {"file": {"headers": {"X": {"schema": {"enum": [1]}}}}},
                        }
                    }
                }
            },
        },
    }


def test_the_apps_document_is_valid_openapi_30(settings: Any) -> None:
    """The app as tests/conftest.py builds it (``settings``: a throwaway database; the schema needs no query)."""
    app = create_app(settings)
    app.openapi_schema = None  # FastAPI's own 3.1 document, also once create_app serves the downgraded one
    served = FastAPI.openapi(app)
    assert served["openapi"].startswith("3.1")
    before = json.dumps(served, sort_keys=True)
    out = downgrade(served)
    assert json.dumps(served, sort_keys=True) == before  # FastAPI's cached document is not changed
    validate(out, cls=OpenAPIV30SpecValidator)
    assert out["openapi"] == "3.0.3"
    assert out["paths"].keys() == served["paths"].keys()
    assert out["components"]["schemas"].keys() == served["components"]["schemas"].keys()
    text = json.dumps(out)
    for gone in ('"type": "null"', '"contentMediaType"', '"const"', '"examples"', '"prefixItems"', '"$schema"'):
        assert gone not in text, gone
    # A real optional field and a real upload, in their 3.0 form.
    band = out["components"]["schemas"]["Band"]["properties"]["max_m"]
    assert band["type"] == "number" and band["nullable"] is True
    upload = out["paths"]["/check/file"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert upload["properties"]["file"] == {"type": "string", "format": "binary", "title": "File"}


def test_the_served_document_is_openapi_30(settings: Any) -> None:
    """/openapi.json is the downgraded document: 3.0.3, valid, with the items' query parameters."""
    from fastapi.testclient import TestClient

    with TestClient(create_app(settings)) as client:
        doc = client.get("/openapi.json").json()
    assert doc["openapi"] == "3.0.3"
    validate(doc, cls=OpenAPIV30SpecValidator)


def test_the_served_document_spells_out_every_collection(qsettings: Any) -> None:
    """As pygeoapi does: /collections/havenkwartier/items beside /collections/{slug}/items, same operation."""
    from fastapi.testclient import TestClient

    with TestClient(create_app(qsettings)) as client:
        doc = client.get("/openapi.json").json()
        collections = {c["id"] for c in client.get("/collections").json()["collections"]}
    template = doc["paths"]["/collections/{slug}/items"]["get"]
    concrete = doc["paths"]["/collections/havenkwartier/items"]["get"]
    assert [p for p in template["parameters"] if p["name"] != "slug"] == concrete["parameters"]
    assert concrete["responses"] == template["responses"]
    assert collections == {p.split("/")[2] for p in doc["paths"] if p.startswith("/collections/") and "{" not in p}
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values() if "operationId" in op]
    assert len(ids) == len(set(ids))
    validate(doc, cls=OpenAPIV30SpecValidator)
