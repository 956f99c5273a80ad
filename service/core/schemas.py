"""Pydantic models returned by the domain functions (and so by the API and the CLI's --json)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class Policy(BaseModel):
    section: str | None = Field(None, description="Section of the Omgevingsvisie, e.g. '§4.4.2'")
    summary: str | None = Field(None, description="What the Omgevingsvisie asks here, summarised in Dutch")


class Provenance(BaseModel):
    statement: str = Field(description="Where the geometry comes from")
    indicative: bool = Field(description="True for geometries drawn by us (indicatief), never official")
    label: str = Field(description="'indicatief' or 'officieel'")
    gio: str | None = Field(None, description="Official Geo-Informatieobject (GIO) work identifier, if any")
    licence: str | None = None
    accuracy_m: float | None = Field(None, description="Stated positional accuracy in metres")
    accuracy_note: str | None = None


class VersionSummary(BaseModel):
    number: int
    created_at: datetime
    created_by: str
    source_name: str
    source_sha256: str
    source_identifier: str | None = None
    feature_count: int
    total_area_m2: float | None = None
    status: str
    note: str | None = None


class LayerSummary(BaseModel):
    slug: str
    title: str
    kind: str
    category: str
    description: str | None = None
    version: int | None = Field(None, description="Number of the current version (None: never loaded)")
    feature_count: int
    provenance: Provenance
    policy: Policy
    current_version: VersionSummary | None = None
    raster: dict[str, Any] | None = Field(None, description="For raster layers: grid, unit and value range")


class ErrorDetail(BaseModel):
    """The body of the API's error answers (the app's error handlers write it; GET /health's 503 has its own)."""

    detail: str = Field(description="What is wrong, naming the parameter or the problem")


class ZoneRef(BaseModel):
    """A zone named by its layer and feature."""

    layer: str
    feature_id: str
    name: str


class NestedZone(ZoneRef):
    """A zone of the answer that lies entirely inside other zones of the same answer."""

    nested_in: list[ZoneRef] = Field(
        description="The zones of this answer whose geometry covers this zone's whole geometry (ST_CoveredBy), "
        "e.g. the publiekshart inside the binnenstad; their overlaps count the same area twice"
    )
