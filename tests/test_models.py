"""The ORM models match the schema the migrations create, and read the loaded layers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from geoalchemy2.shape import to_shape
from sqlalchemy import CheckConstraint, Connection, create_engine, inspect, select, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from service.core.errors import NotFound, Unauthorized
from service.store.access import audit, authenticate, create_key, list_keys, revoke_key
from service.store.database import alembic_config, make_sessionmaker, sqlalchemy_url
from service.store.models import COMPARE_OPTIONS, POSTGIS_TABLES, ApiKeyRow, AuditEntry, Base, Feature, Layer


def test_models_match_migrated_schema(engine, loaded) -> None:
    insp = inspect(engine)
    for table in Base.metadata.sorted_tables:
        db_cols = {c["name"]: c for c in insp.get_columns(table.name)}
        assert set(db_cols) == {c.name for c in table.columns}, table.name
        for col in table.columns:
            assert db_cols[col.name]["nullable"] == col.nullable, f"{table.name}.{col.name}"
    geom = next(c for c in insp.get_columns("features") if c["name"] == "geom")
    assert geom["type"].geometry_type == "MULTIPOLYGON" and geom["type"].srid == 28992


def test_orm_reads_current_features(session: Session) -> None:
    layer = session.scalars(select(Layer).where(Layer.slug == "havenkwartier")).one()
    assert layer.current_version is not None and layer.current_version.number == 1
    feature = session.scalars(select(Feature).where(Feature.version_id == layer.current_version_id)).one()
    shape = to_shape(feature.geom)
    assert shape.geom_type == "MultiPolygon"
    assert 30 < shape.area / 10_000 < 55  # about 40 ha


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts=COMPARE_OPTIONS)
    return list(compare_metadata(context, Base.metadata))


def test_models_describe_every_table_of_the_migrations(db_url: str) -> None:
    """Autogenerate finds no difference between the models and a freshly migrated database: a migration that
    drifts from the models (or models that drift from the migrations) fails here."""
    engine = create_engine(sqlalchemy_url(db_url), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            assert _differences(connection) == []
            tables = set(inspect(connection).get_table_names()) - {"alembic_version"} - POSTGIS_TABLES
        assert tables == set(Base.metadata.tables) == {
            "layers", "layer_versions", "features", "feature_parts", "heat_hotspots", "version_activations",
            "api_keys", "audit_log", "rate_counters",
        }  # fmt: skip
    finally:
        engine.dispose()


def test_alembic_check_uses_the_models(db_url: str) -> None:
    """`alembic check` through the project's env.py (target_metadata = the models) passes on the migrated schema."""
    command.check(alembic_config(db_url))


def test_the_comparison_sees_a_drift(db_url: str) -> None:
    """The comparison can fail: a column, an index, a default and a table the models do not have (made in a
    transaction that is rolled back) all show up. A function and a view (as migration 0008 adds) do not."""
    engine = create_engine(sqlalchemy_url(db_url), poolclass=NullPool)
    try:
        with engine.connect() as connection, connection.begin() as transaction:
            connection.execute(text("SET LOCAL lock_timeout = '10s'"))
            connection.execute(text("CREATE FUNCTION gc_models_probe() RETURNS int LANGUAGE sql AS 'SELECT 1'"))
            connection.execute(text("CREATE VIEW gc_models_probe_view AS SELECT 1 AS x"))
            assert _differences(connection) == []
            connection.execute(text("ALTER TABLE audit_log ADD COLUMN drift text"))
            connection.execute(text("DROP INDEX heat_hotspots_version_idx"))
            connection.execute(text("ALTER TABLE layers ALTER COLUMN category SET DEFAULT 'klimaat'"))
            connection.execute(text("CREATE TABLE drift_table (id integer PRIMARY KEY)"))
            found = _differences(connection)
            transaction.rollback()
    finally:
        engine.dispose()
    flat = [d[0] if isinstance(d, list) else d for d in found]
    kinds = {(d[0], d[2] if d[0] in {"modify_default"} else None) for d in flat}
    assert ("remove_column", None) in kinds and ("add_index", None) in kinds and ("remove_table", None) in kinds
    assert ("modify_default", "layers") in kinds
    assert {d[1].name for d in flat if d[0] == "remove_table"} == {"drift_table"}


def test_partial_index_predicates_match(engine) -> None:
    """Autogenerate does not compare an index's WHERE; this does (audit_log_refusals_idx of 0007)."""
    insp = inspect(engine)
    partial = [
        (table.name, index)
        for table in Base.metadata.sorted_tables
        for index in table.indexes
        if index.dialect_options["postgresql"]["where"] is not None
    ]
    assert [i.name for _t, i in partial] == ["audit_log_refusals_idx"]
    for table_name, index in partial:
        reflected = {i["name"]: i for i in insp.get_indexes(table_name)}[index.name]
        where = reflected.get("dialect_options", {}).get("postgresql_where")
        assert where is not None and "".join(str(where).split()).strip("()") == "".join(
            str(index.dialect_options["postgresql"]["where"]).split()
        )
        assert reflected["unique"] == bool(index.unique)


def test_keys_and_audit_go_through_the_models(engine) -> None:
    """service.store.access writes and reads keys and audit lines with the models (in a transaction rolled back)."""
    with make_sessionmaker(engine)() as s, s.begin() as transaction:
        key, secret = create_key(s, name="modeltest")
        assert key.created_at is not None and key.revoked_at is None and secret.startswith(key.key_prefix)
        assert authenticate(s, f"Bearer {secret}") == key and key.actor == f"modeltest (#{key.id})"
        stored = s.get(ApiKeyRow, key.id)
        assert stored is not None and stored.key_hash != secret and len(stored.key_hash) == 64
        revoked = revoke_key(s, key.id)
        assert revoked.revoked_at is not None
        assert revoke_key(s, key.id).revoked_at == revoked.revoked_at  # revoking again keeps the first time
        with pytest.raises(Unauthorized, match="revoked"):
            authenticate(s, f"Bearer {secret}")
        with pytest.raises(NotFound):
            revoke_key(s, 10**9)
        assert [k.id for k in list_keys(s) if k.name == "modeltest"] == [key.id]
        when = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
        audit(s, actor=key.actor, action="modeltest", target=None, result="ok", detail={"at": when})
        line = s.scalars(select(AuditEntry).where(AuditEntry.action == "modeltest")).one()
        assert (line.actor, line.result, line.attempts, line.client, line.bucket) == (key.actor, "ok", 1, None, None)
        assert line.detail == {"at": str(when)}
        transaction.rollback()


def test_check_constraints_are_named_as_in_the_database(engine) -> None:
    """Autogenerate does not compare CHECK constraints; their names (one per rule of the migrations) are."""
    insp = inspect(engine)
    for table in Base.metadata.sorted_tables:
        ours = {c.name for c in table.constraints if isinstance(c, CheckConstraint)}
        assert ours == {c["name"] for c in insp.get_check_constraints(table.name)}, table.name
