"""OGC API – Features (Part 1 core, Part 2 CRS) over the layers' versions in force.

Collections are the vector layers. Storage CRS is EPSG:28992; output in CRS84 (default), EPSG:28992,
EPSG:4258 and EPSG:3857, coordinates in each CRS's axis order (EPSG:4258 is latitude first). Identifiers and
property names never reach SQL unquoted: they are bound parameters.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from sqlalchemy import text
from sqlalchemy.orm import Session

from service.core.errors import BadRequest, NotFound
from service.ogc import filtering, links
from service.ogc.queryables import filter_types, parse_properties, parse_sortby, property_types
from service.ogc.temporal import parse_datetime
from service.store.current import collections_in_force, extent_sql

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/{}"
# URI -> (srid, latitude first?)
SUPPORTED_CRS: dict[str, tuple[int, bool]] = {
    CRS84: (4326, False),
    EPSG.format(28992): (28992, False),
    EPSG.format(4258): (4258, True),
    EPSG.format(3857): (3857, False),
}
MAX_LIMIT = 1000
# limit and offset are whole numbers PostgreSQL can take (bigint); beyond that a number means nothing. A limit
# above MAX_LIMIT is not an error (OGC API - Features /rec/core/fc-limit): at most MAX_LIMIT are returned.
MAX_PAGE_NUMBER = 2**63 - 1
_WHOLE = re.compile(r"[0-9]{1,30}")
DEFAULT_LIMIT = 10
# numberMatched is counted up to this many features past the page; beyond, it is left out (the standard allows that:
# "if the server knows it"). Counting all of a national layer's million matches took 4 s for a page of ten.
MATCH_COUNT_MORE = 10_000


def crs_of(uri: str | None, *, what: str = "crs") -> tuple[int, bool]:
    if uri is None or uri == "":
        return SUPPORTED_CRS[CRS84]
    if uri not in SUPPORTED_CRS:
        raise BadRequest(f"{what} {uri!r} is not supported; use one of: {', '.join(SUPPORTED_CRS)}")
    return SUPPORTED_CRS[uri]


def parse_bbox(value: str | None, bbox_crs: str | None) -> tuple[float, float, float, float, int] | None:
    if value is None:
        return None
    parts = value.split(",")
    if len(parts) not in (4, 6):
        raise BadRequest("bbox must be four numbers: minx,miny,maxx,maxy (or six, with minz and maxz)")
    try:
        nums = [float(p) for p in parts]
    except ValueError as exc:
        shown = value if len(value) <= 80 else value[:80] + "…"
        raise BadRequest(f"bbox {shown!r} holds something that is not a number") from exc
    if len(nums) == 6:  # minx,miny,minz,maxx,maxy,maxz: heights play no part in 2D features
        nums = [nums[0], nums[1], nums[3], nums[4]]
    if not all(math.isfinite(n) for n in nums):
        raise BadRequest("bbox numbers must be finite")
    srid, lat_first = crs_of(bbox_crs, what="bbox-crs")
    x0, y0, x1, y1 = (nums[1], nums[0], nums[3], nums[2]) if lat_first else tuple(nums)
    if x0 > x1 or y0 > y1:
        raise BadRequest("bbox minimum is greater than its maximum")
    if srid in (4326, 4258) and not (-180 <= x0 <= 180 and -180 <= x1 <= 180 and -90 <= y0 <= 90 and -90 <= y1 <= 90):
        raise BadRequest("bbox is out of range for its CRS (longitude -180..180, latitude -90..90)")
    return x0, y0, x1, y1, srid


def layer_row(session: Session, slug: str, *, extent: bool = False) -> Any:
    """The collection's layer and current version (``as_of`` aware); its CRS84 extent only when asked (stored per
    version at load; a scan for a version loaded before)."""
    ext = (
        f"LEFT JOIN LATERAL (SELECT ST_Transform({extent_sql('v.version_id')}, 4326) e) x ON true"
        if extent
        else "LEFT JOIN LATERAL (SELECT NULL::geometry e) x ON true"
    )
    row = session.execute(
        text(
            "SELECT l.slug, l.title, l.description, l.kind, v.version_id, v.number, "
            "ST_XMin(e) xmin, ST_YMin(e) ymin, ST_XMax(e) xmax, ST_YMax(e) ymax FROM layers l "
            f"JOIN gc_versions_in_force v ON v.layer_id = l.id AND v.version_id IS NOT NULL {ext} "
            "WHERE l.slug = :s AND l.kind = 'vector'"
        ),
        {"s": slug},
    ).first()
    if row is None:
        raise NotFound(f"collection {slug!r} does not exist")
    return row


def collection(session: Session, slug: str, base: str, *, fmt: str = "json") -> dict[str, Any]:
    return _collection_doc(layer_row(session, slug, extent=True), base, fmt)


def _collection_doc(r: Any, base: str, fmt: str = "json") -> dict[str, Any]:
    bbox = [[r.xmin, r.ymin, r.xmax, r.ymax]] if r.xmin is not None else [[-180, -90, 180, 90]]
    return {
        "id": r.slug,
        "title": r.title,
        "description": r.description or r.title,
        "itemType": "feature",
        "extent": {"spatial": {"bbox": bbox, "crs": CRS84}},
        "crs": list(SUPPORTED_CRS),
        "storageCrs": EPSG.format(28992),
        "version": r.number,
        "links": [
            *links.format_links(f"{base}/collections/{r.slug}", fmt, links.PAGE),
            {"rel": "items", "type": "application/geo+json", "href": f"{base}/collections/{r.slug}/items"},
            {"rel": "items", "type": "text/html", "href": f"{base}/collections/{r.slug}/items?f=html"},
            {"rel": "items", "type": "text/csv", "href": f"{base}/collections/{r.slug}/items?f=csv"},
            {
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/queryables",
                "type": "application/schema+json",
                "href": f"{base}/collections/{r.slug}/queryables",
            },
            {
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector",
                "type": "application/json",
                "href": f"{base}/collections/{r.slug}/tiles",
            },
        ],
    }


def collections(session: Session, base: str, *, fmt: str = "json") -> dict[str, Any]:
    slugs = collections_in_force(session)
    return {
        "links": links.format_links(f"{base}/collections", fmt, links.PAGE),
        "crs": list(SUPPORTED_CRS),
        "collections": [_collection_doc(layer_row(session, s, extent=True), base) for s in slugs],
    }


def _geom_expr(srid: int, lat_first: bool) -> str:
    g = "f.geom" if srid == 28992 else f"ST_Transform(f.geom, {int(srid)})"
    return f"ST_FlipCoordinates({g})" if lat_first else g


def _precision(srid: int) -> int:
    return 3 if srid in (28992, 3857) else 8


def _geom_sql(srid: int, lat_first: bool) -> str:
    # options 0: no 'crs' member (Content-Crs says it)
    return f"ST_AsGeoJSON({_geom_expr(srid, lat_first)}, {_precision(srid)}, 0)"


def feature_collection(doc: dict[str, Any], features_json: str) -> dict[str, Any]:
    """The page as a dict (for the HTML view): the one place its features are parsed in Python."""
    return {"type": "FeatureCollection", "features": json.loads(features_json), **doc}


def page_json(doc: dict[str, Any], features_json: str) -> str:
    """The page as GeoJSON text: PostGIS's feature array spliced in as it came, never parsed in Python."""
    return '{"type": "FeatureCollection", "features": ' + features_json + ", " + json.dumps(doc, ensure_ascii=False)[1:]


