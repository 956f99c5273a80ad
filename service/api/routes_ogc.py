"""OGC API – Features: Part 1 core, Part 2 CRS, Part 3 filtering (CQL2), queryables, sorting, property selection,
HTML and CSV views."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.exc import DataError

from maps import ogc_html
from service.api.deps import SessionDep, SettingsDep
from service.api.ogc_common import (
    COMMON,
    GEOJSON_OR_HTML,
    ITEM_PARAMS,
    ITEMS_ANSWERS,
    ITEMS_PARAMS,
    JSON_OR_HTML,
    ONE,
    OgcRoute,
    answers,
    base_url,
    check_params,
    errors,
    json_response,
    negotiate,
)
from service.core.errors import BadRequest
from service.ogc import features, links
from service.ogc.conformance import CONFORMANCE
from service.ogc.features import MAX_LIMIT, MAX_PAGE_NUMBER
from service.ogc.filtergeom import MAX_VERTICES
from service.ogc.filtering import MAX_DEPTH, MAX_FILTER_CHARS, MAX_IN_LIST
from service.ogc.queryables import property_types, queryables_doc
from service.store.timetravel import set_as_of

router = APIRouter(tags=["OGC API – Features"], responses=errors(400), route_class=OgcRoute)
BAD = errors(422)  # documented for every route with parameters; the OGC routes answer 400 instead

CrsUri = Literal[
    "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
    "http://www.opengis.net/def/crs/EPSG/0/28992",
    "http://www.opengis.net/def/crs/EPSG/0/4258",
    "http://www.opengis.net/def/crs/EPSG/0/3857",
]
Format = Annotated[
    Literal["json", "html"] | None,
    Query(description="Answer format; wins over the Accept header (JSON is the default)"),
]
ItemsFormat = Annotated[
    Literal["json", "html", "csv"] | None,
    Query(description="Answer format: GeoJSON, HTML or CSV (WKT geometry); wins over the Accept header"),
]
Crs = Annotated[CrsUri | None, Query(description="CRS of the answer's coordinates (default CRS84, lon/lat)")]
AsOf = Annotated[
    date | None,
    Query(
        description="Time travel: the layer versions that were current at the end of this day (YYYY-MM-DD). "
        "Not the OGC `datetime` filter."
    ),
]
Hidden = Annotated[str | None, Query(include_in_schema=False)]  # described exactly in PAGE_PARAMS
DATETIME_DOC = (
    "OGC `datetime`: an instant (`2026-01-01` or `2026-01-01T12:00:00Z`), a closed interval `a/b` or a half-bounded "
    "one (`../b`, `a/..`). These features have no time property, so every feature matches any valid value; an "
    "invalid one is a 400. For time travel (the layer versions in force on a day) use `as_of`."
)
PAGE_PARAMS: list[dict[str, Any]] = [
    {
        "name": "bbox",
        "in": "query",
        "required": False,
        "style": "form",
        "explode": False,
        "description": "Features whose geometry meets this box: minx,miny,maxx,maxy (or six numbers with heights) "
        "in `bbox-crs` (default CRS84: lon/lat).",
        "schema": {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}},
    },
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "style": "form",
        "explode": False,
        "description": f"Features per page; above {MAX_LIMIT} at most {MAX_LIMIT} are returned (`limitCapped`).",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_NUMBER, "default": 10},
    },
    {
        "name": "offset",
        "in": "query",
        "required": False,
        "style": "form",
        "explode": False,
        "description": "Features to skip (paging; the `next` and `prev` links carry it).",
        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_PAGE_NUMBER, "default": 0},
    },
    {
        "name": "datetime",
        "in": "query",
        "required": False,
        "style": "form",
        "explode": False,
        "description": DATETIME_DOC,
        "schema": {"type": "string"},
    },
]
FILTER_DOC = (
    f"CQL2 filter (OGC API – Features Part 3), at most {MAX_FILTER_CHARS} characters: comparisons, LIKE, IN (at "
    f"most {MAX_IN_LIST} values), BETWEEN, IS NULL, AND/OR/NOT, and S_INTERSECTS, S_WITHIN, S_CONTAINS, S_DISJOINT, "
    "S_EQUALS, S_TOUCHES, S_CROSSES, S_OVERLAPS on `geometry` (filter geometries in `filter-crs`, at most "
    f"{MAX_VERTICES} vertices), nested at most {MAX_DEPTH} deep. The properties are the queryables; a number "
    "is compared numerically, a string as text."
)


@router.get("/", summary="Landing page (JSON or HTML)", responses={**JSON_OR_HTML, **BAD})
def landing(request: Request, f: Format = None) -> Any:
    check_params(request, COMMON)
    fmt = negotiate(request)
    base = base_url(request)
    doc = {
        "title": "Gebiedscheck Assen",
        "description": "Gebieden van de Omgevingsvisie van Assen, Natura 2000 en hitte-eiland (OGC API – Features).",
        "links": [
            *links.format_links(f"{base}/", fmt, links.PAGE),
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
    return HTMLResponse(ogc_html.landing_html(doc)) if fmt == "html" else json_response(doc)


@router.get("/conformance", summary="Conformance classes", responses={**JSON_OR_HTML, **BAD})
def conformance(request: Request, f: Format = None) -> Any:
    check_params(request, COMMON)
    fmt = negotiate(request)
    doc = {"links": links.format_links(f"{base_url(request)}/conformance", fmt, links.PAGE), "conformsTo": CONFORMANCE}
    return HTMLResponse(ogc_html.conformance_html(doc)) if fmt == "html" else json_response(doc)


@router.get("/collections", summary="The vector layers as collections", responses={**JSON_OR_HTML, **BAD})
def collections(request: Request, session: SessionDep, f: Format = None) -> Any:
    check_params(request, COMMON)
    fmt = negotiate(request)
    doc = features.collections(session, base_url(request), fmt=fmt)
    return HTMLResponse(ogc_html.collections_html(doc)) if fmt == "html" else json_response(doc)


@router.get("/collections/{slug}", summary="One collection", responses={**JSON_OR_HTML, **ONE})
def collection(request: Request, session: SessionDep, settings: SettingsDep, slug: str, f: Format = None) -> Any:
    check_params(request, COMMON)
    fmt = negotiate(request)
    doc = features.collection(session, slug, base_url(request), fmt=fmt)
    if fmt == "html":
        return HTMLResponse(ogc_html.collection_html(doc, settings=settings))
    return json_response(doc)


@router.get(
    "/collections/{slug}/queryables",
    summary="Queryable properties (JSON Schema)",
    response_class=Response,
    responses={**answers("application/schema+json"), **ONE},
)
def queryables(
    request: Request,
    session: SessionDep,
    slug: str,
    f: Annotated[Literal["json"] | None, Query(description="Answer format (JSON Schema)")] = None,
) -> Any:
    check_params(request, COMMON)
    r = features.layer_row(session, slug)  # 404 for an unknown collection
    href = f"{base_url(request)}/collections/{slug}/queryables"
    doc = queryables_doc(r.title, property_types(session, r.version_id), href=href)
    return json_response(doc, "application/schema+json")


@router.get(
    "/collections/{slug}/items",
    summary="Features: bbox, datetime, CQL2 filter, sortby, properties, paging, crs, as_of; GeoJSON, HTML or CSV",
    description=f"{DATETIME_DOC}\n\n{FILTER_DOC}",
    response_class=Response,
    responses={**ITEMS_ANSWERS, **ONE},
    openapi_extra={"parameters": PAGE_PARAMS},
)
def items(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    slug: str,
    f: ItemsFormat = None,
    crs: Crs = None,
    bbox_crs: Annotated[CrsUri | None, Query(alias="bbox-crs", description="CRS of `bbox` (default CRS84)")] = None,
    dt: Annotated[str | None, Query(alias="datetime", include_in_schema=False)] = None,
    filter_: Annotated[str | None, Query(alias="filter", description=FILTER_DOC)] = None,
    filter_lang: Annotated[
        Literal["cql2-text", "cql2-json"] | None, Query(alias="filter-lang", description="Language of `filter`")
    ] = "cql2-text",
    filter_crs: Annotated[
        CrsUri | None, Query(alias="filter-crs", description="CRS of the geometries in `filter` (default CRS84)")
    ] = "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
    sortby: Annotated[
        str | None, Query(description="Sort keys, comma-separated: `name`, `+name` (ascending), `-name` (descending)")
    ] = None,
    properties: Annotated[
        str | None, Query(description="The properties to return, comma-separated; empty for none")
    ] = None,
    name: Annotated[str | None, Query(description="Only the features with exactly this name")] = None,
    as_of: AsOf = None,
    bbox: Hidden = None,
    limit: Hidden = None,
    offset: Hidden = None,
) -> Any:
    check_params(request, ITEMS_PARAMS)
    fmt = negotiate(request, ("json", "html", "csv"))
    set_as_of(session, as_of)
    q = features.ItemsQuery(
        bbox=bbox,
        bbox_crs=bbox_crs,
        crs=crs,
        limit=features.page_number(limit, "limit"),
        offset=features.page_number(offset, "offset") or 0,
        name=name,
        datetime=dt,
        filter=filter_,
        filter_lang=filter_lang,
        filter_crs=filter_crs,
        sortby=sortby,
        properties=properties,
        query=str(request.url.query),
    )
    try:
        if fmt == "csv":
            header, rows, uri = features.items_csv(session, slug, q)
            return Response(
                _csv(header, rows), media_type="text/csv; charset=utf-8", headers={"Content-Crs": f"<{uri}>"}
            )
        doc, feats, uri = features.items_page(session, slug, q, base=base_url(request), fmt=fmt)
    except DataError as exc:  # a value PostgreSQL cannot take (e.g. a number past numeric's range in the filter)
        raise BadRequest(f"the request holds a value the database cannot use: {str(exc.orig).splitlines()[0]}") from exc
    if fmt == "html":
        page = features.feature_collection(doc, feats)
        return HTMLResponse(ogc_html.items_html(page, slug=slug, crs=uri, settings=settings))
    # PostGIS's GeoJSON goes out as it came: never parsed and encoded again in Python.
    body = features.page_json(doc, feats)
    return Response(body, media_type="application/geo+json", headers={"Content-Crs": f"<{uri}>"})


@router.get(
    "/collections/{slug}/items/{fid}",
    summary="One feature",
    response_class=Response,
    responses={**GEOJSON_OR_HTML, **ONE},
)
def item(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    slug: str,
    fid: str,
    f: Format = None,
    crs: Crs = None,
    as_of: AsOf = None,
) -> Any:
    check_params(request, ITEM_PARAMS)
    fmt = negotiate(request)
    set_as_of(session, as_of)
    doc, uri = features.item(session, slug, fid, base=base_url(request), crs=crs, fmt=fmt)
    if fmt == "html":
        return HTMLResponse(ogc_html.item_html(doc, crs=uri, settings=settings))
    return json_response(doc, "application/geo+json", uri)


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv(header: list[str], rows: list[list[Any]]) -> str:
    """UTF-8 CSV; a text cell that a spreadsheet would run as a formula gets a leading apostrophe (OWASP)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return out.getvalue()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        import json

        value = json.dumps(value, ensure_ascii=False)
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value
