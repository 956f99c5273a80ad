"""Faults while serving: the database stops and comes back, a query runs past its time limit."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from service.api.app import create_app
from service.core.settings import PROJECT_ROOT, Settings
from service.loading.pipeline import load_defaults
from service.store.database import init_database, make_engine, session_scope
from service.store.embedded import cluster_dir, find_pg_bin, start_private_cluster, stop_private_cluster
from tests.conftest import live_server
from tests.test_embedded import free_port

HAVENKWARTIER = {"lat": 53.0, "lon": 6.569}


@pytest.mark.skipif(find_pg_bin(Settings(_env_file=None)) is None, reason="no PostgreSQL binaries on this machine")
def test_database_stops_and_returns_while_serving() -> None:
    """A private cluster, started for this test, is stopped and started under the running service."""
    base = Path(tempfile.mkdtemp(prefix="gebiedscheck-faults-"))
    settings = Settings(
        _env_file=None,
        data_dir=base / "data",
        embedded_port=free_port(),
        layers_dir=PROJECT_ROOT / "layers",
        loaded_by="pytest",
    )
    try:
        url = start_private_cluster(settings)
        init_database(url)
        settings = settings.model_copy(update={"database_url": url})
        engine = make_engine(settings)
        with session_scope(engine) as session:
            load_defaults(session, settings=settings)
        engine.dispose()
        with live_server(create_app(settings)) as api:
            ok = httpx.get(f"{api}/zones/at", params=HAVENKWARTIER)
            assert ok.status_code == 200 and "havenkwartier" in [z["layer"] for z in ok.json()["zones"]]

            stop_private_cluster(settings)
            down = httpx.get(f"{api}/zones/at", params=HAVENKWARTIER)
            assert down.status_code == 503, down.text
            assert down.json() == {"detail": "the database is unavailable; try again later"}
            health = httpx.get(f"{api}/health")
            assert health.status_code == 503 and health.json()["database"]["reachable"] is False
            assert httpx.get(f"{api}/zones/at", params=HAVENKWARTIER).status_code == 503  # still down: still 503

            start_private_cluster(settings)
            statuses = []
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                r = httpx.get(f"{api}/zones/at", params=HAVENKWARTIER)
                statuses.append(r.status_code)
                if r.status_code == 200:
                    break
                time.sleep(0.2)
            # Back without a restart of the service; at most the first request on a stale connection fails.
            assert statuses[-1] == 200 and statuses.count(503) <= 1, statuses
            assert httpx.get(f"{api}/health").json()["status"] == "ok"
            assert all(httpx.get(f"{api}/zones/at", params=HAVENKWARTIER).status_code == 200 for _ in range(10))
    finally:
        cdir = cluster_dir(settings)
        stop_private_cluster(settings)
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(cdir.parent if "/var/tmp/gebiedscheck/" in str(cdir) else cdir, ignore_errors=True)


def test_a_slow_query_gets_504_and_frees_its_connection(qsettings, qengine) -> None:
    """A table locked by someone else makes the question wait past the statement timeout."""
    app = create_app(qsettings.model_copy(update={"statement_timeout_ms": 400}))
    locked = threading.Event()
    release = threading.Event()

    def hold_lock() -> None:
        with qengine.connect() as conn:
            conn.execute(text("LOCK TABLE features IN ACCESS EXCLUSIVE MODE"))
            locked.set()
            release.wait(30)
            conn.rollback()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert locked.wait(10)
        with TestClient(app, raise_server_exceptions=False) as client:
            t = time.perf_counter()
            r = client.get("/zones/at", params=HAVENKWARTIER)
            took = time.perf_counter() - t
            assert r.status_code == 504, r.text
            assert r.json()["detail"] == "the question took longer than the time limit of 0.4 s and was stopped"
            assert 0.35 < took < 5
            assert app.state.engine.pool.checkedout() == 0  # the connection went back to the pool
            release.set()
            holder.join(10)
            again = client.get("/zones/at", params=HAVENKWARTIER)
            assert again.status_code == 200 and "havenkwartier" in [z["layer"] for z in again.json()["zones"]]
    finally:
        release.set()
        holder.join(10)
