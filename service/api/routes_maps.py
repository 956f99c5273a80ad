"""The public web map viewer (/kaart), its heat overlay image, its information pages (/over, /toegankelijkheid),
and the self-hosted map assets (/static)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from maps.assets import NODE_MODULES, STATIC_DIR, VENDOR_DIRS, assets_installed
from maps.viewer import about_html, accessibility_html, heat_overlay, state_key, viewer_html, zone_index
from service.api.deps import SessionDep, SettingsDep
from service.core.errors import ConfigurationError

# Spelled out: a route with an HTML response class would file a `model` under text/html, but errors are JSON.
_ERROR_JSON = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorDetail"}}}
MAP_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "A NUL character in the request", "content": _ERROR_JSON},
    503: {"description": "The database, the map assets or the raster file is missing", "content": _ERROR_JSON},
}
router = APIRouter(tags=["maps"], responses=MAP_ERRORS)


def mount_static(app: FastAPI) -> None:
    """/static/gebiedscheck (our viewer script) and /static/vendor/* (npm packages, installed by make install)."""
    app.mount("/static/gebiedscheck", StaticFiles(directory=STATIC_DIR), name="static-gebiedscheck")
    for name, directory in VENDOR_DIRS.items():
        path = NODE_MODULES / directory
        if path.is_dir():
            app.mount(f"/static/vendor/{name}", StaticFiles(directory=path), name=f"vendor-{name}")


@router.get("/docs", include_in_schema=False)
def docs(request: Request) -> HTMLResponse:
    """Swagger UI from our npm copy (swagger-ui-dist), not FastAPI's CDN default."""
    return get_swagger_ui_html(
        openapi_url="/openapi-templates.json",  # one entry per operation (routes_apidoc)
        title="Gebiedscheck Assen — API",
        swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
        swagger_favicon_url="/static/vendor/swagger-ui/favicon-32x32.png",
    )


@router.get("/kaart", response_class=HTMLResponse, summary="The public map viewer (Dutch)")
def kaart(request: Request, session: SessionDep, settings: SettingsDep) -> Any:
    """Overview map with click-to-query; `?lat=..&lon=..&zoom=..&layers=a,b` opens a shared view."""
    if not assets_installed():
        raise ConfigurationError("the map assets are not installed (run `make install`, which runs npm ci)")
    cache: dict[Any, Any] = request.app.state.__dict__.setdefault("map_cache", {})
    key = ("kaart", state_key(session))
    if key not in cache:
        _, bounds, version = heat_overlay(session, settings=settings)
        cache.clear()
        cache[key] = viewer_html(
            session, settings=settings, heat_url=f"/kaart/hitte-eiland.png?v={version}", heat_bounds=bounds
        )
    return HTMLResponse(cache[key], headers={"Cache-Control": "no-cache"})


@router.get(
    "/kaart/gebieden",
    summary="The names of the current zones for the viewer's search box (WGS84 point inside and bounding box)",
)
def zone_names(request: Request, session: SessionDep) -> Any:
    """Every current zone's name, layer, a point inside it and its bounding box (``[w, s, e, n]``), at most
    2,000 of them (``truncated`` says when there are more). Read by the search box of /kaart."""
    cache: dict[Any, Any] = request.app.state.__dict__.setdefault("zone_index_cache", {})
    key = state_key(session)
    if key not in cache:
        cache.clear()
        cache[key] = zone_index(session)
    return JSONResponse(cache[key], headers={"Cache-Control": "no-cache"})


@router.get(
    "/kaart/hitte-eiland.png",
    summary="The heat raster as a transparent PNG (Web Mercator)",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
def heat_image(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    png, _, _version = heat_overlay(session, settings=settings)
    return Response(png, media_type="image/png", headers={"Cache-Control": "public, max-age=3600"})


@router.get("/over", response_class=HTMLResponse, summary="About the map: sources, 'indicatief', privacy (Dutch)")
def over(session: SessionDep, settings: SettingsDep) -> HTMLResponse:
    return HTMLResponse(about_html(session, settings=settings), headers={"Cache-Control": "no-cache"})


@router.get("/toegankelijkheid", response_class=HTMLResponse, summary="The accessibility statement (Dutch)")
def toegankelijkheid() -> HTMLResponse:
    return HTMLResponse(accessibility_html(), headers={"Cache-Control": "no-cache"})
