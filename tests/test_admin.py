"""Writing through the API: API keys (hashed, revocable), 401/403, uploads, rollback, and the audit log."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from service.api.app import create_app
from service.cli.main import app
from service.core.settings import Settings, get_settings
from service.store.access import create_key, revoke_key
from service.store.database import make_engine, make_sessionmaker
from tests.conftest import DATA, defaults_database


@pytest.fixture(scope="module")
def asettings(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    with defaults_database(
        server_url, tmp_path_factory.mktemp("adata"), "gebiedscheck_test_a", max_body_bytes=200_000
    ) as settings:
        yield settings


@pytest.fixture(scope="module")
def client(asettings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(asettings), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def keys(asettings: Settings) -> dict[str, str]:
    engine = make_engine(asettings)
    with make_sessionmaker(engine)() as s, s.begin():
        _, good = create_key(s, name="gis-team")
        k2, revoked = create_key(s, name="oud")
        revoke_key(s, k2.id)
    engine.dispose()
    return {"good": good, "revoked": revoked}


def audit_rows(asettings: Settings) -> list[tuple[str, str, str]]:
    engine = make_engine(asettings)
    with engine.connect() as c:
        rows = [tuple(r) for r in c.execute(text("SELECT action, target, result FROM audit_log ORDER BY id"))]
    engine.dispose()
    return rows


def upload(client: TestClient, slug: str, file: str, key: str | None, **form: str):  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with (DATA / file).open("rb") as fh:
        return client.post(f"/layers/{slug}/versions", files={"file": (file, fh)}, data=form, headers=headers)


def refused_attempts(asettings: Settings) -> int:
    """Refused authentications, counted in one audit row per client and minute (migration 0007)."""
    engine = make_engine(asettings)
    with engine.connect() as c:
        n = c.execute(text("SELECT coalesce(sum(attempts), 0) FROM audit_log WHERE result = 'refused'")).scalar_one()
    engine.dispose()
    return int(n)


def test_writes_need_a_valid_key_reads_do_not(client, keys, asettings) -> None:
    refused_before = refused_attempts(asettings)
    r = upload(client, "havenkwartier", "havenkwartier_oost.geojson", None)
    assert r.status_code == 401 and "Authorization: Bearer" in r.json()["detail"]
    r = upload(client, "havenkwartier", "havenkwartier_oost.geojson", keys["revoked"])
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    r = upload(client, "havenkwartier", "havenkwartier_oost.geojson", "gbc_niet-bestaand")
    assert r.status_code == 401
    assert client.get("/layers/havenkwartier").json()["version"] == 1  # nothing changed, reads work
    assert audit_rows(asettings)[-1] == ("load_version", "havenkwartier", "refused")
    assert refused_attempts(asettings) == refused_before + 3  # the three refusals, in this minute's row


def test_upload_dry_run_load_and_rollback(client, keys, asettings) -> None:
    r = upload(client, "havenkwartier", "havenkwartier_oost.geojson", keys["good"], dry_run="true")
    assert r.status_code == 201 and r.json()["changed"] == ["havenkwartier"] and r.json()["current_version"] == 1
    assert client.get("/layers/havenkwartier").json()["version"] == 1
    r = upload(
        client,
        "havenkwartier",
        "havenkwartier_oost.geojson",
        keys["good"],
        note="verschoven",
        provenance="officieel — test",
        official="true",
    )
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 2 and r.json()["source_name"] == "havenkwartier_oost.geojson"
    layer = client.get("/layers/havenkwartier").json()
    assert layer["version"] == 2
    hist = client.get("/layers/havenkwartier/versions").json()
    assert hist[0]["created_by"] == "gis-team (#1)" and hist[0]["note"] == "verschoven"
    r = client.post("/layers/havenkwartier/versions/1/activate", headers={"Authorization": f"Bearer {keys['good']}"})
    assert r.status_code == 200 and r.json()["number"] == 1
    assert client.get("/layers/havenkwartier").json()["version"] == 1
    r = client.post("/layers/havenkwartier/versions/7/activate", headers={"Authorization": f"Bearer {keys['good']}"})
    assert r.status_code == 404
    results = [(a, t, res) for a, t, res in audit_rows(asettings)]
    assert ("load_version (dry run)", "havenkwartier", "ok") in results
    assert ("load_version", "havenkwartier", "ok") in results
    assert ("activate", "havenkwartier/1", "ok") in results and ("activate", "havenkwartier/7", "failed") in results


def test_create_layer_then_first_version(client, keys) -> None:
    auth = {"Authorization": f"Bearer {keys['good']}"}
    body = {"slug": "proef", "title": "Proefgebied", "provenance": "indicatief — test"}
    assert client.post("/layers", json=body).status_code == 401
    assert client.post("/layers", json=body, headers=auth).status_code == 201
    assert client.post("/layers", json=body, headers=auth).status_code == 422
    assert client.get("/layers/proef").json()["version"] is None
    r = upload(client, "proef", "proefgebied.zip", keys["good"], name_field="naam")
    assert r.status_code == 201, r.text
    zones = client.get("/zones/at?x=234000&y=557000&crs=EPSG:28992").json()["zones"]
    assert "proef" in {z["layer"] for z in zones}


@pytest.mark.parametrize(
    ("file", "status", "message"),
    [
        ("evil.zip", 422, "absolute path or '..'"),
        ("bowtie.gpkg", 422, "Self-intersection"),
        ("points.gpkg", 422, "not a polygon"),
        ("no_crs/no_crs.shp", 422, "unknown format"),
    ],
)
def test_bad_uploads_change_nothing(client, keys, asettings, file: str, status: int, message: str) -> None:
    before = client.get("/layers/binnenstad/versions").json()
    r = upload(client, "binnenstad", file, keys["good"])
    assert r.status_code == status, r.text
    assert message in r.json()["detail"]
    assert client.get("/layers/binnenstad/versions").json() == before


def test_upload_over_the_limit(client, keys) -> None:
    big = b'{"type": "FeatureCollection", "features": []}' + b" " * 300_000
    r = client.post(
        "/layers/binnenstad/versions",
        files={"file": ("groot.geojson", big)},
        headers={"Authorization": f"Bearer {keys['good']}"},
    )
    assert r.status_code == 413 and "larger than 200000 bytes" in r.json()["detail"]


def test_keys_cli(asettings, monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", str(asettings.database_url))
    monkeypatch.setenv("GEBIEDSCHECK_DATA_DIR", str(asettings.data_dir))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        r = runner.invoke(app, ["keys", "create", "--role", "beheer", "--name", "script"])
        assert r.exit_code == 0
        secret = r.stdout.strip().splitlines()[-1]
        assert secret.startswith("gbc_") and len(secret) > 40
        r = runner.invoke(app, ["keys", "list", "--json"])
        listed = r.stdout
        assert "script" in listed and secret not in listed
        engine = make_engine(asettings)
        with engine.connect() as c:
            stored = c.execute(text("SELECT key_hash FROM api_keys WHERE name = 'script'")).scalar_one()
        engine.dispose()
        assert secret not in stored and len(stored) == 64
        key_id = [k for k in __import__("json").loads(listed) if k["name"] == "script"][0]["id"]
        assert runner.invoke(app, ["keys", "revoke", str(key_id)]).exit_code == 0
        assert runner.invoke(app, ["keys", "create", "--role", "admin", "--name", "x"]).exit_code == 1
    finally:
        get_settings.cache_clear()


def test_read_only_role_reads_but_cannot_write(asettings, keys) -> None:
    import uuid

    import psycopg
    from sqlalchemy.engine import make_url

    from service.store.database import libpq_url

    role = f"gebiedscheck_test_lezer_{uuid.uuid4().hex[:8]}"
    url = str(asettings.database_url)
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN')
        conn.execute(f'GRANT USAGE ON SCHEMA public TO "{role}"')
        conn.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{role}"')
    try:
        ro = asettings.model_copy(update={"database_url": make_url(url).set(username=role).render_as_string(False)})
        with TestClient(create_app(ro), raise_server_exceptions=False) as c:
            assert c.get("/zones/at?lat=53.0&lon=6.569").status_code == 200
            r = upload(c, "binnenstad", "havenkwartier_oost.geojson", keys["good"])
            assert r.status_code == 403 and "read-only" in r.json()["detail"]
            # Without its grant on rate_counters the role cannot count heavy questions: a 503 that says so.
            heavy = c.post("/check", json={"type": "Feature", "geometry": {"type": "Point", "coordinates": [6.56, 53]}})
            assert heavy.status_code == 503 and "rate_counters" in heavy.json()["detail"]
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:  # what migration 0006 grants the reader
            conn.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON rate_counters TO "{role}"')
        with TestClient(create_app(ro), raise_server_exceptions=False) as c:
            heavy = c.post("/check", json={"type": "Feature", "geometry": {"type": "Point", "coordinates": [6.56, 53]}})
            assert heavy.status_code == 200 and heavy.json()["in_municipality"] is True
    finally:
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            conn.execute(f'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM "{role}"')
            conn.execute(f'REVOKE ALL ON SCHEMA public FROM "{role}"')
            conn.execute(f'DROP ROLE "{role}"')


def test_upload_with_repair(client, keys) -> None:
    auth = {"Authorization": f"Bearer {keys['good']}"}
    body = {"slug": "hersteld", "title": "Hersteld", "category": "referentie", "provenance": "test"}
    assert client.post("/layers", json=body, headers=auth).status_code == 201
    assert upload(client, "hersteld", "bowtie.gpkg", keys["good"]).status_code == 422
    r = upload(client, "hersteld", "bowtie.gpkg", keys["good"], repair="true")
    assert r.status_code == 201 and r.json()["repairs"][0]["area_after_m2"] == 20000.0


def test_logs_hold_no_keys_and_no_uploaded_content(client, keys, caplog) -> None:
    import logging

    marker = "INHOUD-DIE-NIET-IN-HET-LOG-MAG-7f3a"
    feature = {
        "type": "Feature",
        "properties": {"name": marker, "note": marker},
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[6.566, 52.999], [6.571, 52.999], [6.571, 53.001], [6.566, 53.001], [6.566, 52.999]]],
        },
    }
    body = json.dumps({"type": "FeatureCollection", "features": [feature]}).encode()
    with caplog.at_level(logging.DEBUG):
        for key in (keys["good"], keys["revoked"], "gbc_geheim-maar-fout-123456"):
            r = client.post(
                "/layers/havenkwartier/versions",
                files={"file": ("geheim.geojson", body)},
                data={"dry_run": "true"},
                headers={"Authorization": f"Bearer {key}"},
            )
            assert r.status_code in (201, 401)
    text_logged = caplog.text
    assert "/layers/havenkwartier/versions" in text_logged  # the requests were logged ...
    for secret in (keys["good"], keys["revoked"], "gbc_geheim-maar-fout-123456", marker):
        assert secret not in text_logged  # ... but no key and nothing of the file


def test_an_upload_without_a_key_is_401_whatever_the_file(client) -> None:
    r = client.post("/layers/havenkwartier/versions", files={"file": ("file", b"\x00\x01")})
    assert r.status_code == 401, r.text
