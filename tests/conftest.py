"""Fixtures: a throwaway PostGIS database per test session, never the user's data.

The server is the one ``DATABASE_URL`` points to (or the local default / a private cluster, as the
service itself would pick); the database is always a new ``gebiedscheck_test_<random>`` that is
created, migrated, loaded with the default layers and dropped at the end.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from service.core.settings import PROJECT_ROOT, Settings
from service.loading.pipeline import LoadResult, load_defaults
from service.store.database import drop_database, init_database, make_engine, make_sessionmaker, session_scope
from service.store.embedded import resolve_database_url

DATA = Path(__file__).parent / "data"
# The suite asks the heavy endpoints far more than 60 times a minute: counted, never limited
# (tests/test_ratelimit.py sets its own limits).
RATE_LIMIT = 1_000_000


def throwaway_url(server_url: str, prefix: str = "gebiedscheck_test") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def server_url() -> str:
    base = os.environ.get("TEST_DATABASE_URL") or resolve_database_url(Settings(_env_file=None))
    return base


@pytest.fixture(scope="session")
def db_url(server_url: str) -> Iterator[str]:
    url = throwaway_url(server_url)
    init_database(url)
    yield url
    drop_database(url)


@pytest.fixture(scope="session")
def settings(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        _env_file=None,
        database_url=db_url,
        layers_dir=PROJECT_ROOT / "layers",
        data_dir=tmp_path_factory.mktemp("data"),
        loaded_by="pytest",
        rate_limit_per_minute=RATE_LIMIT,
    )


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[Engine]:
    eng = make_engine(settings)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def loaded(engine: Engine, settings: Settings) -> list[LoadResult]:
    """The default layers, loaded once for the session."""
    with session_scope(engine) as session:
        return load_defaults(session, settings=settings)


@pytest.fixture
def session(engine: Engine, loaded: list[LoadResult]) -> Iterator[Session]:
    with make_sessionmaker(engine)() as s:
        yield s


@pytest.fixture(scope="session")
def qsettings(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A database with the default layers plus 'testgebied' (a zone with a hole and a second part)."""
    from service.loading.manifest import ManifestLayer
    from service.loading.pipeline import read_vector, write_version

    url = throwaway_url(server_url, prefix="gebiedscheck_test_q")
    init_database(url)
    settings = Settings(
        _env_file=None,
        database_url=url,
        layers_dir=PROJECT_ROOT / "layers",
        data_dir=tmp_path_factory.mktemp("qdata"),
        loaded_by="pytest",
        rate_limit_per_minute=RATE_LIMIT,
    )
    engine = make_engine(settings)
    spec = ManifestLayer(
        slug="testgebied",
        title="Testgebied",
        file=str(DATA / "testgebied.gpkg"),
        description="test",
        policy_section="§0",
        policy_summary="Testbeleid.",
        provenance="indicatief — test",
        licence="CC0",
        accuracy_m=5,
    )
    with session_scope(engine) as session:
        load_defaults(session, settings=settings)
        write_version(
            session,
            layer=spec,
            prepared=read_vector(DATA / "testgebied.gpkg"),
            created_by="pytest",
            settings=settings,
        )
    engine.dispose()
    yield settings
    drop_database(url)


@pytest.fixture(scope="session")
def qengine(qsettings: Settings) -> Iterator[Engine]:
    eng = make_engine(qsettings)
    yield eng
    eng.dispose()


@pytest.fixture
def qsession(qengine: Engine) -> Iterator[Session]:
    with make_sessionmaker(qengine)() as s:
        yield s


@pytest.fixture(scope="session")
def qclient(qsettings: Settings):
    from fastapi.testclient import TestClient

    from service.api.app import create_app

    with TestClient(create_app(qsettings), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def cli_env(qsettings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The CLI (and notebooks) pointed at the questions database through the environment."""
    from service.core.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", str(qsettings.database_url))
    monkeypatch.setenv("GEBIEDSCHECK_DATA_DIR", str(qsettings.data_dir))
    monkeypatch.setenv("GEBIEDSCHECK_RATE_LIMIT_PER_MINUTE", str(RATE_LIMIT))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@contextmanager
def defaults_database(server_url: str, data_dir: Path, prefix: str, **overrides: object) -> Iterator[Settings]:
    """A throwaway database with the default layers loaded, for a module of its own; dropped afterwards."""
    url = throwaway_url(server_url, prefix=prefix)
    init_database(url)
    overrides.setdefault("rate_limit_per_minute", RATE_LIMIT)
    settings = Settings(
        _env_file=None,
        database_url=url,
        layers_dir=PROJECT_ROOT / "layers",
        data_dir=data_dir,
        loaded_by="pytest",
        **overrides,
    )  # type: ignore[arg-type]
    engine = make_engine(settings)
    with session_scope(engine) as s:
        load_defaults(s, settings=settings)
    engine.dispose()
    try:
        yield settings
    finally:
        drop_database(url)


@contextmanager
def live_server(app: object) -> Iterator[str]:
    """The app served by uvicorn on a free loopback port, in a thread; yields its base URL."""
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))  # type: ignore[arg-type]
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(100):
        if srv.started:
            break
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(10)


def api_key(settings: Settings, name: str = "gis-team") -> str:
    """A new API key (role beheer) in ``settings``' database; the secret."""
    from service.store.access import create_key

    engine = make_engine(settings)
    with make_sessionmaker(engine)() as s, s.begin():
        _, secret = create_key(s, name=name)
    engine.dispose()
    return secret


# --- the browser tests: Debian's Chromium (never a downloaded browser), driven by Playwright -------------------

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent / "artifacts"
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    """A headless Chromium per test module (each test opens its own pages or contexts). Not for the whole session:
    Playwright's sync API keeps an event loop running in this thread while it lives, which tests that call
    asyncio.run() (tests/test_load.py) cannot share."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian chromium is needed: apt-get install chromium (make install does it)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(qsettings: Settings) -> Iterator[str]:
    """The app on the questions database, served on loopback for the browser tests (a module may override it)."""
    from service.api.app import create_app

    with live_server(create_app(qsettings)) as url:
        yield url
