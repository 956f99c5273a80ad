"""OGC API – Features (Part 1 core, Part 2 CRS) and Mapbox Vector Tiles, for QGIS, GDAL and web maps."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from maps import ogc_html
from service.api.deps import SessionDep, SettingsDep
from service.api.ogc_common import (
    COMMON,
    GEOJSON_OR_HTML,
    ITEMS_PARAMS,
    JSON_OR_HTML,
    ONE,
    answers,
    base_url,
    check_params,
    json_response,
    wants_html,
)
from service.api.params import error_responses
from service.core.errors import BadRequest
from service.ogc import features
from service.ogc.conformance import CONFORMANCE
from service.store.timetravel import set_as_of

router = APIRouter(tags=["OGC API – Features"], responses=error_responses(400))


@router.get("/", summary="Landing page (JSON or HTML)", responses=JSON_OR_HTML)
def landing(request: Request) -> Any:
    check_params(request, COMMON)
    base = base_url(request)
    doc = {
        "title": "Gebiedscheck Assen",
        "description": "Gebieden van de Omgevingsvisie van Assen, Natura 2000 en hitte-eiland (OGC API – Features).",
        "links": [
            {"rel": "self", "type": "application/json", "href": f"{base}/", "title": "Deze pagina"},
            {
                "rel": "service-desc",
                "type": "application/vnd.oai.openapi+json;version=3.0",
                "href": f"{base}/openapi.json",
                "title": "OpenAPI",
            },
            {"rel": "service-doc", "type": "text/html", "href": f"{base}/docs", "title": "Documentatie"},
            {"rel": "conformance", "type": "application/json", "href": f"{base}/conformance", "title": "Conformiteit"},
            {"rel": "data", "type": "application/json", "href": f"{base}/collections", "title": "Collecties"},
        ],
    }
    return HTMLResponse(ogc_html.landing_html(doc)) if wants_html(request) else json_response(doc)


@router.get("/conformance", summary="Conformance classes", responses=JSON_OR_HTML)
def conformance(request: Request) -> Any:
    check_params(request, COMMON)
    doc = {"conformsTo": CONFORMANCE}
    return HTMLResponse(ogc_html.conformance_html(doc)) if wants_html(request) else json_response(doc)


@router.get("/collections", summary="The vector layers as collections", responses=JSON_OR_HTML)
def collections(request: Request, session: SessionDep) -> Any:
    check_params(request, COMMON)
    doc = features.collections(session, base_url(request))
    return HTMLResponse(ogc_html.collections_html(doc)) if wants_html(request) else json_response(doc)


@router.get("/collections/{slug}", summary="One collection", responses={**JSON_OR_HTML, **ONE})
def collection(request: Request, session: SessionDep, settings: SettingsDep, slug: str) -> Any:
    check_params(request, COMMON)
    doc = features.collection(session, slug, base_url(request))
    if wants_html(request):
        return HTMLResponse(ogc_html.collection_html(doc, settings=settings))
    return json_response(doc)


@router.get(
    "/collections/{slug}/queryables",
    summary="Queryable properties",
    response_class=Response,
    responses={**answers("application/schema+json"), **ONE},
)
def queryables(request: Request, session: SessionDep, slug: str) -> Any:
    check_params(request, COMMON)
    features.collection(session, slug, base_url(request))  # 404 for an unknown collection
    doc = {
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "type": "object",
        "$id": f"{base_url(request)}/collections/{slug}/queryables",
        "properties": {"name": {"type": "string", "title": "naam"}},
    }
    return json_response(doc, "application/schema+json")


@router.get(
    "/collections/{slug}/items",
    summary="Features, with bbox, limit/offset paging, crs, as_of",
    response_class=Response,
    responses={**GEOJSON_OR_HTML, **ONE},
)
def items(request: Request, session: SessionDep, settings: SettingsDep, slug: str) -> Any:
    q = request.query_params
    check_params(request, ITEMS_PARAMS)
    set_as_of(session, _date(q.get("as_of") or q.get("datetime")))
    doc, feats, crs = features.items_page(
        session,
        slug,
        base=base_url(request),
        bbox=q.get("bbox"),
        bbox_crs=q.get("bbox-crs"),
        crs=q.get("crs"),
        limit=features.page_number(q.get("limit"), "limit"),
        offset=features.page_number(q.get("offset"), "offset") or 0,
        name=q.get("name"),
        query=str(request.url.query),
    )
    if wants_html(request):
        page = features.feature_collection(doc, feats)
        return HTMLResponse(ogc_html.items_html(page, slug=slug, crs=crs, settings=settings))
    # PostGIS's GeoJSON goes out as it came: never parsed and encoded again in Python.
    body = features.page_json(doc, feats)
    return Response(body, media_type="application/geo+json", headers={"Content-Crs": f"<{crs}>"})


@router.get(
    "/collections/{slug}/items/{fid}",
    summary="One feature",
    response_class=Response,
    responses={**GEOJSON_OR_HTML, **ONE},
)
def item(request: Request, session: SessionDep, settings: SettingsDep, slug: str, fid: str) -> Any:
    q = request.query_params
    check_params(request, COMMON | {"crs", "as_of", "datetime"})
    set_as_of(session, _date(q.get("as_of") or q.get("datetime")))
    doc, crs = features.item(session, slug, fid, base=base_url(request), crs=q.get("crs"))
    if wants_html(request):
        return HTMLResponse(ogc_html.item_html(doc, crs=crs, settings=settings))
    return json_response(doc, "application/geo+json", crs)


def _date(value: str | None) -> Any:
    from datetime import date

    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError as exc:
        raise BadRequest(f"as_of/datetime must be a date (YYYY-MM-DD), not {value!r}") from exc
