"""The store owns versions: which version of a layer is in force, and how answers cite it.

"In force" is the layer's current version, or with ``as_of`` (the session setting ``gebiedscheck.as_of``,
see :mod:`service.store.timetravel`) the version that was current at the end of that day. The one SQL definition
is the view :data:`VERSIONS_IN_FORCE` (migration 0008): a row per layer with ``version_id`` (NULL when the
layer has no version then) and the provenance resolved (the version's own statement and label, else the
layer's). SQL that needs the versions of many layers at once (spatial joins) joins the view; Python that
needs one layer's version calls :func:`version_in_force`. :class:`SourceRef` is how every answer cites the
version it used.

This module imports only ``service.core``; questions, the OGC API and the maps import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.orm import Session

from service.core.errors import NotFound
from service.core.settings import Settings, get_settings

# The relation of the versions in force (migration 0008); join it as ``{VERSIONS_IN_FORCE} vf``.
VERSIONS_IN_FORCE = "gc_versions_in_force"

INDICATIVE = "indicatief"


def extent_sql(version: str) -> str:
    """SQL for the extent (a geometry in EPSG:28992) of the vector version whose id is the SQL expression
    ``version``: the box stored at load (``layer_versions.metadata->'extent_rd'``, see
    :mod:`service.loading.vectorwrite`), else one scan of its features (a version loaded before it was stored).
    A version's features never change, so the stored box stays true."""
    return (
        "(SELECT coalesce(ST_MakeEnvelope((m->>0)::float8, (m->>1)::float8, (m->>2)::float8, (m->>3)::float8, "
        "28992), (SELECT ST_SetSRID(ST_Extent(f.geom)::geometry, 28992) FROM features f "
        f"WHERE f.version_id = {version})) FROM (SELECT metadata->'extent_rd' m FROM layer_versions "
        f"WHERE id = {version}) s)"
    )


OFFICIAL = "officieel"


def label(indicative: bool | None) -> str:
    """How an answer labels a version: 'indicatief' or 'officieel'."""
    return INDICATIVE if indicative else OFFICIAL


class SourceRef(BaseModel):
    """What an answer used: the layer, its version and source, and whether it is indicative."""

    layer: str
    version: int
    source_name: str
    source_identifier: str | None = None
    label: str = Field(description="'indicatief' or 'officieel'")
    provenance: str


def source_ref(row: Any) -> SourceRef:
    """The :class:`SourceRef` of a row (or mapping) with the view's ``slug, number, source_name,
    source_identifier, indicative, provenance`` columns."""
    m: Mapping[str, Any] = row if isinstance(row, Mapping) else row._mapping
    return SourceRef(
        layer=m["slug"],
        version=m["number"],
        source_name=m["source_name"],
        source_identifier=m["source_identifier"],
        label=label(m["indicative"]),
        provenance=m["provenance"],
    )


class VersionRef(BaseModel):
    """A layer's version in force, with its provenance resolved."""

    layer_id: int
    slug: str
    title: str
    kind: str
    category: str | None = None
    version_id: int
    number: int
    source_name: str
    source_identifier: str | None = None
    provenance: str
    indicative: bool

    @property
    def label(self) -> str:
        return label(self.indicative)

    def source(self) -> SourceRef:
        """How an answer cites this version."""
        return source_ref(self.model_dump())


_ONE_SQL = text(
    f"SELECT layer_id, slug, title, kind, category, version_id, number, source_name, source_identifier, "
    f"provenance, indicative FROM {VERSIONS_IN_FORCE} WHERE slug = :s AND version_id IS NOT NULL"
)


def version_in_force(session: Session, slug: str) -> VersionRef | None:
    """The version of layer ``slug`` in force (``as_of`` honoured); None for an unknown layer or a layer
    without a version (at that day)."""
    row = session.execute(_ONE_SQL, {"s": slug}).first()
    return None if row is None else VersionRef(**row._mapping)


def require_version(session: Session, slug: str, *, missing: str | None = None) -> VersionRef:
    """:func:`version_in_force`, or :class:`NotFound` (``missing``, or "layer ... is not loaded")."""
    version = version_in_force(session, slug)
    if version is None:
        raise NotFound(missing or f"layer {slug!r} is not loaded")
    return version


_LOADED_SQL = text(f"SELECT version_id IS NOT NULL FROM {VERSIONS_IN_FORCE} WHERE slug = :s")


def is_loaded(session: Session, slug: str) -> bool:
    """Whether the layer has a version in force (the same rule as :func:`version_in_force`, without reading
    the version: the planner then skips ``layer_versions``)."""
    return bool(session.execute(_LOADED_SQL, {"s": slug}).scalar())


def resolve_raster(stored: str | None, settings: Settings | None = None) -> Path | None:
    """A version's raster file: where it was stored, or (when the data dir moved) the same content-addressed
    file in the current data dir's raster store."""
    if not stored:
        return None
    path = Path(stored)
    if path.exists():
        return path
    # Missing where it was stored (another data dir, a deleted checkout): the current raster store is where
    # it is looked for, and where a reload restores it.
    return (settings or get_settings()).raster_store / path.name


def collections_in_force(session: Session) -> list[str]:
    """The slugs of the vector layers that have a version in force (the OGC API's collections), sorted."""
    rows = session.execute(
        text(f"SELECT slug FROM {VERSIONS_IN_FORCE} WHERE kind = 'vector' AND version_id IS NOT NULL ORDER BY slug")
    )
    return [str(s) for s in rows.scalars()]
