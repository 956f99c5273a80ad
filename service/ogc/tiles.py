"""OGC API – Tiles: Mapbox Vector Tiles of a collection's version in force, in WebMercatorQuad and the Dutch
NetherlandsRDNewQuad, and their tile set metadata (with ``tileMatrixSetLimits`` from the version's extent).

A tile is addressed as ``{tileMatrix}/{tileRow}/{tileCol}`` (row before column). Tiles outside the tile matrix set,
or outside the version's ``tileMatrixSetLimits``, are 404 naming the limits (OGC API – Tiles /req/core/tc-error A);
a tile inside the limits without features is an empty 200 (/req/core/tc-error B). RD tiles are ``ST_AsMVT`` of the
stored EPSG:28992 geometries with the tile's envelope from the tile matrix set: no reprojection.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from service.core.errors import NotFound
from service.ogc import tilecache, tms
from service.ogc.features import CRS84, layer_row
from service.store.current import extent_sql

MVT_EXTENT = 4096
MVT_BUFFER = 64
_LIMITS_MAX = 512  # versions x tile matrix sets whose limits a process keeps


@dataclass(frozen=True)
class Version:
    """The version in force of a collection: its id and the stamp that makes a cache key unique to it."""

    id: int
    stamp: str  # database, version id and creation time: never the same for two different versions


_VERSION_SQL = text(
    "SELECT v.version_id, current_database() || '-' || v.version_id || '-' || "
    "(extract(epoch FROM lv.created_at) * 1000000)::bigint "
    "FROM gc_versions_in_force v LEFT JOIN layer_versions lv ON lv.id = v.version_id "
    "WHERE v.slug = :s AND v.kind = 'vector'"
)
_EXTENT_SQL = text(
    f"WITH e AS (SELECT {extent_sql(':v')} g), "
    "w AS (SELECT ST_Transform(ST_Segmentize(g, greatest(ST_XMax(g) - ST_XMin(g), ST_YMax(g) - ST_YMin(g)) / 32 "
    "+ 0.001), 3857) g FROM e) "
    "SELECT ST_XMin(e.g), ST_YMin(e.g), ST_XMax(e.g), ST_YMax(e.g), ST_XMin(w.g), ST_YMin(w.g), ST_XMax(w.g), "
    "ST_YMax(w.g) FROM e, w"
)
# The stored geometry in the tile matrix set's CRS, and the test on the index (in EPSG:28992) for the envelope.
_GEOM = {tms.RD_NEW_QUAD: "f.geom", tms.WEB_MERCATOR_QUAD: "ST_Transform(f.geom, 3857)"}
_HITS = {
    tms.RD_NEW_QUAD: "f.geom && ST_MakeEnvelope(:bx0, :by0, :bx1, :by1, 28992)",
    tms.WEB_MERCATOR_QUAD: "f.geom && ST_Transform(ST_MakeEnvelope(:bx0, :by0, :bx1, :by1, 3857), 28992)",
}
_TILE_SQL = {
    tms_id: text(
        f"WITH q AS (SELECT f.fid, f.name, ST_AsMVTGeom({_GEOM[tms_id]}, ST_MakeEnvelope(:x0, :y0, :x1, :y1), "
        f"{MVT_EXTENT}, {MVT_BUFFER}, true) AS geom FROM features f WHERE f.version_id = :v AND {_HITS[tms_id]}) "
        f"SELECT ST_AsMVT(q, :layer, {MVT_EXTENT}, 'geom') FROM q WHERE q.geom IS NOT NULL"
    )
    for tms_id in tms.ids()
}
_limits: dict[tuple[str, str], list[tms.Limits]] = {}
_limits_lock = threading.Lock()
# The version in force as tiles see it, kept this long per (database, collection): a warm tile then needs no
# query at all. A new version or a rollback reaches tile clients within VERSION_TTL_S (their Cache-Control
# says 300 s anyway); the key of every cached tile still holds the version, so no old tile is served after.
VERSION_TTL_S = 1.0
_versions: dict[tuple[str, str], tuple[float, Version]] = {}


def _version_key(session: Session, slug: str) -> tuple[str, str]:
    bind: Any = session.get_bind()
    return (str(getattr(bind, "engine", bind).url), slug)


def warm_tile(
    session: Session, slug: str, *, tms_id: str, level: int, row: int, col: int, cache_dir: Path
) -> tuple[bytes, Version] | None:
    """The tile from memory and the cache directory alone, or None: the version in force known within
    :data:`VERSION_TTL_S`, its limits known and holding the tile, and the tile on disk. No query, so the route
    answers it on the event loop (a 4 kB read from the page cache) without a worker thread; else :func:`tile`."""
    tms.check_tile(tms_id, level, row, col)
    hit = _versions.get(_version_key(session, slug))
    if hit is None or hit[0] <= time.monotonic():
        return None
    v = hit[1]
    lim = next((x for x in _limits.get((v.stamp, tms_id), ()) if x.level == level), None)
    if lim is None or not lim.holds(row, col):
        return None  # :func:`tile` gives the 404 naming the limits
    data = tilecache.get(cache_dir, tilecache.key(v.stamp, tms_id, level, row, col))
    return None if data is None else (data, v)


def version(session: Session, slug: str, *, ttl_s: float = 0.0) -> Version:
    """The collection's version in force (``as_of`` aware): one indexed lookup; 404 for an unknown collection.
    With ``ttl_s`` an answer of the last ``ttl_s`` seconds from the same database is used again."""
    key = _version_key(session, slug)
    now = time.monotonic()
    if ttl_s > 0 and (hit := _versions.get(key)) is not None and hit[0] > now:
        return hit[1]
    row = session.execute(_VERSION_SQL, {"s": slug}).first()
    if row is None or row[0] is None:
        raise NotFound(f"collection {slug!r} does not exist")
    found = Version(int(row[0]), str(row[1]))
    if ttl_s > 0:
        if len(_versions) >= _LIMITS_MAX:
            _versions.clear()
        _versions[key] = (now + ttl_s, found)
    return found


def limits(session: Session, v: Version, tms_id: str) -> list[tms.Limits]:
    """The version's ``tileMatrixSetLimits`` in ``tms_id``: computed once per version (one extent scan), then kept."""
    key = (v.stamp, tms_id)
    found = _limits.get(key)
    if found is not None:
        return found
    row = session.execute(_EXTENT_SQL, {"v": v.id}).one()
    bounds = {tms.RD_NEW_QUAD: tuple(row[:4]), tms.WEB_MERCATOR_QUAD: tuple(row[4:])}
    with _limits_lock:
        if len(_limits) >= _LIMITS_MAX:
            _limits.clear()  # versions change rarely: starting over is cheaper than bookkeeping
        for t, b in bounds.items():
            _limits[(v.stamp, t)] = tms.data_limits(t, None if b[0] is None else b)
    return _limits[key]


