"""ORM models of the layer store, mirroring the migrations (a test keeps the two in step)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Layer(Base):
    __tablename__ = "layers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(Text, unique=True)
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
    accuracy_m: Mapped[float | None] = mapped_column(Float(precision=53))
    accuracy_note: Mapped[str | None] = mapped_column(Text)
    properties: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    current_version_id: Mapped[int | None] = mapped_column(
        ForeignKey(
            "layer_versions.id", name="layers_current_version_fk", deferrable=True, initially="DEFERRED", use_alter=True
        )
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    current_version: Mapped[LayerVersion | None] = relationship(foreign_keys=[current_version_id])


class LayerVersion(Base):
    __tablename__ = "layer_versions"
    __table_args__ = (
        UniqueConstraint("layer_id", "number"),
        CheckConstraint("status IN ('current', 'superseded')"),
        Index("layer_versions_layer_idx", "layer_id", text("number DESC")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    layer_id: Mapped[int] = mapped_column(ForeignKey("layers.id", ondelete="RESTRICT"))
    number: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    created_by: Mapped[str] = mapped_column(Text)
    source_name: Mapped[str] = mapped_column(Text)
    source_sha256: Mapped[str] = mapped_column(String(64))
    source_identifier: Mapped[str | None] = mapped_column(Text)
    feature_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    total_area_m2: Mapped[float | None] = mapped_column(Float(precision=53))
    status: Mapped[str] = mapped_column(Text, server_default=text("'current'"))
    note: Mapped[str | None] = mapped_column(Text)
    raster_path: Mapped[str | None] = mapped_column(Text)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, server_default=text("'{}'::jsonb"))
    provenance: Mapped[str | None] = mapped_column(Text)
    indicative: Mapped[bool | None] = mapped_column(Boolean)

    layer: Mapped[Layer] = relationship(foreign_keys=[layer_id])


class Feature(Base):
    __tablename__ = "features"
    __table_args__ = (
        UniqueConstraint("version_id", "fid"),
        Index("features_version_idx", "version_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("layer_versions.id", ondelete="RESTRICT"))
    fid: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    properties: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    geom: Mapped[Any] = mapped_column(Geometry("MULTIPOLYGON", srid=28992, spatial_index=False, nullable=False))

    version: Mapped[LayerVersion] = relationship()
