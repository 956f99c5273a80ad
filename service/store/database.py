"""Engine, database creation, PostGIS and migrations."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from service.core.errors import ConfigurationError, DatabaseUnavailable
from service.core.settings import Settings, get_settings

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
HEAD_REVISION = "0010"


def sqlalchemy_url(url: str) -> str:
    """``postgresql://user@host:port/db`` (the usual libpq form) -> the SQLAlchemy psycopg 3 URL."""
    u = make_url(url)
    if u.get_backend_name() not in ("postgresql", "postgres"):
        raise ConfigurationError(f"DATABASE_URL must be a postgresql:// URL, not {u.drivername}://")
    return u.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def libpq_url(url: str, *, database: str | None = None) -> str:
    """The plain libpq form of ``url`` (optionally for another database), for psycopg.connect."""
    u = make_url(url).set(drivername="postgresql")
    if database is not None:
        u = u.set(database=database)
    return u.render_as_string(hide_password=False)


def database_name(url: str) -> str:
    name = make_url(url).database
    if not name:
        raise ConfigurationError("DATABASE_URL names no database")
    return name


def server_answers(url: str, *, timeout: int = 3) -> bool:
    """Whether a PostgreSQL server answers at ``url``'s host and port (any database will do)."""
    try:
        with psycopg.connect(libpq_url(url, database="postgres"), connect_timeout=timeout):
            return True
    except psycopg.OperationalError as exc:
        # A server that answers but refuses the maintenance database still counts as answering.
        return "does not exist" in str(exc)


def make_engine(settings: Settings | None = None, *, url: str | None = None, connect_timeout: int = 5) -> Engine:
    settings = settings or get_settings()
    target = url or settings.effective_database_url
    engine = create_engine(
        sqlalchemy_url(target),
        pool_size=settings.pool_size,
        # No ping per checkout (it cost ~0.8 ms a request): a connection that died with the server fails its
        # query once (503, clear message), SQLAlchemy then invalidates the pool and the next request reconnects.
        pool_pre_ping=settings.pool_pre_ping,
        pool_recycle=1800,
        connect_args={
            "connect_timeout": connect_timeout,
            # No JIT: with a national layer many plans cost past jit_above_cost (100,000) and PostgreSQL compiled
            # each of them again, 10-15 ms per statement that runs in one (a /collections of 14 layers: 0.7 s).
            "options": f"-c statement_timeout={settings.statement_timeout_ms} -c jit=off",
            "application_name": "gebiedscheck",
        },
    )
    from service.store.timetravel import install_reset

    install_reset(engine)
    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def create_database(url: str) -> bool:
    """Create the database named in ``url`` when missing. Returns True when it was created."""
    name = database_name(url)
    try:
        with psycopg.connect(libpq_url(url, database="postgres"), autocommit=True, connect_timeout=5) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if exists:
                return False
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            log.info("created database %s", name)
            return True
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable("the PostgreSQL server does not answer", cause=exc) from exc


def drop_database(url: str) -> None:
    name = database_name(url)
    with psycopg.connect(libpq_url(url, database="postgres"), autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def ensure_postgis(url: str) -> str:
    """Create the postgis extension when missing; returns the PostGIS version."""
    try:
        with psycopg.connect(libpq_url(url), autocommit=True, connect_timeout=5) as conn:
            available = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'").fetchone()
            if not available:
                raise ConfigurationError(
                    "PostGIS is not installed on this PostgreSQL server. Install it "
                    "(Debian: apt-get install -y postgresql-15-postgis-3), or point DATABASE_URL at a "
                    "server that has it, or run `docker compose up`."
                )
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            row = conn.execute("SELECT postgis_lib_version()").fetchone()
            return str(row[0]) if row else "?"
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable("the database does not answer", cause=exc) from exc


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    return cfg


def migrate(url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def init_database(url: str) -> dict[str, Any]:
    """Create the database (if missing), the postgis extension and run the migrations. Idempotent."""
    created = create_database(url)
    postgis = ensure_postgis(url)
    migrate(url)
    return {"database": database_name(url), "created": created, "postgis": postgis}


def database_state(engine: Engine) -> dict[str, Any]:
    """What /health reports: reachable, PostGIS version, schema revision and layer count."""
    with engine.connect() as conn:
        postgis = conn.execute(text("SELECT postgis_lib_version()")).scalar()
        revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        layers = conn.execute(text("SELECT count(*) FROM layers")).scalar()
        current = conn.execute(text("SELECT count(*) FROM layers WHERE current_version_id IS NOT NULL")).scalar()
    return {
        "reachable": True,
        "postgis": postgis,
        "schema_revision": revision,
        "layers": layers,
        "layers_loaded": current,
    }


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session in one transaction: committed on success, rolled back on any error."""
    with make_sessionmaker(engine)() as session, session.begin():
        yield session
