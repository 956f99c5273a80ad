"""Reads from a streaming replica (``GEBIEDSCHECK_READ_DATABASE_URL``), writes on the primary.

A private primary and its ``pg_basebackup -R`` standby (``tests/pgreplica.py``). The proof that a read was
answered by the standby: its WAL replay is paused (``pg_wal_replay_pause()``) while the primary takes a new
version, so the standby alone still has the old one; an answer with the old version can only come from it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.core.settings import PROJECT_ROOT, Settings
from service.loading.pipeline import load_defaults
from service.store.access import create_key
from service.store.database import init_database, make_engine, session_scope
from service.store.replica import replica_after_load
from tests.conftest import DATA, RATE_LIMIT
from tests.pgreplica import ReplicaPair, replica_pair

# In the moved Havenkwartier of tests/data/havenkwartier_oost.geojson, outside the default one.
EAST = {"lat": 52.99888, "lon": 6.57688}
EAST_BBOX = "6.5768,52.9988,6.5770,52.9990"
POINT_CHECK = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [EAST["lon"], EAST["lat"]]}}


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReplicaPair]:
    with replica_pair(tmp_path_factory.mktemp("replica")) as p:
        yield p


@pytest.fixture(scope="module")
def rsettings(pair: ReplicaPair, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = Settings(
        _env_file=None,
        database_url=pair.primary_url,
        read_database_url=pair.standby_url,
        replica_wait_s=3.0,
        replica_retry_s=0.5,
        layers_dir=PROJECT_ROOT / "layers",
        data_dir=tmp_path_factory.mktemp("rdata"),
        loaded_by="pytest",
        rate_limit_per_minute=RATE_LIMIT,
    )
    init_database(pair.primary_url)
    engine = make_engine(settings)
    with session_scope(engine) as s:
        load_defaults(s, settings=settings)
    engine.dispose()
    pair.wait_replayed(pair.current_lsn(), timeout=15)
    return settings


@pytest.fixture(scope="module")
def auth(rsettings: Settings) -> dict[str, str]:
    engine = make_engine(rsettings)
    with session_scope(engine) as s:
        _, secret = create_key(s, name="gis-team")
    engine.dispose()
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture(scope="module")
def client(rsettings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(rsettings), raise_server_exceptions=False) as c:
        yield c


def replay(pair: ReplicaPair, action: str) -> None:
    with psycopg.connect(pair.standby_conninfo, autocommit=True, connect_timeout=5) as con:
        con.execute(f"SELECT pg_wal_replay_{action}()")


def version_on_primary(pair: ReplicaPair) -> int:
    with psycopg.connect(pair.primary_conninfo, autocommit=True, connect_timeout=5) as con:
        row = con.execute(
            "SELECT v.number FROM layers l JOIN layer_versions v ON v.id = l.current_version_id "
            "WHERE l.slug = 'havenkwartier'"
        ).fetchone()
    assert row is not None
    return int(row[0])


def answers(client: TestClient) -> tuple[int, bool, int]:
    """What the reads say about Havenkwartier: the version in force (/layers), whether the point in the moved
    zone is in it (/zones/at) and how many of its features lie in a small box there (OGC API items)."""
    layer = client.get("/layers/havenkwartier")
    assert layer.status_code == 200, layer.text
    zones = client.get("/zones/at", params=EAST)
    assert zones.status_code == 200, zones.text
    items = client.get("/collections/havenkwartier/items", params={"bbox": EAST_BBOX, "f": "json"})
    assert items.status_code == 200, items.text
    inside = "havenkwartier" in {z["layer"] for z in zones.json()["zones"]}
    return layer.json()["version"], inside, len(items.json()["features"])


def upload(client: TestClient, auth: dict[str, str], file: Path) -> Any:
    with file.open("rb") as fh:
        return client.post("/layers/havenkwartier/versions", files={"file": (file.name, fh)}, headers=auth)


def activate(client: TestClient, auth: dict[str, str], number: int) -> Any:
    return client.post(f"/layers/havenkwartier/versions/{number}/activate", headers=auth)


def test_reads_come_from_the_standby_and_a_load_says_when_it_has_it(pair, client, auth, rsettings) -> None:
    t0 = time.monotonic()
    health = client.get("/health").json()
    assert health["status"] == "ok", health
    replica = health["replica"]
    assert replica["reachable"] is True and replica["in_recovery"] is True and replica["reads_from"] == "replica"
    assert replica["lag_bytes"] >= 0 and replica["lag_s"] is not None
    assert answers(client) == (1, False, 0)

    # Replay paused: the primary takes version 2, the standby keeps version 1.
    replay(pair, "pause")
    try:
        r = upload(client, auth, DATA / "havenkwartier_oost.geojson")  # a write: refused on a standby
        assert r.status_code == 201, r.text
        assert r.json()["version"] == 2 and r.json()["replica"] == "pending"
        assert version_on_primary(pair) == 2
        assert answers(client) == (1, False, 0)  # only the standby still has version 1
        # A heavy question: read on the standby, its rate-limit count written on the primary.
        check = client.post("/check", json=POINT_CHECK)
        assert check.status_code == 200, check.text
        assert "havenkwartier" not in {z["layer"] for z in check.json()["zones"]}
        # The batch needs a temporary table: on the primary, so it already sees version 2.
        batch = client.post("/check/batch", json={"type": "FeatureCollection", "features": [POINT_CHECK]})
        assert batch.status_code == 200, batch.text
    finally:
        replay(pair, "resume")
    pair.wait_replayed(pair.current_lsn(), timeout=10)
    assert answers(client) == (2, True, 1)

    # Replay running: the load's answer waits for it, and the next read already has it.
    r = activate(client, auth, 1)
    assert r.status_code == 200, r.text
    assert r.json()["number"] == 1 and r.json()["replica"] == "applied"
    assert answers(client) == (1, False, 0)
    r = upload(client, auth, DATA / "havenkwartier_oost.geojson")
    assert r.status_code == 201 and r.json()["replica"] == "applied", r.text
    loaded = r.json()["version"]
    assert loaded > 1 and answers(client) == (loaded, True, 1)
    # The CLI's check after its own commit.
    primary = make_engine(rsettings)
    try:
        assert replica_after_load(primary, rsettings) == "applied"
        assert replica_after_load(primary, rsettings.model_copy(update={"read_database_url": None})) is None
    finally:
        primary.dispose()
    assert time.monotonic() - t0 < 30


def test_an_empty_read_url_is_no_replica(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEBIEDSCHECK_READ_DATABASE_URL", " ")
    assert Settings(_env_file=None).read_database_url is None
    monkeypatch.setenv("GEBIEDSCHECK_READ_DATABASE_URL", "postgresql://lezer@replica:5432/gebiedscheck")
    assert Settings(_env_file=None).read_database_url == "postgresql://lezer@replica:5432/gebiedscheck"


def test_a_stopped_standby_sends_reads_to_the_primary_until_it_is_back(pair, client, auth, rsettings) -> None:
    t0 = time.monotonic()
    before = answers(client)
    assert client.get("/health").json()["replica"]["reads_from"] == "replica"

    pair.stop_standby()
    # The pooled standby connections are dead: every read is answered by the primary, no 503, no restart.
    assert answers(client) == before
    tile = client.get("/collections/havenkwartier/tiles/WebMercatorQuad/14/5337/8491")
    assert tile.status_code in (200, 204), tile.text
    health = client.get("/health")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "degraded" and body["database"]["reachable"] is True
    assert body["replica"]["reachable"] is False and body["replica"]["reads_from"] == "primary"
    assert "127.0.0.1" not in health.text  # no connection details leak
    # A load while it is down: done on the primary, the replica's copy pending.
    r = activate(client, auth, 1)
    assert r.status_code == 200 and r.json()["replica"] == "pending", r.text
    assert answers(client) == (1, False, 0)

    pair.start_standby()
    pair.wait_replayed(pair.current_lsn(), timeout=15)
    time.sleep(rsettings.replica_retry_s)
    assert answers(client) == (1, False, 0)  # the first read after the retry time tries the standby again
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["replica"]["reads_from"] == "replica", health
    # And it is the standby that answers: with its replay paused, it alone keeps version 1.
    replay(pair, "pause")
    try:
        r = activate(client, auth, 2)
        assert r.status_code == 200 and r.json()["replica"] == "pending", r.text
        assert version_on_primary(pair) == 2
        assert answers(client) == (1, False, 0)
    finally:
        replay(pair, "resume")
    pair.wait_replayed(pair.current_lsn(), timeout=10)
    assert answers(client) == (2, True, 1)
    assert time.monotonic() - t0 < 30
