"""Per-request plumbing (pure ASGI, no per-request task overhead): request id, access log, security headers.

- Every request gets an id (the caller's ``X-Request-ID`` when it is a short plain token, else a new one). It
  is echoed in the response and carried by every log record of the request (``service.logs``).
- The access log line names method, path, status and duration. It never holds headers (API keys) or bodies
  (uploaded files).
- Every response gets ``X-Content-Type-Options: nosniff`` and a referrer policy. HTML pages also get a
  Content-Security-Policy that lets only our own scripts run: files from our own origin, plus the inline
  scripts of that very page (Folium's map set-up, Swagger UI's start-up) by their SHA-256, including those
  of a map embedded through ``<iframe srcdoc>``. Images may come from the basemap's tile hosts only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import time
import uuid
from html import unescape
from typing import Any
from urllib.parse import urlsplit

from service.logs import request_id_var

log = logging.getLogger("gebiedscheck.access")
_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S | re.I)
_SRCDOC = re.compile(r'srcdoc="([^"]*)"', re.S)
COMMON_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
]


def script_hashes(html: str) -> list[str]:
    """CSP sources for the inline scripts of a page and of the pages embedded in its ``srcdoc`` frames."""
    bodies = _INLINE_SCRIPT.findall(html)
    for doc in _SRCDOC.findall(html):
        bodies += _INLINE_SCRIPT.findall(unescape(doc))
    seen: dict[str, None] = {}
    for body in bodies:
        digest = base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode()
        seen[f"'sha256-{digest}'"] = None
    return list(seen)


def tile_origins(urls: list[str]) -> list[str]:
    """The scheme://host of each tile URL template (``{s}`` subdomains widened to a wildcard)."""
    out: dict[str, None] = {}
    for url in urls:
        parts = urlsplit(url.replace("{s}.", "*."))
        if parts.scheme in ("http", "https") and parts.netloc:
            out[f"{parts.scheme}://{parts.netloc}"] = None
    return list(out)


def content_security_policy(html: str, tile_hosts: list[str]) -> str:
    scripts = " ".join(["'self'", *script_hashes(html)])
    images = " ".join(["'self'", "data:", "blob:", *tile_hosts])
    return (
        f"default-src 'self'; script-src {scripts}; style-src 'self' 'unsafe-inline'; img-src {images}; "
        "font-src 'self' data:; connect-src 'self'; frame-src 'self'; frame-ancestors 'self'; "
        "object-src 'none'; base-uri 'self'; form-action 'self'"
    )


async def _refuse(send: Any, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *COMMON_HEADERS]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RequestContextMiddleware:
    def __init__(self, app: Any, *, tile_hosts: list[str]) -> None:
        self.app = app
        self.tile_hosts = tile_hosts

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"] or b"%00" in scope.get("query_string", b""):
            await _refuse(send, 400, "the request holds a NUL character (%00)")
            return
        head = scope["method"] == "HEAD"  # answered as GET without its body (uptime monitors, link checkers)
        if head:
            scope = {**scope, "method": "GET"}
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        rid = incoming if _ID.match(incoming) else uuid.uuid4().hex[:16]
        token = request_id_var.set(rid)
        started = time.perf_counter()
        state: dict[str, Any] = {"status": 500, "html": False, "start": None, "body": []}

        async def out(message: Any) -> None:  # for HEAD: the GET's headers (CSP included), no body
            if head and message["type"] == "http.response.body":
                if message.get("more_body"):
                    return
                message = {"type": "http.response.body", "body": b""}
            await send(message)

        async def send_wrapper(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"x-request-id"]
                headers += [(b"x-request-id", rid.encode()), *COMMON_HEADERS]
                message = {**message, "headers": headers}
                state["status"] = message["status"]
                ctype = dict(headers).get(b"content-type", b"")
                if ctype.startswith(b"text/html"):
                    state["html"], state["start"] = True, message  # held until the body is complete
                    return
                await out(message)
            elif message["type"] == "http.response.body" and state["html"]:
                state["body"].append(message.get("body", b""))
                if message.get("more_body"):
                    return
                body = b"".join(state["body"])
                csp = content_security_policy(body.decode("utf-8", "replace"), self.tile_hosts)
                start = state["start"]
                await out({**start, "headers": [*start["headers"], (b"content-security-policy", csp.encode())]})
                await out({"type": "http.response.body", "body": body})
            else:
                await out(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            log.info(
                "%s %s %s %.1f ms",
                "HEAD" if head else scope["method"],
                scope["path"],
                state["status"],
                (time.perf_counter() - started) * 1000,
            )
            request_id_var.reset(token)
