"""OGC API – Tiles: the tile matrix sets, the collections' vector tile sets and their tiles.

Routes with a fixed last segment (``tilejson.json``) come before the templated tile route, and the tile route has
four segments after ``tiles/`` where the tile set has one: no route shadows another.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from service.api.deps import SessionDep, SettingsDep
from service.api.ogc_common import COMMON, ONE, base_url, check_params, json_response
from service.api.params import error_responses
from service.ogc import tiles, tms

router = APIRouter(tags=["OGC API – Tiles"], responses=error_responses(400))

TmsId = Annotated[str, Path(description="Tile matrix set", examples=tms.ids(), max_length=64)]
Level = Annotated[int, Path(description="Tile matrix (zoom level)")]
Row = Annotated[int, Path(description="Tile row (from the top)")]
Col = Annotated[int, Path(description="Tile column (from the left)")]
MVT = {200: {"content": {"application/vnd.mapbox-vector-tile": {}}}, **ONE}


@router.get("/tileMatrixSets", summary="The tile matrix sets of our tiles")
def tile_matrix_sets(request: Request) -> Any:
    check_params(request, COMMON)
    return json_response(tms.listing(base_url(request)))


@router.get("/tileMatrixSets/{tileMatrixSetId}", summary="A tile matrix set (2D TMS 2.0)", responses=ONE)
def tile_matrix_set(request: Request, tileMatrixSetId: TmsId) -> Any:
    check_params(request, COMMON)
    return json_response(tms.document(tileMatrixSetId))


@router.get("/collections/{slug}/tiles", summary="The collection's vector tile sets", responses=ONE)
def tilesets(request: Request, session: SessionDep, slug: str) -> Any:
    check_params(request, COMMON)
    return json_response(tiles.tilesets(session, slug, base_url(request)))


@router.get("/collections/{slug}/tiles/WebMercatorQuad/tilejson.json", summary="TileJSON 3.0.0", responses=ONE)
def tilejson(request: Request, session: SessionDep, slug: str) -> Any:
    check_params(request, set())
    return json_response(tiles.tilejson(session, slug, base_url(request)))


@router.get("/collections/{slug}/tiles/{tileMatrixSetId}", summary="Tile set metadata", responses=ONE)
def tileset(request: Request, session: SessionDep, slug: str, tileMatrixSetId: TmsId) -> Any:
    check_params(request, COMMON)
    return json_response(tiles.tileset(session, slug, tileMatrixSetId, base_url(request)))


@router.get(
    "/collections/{slug}/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}",
    summary="Mapbox Vector Tile (row before column)",
    response_class=Response,
    responses=MVT,
)
async def tile(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    slug: str,
    tileMatrixSetId: TmsId,
    tileMatrix: Level,
    tileRow: Row,
    tileCol: Col,
) -> Response:
    """A cached tile of a known version is answered on the event loop (no query, no worker thread); every other
    tile is built (or its version looked up) in a worker thread."""
    check_params(request, set())
    cache_dir = settings.data_dir / "tiles" if settings.tile_cache_mb > 0 else None
    tms_id, level, row, col = tileMatrixSetId, tileMatrix, tileRow, tileCol
    found = None
    if cache_dir is not None:
        found = tiles.warm_tile(session, slug, tms_id=tms_id, level=level, row=row, col=col, cache_dir=cache_dir)
    if found is None:
        found = await run_in_threadpool(
            lambda: tiles.tile(
                session,
                slug,
                tms_id=tms_id,
                level=level,
                row=row,
                col=col,
                cache_dir=cache_dir,
                cache_bytes=settings.tile_cache_mb * 1024 * 1024,
            )
        )
    data, version = found
    etag = f'"{slug}-v{version.id}-{tileMatrixSetId}-{tileMatrix}-{tileRow}-{tileCol}"'
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"ETag": etag})
    return Response(
        data,
        media_type="application/vnd.mapbox-vector-tile",
        headers={"ETag": etag, "Cache-Control": "public, max-age=300"},
    )
