"""Migrations and the schema of the layer store, on an empty throwaway database."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import text

from service.database import HEAD_REVISION, database_state, drop_database, init_database, libpq_url, make_engine
from service.settings import Settings
from tests.conftest import throwaway_url


@pytest.fixture
def empty_db(server_url: str):
    url = throwaway_url(server_url, prefix="gebiedscheck_test_empty")
    yield url
    drop_database(url)


def test_init_creates_database_and_is_idempotent(empty_db: str) -> None:
    first = init_database(empty_db)
    second = init_database(empty_db)
    assert first["created"] is True
    assert second["created"] is False
    assert first["postgis"].startswith("3.")
    with psycopg.connect(libpq_url(empty_db)) as conn:
        tables = {
            r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
        }
        assert {"layers", "layer_versions", "features", "alembic_version"} <= tables
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == (HEAD_REVISION,)
        geom = conn.execute(
            "SELECT type, srid FROM geometry_columns WHERE f_table_name = 'features' AND f_geometry_column = 'geom'"
        ).fetchone()
        assert geom == ("MULTIPOLYGON", 28992)
        idx = conn.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'features_geom_gist'").fetchone()
        assert idx is not None and "USING gist" in idx[0]


def test_versions_cannot_be_deleted(empty_db: str) -> None:
    init_database(empty_db)
    with psycopg.connect(libpq_url(empty_db)) as conn:
        conn.execute("INSERT INTO layers (slug, title, kind, provenance) VALUES ('x', 'X', 'vector', 'test')")
        conn.execute(
            "INSERT INTO layer_versions (layer_id, number, created_by, source_name, source_sha256) "
            "SELECT id, 1, 'pytest', 'x.gpkg', repeat('a', 64) FROM layers WHERE slug = 'x'"
        )
        with pytest.raises(psycopg.errors.RaiseException, match="history"):
            conn.execute("DELETE FROM layer_versions")


def test_invalid_geometry_is_refused_by_the_store(empty_db: str) -> None:
    init_database(empty_db)
    with psycopg.connect(libpq_url(empty_db)) as conn:
        conn.execute("INSERT INTO layers (slug, title, kind, provenance) VALUES ('x', 'X', 'vector', 'test')")
        vid = conn.execute(
            "INSERT INTO layer_versions (layer_id, number, created_by, source_name, source_sha256) "
            "SELECT id, 1, 'pytest', 'x.gpkg', repeat('a', 64) FROM layers WHERE slug = 'x' RETURNING id"
        ).fetchone()[0]
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(
                "INSERT INTO features (version_id, fid, name, geom) VALUES (%s, 'b', 'bowtie', "
                "ST_Multi(ST_GeomFromText('POLYGON((0 0, 10 10, 10 0, 0 10, 0 0))', 28992)))",
                (vid,),
            )


def test_database_state_of_empty_store(empty_db: str) -> None:
    init_database(empty_db)
    engine = make_engine(Settings(_env_file=None, database_url=empty_db))
    try:
        state = database_state(engine)
    finally:
        engine.dispose()
    assert state["reachable"] is True
    assert state["schema_revision"] == HEAD_REVISION
    assert state["layers"] == 0


def test_url_forms() -> None:
    from service.database import sqlalchemy_url

    assert sqlalchemy_url("postgresql://postgres@127.0.0.1:5432/db").startswith("postgresql+psycopg://")
    assert sqlalchemy_url("postgres://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    from service.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="postgresql://"):
        sqlalchemy_url("mysql://root@localhost/db")


def test_postgis_index_used_for_intersects(empty_db: str) -> None:
    init_database(empty_db)
    engine = make_engine(Settings(_env_file=None, database_url=empty_db))
    try:
        with engine.connect() as conn:
            conn.execute(text("SET enable_seqscan = off"))
            plan = "\n".join(
                r[0]
                for r in conn.execute(
                    text(
                        "EXPLAIN SELECT id FROM features "
                        "WHERE ST_Intersects(geom, ST_SetSRID(ST_MakePoint(233000, 557000), 28992))"
                    )
                )
            )
    finally:
        engine.dispose()
    assert "features_geom_gist" in plan


def test_head_revision_constant_matches_migrations() -> None:
    from alembic.script import ScriptDirectory

    from service.database import alembic_config

    script = ScriptDirectory.from_config(alembic_config("postgresql://x@localhost/x"))
    assert script.get_current_head() == HEAD_REVISION
