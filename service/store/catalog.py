"""Reading the layer catalogue: which layers exist, their versions in force (:mod:`service.store.current`) and
provenance."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from service.core.errors import NotFound
from service.core.schemas import LayerSummary, Policy, Provenance, VersionSummary
from service.store.current import label as provenance_label

_LAYER_SQL = """
SELECT l.slug, l.title, l.kind, l.category, l.description, l.policy_section, l.policy_summary,
       vf.provenance, vf.indicative,
       l.gio, l.licence, l.accuracy_m, l.accuracy_note, l.properties,
       v.number, v.created_at, v.created_by, v.source_name, v.source_sha256, v.source_identifier,
       v.feature_count, v.total_area_m2, v.status, v.note, v.metadata
FROM gc_versions_in_force vf JOIN layers l ON l.id = vf.layer_id LEFT JOIN layer_versions v ON v.id = vf.version_id
"""


def _summary(row: Any) -> LayerSummary:
    m = row._mapping
    version = None
    if m["number"] is not None:
        version = VersionSummary(
            number=m["number"],
            created_at=m["created_at"],
            created_by=m["created_by"],
            source_name=m["source_name"],
            source_sha256=m["source_sha256"],
            source_identifier=m["source_identifier"],
            feature_count=m["feature_count"],
            total_area_m2=m["total_area_m2"],
            status=m["status"],
            note=m["note"],
        )
    raster = None
    if m["kind"] == "raster" and version is not None:
        meta = dict(m["metadata"] or {})
        raster = {
            k: meta.get(k)
            for k in ("crs", "cell_size_m", "width", "height", "bounds", "nodata", "min", "max", "mean", "unit")
        }
    return LayerSummary(
        slug=m["slug"],
        title=m["title"],
        kind=m["kind"],
        category=m["category"],
        description=m["description"],
        version=version.number if version else None,
        feature_count=version.feature_count if version else 0,
        provenance=Provenance(
            statement=m["provenance"],
            indicative=m["indicative"],
            label=provenance_label(m["indicative"]),
            gio=m["gio"],
            licence=m["licence"],
            accuracy_m=m["accuracy_m"],
            accuracy_note=m["accuracy_note"],
        ),
        policy=Policy(section=m["policy_section"], summary=m["policy_summary"]),
        current_version=version,
        raster=raster,
    )


def list_layers(session: Session, *, kind: str | None = None) -> list[LayerSummary]:
    """Every layer, vector and raster, with its current version; ordered by category then slug."""
    where = "WHERE l.kind = :kind" if kind else ""
    rows = session.execute(text(f"{_LAYER_SQL} {where} ORDER BY l.category, l.slug"), {"kind": kind}).all()
    return [_summary(r) for r in rows]


def get_layer(session: Session, slug: str) -> LayerSummary:
    row = session.execute(text(f"{_LAYER_SQL} WHERE l.slug = :slug"), {"slug": slug}).first()
    if row is None:
        raise NotFound(f"layer {slug!r} does not exist")
    return _summary(row)


def layer_versions(session: Session, slug: str) -> list[VersionSummary]:
    """The history of a layer, newest first (who, when, file and hash, counts, status, note)."""
    get_layer(session, slug)  # 404 for an unknown layer
    rows = session.execute(
        text(
            "SELECT v.number, v.created_at, v.created_by, v.source_name, v.source_sha256, v.source_identifier, "
            "v.feature_count, v.total_area_m2, v.status, v.note FROM layer_versions v JOIN layers l "
            "ON l.id = v.layer_id WHERE l.slug = :slug ORDER BY v.number DESC"
        ),
        {"slug": slug},
    ).all()
    return [VersionSummary(**r._mapping) for r in rows]
