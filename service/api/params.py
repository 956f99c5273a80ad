"""Shared request parameters: a location in WGS84 or RD, and a size-limited GeoJSON body."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any

from fastapi import Depends, Query, Request

from service.core.errors import InvalidInput, TooLarge
from service.core.schemas import ErrorDetail
from service.spatial.geo import Location, location

LOCATION_DOC = "WGS84 lat/lon, or RD x/y with crs=EPSG:28992."

_ERROR_DESCRIPTIONS = {
    400: "Bad request: a NUL character in the request, or (OGC API) a parameter the standard rejects",
    401: "No API key, or one that is unknown or revoked",
    403: "The API key's role may not do this",
    404: "No such layer, feature or version",
    408: "The request body paused too long between two parts, or took too long over all of it",
    413: "The body or geometry is over the documented limit",
    422: "A parameter or the body is wrong; `detail` names the problem",
    429: "Too many failed authentications from this client; the Retry-After header says when to retry",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error answers of a route: ``{"detail": "..."}``, a string.

    FastAPI documents a 422 as its list-shaped HTTPValidationError; the app answers every error, request
    validation included, with one string (``service.api.app``), so a route declares its 422 with this.
    """
    return {code: {"model": ErrorDetail, "description": _ERROR_DESCRIPTIONS[code]} for code in codes}


async def location_params(
    lat: Annotated[float | None, Query(description="Latitude (WGS84)")] = None,
    lon: Annotated[float | None, Query(description="Longitude (WGS84)")] = None,
    x: Annotated[float | None, Query(description="RD x (EPSG:28992), with crs=EPSG:28992")] = None,
    y: Annotated[float | None, Query(description="RD y (EPSG:28992), with crs=EPSG:28992")] = None,
    crs: Annotated[str | None, Query(description="EPSG:4326 (default for lat/lon) or EPSG:28992")] = None,
) -> Location:
    return location(lat=lat, lon=lon, x=x, y=y, crs=crs)


LocationDep = Annotated[Location, Depends(location_params)]
AsOf = Annotated[
    date | None,
    Query(description="Answer with the layer versions that were current at the end of this day (YYYY-MM-DD)"),
]


def _reject_constant(name: str) -> Any:
    raise InvalidInput(f"the JSON body holds {name}; coordinates must be finite numbers")


async def json_body(request: Request) -> Any:
    """The request body as JSON, refused with 413 over the size limit and 422 when it is not JSON."""
    limit = request.app.state.settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"the request body is larger than {limit} bytes (the limit)")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the request body is larger than {limit} bytes (the limit)")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise InvalidInput("the request body is empty; send GeoJSON")
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except InvalidInput:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"the request body is not valid JSON: {exc}") from exc
    except RecursionError as exc:  # arrays or objects nested ~1,000 deep: the decoder's recursion limit
        raise InvalidInput("the request body is nested too deeply to be GeoJSON") from exc


JsonBody = Annotated[Any, Depends(json_body)]

GEOJSON_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/geo+json": {"schema": {"type": "object", "description": "GeoJSON geometry or Feature"}},
            "application/json": {"schema": {"type": "object", "description": "GeoJSON geometry or Feature"}},
        },
    }
}
