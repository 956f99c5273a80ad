"""Migrations and the schema of the layer store, on an empty throwaway database."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import text

from service.core.settings import Settings
from service.store.database import HEAD_REVISION, database_state, drop_database, init_database, libpq_url, make_engine
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
    from service.store.database import sqlalchemy_url

    assert sqlalchemy_url("postgresql://postgres@127.0.0.1:5432/db").startswith("postgresql+psycopg://")
    assert sqlalchemy_url("postgres://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    from service.core.errors import ConfigurationError

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


def test_sessions_run_without_jit(empty_db: str) -> None:
    """Our statements are short; with a national layer many plans cost past jit_above_cost and PostgreSQL compiled
    each one again (10-15 ms a statement; /collections took 0.5-0.7 s). The server's default stays on (psql shows
    it); our connections turn it off."""
    init_database(empty_db)
    engine = make_engine(Settings(_env_file=None, database_url=empty_db))
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SHOW jit")).scalar_one() == "off"
            assert conn.execute(text("SHOW statement_timeout")).scalar_one() == "30s"
            plan = "\n".join(
                conn.execute(text("EXPLAIN SELECT count(*) FROM generate_series(1, 100000000) g")).scalars()
            )
            assert "JIT" not in plan
    finally:
        engine.dispose()


def test_head_revision_constant_matches_migrations() -> None:
    from alembic.script import ScriptDirectory

    from service.store.database import alembic_config

    script = ScriptDirectory.from_config(alembic_config("postgresql://x@localhost/x"))
    assert script.get_current_head() == HEAD_REVISION


# --- The versions in force (migration 0008, service.store.current) ---------------------------------------------------


@pytest.fixture
def history(empty_db: str):
    """Layer 'x' with version 1 (no provenance of its own: the layer's applies), current from 60 days ago, and
    version 2 (its own official provenance), current from 20 days ago; layer 'leeg' without a version."""
    from service.store.database import make_sessionmaker

    init_database(empty_db)
    with psycopg.connect(libpq_url(empty_db)) as conn:
        conn.execute(
            "INSERT INTO layers (slug, title, kind, category, provenance, indicative) VALUES "
            "('x', 'X', 'vector', 'omgevingsvisie', 'indicatief — handmatig getekend', true), "
            "('leeg', 'Leeg', 'vector', 'omgevingsvisie', 'nog niet geladen', true)"
        )
        ids = []
        for number, provenance, indicative in ((1, None, None), (2, "officieel — GIO x", False)):
            vid = conn.execute(
                "INSERT INTO layer_versions (layer_id, number, created_by, source_name, source_sha256, provenance, "
                "indicative) SELECT id, %s, 'pytest', %s, repeat('a', 64), %s, %s FROM layers WHERE slug = 'x' "
                "RETURNING id",
                (number, f"x{number}.gpkg", provenance, indicative),
            ).fetchone()[0]
            conn.execute("UPDATE layers SET current_version_id = %s WHERE slug = 'x'", (vid,))
            ids.append(vid)
        for vid, days in zip(ids, (60, 20), strict=True):
            conn.execute(
                "UPDATE version_activations SET at = now() - make_interval(days => %s) WHERE version_id = %s",
                (days, vid),
            )
    engine = make_engine(Settings(_env_file=None, database_url=empty_db))
    try:
        with make_sessionmaker(engine)() as session:
            yield session, ids
    finally:
        engine.dispose()


def _days_ago(days: int):
    from datetime import date, timedelta

    return date.today() - timedelta(days=days)


def test_current_version_and_as_of(history) -> None:
    from service.store.current import version_in_force
    from service.store.timetravel import set_as_of

    session, (v1, v2) = history
    now = version_in_force(session, "x")
    assert now is not None and (now.version_id, now.number, now.source_name) == (v2, 2, "x2.gpkg")
    set_as_of(session, _days_ago(40))  # between the two activations: version 1 was in force
    then = version_in_force(session, "x")
    assert then is not None and (then.version_id, then.number, then.source_name) == (v1, 1, "x1.gpkg")
    set_as_of(session, _days_ago(0))
    assert version_in_force(session, "x").number == 2  # type: ignore[union-attr]
    # Before the layer's first version: no version in force (the view's row says so with a NULL id).
    session.execute(text("SELECT set_config('gebiedscheck.as_of', :d, false)"), {"d": _days_ago(90).isoformat()})
    assert version_in_force(session, "x") is None
    row = session.execute(text("SELECT version_id, number FROM gc_versions_in_force WHERE slug = 'x'")).one()
    assert tuple(row) == (None, None)


def test_rollback_changes_the_version_in_force_but_not_the_past(history) -> None:
    from service.store.current import version_in_force
    from service.store.timetravel import set_as_of

    session, (v1, v2) = history
    session.execute(text("UPDATE layers SET current_version_id = :v WHERE slug = 'x'"), {"v": v1})
    now = version_in_force(session, "x")
    assert now is not None and now.version_id == v1
    assert now.source().provenance == "indicatief — handmatig getekend"  # the rolled-back version's provenance
    set_as_of(session, _days_ago(10))  # ten days ago version 2 was still in force
    assert version_in_force(session, "x").version_id == v2  # type: ignore[union-attr]
    set_as_of(session, _days_ago(0))  # at the end of today: the rollback
    assert version_in_force(session, "x").version_id == v1  # type: ignore[union-attr]


def test_layer_without_a_version(history) -> None:
    from service.core.errors import NotFound
    from service.store.current import is_loaded, require_version, version_in_force

    session, (_, v2) = history
    assert version_in_force(session, "leeg") is None
    assert version_in_force(session, "bestaat-niet") is None
    assert is_loaded(session, "leeg") is False and is_loaded(session, "x") is True
    with pytest.raises(NotFound, match="'leeg' is not loaded"):
        require_version(session, "leeg")
    rows = session.execute(
        text("SELECT slug, version_id, provenance, indicative FROM gc_versions_in_force ORDER BY slug")
    ).all()
    # Every layer has a row; one without a version carries the layer's own provenance.
    assert [tuple(r) for r in rows] == [("leeg", None, "nog niet geladen", True), ("x", v2, "officieel — GIO x", False)]


def test_provenance_falls_back_to_the_layer(history) -> None:
    from service.store.current import SourceRef, version_in_force
    from service.store.timetravel import set_as_of

    session, _ = history
    own = version_in_force(session, "x")
    assert own is not None
    assert own.source() == SourceRef(
        layer="x", version=2, source_name="x2.gpkg", label="officieel", provenance="officieel — GIO x"
    )
    set_as_of(session, _days_ago(40))
    fallback = version_in_force(session, "x")
    assert fallback is not None and fallback.indicative is True and fallback.label == "indicatief"
    assert fallback.source() == SourceRef(
        layer="x", version=1, source_name="x1.gpkg", label="indicatief", provenance="indicatief — handmatig getekend"
    )


def test_spatial_joins_on_the_view_skip_layer_versions(empty_db: str) -> None:
    """A join of the view to the features by version id needs no version row: the planner drops the join to
    ``layer_versions``, and the features' GiST index still does the spatial work."""
    init_database(empty_db)
    engine = make_engine(Settings(_env_file=None, database_url=empty_db))
    try:
        with engine.connect() as conn:
            conn.execute(text("SET enable_seqscan = off"))
            plan = "\n".join(
                r[0]
                for r in conn.execute(
                    text(
                        "EXPLAIN SELECT vf.slug, f.fid FROM gc_versions_in_force vf "
                        "JOIN features f ON f.version_id = vf.version_id "
                        "WHERE ST_Intersects(f.geom, ST_SetSRID(ST_MakePoint(233000, 557000), 28992))"
                    )
                )
            )
    finally:
        engine.dispose()
    assert "features_geom_gist" in plan
    assert "layer_versions" not in plan


def test_the_questions_cite_the_version_in_force(qsession) -> None:
    from service.questions.zones import NATURA2000, natura2000_distance
    from service.spatial.geo import location
    from service.store.current import version_in_force

    version = version_in_force(qsession, NATURA2000)
    assert version is not None
    answer = natura2000_distance(qsession, location(x=236000, y=558000, crs="EPSG:28992"))
    assert answer.source == version.source()
