"""What the OGC routes share: the query parameters they allow, the answer media types, the base URL, JSON or HTML."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from service.api.params import error_responses
from service.core.errors import BadRequest

ONE = error_responses(404, 422)  # the routes of one collection: unknown slug, item or tile; bad path parameters


def answers(*media: str) -> dict[int | str, dict[str, Any]]:
    """The 200 media types a route really answers with (``f=html`` or an HTML Accept gives the HTML view)."""
    return {200: {"description": "Successful Response", "content": {m: {} for m in media}}}


JSON_OR_HTML = answers("application/json", "text/html")
GEOJSON_OR_HTML = answers("application/geo+json", "text/html")
COMMON = {"f"}
ITEMS_PARAMS = COMMON | {"bbox", "bbox-crs", "crs", "limit", "offset", "datetime", "as_of", "name"}


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def check_params(request: Request, allowed: set[str]) -> None:
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise BadRequest(f"unknown query parameter(s): {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")


def wants_html(request: Request) -> bool:
    f = request.query_params.get("f")
    if f is not None:
        if f not in ("json", "html"):
            raise BadRequest(f"f={f!r} is not supported; use json or html")
        return f == "html"
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "json" not in accept


def json_response(doc: dict[str, Any], media: str = "application/json", crs: str | None = None) -> Response:
    headers = {"Content-Crs": f"<{crs}>"} if crs else {}
    return Response(json.dumps(doc, ensure_ascii=False), media_type=media, headers=headers)