def tile(
    session: Session,
    slug: str,
    *,
    tms_id: str,
    level: int,
    row: int,
    col: int,
    cache_dir: Path | None = None,
    cache_bytes: int = tilecache.MAX_BYTES,
) -> tuple[bytes, Version]:
    """A Mapbox Vector Tile of the collection's version in force, and that version.

    Out of the tile matrix set or of the version's limits: 404 naming the limits. With ``cache_dir`` a tile is
    built once per (version, tile matrix set, tile) and then read from disk (:mod:`service.ogc.tilecache`)."""
    tms.check_tile(tms_id, level, row, col)
    v = version(session, slug, ttl_s=VERSION_TTL_S)
    lim = next((x for x in limits(session, v, tms_id) if x.level == level), None)
    if lim is None or not lim.holds(row, col):
        where = lim.text() if lim else "none (the collection has no features)"
        raise NotFound(f"tile {level}/{row}/{col} of {tms_id} has no data of {slug!r}; tiles with data: {where}")
    key = tilecache.key(v.stamp, tms_id, level, row, col)
    if cache_dir is not None and (cached := tilecache.get(cache_dir, key)) is not None:
        return cached, v
    data = build(session, v.id, slug, tms_id=tms_id, level=level, row=row, col=col)
    # An empty tile is not kept: cheap to build again, and a read replica that has not replayed this version yet
    # (its features) would otherwise leave an empty tile under the version's key for good.
    if cache_dir is not None and data:
        tilecache.put(cache_dir, key, data, max_bytes=cache_bytes)
    return data, v


