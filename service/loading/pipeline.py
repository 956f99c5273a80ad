"""Loading layer files into the store: read, validate, then write a new version in one transaction.

Everything is read and checked before anything is written; validity is decided by PostGIS before or while
the rows are written (see :mod:`service.loading.vectorwrite`), in the load's transaction, so a bad file changes
nothing. A load never deletes or rewrites an older version; it adds one and moves the layer's current-version pointer.
Loading a file whose sha256 equals the current version's creates no new version.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.orm import Session

from service.core.errors import LayerLoadError
from service.core.settings import Settings, get_settings
from service.loading.manifest import Manifest, ManifestLayer, read_manifest
from service.loading.rasterload import Cancel, PreparedRaster, read_raster, write_hotspots
from service.loading.vectorload import PreparedVector, read_vector, validate_prepared
from service.loading.vectorwrite import write_features
from service.store.current import resolve_raster

log = logging.getLogger(__name__)

RD_EPSG = 28992


class VersionSource(BaseModel):
    """What a new version says of its source: stored on the version row, and the layer row follows it."""

    provenance: str
    indicative: bool
    gio: str | None = None
    gio_expression: str | None = None

    @classmethod
    def of(cls, spec: ManifestLayer) -> VersionSource:
        return cls(
            provenance=spec.provenance, indicative=spec.indicative, gio=spec.gio, gio_expression=spec.gio_expression
        )


class LoadResult(BaseModel):
    slug: str
    kind: str
    status: str  # "created" (a new version) or "unchanged"
    version: int
    feature_count: int
    source_name: str
    source_sha256: str
    repairs: list[dict[str, Any]] = []


def prepare(spec: ManifestLayer, base: Path, *, settings: Settings | None = None) -> PreparedVector | PreparedRaster:
    path = spec.path(base)
    if spec.kind == "raster":
        return read_raster(path, unit=spec.unit, settings=settings)
    return read_vector(path, name_field=spec.name_field, id_field=spec.id_field, settings=settings)


def upsert_layer(session: Session, spec: ManifestLayer) -> int:
    """Create the layer or update its descriptive metadata (not versioned); returns its id."""
    row = session.execute(
        text(
            """
            INSERT INTO layers (slug, title, kind, category, description, policy_section, policy_summary,
                                provenance, indicative, gio, licence, accuracy_m, accuracy_note, properties)
            VALUES (:slug, :title, :kind, :category, :description, :policy_section, :policy_summary,
                    :provenance, :indicative, :gio, :licence, :accuracy_m, :accuracy_note,
                    CAST(:properties AS jsonb))
            ON CONFLICT (slug) DO UPDATE SET
                title = EXCLUDED.title, category = EXCLUDED.category, description = EXCLUDED.description,
                policy_section = EXCLUDED.policy_section, policy_summary = EXCLUDED.policy_summary,
                provenance = EXCLUDED.provenance, indicative = EXCLUDED.indicative, gio = EXCLUDED.gio,
                licence = EXCLUDED.licence, accuracy_m = EXCLUDED.accuracy_m,
                accuracy_note = EXCLUDED.accuracy_note, properties = EXCLUDED.properties,
                updated_at = now()
            WHERE layers.kind = EXCLUDED.kind
            RETURNING id
            """
        ),
        {
            **spec.model_dump(
                include={
                    "slug",
                    "title",
                    "kind",
                    "category",
                    "description",
                    "policy_section",
                    "policy_summary",
                    "provenance",
                    "indicative",
                    "gio",
                    "licence",
                    "accuracy_m",
                    "accuracy_note",
                }
            ),
            "properties": json.dumps(
                {"gio_expression": spec.gio_expression, "unit": spec.unit, "expected_area_ha": spec.expected_area_ha}
            ),
        },
    ).first()
    if row is None:
        raise LayerLoadError(f"layer {spec.slug!r} exists with another kind than {spec.kind!r}")
    return int(row[0])


def follow_source(session: Session, *, slug: str, kind: str, source: VersionSource) -> int:
    """An existing layer's row takes the new version's source (provenance, indicative, GIO); the rest of its
    metadata (title, policy, unit, ...) stays as it is. Returns the layer's id."""
    layer_id = session.execute(
        text(
            """
            UPDATE layers SET provenance = :provenance, indicative = :indicative, gio = coalesce(:gio, gio),
                   properties = coalesce(properties, '{}'::jsonb)
                       || jsonb_strip_nulls(jsonb_build_object('gio_expression', CAST(:gio_expression AS text))),
                   updated_at = now()
            WHERE slug = :slug AND kind = :kind
            RETURNING id
            """
        ),
        {"slug": slug, "kind": kind, **source.model_dump()},
    ).scalar()
    if layer_id is None:
        raise LayerLoadError(f"layer {slug!r} does not exist as a {kind} layer")
    return int(layer_id)


