"""A statement run with PostgreSQL's generic plan, in one round trip.

psycopg prepares a statement on the server after five executions; PostgreSQL then decides, at every execution,
between the statement's generic plan and a custom plan made again for the parameters. It keeps planning again
when the generic plan's estimated cost is higher than the custom plans' average.

That goes wrong for the point question (:data:`service.questions.zones.ZONES_AT_SQL`): it joins some 30 relations,
so planning costs 1.5–2.5 ms and running it 0.5–1 ms. PostGIS estimates a spatial test against a parameter with a
fixed selectivity (0.01 % of the rows), so with a national layer of 1,000,000 polygons the generic plan looks a
hundred rows big and PostgreSQL plans again for every point: 3.7 ms a question where the generic plan (the same
index scans, the same answers) takes 0.8 ms. With the default layers it already takes the generic plan.

:func:`one_generic` runs a statement with ``plan_cache_mode = force_generic_plan`` for that statement alone:
``SET``, the statement and ``RESET`` go in one psycopg pipeline (one round trip). Other statements keep
PostgreSQL's own choice: forcing the generic plan everywhere made the Natura 2000 distance 2.3× and a ``LIKE``
filter 3× slower on the national layer (measured). When the statement fails the setting is reset before the error
goes on, or the connection is discarded.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy import TextClause
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

_ON = "SET plan_cache_mode = force_generic_plan"
_OFF = "RESET plan_cache_mode"
_compiled: dict[tuple[int, str], str] = {}


def one_generic(session: Session, statement: TextClause, params: Mapping[str, Any]) -> Any:
    """The single row of ``statement`` (a named tuple), planned once per connection (the generic plan).

    A database error is raised as psycopg's own (:func:`service.core.errors.from_database_error` names it)."""
    conn = session.connection()
    raw: Any = conn.connection.driver_connection
    key = (id(statement), conn.dialect.name)
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