def build(session: Session, version_id: int, slug: str, *, tms_id: str, level: int, row: int, col: int) -> bytes:
    """The tile from the database: ``ST_AsMVT`` on the version's features in the tile's envelope (plus buffer)."""
    x0, y0, x1, y1 = tms.envelope(tms_id, level, row, col)
    pad = (x1 - x0) * MVT_BUFFER / MVT_EXTENT
    params = {"x0": x0, "y0": y0, "x1": x1, "y1": y1, "bx0": x0 - pad, "by0": y0 - pad, "bx1": x1 + pad}
    mvt = session.execute(_TILE_SQL[tms_id], params | {"by1": y1 + pad, "v": version_id, "layer": slug}).scalar()
    return bytes(mvt or b"")


def _tileset_summary(tms_id: str, slug: str, title: str, base: str) -> dict[str, Any]:
    href = f"{base}/collections/{slug}/tiles/{tms_id}"
    return {
        "title": f"{title} (vectortegels, {tms_id})",
        "dataType": "vector",
        "crs": tms.CRS_URI.format(tms.SRID[tms_id]),
        "tileMatrixSetURI": tms.set_uri(tms_id, base),
        "links": [
            {"rel": "self", "type": "application/json", "title": f"Tegelset {tms_id}", "href": href},
            {
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme",
                "type": "application/json",
                "title": f"Tegelschema {tms_id}",
                "href": f"{base}/tileMatrixSets/{tms_id}",
            },
        ],
    }


def tileset(session: Session, slug: str, tms_id: str, base: str) -> dict[str, Any]:
    """OGC API – Tiles tile set metadata (2D TMS 2.0 tile set) of the collection's vector tiles in ``tms_id``."""
    tms.get(tms_id)  # 404 for an unknown set before any query
    r = layer_row(session, slug, extent=True)
    v = version(session, slug)
    bbox = [r.xmin, r.ymin, r.xmax, r.ymax] if r.xmin is not None else [-180, -85.05, 180, 85.05]
    doc = _tileset_summary(tms_id, slug, r.title, base)
    href = f"{base}/collections/{slug}/tiles/{tms_id}"
    lims = limits(session, v, tms_id)
    doc |= {
        "boundingBox": {"lowerLeft": bbox[:2], "upperRight": bbox[2:], "crs": CRS84},
        "tileMatrixSetLimits": [x.doc() for x in lims],
        "layers": [
            {
                "id": slug,
                "title": r.title,
                "dataType": "vector",
                "geometryDimension": 2,
                "minTileMatrix": "0",
                "maxTileMatrix": str(tms.MAX_LEVEL[tms_id]),
                "propertiesSchema": {
                    "type": "object",
                    "properties": {"fid": {"type": "string"}, "name": {"type": "string"}},
                },
            }
        ],
        "version": r.number,
    }
    doc["links"] += [
        {"rel": "collection", "type": "application/json", "href": f"{base}/collections/{slug}"},
        {
            "rel": "item",
            "type": "application/vnd.mapbox-vector-tile",
            "href": f"{href}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}",
            "templated": True,
            "title": "Vectortegel (tegelmatrix, rij, kolom)",
        },
    ]
    if tms_id == tms.WEB_MERCATOR_QUAD:
        doc["links"].append(
            {"rel": "describedby", "type": "application/json", "href": f"{href}/tilejson.json", "title": "TileJSON"}
        )
    return doc


def tilesets(session: Session, slug: str, base: str) -> dict[str, Any]:
    """The collection's tile sets: one per tile matrix set."""
    r = layer_row(session, slug)
    return {
        "links": [{"rel": "self", "type": "application/json", "href": f"{base}/collections/{slug}/tiles"}],
        "tilesets": [_tileset_summary(t, slug, r.title, base) for t in tms.ids()],
    }


def tilejson(session: Session, slug: str, base: str) -> dict[str, Any]:
    """TileJSON 3.0.0 (WebMercatorQuad), for MapLibre, QGIS and other clients that read it."""
    t = tileset(session, slug, tms.WEB_MERCATOR_QUAD, base)
    return {
        "tilejson": "3.0.0",
        "name": t["layers"][0]["title"],
        "tiles": [f"{base}/collections/{slug}/tiles/{tms.WEB_MERCATOR_QUAD}/{{z}}/{{y}}/{{x}}"],
        "minzoom": 0,
        "maxzoom": tms.MAX_LEVEL[tms.WEB_MERCATOR_QUAD],
        "bounds": t["boundingBox"]["lowerLeft"] + t["boundingBox"]["upperRight"],
        "vector_layers": [{"id": slug, "fields": {"fid": "String", "name": "String"}}],
        "attribution": "Gebiedscheck Assen",
    }
