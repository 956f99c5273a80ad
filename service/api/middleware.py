"""Per-request plumbing (pure ASGI, no per-request task overhead): request id, access log, security headers,
request bodies read within limits, and (for ``serve``) a deadline on the request head.

- Every request gets an id (the caller's ``X-Request-ID`` when it is a short plain token, else a new one). It
  is echoed in the response and carried by every log record of the request (``service.core.logs``).
- The access log line names method, path, status and duration. It never holds headers (API keys) or bodies
  (uploaded files).
- Every response gets ``X-Content-Type-Options: nosniff`` and a referrer policy. HTML pages also get a
  Content-Security-Policy that lets only our own scripts run: files from our own origin, plus the inline
  scripts of that very page (Folium's map set-up, Swagger UI's start-up) by their SHA-256, including those
  of a map embedded through ``<iframe srcdoc>``. Images may come from the basemap's tile hosts only.
- A request body is only ever read through :class:`BodyGuard`: a declared Content-Length over the limit is
  refused (413) before a byte is read, a body that grows past it while it streams too (413), and a client
  that pauses too long between two parts of its body, or takes too long over all of it, gets 408. Each
  refusal closes the connection (the rest of the body is never read). The limits come from the settings.
- The access line (like every log record, ``service.core.logs``) has its control characters escaped.
"""

from __future__ import annotations

import asyncio
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

from starlette.exceptions import HTTPException
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service.core.logs import escape_controls, request_id_var

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


def content_security_policy(html: str, tile_hosts: list[str], connect_hosts: list[str] | None = None) -> str:
    """The page's CSP: our scripts and the page's inline ones by hash, images from ``tile_hosts``, and fetches to
    our own origin plus ``connect_hosts`` (the viewer's search calls PDOK's Locatieserver from the browser)."""
    scripts = " ".join(["'self'", *script_hashes(html)])
    images = " ".join(["'self'", "data:", "blob:", *tile_hosts])
    connect = " ".join(["'self'", *(connect_hosts or [])])
    return (
        f"default-src 'self'; script-src {scripts}; style-src 'self' 'unsafe-inline'; img-src {images}; "
        f"font-src 'self' data:; connect-src {connect}; frame-src 'self'; frame-ancestors 'self'; "
        "object-src 'none'; base-uri 'self'; form-action 'self'"
    )


