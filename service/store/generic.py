"""A statement run with PostgreSQL's generic plan, in one round trip.

psycopg prepares a statement on the server after five executions; PostgreSQL then decides, at every execution,
between the statement's generic plan and a custom plan made again for the parameters. It keeps planning again
when the generic plan's estimated cost is higher than the custom plans' average.

That goes wrong for the point question (:data:`service.questions.zones.ZONES_AT_SQL`): it joins some 30 relations,
so planning costs 1.5–2.5 ms and running it 0.5–1 ms. PostGIS estimates a spatial test against a parameter with a
fixed selectivity (0.01 % of the rows), so with a national layer of 1,000,000 polygons the generic plan looks a
hundred rows big and PostgreSQL plans again for every point: 3.7 ms a question where the generic plan (the same
index scans, the same answers) takes 0.8 ms. With the default layers it takes the generic plan by itself, so
:func:`service.questions.zones.zones_at` uses this only from ``settings.generic_plan_from_rows`` stored parts (the
pipeline costs ~0.1 ms, a few points of throughput on a small store).

:func:`one_generic` runs a statement with ``plan_cache_mode = force_generic_plan`` for that statement alone:
``SET``, the statement and ``RESET`` go in one psycopg pipeline (one round trip). Other statements keep
PostgreSQL's own choice: forcing the generic plan everywhere made the Natura 2000 distance 2.3× and a ``LIKE``
filter 3× slower on the national layer (measured). When the statement fails the setting is reset before the error
goes on, or the connection is discarded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy import TextClause, text
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

_ON = "SET plan_cache_mode = force_generic_plan"
_OFF = "RESET plan_cache_mode"
_compiled: dict[tuple[str, str], str] = {}
# The number of stored feature parts (PostgreSQL's estimate, kept up by ANALYZE after every load) per database,
# looked at once a minute per process: a question never pays for it.
PARTS_CHECK_S = 60.0
_PARTS_SQL = text("SELECT reltuples FROM pg_class WHERE oid = CAST('feature_parts' AS regclass)")
_parts: dict[Any, tuple[float, int]] = {}


def large_store(session: Session, *, from_rows: int) -> bool:
    """Whether the database holds at least ``from_rows`` feature parts (checked once a minute per process)."""
    if from_rows <= 0:
        return True
    bind: Any = session.get_bind()
    store = getattr(bind, "engine", bind).url
    now = time.monotonic()
    seen = _parts.get(store)
    if seen is None or seen[0] < now:
        rows = session.execute(_PARTS_SQL).scalar()
        seen = _parts[store] = (now + PARTS_CHECK_S, int(rows or 0))
    return seen[1] >= from_rows


def one_generic(session: Session, statement: TextClause, params: Mapping[str, Any]) -> Any:
    """The single row of ``statement`` (a named tuple), planned once per connection (the generic plan).

    A database error is raised as psycopg's own (:func:`service.core.errors.from_database_error` names it)."""
    conn = session.connection()
    raw: Any = conn.connection.driver_connection
    key = (statement.text, conn.dialect.name)
    sql = _compiled.get(key)
    if sql is None:
        sql = _compiled[key] = str(statement.compile(dialect=conn.dialect))
    try:
        with raw.pipeline() as pipeline, raw.cursor(row_factory=namedtuple_row) as cur:
            raw.execute(_ON)
            cur.execute(sql, dict(params))
            raw.execute(_OFF)
            pipeline.sync()
            row = cur.fetchone()
    except psycopg.Error:
        try:
            raw.execute(_OFF)
        except psycopg.Error:
            log.warning("could not reset plan_cache_mode; connection discarded")
            conn.invalidate()
        raise
    if row is None:
        raise LookupError("the statement returned no row")
    return row
