"""The API definition: ``/openapi.json``, OpenAPI 3.0.3 (as ``/conformance`` declares with oas30).

The document is FastAPI's (downgraded once, :mod:`service.api.openapi30`) with, as pygeoapi does, the paths of
every collection in force spelled out beside the templates: ``/collections/havenkwartier/items`` with the same
operation as ``/collections/{slug}/items``. OGC API – Features (/req/oas30/oas-impl) lets an API definition
use either; clients such as OGC's ogctests look up the concrete paths. ``/openapi-templates.json`` is the
same document with the templates only: what ``/docs`` (Swagger UI) shows, one entry per operation.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from service.api.deps import SessionDep
from service.store.current import collections_in_force

router = APIRouter(include_in_schema=False)
MEDIA = "application/vnd.oai.openapi+json;version=3.0"
SLUG = "{slug}"


def with_collections(doc: dict[str, Any], slugs: list[str]) -> dict[str, Any]:
    """``doc`` plus a concrete copy of every ``/collections/{slug}...`` path for each slug (``doc`` unchanged)."""
    out = copy.deepcopy(doc)
    templates = {p: item for p, item in doc.get("paths", {}).items() if p.startswith(f"/collections/{SLUG}")}
    for slug in slugs:
        for path, item in templates.items():
            concrete = copy.deepcopy(item)
            for method, op in concrete.items():
                if not isinstance(op, dict) or "responses" not in op:
                    continue
                params = op.get("parameters", [])
                op["parameters"] = [p for p in params if not (p.get("in") == "path" and p.get("name") == "slug")]
                if "operationId" in op:
                    op["operationId"] = f"{op['operationId']}__{re.sub(r'[^A-Za-z0-9_]', '_', slug)}"
                op.setdefault("tags", [])
                op["summary"] = f"{op.get('summary', method.upper())} ({slug})"
            out["paths"][path.replace(SLUG, slug)] = concrete
    return out


@router.get("/openapi.json")
def openapi_document(request: Request, session: SessionDep) -> JSONResponse:
    slugs = collections_in_force(session)
    cached = getattr(request.app.state, "apidoc", None)
    if cached is None or cached[0] != slugs:  # a layer created or emptied: made again
        cached = (slugs, with_collections(request.app.openapi(), slugs))
        request.app.state.apidoc = cached
    return JSONResponse(cached[1], media_type=MEDIA)


@router.get("/openapi-templates.json")
def openapi_templates(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi(), media_type=MEDIA)