class BodyRefused(HTTPException):
    """A request body over the size limit (413) or too slow (408); answered as ``{"detail": ...}`` and the
    connection closed. An HTTPException, so FastAPI passes it on where it parses a body itself."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(status_code=status_code, detail=detail, headers={"Connection": "close"})


class BodyGuard:
    """The ASGI ``receive`` of one request, read within the limits (see the module's docstring)."""

    def __init__(self, receive: Any, headers: dict[bytes, bytes], *, limit: int, idle_s: float, total_s: float):
        self.receive, self.limit, self.idle_s, self.total_s = receive, limit, idle_s, total_s
        declared = headers.get(b"content-length", b"")
        self.declared = int(declared) if declared.isdigit() else None
        self.has_body = bool(self.declared) or b"transfer-encoding" in headers
        self.done = not self.has_body  # the whole body is in (or there is none)
        self.responding = False  # once the answer has started, receive() only waits for a disconnect
        self.size = 0
        self.started: float | None = None

    def too_large(self) -> BodyRefused:
        return BodyRefused(413, f"the request body is larger than {self.limit} bytes (the limit)")

    async def __call__(self) -> Any:
        if self.done or self.responding:
            return await self.receive()
        if self.declared is not None and self.declared > self.limit:
            raise self.too_large()
        now = time.monotonic()
        if self.started is None:
            self.started = now
        left = self.total_s - (now - self.started)
        try:
            message = await asyncio.wait_for(self.receive(), timeout=max(0.0, min(self.idle_s, left)))
        except TimeoutError:
            if left <= self.idle_s:
                detail = f"the request body took longer than {self.total_s:g} s to arrive (the limit)"
            else:
                detail = f"the request body paused for longer than {self.idle_s:g} s (the limit between two parts)"
            raise BodyRefused(408, detail) from None
        if message["type"] != "http.request":
            self.done = True  # http.disconnect
            return message
        self.size += len(message.get("body", b""))
        if self.size > self.limit:
            raise self.too_large()
        if not message.get("more_body", False):
            self.done = True
        return message


async def _refuse(send: Any, status: int, detail: str, *, close: bool = False) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *COMMON_HEADERS]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RequestContextMiddleware:
    def __init__(
        self,
        app: Any,
        *,
        tile_hosts: list[str],
        connect_urls: list[str] | None = None,
        max_body_bytes: int = 20_000_000,
        body_idle_timeout_s: float = 15.0,
        body_timeout_s: float = 120.0,
    ) -> None:
        self.app = app
        self.tile_hosts = tile_hosts
        # Origins the pages may fetch from besides our own (the Locatieserver); "" and non-http(s) URLs add none.
        self.connect_hosts = [o for o in tile_origins([u.strip() for u in connect_urls or []]) if "*" not in o]
        self.body_limits = {"limit": max_body_bytes, "idle_s": body_idle_timeout_s, "total_s": body_timeout_s}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"] or b"%00" in scope.get("query_string", b""):
            await _refuse(send, 400, "the request holds a NUL character (%00)", close=True)
            return
        head = scope["method"] == "HEAD"  # answered as GET without its body (uptime monitors, link checkers)
        if head:
            scope = {**scope, "method": "GET"}
        request_headers = dict(scope.get("headers") or [])
        guard = BodyGuard(receive, request_headers, **self.body_limits)  # type: ignore[arg-type]
        incoming = request_headers.get(b"x-request-id", b"").decode("latin-1")
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
                guard.responding = True
                if not guard.done and b"connection" not in {h[0].lower() for h in headers}:
                    headers.append((b"connection", b"close"))  # the unread rest of the body is not ours to read
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
                csp = content_security_policy(body.decode("utf-8", "replace"), self.tile_hosts, self.connect_hosts)
                start = state["start"]
                await out({**start, "headers": [*start["headers"], (b"content-security-policy", csp.encode())]})
                await out({"type": "http.response.body", "body": body})
            else:
                await out(message)

        try:
            await self.app(scope, guard, send_wrapper)
        except BodyRefused as exc:  # raised where no exception handler catches it (FastAPI's handle most)
            if guard.responding:
                raise
            state["status"] = exc.status_code
            await _refuse(send, exc.status_code, exc.detail, close=True)
        finally:
            log.info(
                "%s %s %s %.1f ms",
                "HEAD" if head else scope["method"],
                escape_controls(scope["path"]),
                state["status"],
                (time.perf_counter() - started) * 1000,
            )
            request_id_var.reset(token)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline and a size limit on the request head (``serve`` uses it).

    uvicorn itself never cuts off a client that opens a connection and never finishes its request head: its
    keep-alive timer runs only after a response and stops at the first byte of the next request, and
    httptools sets no limit on the size of a head. Here the head must be complete within ``head_timeout_s``
    of the connection's start or of the head's first byte (else 408, or a silent close when nothing came),
    and may not grow past ``max_head_bytes`` (else 431); both close the connection. ``None`` takes the
    settings: ``header_timeout_s`` and ``max_header_bytes``.
    """

    head_timeout_s: float | None = None
    max_head_bytes: int | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from service.core.settings import get_settings

        timeout, size = self.head_timeout_s, self.max_head_bytes
        if timeout is None or size is None:
            settings = get_settings()
            timeout = settings.header_timeout_s if timeout is None else timeout
            size = settings.max_header_bytes if size is None else size
        self._head_timeout, self._max_head = timeout, size
        self._head_timer: asyncio.TimerHandle | None = None
        self._in_head = True  # waiting for (the rest of) a request head
        self._head_started = False  # a byte of it has come
        self._head_bytes = 0

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self._head_timeout, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _refuse_head(self, status: int, detail: str) -> None:
        log.info("%s %s (client %s)", status, detail, self.client[0] if self.client else "?")
        body = json.dumps({"detail": detail}).encode()
        reason = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}[status]
        head = b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
        self.transport.write(head % (status, reason, len(body)) + body)
        self.transport.close()

    def _answering(self) -> bool:
        """A response is under way (the head in question is a pipelined next request's)."""
        return self.cycle is not None and not self.cycle.response_complete

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._in_head or self.transport.is_closing():
            return
        if self._answering():  # refuse once the current answer is out, not in the middle of it
            self._arm_head_timer()
        elif self._head_started:
            self._refuse_head(408, f"the request head did not arrive within {self._head_timeout:g} s (the limit)")
        else:
            self.transport.close()

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > self._max_head and not self.transport.is_closing():
            if self._answering():
                self.transport.close()
            else:
                self._refuse_head(431, f"the request head is larger than {self._max_head} bytes (the limit)")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = self._head_started = True
        self._arm_head_timer()

    def on_headers_complete(self) -> None:
        self._in_head = self._head_started = False
        self._head_bytes = 0
        self._disarm_head_timer()
        super().on_headers_complete()
