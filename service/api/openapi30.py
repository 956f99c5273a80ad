"""FastAPI's OpenAPI 3.1 document, rewritten as OpenAPI 3.0.3 (what /conformance declares: oas30).

``downgrade`` is a pure function (a dict in, a new dict out; the input is not changed) and imports nothing from
the service. OpenAPI 3.1 schemas are JSON Schema 2020-12; 3.0 schemas are a subset of draft 5 with ``nullable``.
Rewritten in every schema (components, parameters, headers, request and response bodies, nested to any depth):

- ``anyOf``/``oneOf`` with a ``{"type": "null"}`` branch: the null branch goes and ``nullable: true`` is set; one
  remaining branch is merged into the schema (a ``$ref`` or a branch whose keys clash is kept as ``allOf: [...]``)
- ``type: [x, "null"]`` -> ``type: x`` + ``nullable``; several types -> ``anyOf`` of one type each;
  ``type: "null"`` -> ``nullable: true, enum: [null]``
- ``$ref`` with sibling keywords (ignored next to ``$ref`` in 3.0) -> ``allOf: [{$ref}]`` plus the siblings
- ``const`` -> ``enum`` of one; ``examples`` (a list) -> ``example`` (the first)
- ``exclusiveMinimum``/``exclusiveMaximum`` as numbers -> ``minimum``/``maximum`` + ``true``
- ``contentMediaType``/``contentEncoding`` (uploads) -> ``format: binary`` (``byte`` for base64)
- ``prefixItems`` (tuples) -> ``items`` (the one schema, or ``anyOf`` of them) and ``maxItems`` when closed
- ``patternProperties`` -> ``additionalProperties`` (when that is not set); boolean schemas -> ``{}`` / ``not: {}``
- an array without ``items`` gets ``items: {}``; an empty ``required`` goes
- every keyword 3.0 does not know (``$schema``, ``$id``, ``$defs``, ``$comment``, ``if``/``then``/``else``,
  ``dependent*``, ``unevaluated*``, ``contains``, ``propertyNames``, ...) is dropped; ``x-`` extensions stay.

In the document: ``openapi`` becomes ``3.0.3``; ``jsonSchemaDialect``, ``webhooks`` and ``components.pathItems``
are removed, ``info.summary`` too, and ``license.identifier`` becomes an SPDX ``url`` when there is none.
"""

from __future__ import annotations

import copy
import json
from typing import Any

OPENAPI_VERSION = "3.0.3"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# The keywords of an OpenAPI 3.0 Schema Object; anything else (bar x- extensions) is not allowed there.
SCHEMA_KEYWORDS = frozenset(
    {
        "$ref", "title", "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength",
        "minLength", "pattern", "maxItems", "minItems", "uniqueItems", "maxProperties", "minProperties", "required",
        "enum", "type", "not", "allOf", "oneOf", "anyOf", "items", "properties", "additionalProperties",
        "description", "format", "default", "nullable", "discriminator", "readOnly", "writeOnly", "example",
        "externalDocs", "deprecated", "xml",
    }
)  # fmt: skip
NULL_ENUM: dict[str, Any] = {"nullable": True, "enum": [None]}


