"""OGC API – Features (Part 1 core, Part 2 CRS) over the layers' versions in force.

Collections are the vector layers. Storage CRS is EPSG:28992; output in CRS84 (default), EPSG:28992,
EPSG:4258 and EPSG:3857, coordinates in each CRS's axis order (EPSG:4258 is latitude first). Identifiers and
property names never reach SQL unquoted: they are bound parameters.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from service.core.errors import BadRequest, NotFound

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
    if len(parts) != 4:
        raise BadRequest("bbox must be four numbers: minx,miny,maxx,maxy (6-number boxes are not supported)")
    try:
        nums = [float(p) for p in parts]
    except ValueError as exc:
        raise BadRequest(f"bbox {value!r} holds something that is not a number") from exc
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
    """The collection's layer and current version (``as_of`` aware); its CRS84 extent only when asked (a scan)."""
    ext = (
        "LEFT JOIN LATERAL (SELECT ST_Transform(ST_SetSRID(ST_Extent(f.geom), 28992), 4326) e FROM features f "
        "WHERE f.version_id = v.version_id) x ON true"
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


def collection(session: Session, slug: str, base: str) -> dict[str, Any]:
    return _collection_doc(layer_row(session, slug, extent=True), base)


def _collection_doc(r: Any, base: str) -> dict[str, Any]:
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
            {"rel": "self", "type": "application/json", "href": f"{base}/collections/{r.slug}"},
            {"rel": "items", "type": "application/geo+json", "href": f"{base}/collections/{r.slug}/items"},
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


def collections(session: Session, base: str) -> dict[str, Any]:
    slugs = (
        session.execute(
            text("SELECT slug FROM gc_versions_in_force WHERE kind = 'vector' AND version_id IS NOT NULL ORDER BY slug")
        )
        .scalars()
        .all()
    )
    return {
        "links": [{"rel": "self", "type": "application/json", "href": f"{base}/collections"}],
        "crs": list(SUPPORTED_CRS),
        "collections": [_collection_doc(layer_row(session, s, extent=True), base) for s in slugs],
    }


def _geom_sql(srid: int, lat_first: bool) -> str:
    g = "f.geom" if srid == 28992 else f"ST_Transform(f.geom, {int(srid)})"
    if lat_first:
        g = f"ST_FlipCoordinates({g})"
    precision = 3 if srid in (28992, 3857) else 8
    return f"ST_AsGeoJSON({g}, {precision}, 0)"  # options 0: no 'crs' member (Content-Crs says it)


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


def items_page(
    session: Session,
    slug: str,
    *,
    base: str,
    bbox: str | None = None,
    bbox_crs: str | None = None,
    crs: str | None = None,
    limit: int | None = None,
    offset: int = 0,
    name: str | None = None,
    query: str = "",
) -> tuple[dict[str, Any], str, str]:
    """The page's members but its features, the features as a JSON array (text, built by PostgreSQL), and the
    Content-Crs URI. One statement counts the matches and builds the page, GeoJSON only for the page's rows."""
    r = layer_row(session, slug)
    srid, lat_first = crs_of(crs)
    box = parse_bbox(bbox, bbox_crs)
    if not 0 <= offset <= MAX_PAGE_NUMBER:
        raise BadRequest(f"offset must be a whole number from 0 to {MAX_PAGE_NUMBER}, not {offset}")
    asked = DEFAULT_LIMIT if limit is None else limit
    if not 1 <= asked <= MAX_PAGE_NUMBER:
        raise BadRequest(f"limit must be a whole number from 1 to {MAX_PAGE_NUMBER}, not {asked}")
    capped = min(asked, MAX_LIMIT)
    where = ["f.version_id = :v"]
    params: dict[str, Any] = {"v": r.version_id, "limit": capped, "offset": offset}
    if box:
        where.append("f.geom && ST_Transform(ST_MakeEnvelope(:x0, :y0, :x1, :y1, :bsrid), 28992)")
        params.update(x0=box[0], y0=box[1], x1=box[2], y1=box[3], bsrid=box[4])
    if name is not None:
        where.append("f.name = :name")
        params["name"] = name
    cond = " AND ".join(where)
    matched, returned, feats = session.execute(
        text(
            f"WITH page AS (SELECT f.id FROM features f WHERE {cond} ORDER BY f.id LIMIT :limit OFFSET :offset) "
            f"SELECT (SELECT count(*) FROM features f WHERE {cond}), (SELECT count(*) FROM page), "
            "(SELECT coalesce(json_agg(json_build_object('type', 'Feature', 'id', f.fid, "
            f"'geometry', {_geom_sql(srid, lat_first)}::json, 'properties', "
            "jsonb_build_object('name', f.name) || coalesce(f.properties, '{}'::jsonb)) ORDER BY f.id), '[]')::text "
            "FROM page JOIN features f ON f.id = page.id)"
        ),
        params,
    ).one()
    self_href = f"{base}/collections/{slug}/items"
    keep = "&".join(p for p in query.split("&") if p and not p.startswith(("offset=", "limit=")))
    sep = "&" if keep else ""
    links = [
        {
            "rel": "self",
            "type": "application/geo+json",
            "href": f"{self_href}?{keep}{sep}limit={capped}&offset={offset}",
        },
        {"rel": "collection", "type": "application/json", "href": f"{base}/collections/{slug}"},
    ]
    if offset + returned < matched:
        links.append(
            {
                "rel": "next",
                "type": "application/geo+json",
                "href": f"{self_href}?{keep}{sep}limit={capped}&offset={offset + capped}",
            }
        )
    if offset > 0:
        links.append(
            {
                "rel": "prev",
                "type": "application/geo+json",
                "href": f"{self_href}?{keep}{sep}limit={capped}&offset={max(offset - capped, 0)}",
            }
        )
    doc: dict[str, Any] = {"numberMatched": matched, "numberReturned": returned, "links": links}
    if asked > MAX_LIMIT:
        doc["limitCapped"] = f"limit {asked} is above the maximum {MAX_LIMIT}; {MAX_LIMIT} were returned at most"
    uri = next(u for u, v in SUPPORTED_CRS.items() if v == (srid, lat_first))
    return doc, feats, uri


def item(session: Session, slug: str, fid: str, *, base: str, crs: str | None = None) -> tuple[dict[str, Any], str]:
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
    uri = next(u for u, v in SUPPORTED_CRS.items() if v == (srid, lat_first))
    return {
        "type": "Feature",
        "id": x.fid,
        "geometry": json.loads(x.g),
        "properties": {"name": x.name, **(x.properties or {})},
        "links": [
            {"rel": "self", "type": "application/geo+json", "href": f"{base}/collections/{slug}/items/{fid}"},
            {"rel": "collection", "type": "application/json", "href": f"{base}/collections/{slug}"},
        ],
    }, uri
