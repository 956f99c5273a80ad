"""Reads from a streaming replica (``GEBIEDSCHECK_READ_DATABASE_URL``): PostgreSQL's own hot standby.

The read sessions (the API's ``SessionDep``: the questions, the OGC API, the tiles) take their connection from
the replica; everything that writes (loads, keys, the audit log, the rate limit, the batch's temporary table)
keeps the primary's engine. :class:`Reads` picks the connection of a read session when its first statement
needs one:

- a pooled replica connection whose server hung up (the replica was stopped or crashed) is thrown away at
  checkout without a round trip (a zero-timeout poll of its socket: an idle connection has nothing to read
  unless the server closed it) and a new one is made;
- when the replica refuses or fails that connection, the session reads from the primary instead and the
  replica is marked down: for ``replica_retry_s`` every read goes straight to the primary (no connect attempt,
  no delay); then one request at a time tries the replica again, and the first that gets a connection brings
  the reads back to it. No restart either way;
- a connection lost in the middle of a request's statements is that request's 503 (as for the primary); it
  marks the replica down too.

After a load, :func:`wait_for_replay` tells whether the replica has the commit: the primary's
``pg_current_wal_lsn()``, taken after the commit, against the replica's ``pg_last_wal_replay_lsn()`` until it
passes it or the wait is over. :func:`replica_health` is what /health says about the replica.
"""

from __future__ import annotations

import logging
import select
import threading
import time
from typing import Any, Literal

import psycopg
from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DBAPIError, DisconnectionError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from service.core.settings import Settings
from service.store.database import make_engine, make_sessionmaker

log = logging.getLogger(__name__)
ReplicaState = Literal["applied", "pending"]
REPLICA_CONNECT_TIMEOUT_S = 2  # a replica that does not answer delays one probing request by at most this
POLL_S = 0.02
_READS = "gebiedscheck_reads"
_CONNECTION = "gebiedscheck_read_connection"
_REPLAYED = text("SELECT coalesce(pg_wal_lsn_diff(pg_last_wal_replay_lsn(), CAST(:lsn AS pg_lsn)) >= 0, false)")


def server_hung_up(dbapi_connection: Any) -> bool:
    """Whether the server of an idle pooled psycopg connection has gone: its socket is readable (end of file,
    or the server's farewell message) although nothing was asked. A zero-timeout poll, no round trip."""
    if getattr(dbapi_connection, "closed", False) or getattr(dbapi_connection, "broken", False):
        return True
    try:
        fd = dbapi_connection.pgconn.socket
    except psycopg.OperationalError:  # the connection is closed
        return True
    except AttributeError:  # not a psycopg connection: cannot tell, let the query find out
        return False
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))