def page_number(value: str | None, name: str) -> int | None:
    """``limit`` or ``offset`` from a query string: ASCII digits within range, else a 400 naming the range."""
    if value is None:
        return None
    low = 1 if name == "limit" else 0
    number = int(value) if _WHOLE.fullmatch(value) else None
    if number is None or not low <= number <= MAX_PAGE_NUMBER:
        shown = value if len(value) <= 40 else value[:40] + "…"
        raise BadRequest(f"{name} must be a whole number from {low} to {MAX_PAGE_NUMBER}, not {shown!r}")
    return number


@dataclass
class ItemsQuery:
    """The items request's parameters as they came (strings), checked by :func:`items_page`/:func:`items_csv`."""

    bbox: str | None = None
    bbox_crs: str | None = None
    crs: str | None = None
    limit: int | None = None
    offset: int = 0
    name: str | None = None
    datetime: str | None = None
    filter: str | None = None
    filter_lang: str | None = None
    filter_crs: str | None = None
    sortby: str | None = None
    properties: str | None = None
    query: str = ""  # the request's query string, for the links


@dataclass
class _Plan:
    r: Any
    srid: int
    lat_first: bool
    cond: str
    params: dict[str, Any]
    order: str
    props: str
    columns: list[str]
    capped: int
    asked: int