def _current(session: Session, layer_id: int) -> tuple[int, int, str] | None:
    row = session.execute(
        text(
            "SELECT v.id, v.number, v.source_sha256 FROM layers l JOIN layer_versions v "
            "ON v.id = l.current_version_id WHERE l.id = :id"
        ),
        {"id": layer_id},
    ).first()
    return (int(row[0]), int(row[1]), str(row[2])) if row else None


def write_version(
    session: Session,
    *,
    prepared: PreparedVector | PreparedRaster,
    created_by: str,
    slug: str | None = None,
    source: VersionSource | None = None,
    layer: ManifestLayer | None = None,
    feature_defaults: dict[str, Any] | None = None,
    note: str | None = None,
    settings: Settings | None = None,
    cancel: Cancel = None,
) -> LoadResult:
    """Write ``prepared`` as the layer's new current version (unless unchanged). Caller commits.

    With ``layer`` (a manifest entry, or a new layer's description) the layer row is created or its metadata
    set from it (``slug`` and ``source`` default to its own); without, the layer must exist and only follows
    ``source``."""
    settings = settings or get_settings()
    if layer is not None:
        slug, source = slug or layer.slug, source or VersionSource.of(layer)
    if slug is None or source is None:
        raise LayerLoadError("a version needs its layer's slug and source (or a layer description)")
    kind = "raster" if isinstance(prepared, PreparedRaster) else "vector"
    if isinstance(prepared, PreparedVector) and prepared.repair:
        validate_prepared(session, prepared, settings=settings)  # repairs change the rows; else see vectorwrite
    # A load may run longer than a question: its own timeout, for this transaction only.
    session.execute(
        text("SELECT set_config('statement_timeout', :t, true)"), {"t": str(settings.load_statement_timeout_ms)}
    )
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"gebiedscheck:layer:{slug}"})
    if layer is not None:
        if layer.slug != slug or layer.kind != kind:
            raise LayerLoadError(f"layer description {layer.slug!r} ({layer.kind}) does not match {slug!r} ({kind})")
        layer_id = upsert_layer(session, layer)
    else:
        layer_id = follow_source(session, slug=slug, kind=kind, source=source)
    current = _current(session, layer_id)
    is_raster = isinstance(prepared, PreparedRaster)
    count = 1 if is_raster else len(prepared.features)  # type: ignore[union-attr]
    source_name = getattr(prepared, "source_name", None) or prepared.path.name
    base: dict[str, Any] = {
        "slug": slug,
        "kind": kind,
        "source_name": source_name,
        "source_sha256": prepared.sha256,
    }
    if current and current[2] == prepared.sha256:
        fc = session.execute(
            text("SELECT feature_count FROM layer_versions WHERE id = :id"), {"id": current[0]}
        ).scalar_one()
        if isinstance(prepared, PreparedRaster):
            _restore_raster_copy(
                session, version_id=current[0], source=prepared.path, sha256=prepared.sha256, settings=settings
            )
            ensure_hotspots(session, version_id=current[0], threshold_c=settings.heat_threshold_c, settings=settings)
        return LoadResult(**base, status="unchanged", version=current[1], feature_count=int(fc))

    number = int(
        session.execute(
            text("SELECT coalesce(max(number), 0) + 1 FROM layer_versions WHERE layer_id = :id"), {"id": layer_id}
        ).scalar_one()
    )
    raster_path = None
    metadata: dict[str, Any] = {}
    total_area = None
    if isinstance(prepared, PreparedRaster):
        store = settings.raster_store
        store.mkdir(parents=True, exist_ok=True)
        target = store / f"{prepared.sha256}.tif"
        if not target.exists():
            tmp = target.with_suffix(".tif.part")
            shutil.copyfile(prepared.path, tmp)
            tmp.replace(target)
        else:  # reused: fresh, so start-up housekeeping never takes it for an old orphan before this commits
            os.utime(target)
        raster_path = str(target)
        metadata = prepared.metadata
    else:
        total_area = prepared.total_area_m2
        if prepared.repairs:
            metadata = {"repairs": prepared.repairs}
    version_id = int(
        session.execute(
            text(
                """
            INSERT INTO layer_versions (layer_id, number, created_by, source_name, source_sha256,
                                        source_identifier, feature_count, total_area_m2, note,
                                        raster_path, metadata, provenance, indicative)
            VALUES (:layer_id, :number, :created_by, :source_name, :sha, :source_identifier, :count,
                    :area, :note, :raster_path, CAST(:metadata AS jsonb), :provenance, :indicative)
            RETURNING id
            """
            ),
            {
                "layer_id": layer_id,
                "number": number,
                "created_by": created_by,
                "source_name": source_name,
                "sha": prepared.sha256,
                "source_identifier": source.gio_expression,
                "count": count,
                "area": total_area,
                "note": note,
                "raster_path": raster_path,
                "provenance": source.provenance,
                "indicative": source.indicative,
                "metadata": json.dumps(metadata),
            },
        ).scalar_one()
    )
    if isinstance(prepared, PreparedVector):
        write_features(session, version_id=version_id, prepared=prepared, defaults=feature_defaults, settings=settings)
    else:
        write_hotspots(
            session, version_id=version_id, raster_path=target, threshold_c=settings.heat_threshold_c, cancel=cancel
        )
    # Fresh planner statistics, so the first queries after a load use the spatial indexes.
    for table in ("features", "feature_parts", "heat_hotspots"):
        session.execute(text(f"ANALYZE {table}"))
    session.execute(
        text("UPDATE layer_versions SET status = 'superseded' WHERE layer_id = :id AND id <> :v"),
        {"id": layer_id, "v": version_id},
    )
    session.execute(
        text("UPDATE layers SET current_version_id = :v, updated_at = now() WHERE id = :id"),
        {"id": layer_id, "v": version_id},
    )
    log.info("layer %s: version %d (%d features) from %s", slug, number, count, prepared.path.name)
    repairs = prepared.repairs if isinstance(prepared, PreparedVector) else []
    return LoadResult(**base, status="created", version=number, feature_count=count, repairs=repairs)


