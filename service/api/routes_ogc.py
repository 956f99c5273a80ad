"""OGC API – Features (Part 1 core, Part 2 CRS) and Mapbox Vector Tiles, for QGIS, GDAL and web maps."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from maps import ogc_html
from service import features
from service.api.deps import SessionDep, SettingsDep
from service.api.params import error_responses
from service.errors import BadRequest
from service.timetravel import set_as_of

router = APIRouter(tags=["OGC API – Features"], responses=error_responses(400))
ONE = error_responses(404, 422)  # the routes of one collection: unknown slug, item or tile; bad path parameters


def _answers(*media: str) -> dict[int | str, dict[str, Any]]:
    """The 200 media types a route really answers with (``f=html`` or an HTML Accept gives the HTML view)."""
    return {200: {"description": "Successful Response", "content": {m: {} for m in media}}}


JSON_OR_HTML = _answers("application/json", "text/html")
GEOJSON_OR_HTML = _answers("application/geo+json", "text/html")
COMMON = {"f"}
ITEMS_PARAMS = COMMON | {"bbox", "bbox-crs", "crs", "limit", "offset", "datetime", "as_of", "name"}


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _check_params(request: Request, allowed: set[str]) -> None:
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise BadRequest(f"unknown query parameter(s): {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")


def _wants_html(request: Request) -> bool:
    f = request.query_params.get("f")
    if f is not None:
        if f not in ("json", "html"):
            raise BadRequest(f"f={f!r} is not supported; use json or html")
        return f == "html"
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "json" not in accept


def _json(doc: dict[str, Any], media: str = "application/json", crs: str | None = None) -> Response:
    headers = {"Content-Crs": f"<{crs}>"} if crs else {}
    return Response(json.dumps(doc, ensure_ascii=False), media_type=media, headers=headers)


@router.get("/", summary="Landing page (JSON or HTML)", responses=JSON_OR_HTML)
def landing(request: Request) -> Any:
    _check_params(request, COMMON)
    base = _base(request)
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
    return HTMLResponse(ogc_html.landing_html(doc)) if _wants_html(request) else _json(doc)


@router.get("/conformance", summary="Conformance classes", responses=JSON_OR_HTML)
def conformance(request: Request) -> Any:
    _check_params(request, COMMON)
    doc = {"conformsTo": features.CONFORMANCE}
    return HTMLResponse(ogc_html.conformance_html(doc)) if _wants_html(request) else _json(doc)


@router.get("/collections", summary="The vector layers as collections", responses=JSON_OR_HTML)
def collections(request: Request, session: SessionDep) -> Any:
    _check_params(request, COMMON)
    doc = features.collections(session, _base(request))
    return HTMLResponse(ogc_html.collections_html(doc)) if _wants_html(request) else _json(doc)


@router.get("/collections/{slug}", summary="One collection", responses={**JSON_OR_HTML, **ONE})
def collection(request: Request, session: SessionDep, settings: SettingsDep, slug: str) -> Any:
    _check_params(request, COMMON)
    doc = features.collection(session, slug, _base(request))
    if _wants_html(request):
        return HTMLResponse(ogc_html.collection_html(doc, settings=settings))
    return _json(doc)


@router.get(
    "/collections/{slug}/queryables",
    summary="Queryable properties",
    response_class=Response,
    responses={**_answers("application/schema+json"), **ONE},
)
def queryables(request: Request, session: SessionDep, slug: str) -> Any:
    _check_params(request, COMMON)
    features.collection(session, slug, _base(request))  # 404 for an unknown collection
    doc = {
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "type": "object",
        "$id": f"{_base(request)}/collections/{slug}/queryables",
        "properties": {"name": {"type": "string", "title": "naam"}},
    }
    return _json(doc, "application/schema+json")


@router.get(
    "/collections/{slug}/items",
    summary="Features, with bbox, limit/offset paging, crs, as_of",
    response_class=Response,
    responses={**GEOJSON_OR_HTML, **ONE},
)
def items(request: Request, session: SessionDep, settings: SettingsDep, slug: str) -> Any:
    q = request.query_params
    _check_params(request, ITEMS_PARAMS)
    set_as_of(session, _date(q.get("as_of") or q.get("datetime")))
    doc, feats, crs = features.items_page(
        session,
        slug,
        base=_base(request),
        bbox=q.get("bbox"),
        bbox_crs=q.get("bbox-crs"),
        crs=q.get("crs"),
        limit=features.page_number(q.get("limit"), "limit"),
        offset=features.page_number(q.get("offset"), "offset") or 0,
        name=q.get("name"),
        query=str(request.url.query),
    )
    if _wants_html(request):
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
    _check_params(request, COMMON | {"crs", "as_of", "datetime"})
    set_as_of(session, _date(q.get("as_of") or q.get("datetime")))
    doc, crs = features.item(session, slug, fid, base=_base(request), crs=q.get("crs"))
    if _wants_html(request):
        return HTMLResponse(ogc_html.item_html(doc, crs=crs, settings=settings))
    return _json(doc, "application/geo+json", crs)


@router.get("/collections/{slug}/tiles", summary="The collection's vector tile sets", responses=ONE)
def tilesets(request: Request, session: SessionDep, slug: str) -> Any:
    _check_params(request, COMMON)
    return _json(features.tilesets(session, slug, _base(request)))


@router.get("/collections/{slug}/tiles/WebMercatorQuad", summary="Tile set metadata (WebMercatorQuad)", responses=ONE)
def tileset(request: Request, session: SessionDep, slug: str) -> Any:
    _check_params(request, COMMON)
    return _json(features.tileset(session, slug, _base(request)))


@router.get("/collections/{slug}/tiles/WebMercatorQuad/tilejson.json", summary="TileJSON 3.0.0", responses=ONE)
def tilejson(request: Request, session: SessionDep, slug: str) -> Any:
    _check_params(request, set())
    return _json(features.tilejson(session, slug, _base(request)))


@router.get(
    "/collections/{slug}/tiles/WebMercatorQuad/{z}/{x}/{y}",
    summary="Mapbox Vector Tile",
    response_class=Response,
    responses={200: {"content": {"application/vnd.mapbox-vector-tile": {}}}, **ONE},
)
def tile(request: Request, session: SessionDep, slug: str, z: int, x: int, y: int) -> Response:
    _check_params(request, set())
    data, version = features.tile(session, slug, z, x, y)
    etag = f'"{slug}-v{version}-{z}-{x}-{y}"'
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"ETag": etag})
    return Response(
        data,
        media_type="application/vnd.mapbox-vector-tile",
        headers={"ETag": etag, "Cache-Control": "public, max-age=300"},
    )


def _date(value: str | None) -> Any:
    from datetime import date

    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError as exc:
        raise BadRequest(f"as_of/datetime must be a date (YYYY-MM-DD), not {value!r}") from exc