def install_liveness_check(engine: Engine) -> None:
    """Make the pool replace, at checkout, a connection whose server hung up (SQLAlchemy reconnects on
    ``DisconnectionError``; when the server refuses, the checkout raises ``OperationalError``)."""

    @event.listens_for(engine, "checkout")
    def _alive(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if server_hung_up(dbapi_connection):
            raise DisconnectionError("the server closed this pooled connection")


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    return lines[0][:300] if lines else type(orig).__name__


class ReadSession(Session):
    """A read-only session whose one connection :class:`Reads` picks when its first statement needs it."""

    def get_bind(self, mapper: Any = None, *, clause: Any = None, bind: Any = None, **kw: Any) -> Connection:
        conn = self.info.get(_CONNECTION)
        if conn is None:
            conn = self.info[_CONNECTION] = self.info[_READS].connect()
        return conn

    def close(self) -> None:
        try:
            super().close()
        finally:
            conn = self.info.pop(_CONNECTION, None)
            if conn is not None:
                conn.close()


class Reads:
    """Where read sessions get their connection: the replica while it answers, else the primary."""

    def __init__(self, primary: Engine, replica: Engine | None = None, *, retry_s: float = 5.0) -> None:
        self.primary = primary
        self.replica = replica
        self.retry_s = retry_s
        self.primary_reads = primary.execution_options(isolation_level="AUTOCOMMIT")
        self.replica_reads = replica.execution_options(isolation_level="AUTOCOMMIT") if replica else None
        self.last_error: str | None = None
        self._lock = threading.Lock()
        self._down_until: float | None = None
        self._probing = False
        self.sessionmaker: sessionmaker[Any]
        if replica is None:
            self.sessionmaker = make_sessionmaker(self.primary_reads)
        else:
            install_liveness_check(replica)
            event.listen(replica, "handle_error", self._on_error)
            self.sessionmaker = sessionmaker(class_=ReadSession, info={_READS: self}, expire_on_commit=False)

    @property
    def serving(self) -> Literal["replica", "primary"]:
        """Where reads go now."""
        return "replica" if self.replica is not None and self._down_until is None else "primary"

    def connect(self) -> Connection:
        """A connection (AUTOCOMMIT) for one read session: the replica's, or the primary's while it is down."""
        if self.replica_reads is not None and self._replica_turn():
            try:
                conn = self.replica_reads.connect()
            except DBAPIError as exc:
                self.mark_down(exc)
            else:
                if self._down_until is not None:
                    self._mark_up()
                return conn
        return self.primary_reads.connect()

    def _replica_turn(self) -> bool:
        if self._down_until is None:
            return True
        with self._lock:
            if self._down_until is None:
                return True
            if self._probing or time.monotonic() < self._down_until:
                return False
            self._probing = True  # this request tries the replica; the others keep reading from the primary
            return True

    def mark_down(self, exc: BaseException) -> None:
        with self._lock:
            was_up = self._down_until is None
            self._down_until = time.monotonic() + self.retry_s
            self._probing = False
            self.last_error = _first_line(exc)
        if was_up:
            log.warning(
                "read replica unavailable, reads go to the primary (the replica is tried again every %g s): %s",
                self.retry_s,
                self.last_error,
            )

    def _mark_up(self) -> None:
        with self._lock:
            self._down_until = None
            self._probing = False
        log.warning("read replica answers again: reads go to it")

    def _on_error(self, context: ExceptionContext) -> None:
        if context.is_disconnect:
            self.mark_down(context.original_exception)

    def dispose(self) -> None:
        if self.replica is not None:
            self.replica.dispose()


def open_reads(primary: Engine, settings: Settings) -> Reads:
    """The app's reads: on ``settings.read_database_url`` when set (an engine of its own), else the primary."""
    replica = None
    if settings.read_database_url:
        replica = make_engine(settings, url=settings.read_database_url, connect_timeout=REPLICA_CONNECT_TIMEOUT_S)
    return Reads(primary, replica, retry_s=settings.replica_retry_s)


def wait_for_replay(primary: Engine, replica: Engine, *, timeout_s: float) -> ReplicaState:
    """Whether the replica has replayed what the primary has written by now (call it after the commit):
    ``applied`` once its replay position passes the primary's ``pg_current_wal_lsn()``, ``pending`` when it
    has not within ``timeout_s`` or does not answer. Never raises for the replica's sake: the load is done.

    Each poll is a statement of its own (AUTOCOMMIT): a snapshot held on the standby could make it delay
    the very replay we wait for (a recovery conflict)."""
    with primary.connect() as conn:
        lsn = conn.execute(text("SELECT pg_current_wal_lsn()::text")).scalar_one()
    deadline = time.monotonic() + timeout_s
    polls = replica.execution_options(isolation_level="AUTOCOMMIT")
    while True:
        try:
            with polls.connect() as conn:
                while True:
                    if conn.execute(_REPLAYED, {"lsn": lsn}).scalar_one():
                        return "applied"
                    if time.monotonic() >= deadline:
                        return "pending"
                    time.sleep(POLL_S)
        except SQLAlchemyError as exc:
            if time.monotonic() >= deadline:
                log.info("the replica has not confirmed WAL position %s: %s", lsn, _first_line(exc))
                return "pending"
            time.sleep(max(POLL_S, min(0.5, deadline - time.monotonic())))


def replica_after_load(primary: Engine, settings: Settings) -> ReplicaState | None:
    """For the CLI after a committed load: ``wait_for_replay`` on ``settings.read_database_url`` (an engine of
    its own, disposed after), or None without a replica."""
    if not settings.read_database_url:
        return None
    replica = make_engine(settings, url=settings.read_database_url, connect_timeout=REPLICA_CONNECT_TIMEOUT_S)
    try:
        return wait_for_replay(primary, replica, timeout_s=settings.replica_wait_s)
    finally:
        replica.dispose()


def replica_health(reads: Reads) -> dict[str, Any] | None:
    """The replica's state for /health (None without a replica): reachable, in recovery, where reads go now,
    its replay position and its lag behind the primary in bytes of WAL and in seconds (0 when it has replayed
    all it received)."""
    if reads.replica_reads is None:
        return None
    state: dict[str, Any] = {"reachable": False}
    try:
        with reads.replica_reads.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text, "
                    "CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
                    "ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END"
                )
            ).one()
    except SQLAlchemyError as exc:
        state["detail"] = "the replica does not answer; reads go to the primary"
        log.warning("health: read replica unavailable: %s", _first_line(exc))
        return {**state, "reads_from": reads.serving}
    in_recovery, replay_lsn, lag_s = row
    state.update(reachable=True, in_recovery=bool(in_recovery), replay_lsn=replay_lsn, lag_bytes=None)
    state["lag_s"] = round(float(lag_s), 3) if lag_s is not None else None
    if replay_lsn is not None:
        try:
            with reads.primary_reads.connect() as conn:
                lag = conn.execute(
                    text("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), CAST(:r AS pg_lsn))"), {"r": replay_lsn}
                ).scalar_one()
            state["lag_bytes"] = max(0, int(lag))
        except SQLAlchemyError as exc:
            log.warning("health: replica lag unknown, the primary does not answer: %s", _first_line(exc))
    if not in_recovery:
        state["detail"] = "GEBIEDSCHECK_READ_DATABASE_URL is not a standby (not in recovery)"
    return {**state, "reads_from": reads.serving}
