"""`as_of=YYYY-MM-DD`: answer with the layer versions that were current at the end of that day.

The questions' SQL picks versions through the view `gc_versions_in_force` (migration 0008, owned by
:mod:`service.store.current`), built on `gc_version(layer, current)` (migration 0005), which follows the session
setting `gebiedscheck.as_of` when it is set. The setting is cleared when the connection goes back to
the pool, so it never leaks into another request.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from service.core.errors import InvalidInput


def set_as_of(session: Session, as_of: date | None) -> None:
    if as_of is None:
        return
    if as_of > date.today():
        raise InvalidInput(f"as_of={as_of.isoformat()} lies in the future")
    conn = session.connection()
    # Before the first version of any layer there is nothing to answer with: say so, not "in no zone".
    loaded = conn.exec_driver_sql(
        "SELECT EXISTS (SELECT 1 FROM version_activations WHERE at < (%(d)s::date + 1)::timestamptz)",
        {"d": as_of.isoformat()},
    ).scalar()
    if not loaded:
        raise InvalidInput(f"as_of={as_of.isoformat()} lies before the first layer version was loaded")
    conn.exec_driver_sql("SELECT set_config('gebiedscheck.as_of', %(d)s, false)", {"d": as_of.isoformat()})
    conn.connection.info["gebiedscheck_as_of"] = True


def install_reset(engine: Engine) -> None:
    """Clear `gebiedscheck.as_of` on connections that set it, when they are checked in."""

    @event.listens_for(engine, "checkin")
    def _reset(dbapi_connection: Any, record: Any) -> None:
        if record.info.pop("gebiedscheck_as_of", False):
            with dbapi_connection.cursor() as cur:
                cur.execute("RESET gebiedscheck.as_of")
            if not getattr(dbapi_connection, "autocommit", True):
                dbapi_connection.commit()
