"""The per-client rate limit of the heavy endpoints, shared by every worker process through the database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from benchmarks.loadgen import wait_until_up
from service.api.app import create_app
from tests.test_embedded import free_port

POLYGON = {
    "type": "Polygon",
    "coordinates": [[[6.566, 52.999], [6.571, 52.999], [6.571, 53.001], [6.566, 53.001], [6.566, 52.999]]],
}


def _not_at_a_window_edge(needed_s: float = 6) -> None:
    """The limit counts per clock minute: start early enough in one that the test ends inside it."""
    into = time.time() % 60
    if into > 60 - needed_s:
        time.sleep(60.5 - into)


@pytest.fixture
def clear_counters(qengine):
    with qengine.begin() as c:
        c.execute(text("DELETE FROM rate_counters"))
    yield
    with qengine.begin() as c:
        c.execute(text("DELETE FROM rate_counters"))


def test_heavy_endpoints_answer_429_past_the_limit(qsettings, qengine, clear_counters) -> None:
    _not_at_a_window_edge()
    with TestClient(create_app(qsettings.model_copy(update={"rate_limit_per_minute": 3}))) as client:
        for _ in range(3):
            assert client.post("/heat/overlap", json=POLYGON).status_code == 200
        r = client.post("/heat/overlap", json=POLYGON)
        assert r.status_code == 429
        assert 1 <= int(r.headers["retry-after"]) <= 60
        assert r.json()["detail"].startswith("too many requests: at most 3 a minute")
        # The limit is per client across the heavy endpoints; the cheap ones are never limited.
        assert client.post("/check", json={"type": "Feature", "geometry": POLYGON}).status_code == 429
        assert client.get("/heat/overlap?layer=havenkwartier&feature_id=havenkwartier").status_code == 429
        assert all(client.get("/zones/at?lat=53.0&lon=6.569").status_code == 200 for _ in range(10))
        assert client.get("/heat/at?lat=53.0&lon=6.569").status_code == 200
        again = client.post("/heat/overlap", json=POLYGON)
        assert again.status_code == 429 and again.json()["detail"].startswith("too many requests: at most 3 a minute")
    with qengine.connect() as c:  # once over the limit, refused by the worker itself: no more database writes
        assert c.execute(text("SELECT sum(hits) FROM rate_counters")).scalar_one() == 4


def test_two_apps_on_one_database_share_the_count(qsettings, clear_counters) -> None:
    _not_at_a_window_edge()
    limited = qsettings.model_copy(update={"rate_limit_per_minute": 4})
    with TestClient(create_app(limited)) as a, TestClient(create_app(limited)) as b:
        statuses = [c.post("/heat/overlap", json=POLYGON).status_code for c in (a, b, a, b, a, b)]
    assert statuses == [200, 200, 200, 200, 429, 429]


def test_serve_with_two_workers(qsettings, clear_counters) -> None:
    """`gebiedscheck serve --workers 2`: two processes answer, and the rate limit holds across them."""
    _not_at_a_window_edge(25)
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": str(qsettings.database_url),
        "GEBIEDSCHECK_DATA_DIR": str(qsettings.data_dir),
        "GEBIEDSCHECK_RATE_LIMIT_PER_MINUTE": "5",
        "GEBIEDSCHECK_LOG_LEVEL": "warning",
    }
    cli = [sys.executable, "-m", "service.cli.main", "serve", "--port", str(port), "--workers", "2"]
    proc = subprocess.Popen(cli, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base)
        import psutil

        children = psutil.Process(proc.pid).children()
        assert len([c for c in children if "spawn_main" in " ".join(c.cmdline())]) == 2
        with httpx.Client(base_url=base, timeout=30) as client:
            # New connections each time, so both workers get requests.
            statuses = [httpx.post(f"{base}/heat/overlap", json=POLYGON, timeout=30).status_code for _ in range(12)]
            assert statuses.count(200) == 5 and statuses.count(429) == 7, statuses
            assert all(client.get("/zones/at?lat=53.0&lon=6.569").status_code == 200 for _ in range(20))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)


def test_heavy_questions_wait_for_a_slot_and_cheap_ones_do_not(qsettings, clear_counters) -> None:
    import asyncio

    app = create_app(qsettings.model_copy(update={"heavy_wait_s": 0.3}))
    with TestClient(app) as client:
        app.state.heavy_slots = asyncio.Semaphore(0)  # every heavy slot taken
        t = time.perf_counter()
        r = client.post("/heat/overlap", json=POLYGON)
        assert r.status_code == 503 and "busy with heavy questions" in r.json()["detail"]
        assert 0.25 < time.perf_counter() - t < 5
        assert client.get("/zones/at?lat=53.0&lon=6.569").status_code == 200  # never waits for a heavy slot
        app.state.heavy_slots = asyncio.Semaphore(1)
        assert client.post("/heat/overlap", json=POLYGON).status_code == 200