def _restore_raster_copy(
    session: Session, *, version_id: int, source: Path, sha256: str, settings: Settings | None = None
) -> None:
    """Put back the stored copy of a raster version from an identical source file (same sha256)."""
    stored = session.execute(text("SELECT raster_path FROM layer_versions WHERE id = :v"), {"v": version_id}).scalar()
    path = resolve_raster(stored, settings)
    if path and not path.exists():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(path).with_suffix(".tif.part")
        shutil.copyfile(source, tmp)
        tmp.replace(path)
        log.warning("restored the missing raster file of version %d from %s (sha256 %s)", version_id, source, sha256)


def ensure_hotspots(session: Session, *, version_id: int, threshold_c: float, settings: Settings | None = None) -> int:
    """Build the hotspots of a raster version at ``threshold_c`` when they are missing (derived data)."""
    have = session.execute(
        text(
            "SELECT 1 FROM layer_versions WHERE id = :v AND (metadata->>'hotspot_threshold_c')::float8 = :t "
            "UNION ALL SELECT 1 FROM heat_hotspots WHERE version_id = :v AND threshold_c = :t LIMIT 1"
        ),
        {"v": version_id, "t": threshold_c},
    ).first()
    if have:
        return 0
    stored = session.execute(text("SELECT raster_path FROM layer_versions WHERE id = :v"), {"v": version_id}).scalar()
    path = resolve_raster(stored, settings)
    if path is None or not path.exists():
        log.warning("raster of version %d is missing at %s; hotspots not built", version_id, path)
        return 0
    return write_hotspots(session, version_id=version_id, raster_path=path, threshold_c=threshold_c)


def feature_provenance(spec: ManifestLayer, manifest: Manifest) -> dict[str, Any]:
    """What every feature of a default layer carries: provenance, GIO identifier, Omgevingsvisie date."""
    return {
        "provenance": spec.provenance,
        "indicatief": spec.indicative,
        "gio": spec.gio,
        "gio_expression": spec.gio_expression,
        "omgevingsvisie": manifest.omgevingsvisie,
        "omgevingsvisie_in_werking": manifest.omgevingsvisie_in_werking,
    }


def load_defaults(
    session: Session, *, settings: Settings | None = None, created_by: str | None = None, progress: Any = None
) -> list[LoadResult]:
    """Load every layer of the manifest. All files are validated first; the caller's transaction
    then holds all writes, so a failure anywhere leaves the database as it was."""
    settings = settings or get_settings()
    manifest = read_manifest(settings.layers_dir)
    prepared = []
    for spec in manifest.layers:
        prep = prepare(spec, settings.layers_dir, settings=settings)
        if isinstance(prep, PreparedVector):  # every file valid before anything is written
            validate_prepared(session, prep, settings=settings)
        prepared.append((spec, prep))
        if progress:
            progress(spec.slug)
    results = []
    for spec, prep in prepared:
        results.append(
            write_version(
                session,
                layer=spec,
                prepared=prep,
                created_by=created_by or settings.loaded_by,
                feature_defaults=feature_provenance(spec, manifest),
                note="standaardlaag uit layers/manifest.toml",
                settings=settings,
            )
        )
    return results
