"""The schema of the store as geoalchemy2/SQLAlchemy models: every table the migrations create.

The migrations (service/store/migrations/versions) create the schema; these models describe it, and Alembic's
``target_metadata`` is :data:`Base.metadata`, so ``alembic check`` (and tests/test_models.py, which runs the
same comparison on a freshly migrated database) fails as soon as a migration and the models disagree on a
table, column, type, nullability, server default, index, unique constraint or foreign key. CHECK
constraints are written here too (named as PostgreSQL named them) although autogenerate does not compare
them. What the migrations create in raw SQL that autogenerate cannot see (triggers, functions, views,
UNLOGGED, grants) is listed in :data:`NOT_COMPARED`; :func:`include_object` says what the comparison skips.

The heavy spatial SQL stays SQL (``text()``); these models are for simple reads and writes of rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    CHAR,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

SRID = 28992
EMPTY_JSON = text("'{}'::jsonb")

# Tables of PostGIS itself (and views it may show as tables): in the database, never in the models.
POSTGIS_TABLES = frozenset({"spatial_ref_sys", "geometry_columns", "geography_columns", "raster_columns",
                            "raster_overviews"})  # fmt: skip

# Created by the migrations in raw SQL, invisible to autogenerate (it compares tables, columns, indexes,
# unique constraints and foreign keys only): kept in step by the migrations alone.
NOT_COMPARED = (
    "function forbid_delete() and the *_no_delete triggers on layer_versions, features, feature_parts, "
    "heat_hotspots, audit_log (0001, 0002, 0004)",
    "function record_activation() and trigger layers_record_activation (0005)",
    "function gc_version(integer, integer) (0005) and any later SQL function or view (0008: gc_versions_in_force)",
    "UNLOGGED of rate_counters and its grant to gebiedscheck_lezer (0006)",
    "CHECK constraints (written below, not compared)",
)


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic's filter: leave PostGIS's own tables out of the comparison (only those; a table a migration
    creates without a model must show up as a difference). Functions, triggers and views are never reflected
    by autogenerate, so there is nothing of them to skip here."""
    return not (type_ == "table" and reflected and compare_to is None and name in POSTGIS_TABLES)


# The options of every autogenerate comparison (service/store/migrations/env.py and the test).
COMPARE_OPTIONS: dict[str, Any] = {
    "include_object": include_object,
    "compare_type": True,
    "compare_server_default": True,
}


class Base(DeclarativeBase):
    pass


def _geom(kind: str) -> Any:
    # The GiST indexes are declared by name in each table's __table_args__, as the migrations name them.
    return mapped_column(Geometry(kind, srid=SRID, spatial_index=False, nullable=False), nullable=False)


def _now() -> Any:
    return mapped_column(DateTime(timezone=True), server_default=func.now())