def downgrade(schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI 3.0.3 form of an OpenAPI 3.1 document (FastAPI's ``app.openapi()``); ``schema`` is not changed."""
    doc = copy.deepcopy(schema)
    doc["openapi"] = OPENAPI_VERSION
    for key in ("jsonSchemaDialect", "webhooks", "$schema"):
        doc.pop(key, None)
    info = doc.get("info")
    if isinstance(info, dict):
        info.pop("summary", None)
        licence = info.get("license")
        if isinstance(licence, dict) and "identifier" in licence:
            identifier = licence.pop("identifier")
            licence.setdefault("url", f"https://spdx.org/licenses/{identifier}.html")
    doc["paths"] = {path: _path_item(item) for path, item in (doc.get("paths") or {}).items()}
    components = doc.get("components")
    if isinstance(components, dict):
        components.pop("pathItems", None)
        _map(components, "schemas", _schema)
        _map(components, "parameters", _parameter)
        _map(components, "headers", _parameter)
        _map(components, "requestBodies", _with_content)
        _map(components, "responses", _response)
        _map(components, "callbacks", _callback)
    return doc


def _map(node: dict[str, Any], key: str, fn: Any) -> None:
    if isinstance(node.get(key), dict):
        node[key] = {name: fn(value) for name, value in node[key].items()}


def _path_item(item: Any) -> Any:
    if not isinstance(item, dict):
        return item
    if isinstance(item.get("parameters"), list):
        item["parameters"] = [_parameter(p) for p in item["parameters"]]
    for method in METHODS:
        if isinstance(item.get(method), dict):
            item[method] = _operation(item[method])
    return item


def _operation(op: dict[str, Any]) -> dict[str, Any]:
    if isinstance(op.get("parameters"), list):
        op["parameters"] = [_parameter(p) for p in op["parameters"]]
    if "requestBody" in op:
        op["requestBody"] = _with_content(op["requestBody"])
    _map(op, "responses", _response)
    _map(op, "callbacks", _callback)
    return op


def _callback(callback: Any) -> Any:
    if not isinstance(callback, dict) or "$ref" in callback:
        return callback
    return {expression: _path_item(item) for expression, item in callback.items()}


def _parameter(param: Any) -> Any:
    """A Parameter or Header Object: its ``schema`` or its ``content``."""
    if not isinstance(param, dict) or "$ref" in param:
        return param
    if "schema" in param:
        param["schema"] = _schema(param["schema"])
    return _with_content(param)


def _response(response: Any) -> Any:
    if not isinstance(response, dict) or "$ref" in response:
        return response
    _map(response, "headers", _parameter)
    return _with_content(response)


def _with_content(node: Any) -> Any:
    """A Request Body, Response, Parameter or Header: the schemas of its media types and their encodings."""
    if not isinstance(node, dict) or "$ref" in node or not isinstance(node.get("content"), dict):
        return node
    for media in node["content"].values():
        if not isinstance(media, dict):
            continue
        if "schema" in media:
            media["schema"] = _schema(media["schema"])
        for encoding in (media.get("encoding") or {}).values():
            if isinstance(encoding, dict):
                _map(encoding, "headers", _parameter)
    return node


def _is_null(schema: Any) -> bool:
    if not isinstance(schema, dict):
        return False
    kind = schema.get("type")
    return kind == "null" or kind == ["null"] or schema == NULL_ENUM


def _schema(schema: Any) -> Any:
    """One JSON Schema 2020-12 schema (and all it holds) as an OpenAPI 3.0 Schema Object."""
    if schema is True:
        return {}
    if schema is False:
        return {"not": {}}
    if not isinstance(schema, dict):
        return schema
    s = dict(schema)
    _children(s)
    _null_branches(s)
    _types(s)
    if "const" in s:
        value = s.pop("const")
        s["enum"] = [value]
    examples = s.pop("examples", None)
    if isinstance(examples, list) and examples and "example" not in s:
        s["example"] = examples[0]
    _exclusive(s, "exclusiveMinimum", "minimum", max)
    _exclusive(s, "exclusiveMaximum", "maximum", min)
    _content(s)
    _tuples(s)
    pattern_properties = s.pop("patternProperties", None)
    if isinstance(pattern_properties, dict) and pattern_properties and "additionalProperties" not in s:
        s["additionalProperties"] = _one_of_them(list(pattern_properties.values()))
    if s.get("type") == "array" and "items" not in s:
        s["items"] = {}
    if s.get("required") == []:
        del s["required"]
    if None in (s.get("enum") or []):
        s["nullable"] = True
    s = {k: v for k, v in s.items() if k in SCHEMA_KEYWORDS or k.startswith("x-")}
    if "$ref" in s and len(s) > 1:
        s = {"allOf": [{"$ref": s.pop("$ref")}], **s}
    return s


def _children(s: dict[str, Any]) -> None:
    """The schemas a schema holds, converted first (null branches of anyOf/oneOf are kept for ``_null_branches``)."""
    for key in ("properties", "patternProperties"):
        if isinstance(s.get(key), dict):
            s[key] = {name: _schema(sub) for name, sub in s[key].items()}
    if isinstance(s.get("items"), list):  # draft-04 tuples: the same as prefixItems
        s["prefixItems"] = s.pop("items")
    for key in ("items", "not"):
        if key in s:
            s[key] = _schema(s[key])
    if isinstance(s.get("additionalProperties"), dict):  # true/false stay as they are (3.0 allows both)
        s["additionalProperties"] = _schema(s["additionalProperties"])
    for key in ("allOf", "anyOf", "oneOf", "prefixItems"):
        if isinstance(s.get(key), list):
            s[key] = [sub if _is_null(sub) else _schema(sub) for sub in s[key]]


def _null_branches(s: dict[str, Any]) -> None:
    for key in ("anyOf", "oneOf"):
        branches = s.get(key)
        if not isinstance(branches, list) or not any(_is_null(b) for b in branches):
            continue
        rest = [b for b in branches if not _is_null(b)]
        del s[key]
        s["nullable"] = True
        if not rest:
            s.setdefault("enum", [None])
        elif len(rest) > 1:
            s[key] = rest
        elif "$ref" in rest[0] or set(rest[0]) & set(s):
            s["allOf"] = [rest[0], *s.get("allOf", [])]
        else:
            s.update(rest[0])
    if "allOf" in s and isinstance(s["allOf"], list):
        s["allOf"] = [_schema(b) if _is_null(b) else b for b in s["allOf"]]


def _types(s: dict[str, Any]) -> None:
    kind = s.get("type")
    if kind == "null":
        del s["type"]
        s["nullable"] = True
        s.setdefault("enum", [None])
        return
    if not isinstance(kind, list):
        return
    del s["type"]
    if "null" in kind:
        s["nullable"] = True
    kinds = [k for k in kind if k != "null"]
    if not kinds:
        s.setdefault("enum", [None])
    elif len(kinds) == 1:
        s["type"] = kinds[0]
    else:
        alternatives = [{"type": k} for k in kinds]
        if "anyOf" in s:
            s["allOf"] = [*s.get("allOf", []), {"anyOf": s.pop("anyOf")}, {"anyOf": alternatives}]
        else:
            s["anyOf"] = alternatives


def _exclusive(s: dict[str, Any], exclusive: str, inclusive: str, stricter: Any) -> None:
    """``exclusiveMinimum: 5`` (2020-12) -> ``minimum: 5, exclusiveMinimum: true`` (draft 5); with both bounds
    the stricter one wins."""
    bound = s.get(exclusive)
    if isinstance(bound, bool) or not isinstance(bound, int | float):
        return
    if inclusive in s and stricter(s[inclusive], bound) == s[inclusive] and s[inclusive] != bound:
        del s[exclusive]  # the inclusive bound is the stricter one
        return
    s[inclusive] = bound
    s[exclusive] = True


def _content(s: dict[str, Any]) -> None:
    media = s.pop("contentMediaType", None)
    encoding = s.pop("contentEncoding", None)
    s.pop("contentSchema", None)
    if (media is None and encoding is None) or s.get("type", "string") != "string" or "format" in s:
        return
    s["type"] = "string"
    s["format"] = "byte" if encoding == "base64" else "binary"


def _tuples(s: dict[str, Any]) -> None:
    prefix = s.pop("prefixItems", None)
    if not isinstance(prefix, list):
        return
    rest = s.pop("items", None)
    closed = rest == {"not": {}}
    if closed:
        s["maxItems"] = min(s.get("maxItems", len(prefix)), len(prefix))
    candidates = prefix + ([rest] if rest is not None and not closed else [])
    s["items"] = _one_of_them(candidates) if candidates else {}


def _one_of_them(schemas: list[Any]) -> Any:
    unique: list[Any] = []
    for sub in schemas:
        if all(json.dumps(sub, sort_keys=True) != json.dumps(u, sort_keys=True) for u in unique):
            unique.append(sub)
    return unique[0] if len(unique) == 1 else {"anyOf": unique}
