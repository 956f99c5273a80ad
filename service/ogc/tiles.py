"""OGC API – Tiles: Mapbox Vector Tiles of a collection's version in force, and their tile set metadata."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from service.core.errors import NotFound
from service.ogc.features import CRS84, EPSG, layer_row

WEB_MERCATOR_QUAD = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
MAX_ZOOM = 22


def tile(session: Session, slug: str, z: int, x: int, y: int) -> tuple[bytes, int]:
    """A Mapbox Vector Tile (WebMercatorQuad) of the layer's current version, and that version's id.

    One statement finds the version (``as_of`` aware) and builds the tile: one round trip per tile."""
    if not (0 <= z <= MAX_ZOOM and 0 <= x < 2**z and 0 <= y < 2**z):
        raise NotFound(f"tile {z}/{x}/{y} does not exist in WebMercatorQuad")
    version, mvt = session.execute(
        text(
            "WITH v AS (SELECT version_id AS id FROM gc_versions_in_force "
            "WHERE slug = :layer AND kind = 'vector'), "
            "b AS (SELECT ST_TileEnvelope(:z, :x, :y) AS env), "
            "q AS (SELECT f.fid, f.name, ST_AsMVTGeom(ST_Transform(f.geom, 3857), b.env, 4096, 64, true) AS geom "
            "FROM features f, b, v WHERE f.version_id = v.id AND f.geom && ST_Transform(b.env, 28992)) "
            "SELECT (SELECT id FROM v), (SELECT ST_AsMVT(q, :layer, 4096, 'geom') FROM q WHERE q.geom IS NOT NULL)"
        ),
        {"z": z, "x": x, "y": y, "layer": slug},
    ).one()
    if version is None:
        raise NotFound(f"collection {slug!r} does not exist")
    return bytes(mvt or b""), int(version)


def tileset(session: Session, slug: str, base: str) -> dict[str, Any]:
    """OGC API – Tiles tile set metadata of the collection's vector tiles (WebMercatorQuad, ``{z}/{x}/{y}``)."""
    r = layer_row(session, slug, extent=True)
    bbox = [r.xmin, r.ymin, r.xmax, r.ymax] if r.xmin is not None else [-180, -85.05, 180, 85.05]
    href = f"{base}/collections/{slug}/tiles/WebMercatorQuad"
    return {
        "title": f"{r.title} (vectortegels)",
        "dataType": "vector",
        "crs": EPSG.format(3857),
        "tileMatrixSetURI": WEB_MERCATOR_QUAD,
        "boundingBox": {"lowerLeft": bbox[:2], "upperRight": bbox[2:], "crs": CRS84},
        "layers": [
            {
                "id": slug,
                "title": r.title,
                "dataType": "vector",
                "geometryDimension": 2,
                "minTileMatrix": "0",
                "maxTileMatrix": str(MAX_ZOOM),
                "propertiesSchema": {
                    "type": "object",
                    "properties": {"fid": {"type": "string"}, "name": {"type": "string"}},
                },
            }
        ],
        "version": r.number,
        "links": [
            {"rel": "self", "type": "application/json", "href": href},
            {"rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme", "href": WEB_MERCATOR_QUAD},
            {"rel": "collection", "type": "application/json", "href": f"{base}/collections/{slug}"},
            {
                "rel": "item",
                "type": "application/vnd.mapbox-vector-tile",
                "href": f"{href}/{{z}}/{{x}}/{{y}}",
                "templated": True,
                "title": "Vectortegel (z/x/y: zoom, kolom, rij)",
            },
            {"rel": "describedby", "type": "application/json", "href": f"{href}/tilejson.json", "title": "TileJSON"},
        ],
    }


def tilesets(session: Session, slug: str, base: str) -> dict[str, Any]:
    t = tileset(session, slug, base)
    return {
        "links": [{"rel": "self", "type": "application/json", "href": f"{base}/collections/{slug}/tiles"}],
        "tilesets": [{k: t[k] for k in ("title", "dataType", "crs", "tileMatrixSetURI")} | {"links": t["links"][:2]}],
    }


def tilejson(session: Session, slug: str, base: str) -> dict[str, Any]:
    """TileJSON 3.0.0, for MapLibre, QGIS and other clients that read it."""
    t = tileset(session, slug, base)
    return {
        "tilejson": "3.0.0",
        "name": t["layers"][0]["title"],
        "tiles": [f"{base}/collections/{slug}/tiles/WebMercatorQuad/{{z}}/{{x}}/{{y}}"],
        "minzoom": 0,
        "maxzoom": MAX_ZOOM,
        "bounds": t["boundingBox"]["lowerLeft"] + t["boundingBox"]["upperRight"],
        "vector_layers": [{"id": slug, "fields": {"fid": "String", "name": "String"}}],
        "attribution": "Gebiedscheck Assen",
    }