def _plan(session: Session, slug: str, q: ItemsQuery) -> _Plan:
    """Every parameter checked (limits before work) and turned into SQL pieces with bound parameters."""
    r = layer_row(session, slug)
    srid, lat_first = crs_of(q.crs)
    box = parse_bbox(q.bbox, q.bbox_crs)
    parse_datetime(q.datetime)  # checked; our features have no time property, so every feature matches
    if not 0 <= q.offset <= MAX_PAGE_NUMBER:
        raise BadRequest(f"offset must be a whole number from 0 to {MAX_PAGE_NUMBER}, not {q.offset}")
    asked = DEFAULT_LIMIT if q.limit is None else q.limit
    if not 1 <= asked <= MAX_PAGE_NUMBER:
        raise BadRequest(f"limit must be a whole number from 1 to {MAX_PAGE_NUMBER}, not {asked}")
    capped = min(asked, MAX_LIMIT)
    types = property_types(session, r.version_id)
    sort = parse_sortby(q.sortby, types)
    chosen = parse_properties(q.properties, types)
    where = ["f.version_id = :v"]
    params: dict[str, Any] = {"v": r.version_id, "limit": capped, "offset": q.offset}
    if box:
        where.append("f.geom && ST_Transform(ST_MakeEnvelope(:x0, :y0, :x1, :y1, :bsrid), 28992)")
        params.update(x0=box[0], y0=box[1], x1=box[2], y1=box[3], bsrid=box[4])
    if q.name is not None:
        where.append("f.name = :name")
        params["name"] = q.name
    fsrid, flat = crs_of(q.filter_crs, what="filter-crs")
    if q.filter_lang is not None and q.filter_lang not in filtering.LANGS:
        raise BadRequest(f"filter-lang {q.filter_lang!r} is not supported; use one of: {', '.join(filtering.LANGS)}")
    if q.filter is not None:
        tree = filtering.parse(q.filter, q.filter_lang)
        found = filtering.to_sql(tree, queryables=filter_types(types), srid=fsrid, lat_first=flat)
        where.append(found.sql)
        params.update(found.params)
    order = []
    for i, (key, descending) in enumerate(sort):
        if key in filtering.COLUMNS:
            expr = filtering.COLUMNS[key]
        else:
            expr = f"f.properties -> :sk{i}"
            params[f"sk{i}"] = key
        order.append(f"{expr} {'DESC' if descending else 'ASC'}")
    full = "jsonb_build_object('name', f.name) || coalesce(f.properties, '{}'::jsonb)"
    if chosen is None:
        props, columns = full, ["name", *types]
    elif not chosen:
        props, columns = "'{}'::jsonb", []
    else:
        props = (
            f"(SELECT coalesce(jsonb_object_agg(e.key, e.value), '{{}}'::jsonb) FROM jsonb_each({full}) e "
            "WHERE e.key = ANY(CAST(:keep AS text[])))"
        )
        params["keep"] = chosen
        columns = chosen
    cond, ordered = " AND ".join(where), ", ".join([*order, "f.id"])
    return _Plan(r, srid, lat_first, cond, params, ordered, props, columns, capped=capped, asked=asked)


