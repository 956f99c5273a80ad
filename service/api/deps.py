"""FastAPI dependencies: settings, a database session per request (``TransactionDep``: one transaction owned by
the dependency), the rate limit, and the API key of a write
(``BeheerKey``: authenticated, throttled and audited by ``service.store.access.authorize``).

With a read replica (``GEBIEDSCHECK_READ_DATABASE_URL``) only ``SessionDep`` reads from it (``service.store.replica``
picks the replica, or the primary while the replica is down); ``EngineDep``, ``WriteSessionDep``,
``TransactionDep``, ``BeheerKey`` and the rate limit always use the primary: a standby refuses every write."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.types import Receive, Scope, Send

from service.core.errors import ServiceBusy, TooManyRequests
from service.core.settings import Settings
from service.store import ratelimit
from service.store.access import ApiKey, LocalRefusals, authorize
from service.store.replica import Reads, ReplicaState, wait_for_replay

log = logging.getLogger(__name__)


# Cheap dependencies are `async def`, so FastAPI runs them on the event loop instead of a worker thread.
async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


async def get_engine(request: Request) -> Engine:
    return request.app.state.engine


async def get_reads(request: Request) -> Reads:
    return request.app.state.reads


async def get_session(request: Request) -> AsyncIterator[Session]:
    """A read-only session in autocommit mode: no BEGIN/ROLLBACK round trips for single-query answers. On the
    read replica when one is configured and answers, else on the primary (``service.store.replica``).

    Creating and closing it does no I/O (autocommit: nothing to roll back), so it runs on the event loop;
    the queries run in the sync endpoint's worker thread.
    """
    with request.app.state.read_sessionmaker() as session:
        yield session


def get_write_session(request: Request) -> Iterator[Session]:
    """A session whose transaction is never committed: rolled back when it closes (a question that needs
    temporary tables, the batch). Writes that must last take ``TransactionDep``."""
    with request.app.state.sessionmaker() as session:
        yield session


def get_transaction(request: Request) -> Iterator[Session]:
    """The request's one transaction: begun here, committed when the route returns normally, rolled back when it
    raises (``TransactionDep``). It ends before the response is sent (scope "function"), so a failed commit is
    the client's error response, never a success already on its way. Routes and domain functions do not begin,
    commit or roll it back themselves; a row that must outlive a rollback (a failed write's audit row) is written
    in a session of its own."""
    with request.app.state.sessionmaker() as session, session.begin():
        yield session


def replica_after_commit(reads: Reads, settings: Settings) -> ReplicaState:
    """Whether the replica has what the primary just committed (waits up to ``replica_wait_s``). Never raises:
    the write is done whatever the replica does."""
    assert reads.replica is not None
    try:
        return wait_for_replay(reads.primary, reads.replica, timeout_s=settings.replica_wait_s)
    except Exception as exc:  # e.g. the primary went away just after the commit
        log.warning("replica state after the commit unknown: %s", exc)
        return "pending"


class AfterCommitAnswer(JSONResponse):
    """A write's answer with ``replica: "applied" | "pending"``, rendered when the response is sent: after
    ``TransactionDep`` has committed (FastAPI ends function-scoped dependencies before it sends the response; a
    failed commit is the error response instead, and this never runs)."""

    def __init__(self, payload: dict[str, Any], *, reads: Reads, settings: Settings, status_code: int) -> None:
        super().__init__(None, status_code=status_code)
        self.payload, self.reads, self.settings = payload, reads, settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        replica = await run_in_threadpool(replica_after_commit, self.reads, self.settings)
        answer = JSONResponse({**self.payload, "replica": replica}, status_code=self.status_code)
        await answer(scope, receive, send)


def with_replica_state(request: Request, result: BaseModel, *, status_code: int) -> Any:
    """The answer of a write that changes what the reads answer (a load, an activation): ``result`` with
    ``replica`` — ``"applied"`` when the read replica has replayed the commit, ``"pending"`` when it has not
    within ``replica_wait_s`` (or does not answer), ``null`` without a replica."""
    reads: Reads = request.app.state.reads
    payload = result.model_dump(mode="json")
    if reads.replica is None:
        return JSONResponse({**payload, "replica": None}, status_code=status_code)
    return AfterCommitAnswer(payload, reads=reads, settings=request.app.state.settings, status_code=status_code)


def client_id(request: Request) -> str:
    """Who is asking, for the rate limit: the peer address (uvicorn puts the proxy's X-Forwarded-For here
    when started with --proxy-headers and the proxy is in --forwarded-allow-ips)."""
    return request.client.host if request.client else "onbekend"


def _count(request: Request, client: str) -> None:
    ratelimit.hit(request.app.state.engine, client, settings=request.app.state.settings)


def _still_blocked(blocked: dict[str, float], client: str, limit: int) -> None:
    """A client over its limit stays over it until its window ends: refuse on the event loop, no database."""
    until = blocked.get(client)
    if until is None:
        return
    left = until - time.monotonic()
    if left <= 0:
        del blocked[client]
        return
    retry = max(1, math.ceil(left))
    raise TooManyRequests(
        f"too many requests: at most {limit} a minute to this endpoint per client; try again in {retry} s",
        retry_after=retry,
    )


async def heavy_request(request: Request) -> AsyncIterator[None]:
    """For the heavy endpoints: count the request against the client's per-minute limit (429 past it), then
    wait for one of the process's few heavy slots, so a burst of heavy questions queues instead of taking
    every CPU from the cheap ones (503 when no slot comes free in time).

    The body is read first (within the middleware's size and time limits; the endpoint gets it from the
    request's cache): a client that sends its body slowly holds neither a slot nor a count while it does."""
    await request.body()
    client = client_id(request)
    blocked: dict[str, float] = request.app.state.rate_blocked
    _still_blocked(blocked, client, request.app.state.settings.rate_limit_per_minute)
    try:
        await run_in_threadpool(_count, request, client)
    except TooManyRequests as exc:
        if len(blocked) > 10_000:  # forget clients whose window has ended
            now = time.monotonic()
            for c in [c for c, t in blocked.items() if t <= now]:
                del blocked[c]
        blocked[client] = time.monotonic() + exc.retry_after
        raise
    settings: Settings = request.app.state.settings
    slots: asyncio.Semaphore = request.app.state.heavy_slots
    try:
        await asyncio.wait_for(slots.acquire(), timeout=settings.heavy_wait_s)
    except TimeoutError as exc:
        raise ServiceBusy("the service is busy with heavy questions; try again in a moment", cause=exc) from exc
    try:
        yield
    finally:
        slots.release()


Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])
_AUDIT = "_gebiedscheck_audit"