class Layer(Base):
    __tablename__ = "layers"
    __table_args__ = (
        UniqueConstraint("slug", name="layers_slug_key"),
        CheckConstraint("slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'", name="layers_slug_check"),
        CheckConstraint("kind IN ('vector', 'raster')", name="layers_kind_check"),
        CheckConstraint(
            "category IN ('omgevingsvisie', 'natura2000', 'klimaat', 'referentie')", name="layers_category_check"
        ),
        CheckConstraint("accuracy_m IS NULL OR accuracy_m >= 0", name="layers_accuracy_m_check"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(Text, server_default=text("'omgevingsvisie'"))
    description: Mapped[str | None] = mapped_column(Text)
    policy_section: Mapped[str | None] = mapped_column(Text)
    policy_summary: Mapped[str | None] = mapped_column(Text)
    provenance: Mapped[str] = mapped_column(Text)
    indicative: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    gio: Mapped[str | None] = mapped_column(Text)
    licence: Mapped[str | None] = mapped_column(Text)
    accuracy_m: Mapped[float | None] = mapped_column(Double)
    accuracy_note: Mapped[str | None] = mapped_column(Text)
    properties: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=EMPTY_JSON)
    current_version_id: Mapped[int | None] = mapped_column(
        Integer,
        ForeignKey(
            "layer_versions.id", name="layers_current_version_fk", deferrable=True, initially="DEFERRED", use_alter=True
        ),
    )
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()

    current_version: Mapped[LayerVersion | None] = relationship(foreign_keys=[current_version_id])


class LayerVersion(Base):
    __tablename__ = "layer_versions"
    __table_args__ = (
        UniqueConstraint("layer_id", "number", name="layer_versions_layer_id_number_key"),
        CheckConstraint("number >= 1", name="layer_versions_number_check"),
        CheckConstraint("source_sha256 ~ '^[0-9a-f]{64}$'", name="layer_versions_source_sha256_check"),
        CheckConstraint("feature_count >= 0", name="layer_versions_feature_count_check"),
        CheckConstraint("status IN ('current', 'superseded')", name="layer_versions_status_check"),
        Index("layer_versions_layer_idx", "layer_id", text("number DESC")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    layer_id: Mapped[int] = mapped_column(
        ForeignKey("layers.id", name="layer_versions_layer_id_fkey", ondelete="RESTRICT")
    )
    number: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = _now()
    created_by: Mapped[str] = mapped_column(Text)
    source_name: Mapped[str] = mapped_column(Text)
    source_sha256: Mapped[str] = mapped_column(CHAR(64))
    source_identifier: Mapped[str | None] = mapped_column(Text)
    feature_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    total_area_m2: Mapped[float | None] = mapped_column(Double)
    status: Mapped[str] = mapped_column(Text, server_default=text("'current'"))
    note: Mapped[str | None] = mapped_column(Text)
    raster_path: Mapped[str | None] = mapped_column(Text)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, server_default=EMPTY_JSON)
    provenance: Mapped[str | None] = mapped_column(Text)
    indicative: Mapped[bool | None] = mapped_column(Boolean)

    layer: Mapped[Layer] = relationship(foreign_keys=[layer_id])


def _version_fk(table: str) -> Any:
    return mapped_column(ForeignKey("layer_versions.id", name=f"{table}_version_id_fkey", ondelete="RESTRICT"))


class Feature(Base):
    __tablename__ = "features"
    __table_args__ = (
        UniqueConstraint("version_id", "fid", name="features_version_id_fid_key"),
        CheckConstraint("NOT ST_IsEmpty(geom) AND ST_IsValid(geom)", name="features_geom_check"),
        Index("features_version_idx", "version_id"),
        Index("features_geom_gist", "geom", postgresql_using="gist"),
        Index("features_version_name_idx", "version_id", "name"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    version_id: Mapped[int] = _version_fk("features")
    fid: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    properties: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=EMPTY_JSON)
    geom: Mapped[Any] = _geom("MULTIPOLYGON")

    version: Mapped[LayerVersion] = relationship()


class FeaturePart(Base):
    """A feature subdivided into parts of at most 256 vertices (migration 0002), for fast distance/overlay."""

    __tablename__ = "feature_parts"
    __table_args__ = (
        Index("feature_parts_version_idx", "version_id"),
        Index("feature_parts_geom_version_gist", "geom", "version_id", postgresql_using="gist"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    feature_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("features.id", name="feature_parts_feature_id_fkey", ondelete="RESTRICT")
    )
    version_id: Mapped[int] = _version_fk("feature_parts")
    geom: Mapped[Any] = _geom("POLYGON")


class HeatHotspot(Base):
    """A polygon of a heat raster version above a threshold (°C)."""

    __tablename__ = "heat_hotspots"
    __table_args__ = (
        Index("heat_hotspots_version_idx", "version_id", "threshold_c"),
        Index("heat_hotspots_geom_gist", "geom", postgresql_using="gist"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    version_id: Mapped[int] = _version_fk("heat_hotspots")
    threshold_c: Mapped[float] = mapped_column(Double)
    geom: Mapped[Any] = _geom("POLYGON")


class VersionActivation(Base):
    """When a version became its layer's current one (written by the trigger of migration 0005)."""

    __tablename__ = "version_activations"
    __table_args__ = (Index("version_activations_idx", "layer_id", text("at DESC")),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    layer_id: Mapped[int] = mapped_column(ForeignKey("layers.id", name="version_activations_layer_id_fkey"))
    version_id: Mapped[int] = mapped_column(ForeignKey("layer_versions.id", name="version_activations_version_id_fkey"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.clock_timestamp())


class ApiKeyRow(Base):
    """An API key: only its sha256 is stored (service.store.access)."""

    __tablename__ = "api_keys"
    __mapper_args__ = {"eager_defaults": True}  # created_at comes back with the INSERT (RETURNING)
    __table_args__ = (
        UniqueConstraint("key_hash", name="api_keys_key_hash_key"),
        CheckConstraint("role IN ('beheer')", name="api_keys_role_check"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(Text)
    key_prefix: Mapped[str] = mapped_column(Text)
    key_hash: Mapped[str] = mapped_column(CHAR(64))
    created_at: Mapped[datetime] = _now()
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    """One line of the audit log; refused authentications share one row per client and minute (0007)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        CheckConstraint("attempts >= 1", name="audit_log_attempts_check"),
        Index("audit_log_at_idx", text("at DESC")),
        Index("audit_log_refusals_idx", "client", "bucket", unique=True, postgresql_where=text("bucket IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = _now()
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    target: Mapped[str | None] = mapped_column(Text)
    result: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=EMPTY_JSON)
    client: Mapped[str | None] = mapped_column(Text)
    bucket: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("1"))


class RateCounter(Base):
    """Requests of a client in one minute (UNLOGGED, migration 0006; service.store.ratelimit)."""

    __tablename__ = "rate_counters"
    __table_args__ = (PrimaryKeyConstraint("client", "bucket", name="rate_counters_pkey"), {"prefixes": ["UNLOGGED"]})

    client: Mapped[str] = mapped_column(Text)
    bucket: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    hits: Mapped[int] = mapped_column(Integer)