def items_page(
    session: Session, slug: str, q: ItemsQuery, *, base: str, fmt: str = "json"
) -> tuple[dict[str, Any], str, str]:
    """The page's members but its features, the features as a JSON array (text, built by PostgreSQL), and the
    Content-Crs URI. One statement counts the matches (up to :data:`MATCH_COUNT_MORE` past the page; beyond,
    ``numberMatched`` is left out) and builds the page, GeoJSON only for the page's rows."""
    p = _plan(session, slug, q)
    count_to = min(q.offset + p.capped + MATCH_COUNT_MORE, MAX_PAGE_NUMBER)
    matched, returned, feats = session.execute(
        text(
            f"WITH page AS (SELECT f.id, row_number() OVER (ORDER BY {p.order}) AS rn FROM features f "
            f"WHERE {p.cond} ORDER BY {p.order} LIMIT :limit OFFSET :offset) "
            f"SELECT (SELECT count(*) FROM (SELECT 1 FROM features f WHERE {p.cond} LIMIT :count_to) m), "
            "(SELECT count(*) FROM page), "
            "(SELECT coalesce(json_agg(json_build_object('type', 'Feature', 'id', f.fid, "
            f"'geometry', {_geom_sql(p.srid, p.lat_first)}::json, 'properties', {p.props}) ORDER BY page.rn), "
            "'[]')::text FROM page JOIN features f ON f.id = page.id)"
        ),
        {**p.params, "count_to": count_to},
    ).one()
    href = f"{base}/collections/{slug}/items"
    keep = links.query_without(q.query, "offset", "limit", "f")
    paged = [*keep, ("f", fmt)] if fmt != "json" else keep
    media = links.ITEMS[fmt]

    def at(offset: int, pairs: list[tuple[str, str]]) -> str:
        return f"{href}?{urlencode([*pairs, ('limit', str(p.capped)), ('offset', str(offset))])}"

    page_links = [
        *links.format_links(at(q.offset, keep), fmt, links.ITEMS),
        {"rel": "collection", "type": "application/json", "title": "Collectie", "href": f"{base}/collections/{slug}"},
    ]
    known = matched < count_to  # else there are at least count_to matches
    if q.offset + returned < matched:
        page_links.append({"rel": "next", "type": media, "href": at(q.offset + p.capped, paged)})
    if q.offset > 0:
        page_links.append({"rel": "prev", "type": media, "href": at(max(q.offset - p.capped, 0), paged)})
    doc: dict[str, Any] = {
        **({"numberMatched": matched} if known else {}),
        "numberReturned": returned,
        "timeStamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "links": page_links,
    }
    if p.asked > MAX_LIMIT:
        doc["limitCapped"] = f"limit {p.asked} is above the maximum {MAX_LIMIT}; {MAX_LIMIT} were returned at most"
    return doc, feats, crs_uri(p.srid, p.lat_first)


def items_csv(session: Session, slug: str, q: ItemsQuery) -> tuple[list[str], list[list[Any]], str]:
    """The page as table rows: the header (id, the properties, geometry as WKT in the requested CRS), the rows, and
    the Content-Crs URI."""
    p = _plan(session, slug, q)
    g = _geom_expr(p.srid, p.lat_first)
    rows = session.execute(
        text(
            f"SELECT f.fid, {p.props} AS props, ST_AsText({g}, {_precision(p.srid)}) AS wkt FROM features f "
            f"WHERE {p.cond} ORDER BY {p.order} LIMIT :limit OFFSET :offset"
        ),
        p.params,
    ).all()
    body = [[fid, *((props or {}).get(c) for c in p.columns), wkt] for fid, props, wkt in rows]
    return ["id", *p.columns, "geometry"], body, crs_uri(p.srid, p.lat_first)


def crs_uri(srid: int, lat_first: bool) -> str:
    return next(u for u, v in SUPPORTED_CRS.items() if v == (srid, lat_first))


def item(
    session: Session, slug: str, fid: str, *, base: str, crs: str | None = None, fmt: str = "json"
) -> tuple[dict[str, Any], str]:
    r = layer_row(session, slug)
    srid, lat_first = crs_of(crs)
    x = session.execute(
        text(
            f"SELECT f.fid, f.name, f.properties, {_geom_sql(srid, lat_first)} AS g FROM features f "
            "WHERE f.version_id = :v AND f.fid = :fid"
        ),
        {"v": r.version_id, "fid": fid},
    ).first()
    if x is None:
        raise NotFound(f"collection {slug!r} has no item {fid!r}")
    href = f"{base}/collections/{slug}/items/{quote(fid, safe='')}"
    return {
        "type": "Feature",
        "id": x.fid,
        "geometry": json.loads(x.g),
        "properties": {"name": x.name, **(x.properties or {})},
        "links": [
            *links.format_links(href + (f"?{urlencode({'crs': crs})}" if crs else ""), fmt, links.ITEM),
            {
                "rel": "collection",
                "type": "application/json",
                "title": "Collectie",
                "href": f"{base}/collections/{slug}",
            },
        ],
    }, crs_uri(srid, lat_first)
