"""Helpers shared by the CLI modules: resolved settings, a session, Dutch errors, tables, JSON output.

Errors end every command the same way, in one place: :func:`fail` prints one Dutch line (``Fout: ...``) and
exits with code 1. Domain errors arrive there from the commands and from :func:`cli_session`; database errors
(a statement timeout, a lost or refused connection, a pool without a free connection) from
:func:`cli_session` and, for the commands that open no such session, from :class:`CliGroup` (the group class
of the ``gebiedscheck`` app), translated through :func:`service.core.errors.from_database_error`. No traceback
reaches the user; with ``--verbose`` the cause goes to the log.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

import psycopg
import typer
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session
from typer.core import TyperGroup

from service.core.errors import (
    DatabaseUnavailable,
    GebiedscheckError,
    InvalidInput,
    QueryTimeout,
    ServiceBusy,
    from_database_error,
)
from service.core.settings import Settings, get_settings

out = Console()
err = Console(stderr=True)
log = logging.getLogger("gebiedscheck.cli")
# What a command may end with that is not a bug: domain errors and database errors (SQLAlchemy's wrappers,
# and psycopg's own from raw cursors).
DATABASE_ERRORS: tuple[type[BaseException], ...] = (DBAPIError, PoolTimeout, psycopg.Error)
CLI_ERRORS: tuple[type[BaseException], ...] = (GebiedscheckError, *DATABASE_ERRORS)


def resolved_settings() -> Settings:
    """Settings with the database resolved (DATABASE_URL, local server, or a private cluster)."""
    from service.store.embedded import resolve_database_url

    settings = get_settings()
    return settings.model_copy(update={"database_url": resolve_database_url(settings)})


def _seconds(ms: int) -> str:
    return f"{ms / 1000:g}".replace(".", ",")


def database_message(exc: BaseException) -> str:
    """One Dutch line for a database error (the driver's own text goes to the log only)."""
    settings = get_settings()
    named = from_database_error(exc, timeout_ms=settings.statement_timeout_ms)
    log.info("databasefout: %r", exc, exc_info=exc)
    if isinstance(named, QueryTimeout):
        return (
            "de databaseopdracht duurde langer dan de tijdslimiet en is afgebroken (tijdslimiet "
            f"{_seconds(settings.statement_timeout_ms)} s, GEBIEDSCHECK_STATEMENT_TIMEOUT_MS; bij het laden van "
            f"lagen {_seconds(settings.load_statement_timeout_ms)} s, GEBIEDSCHECK_LOAD_STATEMENT_TIMEOUT_MS)"
        )
    if isinstance(named, ServiceBusy):
        return "er kwam niet op tijd een databaseverbinding vrij; probeer het zo opnieuw"
    if isinstance(named, DatabaseUnavailable):
        return "de database is niet bereikbaar (verbinding geweigerd of verbroken); probeer het later opnieuw"
    if isinstance(named, InvalidInput):
        cause = getattr(exc, "orig", exc)
        first = str(cause).strip().splitlines()[0][:200] if str(cause).strip() else ""
        return f"een waarde is voor de database niet bruikbaar: {first}"
    orig = getattr(exc, "orig", None) or exc
    if isinstance(orig, psycopg.errors.UndefinedTable):
        return "de database heeft (nog) niet de tabellen van Gebiedscheck; voer eerst `gebiedscheck db init` uit"
    return f"onverwachte databasefout ({type(orig).__name__}); met --verbose meer details"


def fail(exc: BaseException | str, code: int = 1) -> NoReturn:
    """Print one Dutch line ``Fout: ...`` and end the command with ``code``.

    ``exc`` is a message, a domain error (its detail), or a database error (see :func:`database_message`).
    """
    if isinstance(exc, GebiedscheckError):
        message = exc.detail
    elif isinstance(exc, DATABASE_ERRORS):
        message = database_message(exc)
    elif isinstance(exc, BaseException):
        message = str(exc)
    else:
        message = exc
    err.print(f"[bold red]Fout:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=code)


class CliGroup(TyperGroup):
    """The ``gebiedscheck`` group: a domain or database error left by any command ends in :func:`fail`."""

    def invoke(self, ctx: Any) -> Any:  # typer's own (vendored) click Context
        try:
            return super().invoke(ctx)
        except CLI_ERRORS as exc:
            fail(exc)


@contextmanager
def cli_session() -> Iterator[tuple[Session, Settings]]:
    """A session on the resolved database; domain and database errors become a Dutch message and exit code 1."""
    from service.store.database import make_engine, make_sessionmaker

    try:
        settings = resolved_settings()
        engine = make_engine(settings)
        try:
            with make_sessionmaker(engine)() as session:
                yield session, settings
        finally:
            engine.dispose()
    except CLI_ERRORS as exc:
        fail(exc)


def print_json(value: BaseModel | Sequence[BaseModel] | dict[str, Any]) -> None:
    if isinstance(value, BaseModel):
        data: Any = value.model_dump(mode="json")
    elif isinstance(value, dict):
        data = value
    else:
        data = [v.model_dump(mode="json") for v in value]
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    t = Table(title=title, title_justify="left")
    for col in columns:
        t.add_column(col, overflow="fold")
    for row in rows:
        t.add_row(*["–" if v is None else str(v) for v in row])
    out.print(t)


DUTCH_SEPARATORS = str.maketrans({",": ".", ".": ","})


def nl(value: float | None, digits: int = 0) -> str:
    """A number the Dutch way: a dot between thousands and a decimal comma (``3.596``, ``1.234,5``, ``56,6``)."""
    if value is None:
        return "–"
    return f"{value:,.{digits}f}".translate(DUTCH_SEPARATORS)
