"""What the OGC routes share: the query parameters they allow, the answer media types, the base URL, the format
(``f`` or the ``Accept`` header), and a route class that answers a malformed parameter with 400 as the standard
asks (FastAPI would answer 422)."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute

from service.api.params import error_responses
from service.core.errors import BadRequest


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Error answers of an OGC route: ``{"detail": ...}`` as JSON, or the Dutch HTML page for ``f=html`` or a
    browser's Accept header (the app's error handler decides), so both media types are documented."""
    found = error_responses(*codes)
    for answer in found.values():
        answer["content"] = {"text/html": {"schema": {"type": "string"}}}
    return found


ONE = errors(404, 422)  # the routes of one collection: unknown slug, item or tile; bad path parameters


def answers(*media: str) -> dict[int | str, dict[str, Any]]:
    """The 200 media types a route really answers with (``f=html`` or an HTML Accept gives the HTML view)."""
    return {200: {"description": "Successful Response", "content": {m: {} for m in media}}}


JSON_OR_HTML = answers("application/json", "text/html")
GEOJSON_OR_HTML = answers("application/geo+json", "text/html")
ITEMS_ANSWERS = answers("application/geo+json", "text/html", "text/csv")
COMMON = {"f"}
ITEM_PARAMS = COMMON | {"crs", "as_of"}
ITEMS_PARAMS = ITEM_PARAMS | {"bbox", "bbox-crs", "limit", "offset", "datetime", "name"}
ITEMS_PARAMS |= {"filter", "filter-lang", "filter-crs", "sortby", "properties"}
# media types per format, in our order of preference when the Accept header leaves a choice
MEDIA = {
    "json": ("application/json", "application/geo+json", "application/schema+json"),
    "html": ("text/html", "application/xhtml+xml"),
    "csv": ("text/csv",),
}
MAX_ACCEPT_ENTRIES = 40


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def check_params(request: Request, allowed: set[str]) -> None:
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        shown = ", ".join(u if len(u) <= 40 else u[:40] + "…" for u in unknown[:10])
        raise BadRequest(f"unknown query parameter(s): {shown}; allowed: {', '.join(sorted(allowed))}")


def negotiate(request: Request, offers: tuple[str, ...] = ("json", "html")) -> str:
    """The format to answer in: ``f`` when given (it wins), else the best of ``offers`` for the ``Accept`` header
    (quality values honoured; equal quality: our order, JSON first), else the first offer."""
    f = request.query_params.get("f")
    if f is not None:
        if f not in offers:
            raise BadRequest(f"f={f[:40]!r} is not supported here; use one of: {', '.join(offers)}")
        return f
    best, best_q = offers[0], 0.0
    for rank, entry in enumerate(request.headers.get("accept", "").split(",")[:MAX_ACCEPT_ENTRIES]):
        media, _, rest = entry.strip().partition(";")
        media = media.strip().lower()
        q = _quality(rest)
        for fmt in offers:
            if media in MEDIA[fmt] or (media in ("*/*", "application/*") and fmt == offers[0]):
                specific = 0.0 if "*" in media else 0.001
                score = q + specific - rank * 1e-6 if q > 0 else 0.0
                if score > best_q:
                    best, best_q = fmt, score
    return best


def _quality(params: str) -> float:
    for part in params.split(";"):
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "q":
            try:
                q = float(value)
            except ValueError:
                return 0.0
            return q if 0 <= q <= 1 else 0.0
    return 1.0


def wants_html(request: Request) -> bool:
    return negotiate(request) == "html"


def json_response(doc: dict[str, Any], media: str = "application/json", crs: str | None = None) -> Response:
    headers = {"Content-Crs": f"<{crs}>"} if crs else {}
    return Response(json.dumps(doc, ensure_ascii=False), media_type=media, headers=headers)


class OgcRoute(APIRoute):
    """A route whose malformed query parameters are a 400 naming the parameter and the problem (OGC API –
    Features: "400 Bad Request" for an invalid parameter value), not FastAPI's 422."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                raise BadRequest(validation_detail(exc)) from exc

        return route


def validation_detail(exc: RequestValidationError) -> str:
    problems = []
    for err in exc.errors():
        name = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "path"))
        given = err.get("input")
        shown = repr(given[:40] + "…" if isinstance(given, str) and len(given) > 40 else given)
        if err.get("type") == "literal_error":
            expected = (err.get("ctx") or {}).get("expected", "")
            problems.append(f"{name}={shown} is not supported; use one of: {expected}")
        else:
            problems.append(f"{name}={shown}: {err.get('msg')}")
    return "; ".join(problems)
