"""Helpers shared by the CLI modules: resolved settings, a session, Dutch errors, tables, JSON output."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from service.errors import GebiedscheckError
from service.settings import Settings, get_settings

out = Console()
err = Console(stderr=True)


def resolved_settings() -> Settings:
    """Settings with the database resolved (DATABASE_URL, local server, or a private cluster)."""
    from service.embedded import resolve_database_url

    settings = get_settings()
    return settings.model_copy(update={"database_url": resolve_database_url(settings)})


def fail(exc: GebiedscheckError | str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]Fout:[/] {exc.detail if isinstance(exc, GebiedscheckError) else exc}")
    raise typer.Exit(code=code)


@contextmanager
def cli_session() -> Iterator[tuple[Session, Settings]]:
    """A session on the resolved database; domain errors become a Dutch message and exit code 1."""
    from service.database import make_engine, make_sessionmaker

    try:
        settings = resolved_settings()
        engine = make_engine(settings)
        try:
            with make_sessionmaker(engine)() as session:
                yield session, settings
        finally:
            engine.dispose()
    except GebiedscheckError as exc:
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


def nl(value: float | None, digits: int = 0) -> str:
    """A number the Dutch way: 1 234,5."""
    if value is None:
        return "–"
    return f"{value:,.{digits}f}".replace(",", " ").replace(".", ",")
