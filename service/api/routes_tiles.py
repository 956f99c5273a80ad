"""OGC API – Tiles: the collections' vector tiles and their tile set metadata."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from service.api.deps import SessionDep
from service.api.ogc_common import COMMON, ONE, base_url, check_params, json_response
from service.api.params import error_responses
from service.ogc import tiles

router = APIRouter(tags=["OGC API – Tiles"], responses=error_responses(400))


@router.get("/collections/{slug}/tiles", summary="The collection's vector tile sets", responses=ONE)
def tilesets(request: Request, session: SessionDep, slug: str) -> Any:
    check_params(request, COMMON)
    return json_response(tiles.tilesets(session, slug, base_url(request)))


@router.get("/collections/{slug}/tiles/WebMercatorQuad", summary="Tile set metadata (WebMercatorQuad)", responses=ONE)
def tileset(request: Request, session: SessionDep, slug: str) -> Any:
    check_params(request, COMMON)
    return json_response(tiles.tileset(session, slug, base_url(request)))


@router.get("/collections/{slug}/tiles/WebMercatorQuad/tilejson.json", summary="TileJSON 3.0.0", responses=ONE)
def tilejson(request: Request, session: SessionDep, slug: str) -> Any:
    check_params(request, set())
    return json_response(tiles.tilejson(session, slug, base_url(request)))


@router.get(
    "/collections/{slug}/tiles/WebMercatorQuad/{z}/{x}/{y}",
    summary="Mapbox Vector Tile",
    response_class=Response,
    responses={200: {"content": {"application/vnd.mapbox-vector-tile": {}}}, **ONE},
)
def tile(request: Request, session: SessionDep, slug: str, z: int, x: int, y: int) -> Response:
    check_params(request, set())
    data, version = tiles.tile(session, slug, z, x, y)
    etag = f'"{slug}-v{version}-{z}-{x}-{y}"'
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"ETag": etag})
    return Response(
        data,
        media_type="application/vnd.mapbox-vector-tile",
        headers={"ETag": etag, "Cache-Control": "public, max-age=300"},
    )