def audited_as(action: str, *, target_field: str | None = None) -> Callable[[Endpoint], Endpoint]:
    """Name a write endpoint's action in the audit log (refusals included). The target is the path
    parameters joined by '/' (``slug/number``), or ``target_field`` of the JSON body for a route without them
    (read only for routes that declare a JSON body, which FastAPI has read before the dependencies run)."""

    def mark(endpoint: Endpoint) -> Endpoint:
        setattr(endpoint, _AUDIT, (action, target_field))
        return endpoint

    return mark


def _printable(value: Any) -> str | None:
    """A target for the audit log from a value not yet validated (the key is checked first): short and
    printable, or none."""
    return value if isinstance(value, str) and 0 < len(value) <= 200 and value.isprintable() else None


async def _audit_subject(request: Request) -> tuple[str, str | None]:
    route = request.scope.get("route")
    endpoint = getattr(route, "endpoint", None)
    action, field = getattr(endpoint, _AUDIT, (getattr(route, "name", request.url.path), None))
    if field is None:
        return action, _printable("/".join(str(v) for v in request.path_params.values()))
    try:
        body = await request.json()
    except ValueError:
        return action, None
    return action, _printable(body.get(field) if isinstance(body, dict) else None)


def _local_refusals(request: Request) -> LocalRefusals:
    state = request.app.state
    local = getattr(state, "auth_refusals", None)
    if not isinstance(local, LocalRefusals):
        local = state.auth_refusals = LocalRefusals()
    return local


async def require_beheer(
    request: Request,
    authorization: Annotated[str | None, Header(alias="Authorization", description="Bearer KEY (role beheer)")] = None,
) -> ApiKey:
    """The request's API key with role 'beheer' (401/403), or 429 for a client with too many refused keys
    this minute. Runs before the endpoint reads anything of a body it parses itself (the upload)."""
    action, target = await _audit_subject(request)
    return await run_in_threadpool(
        authorize,
        request.app.state.sessionmaker,
        authorization,
        client=client_id(request),
        action=action,
        target=target,
        limit=request.app.state.settings.auth_failures_per_minute,
        local=_local_refusals(request),
    )


RATE_LIMITED: dict[int | str, dict[str, Any]] = {
    429: {"description": "Too many requests from this client; the Retry-After header says when to retry"},
    503: {"description": "The database is unavailable, or every heavy-question slot stayed busy too long"},
}
RateLimit = Depends(heavy_request)
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
EngineDep = Annotated[Engine, Depends(get_engine)]
ReadsDep = Annotated[Reads, Depends(get_reads)]
SessionDep = Annotated[Session, Depends(get_session)]
WriteSessionDep = Annotated[Session, Depends(get_write_session)]
TransactionDep = Annotated[Session, Depends(get_transaction, scope="function")]
BeheerKey = Annotated[ApiKey, Depends(require_beheer)]
