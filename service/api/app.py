"""The FastAPI application: lifespan (engine), error mapping, routers."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response
from psycopg.errors import InsufficientPrivilege
from sqlalchemy.exc import DataError as SADataError
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from maps.overview import basemaps
from service import __version__
from service.api import (
    routes_admin,
    routes_apidoc,
    routes_health,
    routes_layers,
    routes_maps,
    routes_ogc,
    routes_questions,
    routes_quickscan,
    routes_tiles,
)
from service.api.middleware import RequestContextMiddleware, tile_origins
from service.api.openapi30 import downgrade
from service.core.errorpage import error_html, wants_html
from service.core.errors import DatabaseUnavailable, GebiedscheckError, TooManyRequests, from_database_error, status_for
from service.core.settings import Settings, get_settings
from service.formats.safeopen import harden
from service.store.database import make_engine, make_sessionmaker
from service.store.housekeeping import clean_leftovers
from service.store.replica import open_reads

log = logging.getLogger(__name__)

DESCRIPTION = """
Gebiedscheck Assen answers planners' questions about the areas of the Omgevingsvisie of the
municipality of Assen (in force 26-02-2026): which zones, what the Omgevingsvisie asks there,
distance to Natura 2000, and the urban heat island.

**Data honesty**: the default geometries are *indicatief* — drawn by hand from public knowledge by
Gebiedscheck Assen, not the official Geo-Informatieobjecten (GIO) of the Omgevingsvisie. Each layer
states its provenance and accuracy; official data replaces them through the same loading path.
"""


def _housekeeping(app: FastAPI, settings: Settings) -> None:
    """Start-up: upload leftovers and raster files no version refers to are removed (a log line each)."""
    try:
        with app.state.sessionmaker() as session:
            clean_leftovers(session, settings=settings)
    except Exception as exc:  # never keep the service from starting; the log says why
        log.warning("start-up housekeeping skipped: %s", exc)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        harden()  # GDAL: our drivers only, no network, before any request can open a file
        engine = make_engine(settings)
        app.state.engine = engine
        app.state.heavy_slots = asyncio.Semaphore(settings.heavy_concurrency)
        app.state.rate_blocked = {}  # client -> until when (monotonic) it is over its limit, per worker
        app.state.sessionmaker = make_sessionmaker(engine)
        app.state.reads = open_reads(engine, settings)  # the read replica (GEBIEDSCHECK_READ_DATABASE_URL) or engine
        app.state.read_sessionmaker = app.state.reads.sessionmaker
        app.state.stopping = threading.Event()  # set on shutdown: a running load stops at its next step
        await asyncio.to_thread(_housekeeping, app, settings)
        try:
            yield
        finally:
            app.state.stopping.set()
            app.state.reads.dispose()
            engine.dispose()

    app = FastAPI(
        title="Gebiedscheck Assen",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served below with Swagger UI from our own npm copy, not a CDN
        redoc_url=None,
        openapi_url=None,  # served by routes_apidoc: OpenAPI 3.0.3 with the collections' paths
    )
    app.state.settings = settings
    # Reading is public: the static viewer (gebiedscheck maps export) may call the API from another origin.
    # Writes are not: no cross-origin POST/PUT/DELETE, and the API-key header is not allowed cross-origin.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "HEAD"],
        allow_headers=["Accept", "X-Request-ID"],
        expose_headers=["X-Request-ID", "Content-Crs", "ETag"],
    )
    tiles = tile_origins([url for _name, url, _attribution in basemaps(settings)])
    app.add_middleware(
        RequestContextMiddleware,
        tile_hosts=tiles,
        connect_urls=[settings.locatieserver_url],
        max_body_bytes=settings.max_body_bytes,
        body_idle_timeout_s=settings.body_idle_timeout_s,
        body_timeout_s=settings.body_timeout_s,
    )

    def error_answer(request: Request, status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
        """``{"detail": ...}`` for API clients; the Dutch HTML page for a browser or ``f=html``."""
        if wants_html(request.headers.get("accept"), request.query_params.get("f")):
            return HTMLResponse(error_html(status, detail), status_code=status, headers=headers)
        return JSONResponse(status_code=status, content={"detail": detail}, headers=headers)

    @app.exception_handler(GebiedscheckError)
    async def domain_error(request: Request, exc: GebiedscheckError) -> Response:
        status = status_for(exc)
        log.log(
            logging.ERROR if status >= 500 else logging.INFO,
            "%s %s: %s (cause: %r)",
            request.method,
            request.url.path,
            exc.detail,
            exc.cause,
        )
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyRequests) else None
        return error_answer(request, status, exc.detail, headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        """Unknown routes (404), wrong methods (405), bodies refused by the middleware (413, 408): FastAPI's own
        answer for API clients, the Dutch page for browsers."""
        if exc.status_code >= 400 and wants_html(request.headers.get("accept"), request.query_params.get("f")):
            return HTMLResponse(error_html(exc.status_code, str(exc.detail)), exc.status_code, headers=exc.headers)
        return await http_exception_handler(request, exc)

    @app.exception_handler(OperationalError)
    @app.exception_handler(SADataError)
    @app.exception_handler(SATimeoutError)
    async def db_down(request: Request, exc: Exception) -> Response:
        named = from_database_error(exc, timeout_ms=settings.statement_timeout_ms)
        return await domain_error(request, named or DatabaseUnavailable("the database is unavailable", cause=exc))

    @app.exception_handler(ProgrammingError)
    async def db_refused(request: Request, exc: ProgrammingError) -> Response:
        if isinstance(getattr(exc, "orig", None), InsufficientPrivilege):
            log.warning("%s %s: refused by the database role: %s", request.method, request.url.path, exc.orig)
            return error_answer(request, 403, "this service is read-only; write through the layer management service")
        log.exception("%s %s: database error", request.method, request.url.path, exc_info=exc)
        return error_answer(request, 500, "internal database error")

    @app.exception_handler(DBAPIError)
    @app.exception_handler(psycopg.Error)  # a statement on psycopg's own cursor (COPY, a pipeline)
    async def db_error(request: Request, exc: Exception) -> Response:
        named = from_database_error(exc, timeout_ms=settings.statement_timeout_ms)  # e.g. a GEOS interruption
        if named is not None:
            return await domain_error(request, named)
        log.exception("%s %s: database error", request.method, request.url.path, exc_info=exc)
        return error_answer(request, 500, "internal database error")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("%s %s: unexpected error", request.method, request.url.path, exc_info=exc)
        return error_answer(request, 500, "internal error; the cause is in the service log")

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "path", "body"))
            problems.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
        return error_answer(request, 422, "; ".join(problems))

    app.include_router(routes_apidoc.router)
    app.include_router(routes_health.router)
    app.include_router(routes_layers.router)
    app.include_router(routes_admin.router)
    app.include_router(routes_questions.router)
    app.include_router(routes_maps.router)
    app.include_router(routes_ogc.router)
    app.include_router(routes_tiles.router)
    app.include_router(routes_quickscan.router)
    routes_maps.mount_static(app)
    routes_quickscan.mount_static(app)

    def openapi_30() -> dict[str, Any]:
        """The API definition as OpenAPI 3.0.3, as /conformance declares (oas30); made once, on first use."""
        if app.openapi_schema is None:
            app.openapi_schema = downgrade(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi_30  # type: ignore[method-assign]
    return app
