"""GET /health: the service and its database."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from service import __version__
from service.api.deps import EngineDep
from service.api.params import error_responses
from service.store.database import database_state

router = APIRouter(tags=["service"])
log = logging.getLogger(__name__)


@router.get(
    "/health",
    summary="Service and database state",
    responses={503: {"description": "The database does not answer or has no schema"}, **error_responses(400)},
)
def health(engine: EngineDep) -> Any:
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
    return {"status": status, "version": __version__, "database": state}
