"""GET /health: the service, its database and (when configured) its read replica.

Without a replica the answer has no ``replica`` key. With one, ``replica`` says whether it answers, whether it is
in recovery (a standby), its replay position, its lag behind the primary (WAL bytes, seconds) and where reads
go now (``reads_from``); a replica that does not answer makes the status ``degraded`` (still 200: the reads
fall back to the primary)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from service import __version__
from service.api.deps import EngineDep, ReadsDep
from service.api.params import error_responses
from service.store.database import database_state
from service.store.replica import replica_health

router = APIRouter(tags=["service"])
log = logging.getLogger(__name__)


@router.get(
    "/health",
    summary="Service and database state",
    responses={503: {"description": "The database does not answer or has no schema"}, **error_responses(400)},
)
def health(engine: EngineDep, reads: ReadsDep) -> Any:
    try:
        state = database_state(engine)
    except SQLAlchemyError as exc:
        log.warning("health: database unavailable: %s", exc)
        return JSONResponse(
            status_code=503,
            content={
                "status": "unavailable",
                "version": __version__,
                "database": {"reachable": False, "detail": "the database does not answer or has no schema"},
            },
        )
    status = "ok" if state["layers_loaded"] else "empty"
    answer: dict[str, Any] = {"status": status, "version": __version__, "database": state}
    replica = replica_health(reads)
    if replica is not None:
        answer["replica"] = replica
        if status == "ok" and not (replica["reachable"] and replica.get("in_recovery")):
            answer["status"] = "degraded"
    return answer
