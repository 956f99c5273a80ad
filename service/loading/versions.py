"""Loading a file as a new version of a layer (with a dry run that reports the difference), and rollback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import shapely
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.orm import Session

from service.core.errors import InvalidInput, NotFound
from service.core.schemas import VersionSummary
from service.core.settings import Settings, get_settings
from service.formats.gio import Gio, read_gio
from service.formats.safeopen import Kind, kind_of, staged
from service.loading.manifest import ManifestLayer
from service.loading.pipeline import LoadResult, VersionSource, write_version
from service.loading.rasterload import Cancel, prepare_raster_file
from service.loading.vectorload import PreparedVector, prepare_frame, read_vector, validate_prepared
from service.store.catalog import get_layer

VECTOR_KINDS = (Kind.GEOJSON, Kind.GPKG, Kind.SHAPEFILE, Kind.GIO)


class DiffReport(BaseModel):
    """What a load would change (a dry run): nothing is written."""

    slug: str
    source_name: str
    source_sha256: str
    feature_count: int
    total_area_m2: float
    current_version: int | None
    added: list[str]
    removed: list[str]
    changed: list[str]
    unchanged: int
    area_change_m2: float | None
    repairs: list[dict[str, Any]] = []


def _layer_row(session: Session, slug: str) -> Any:
    return (
        session.execute(text("SELECT kind, provenance, indicative FROM layers WHERE slug = :s"), {"s": slug})
        .mappings()
        .first()
    )


def _source_for(
    session: Session,
    slug: str,
    *,
    create: bool,
    title: str | None,
    path: Path,
    provenance: str | None,
    official: bool,
    source: str,
) -> tuple[VersionSource, ManifestLayer | None]:
    """The new version's source, and (for ``create``) the new layer's description; an existing layer's
    metadata is left where it is (only its source follows the version)."""
    row = _layer_row(session, slug)
    if row is None and not create:
        raise NotFound(f"layer {slug!r} does not exist; use --create --title to make it")
    if row is not None and create:
        raise InvalidInput(f"layer {slug!r} exists already; leave out --create to add a version")
    if row is not None and row["kind"] != "vector":
        raise InvalidInput(f"layer {slug!r} is a raster layer; load a GeoTIFF for it")
    default_prov = f"officieel — geladen uit {source}" if official else f"indicatief — geladen uit {source}"
    if row is None:
        if not title:
            raise InvalidInput("a new layer needs --title")
        new = ManifestLayer(
            slug=slug,
            title=title,
            file=str(path),
            description=title,
            provenance=provenance or default_prov,
            indicative=not official,
            licence="onbekend",
        )
        return VersionSource.of(new), new
    prov = provenance or (default_prov if official else row["provenance"])
    return VersionSource(provenance=prov, indicative=False if official else bool(row["indicative"])), None


def read_layer_file(
    path: Path,
    *,
    name_field: str | None = None,
    layer: str | None = None,
    crs: str | None = None,
    repair: bool = False,
    source_name: str | None = None,
    settings: Settings | None = None,
    cancel: Cancel = None,
) -> tuple[PreparedVector, Gio | None]:
    """Read and validate a GeoJSON, GeoPackage, zipped Shapefile (PDOK Natura 2000 fields mapped) or STOP GIO
    GML, through the safe path (:mod:`service.formats.safeopen`); the GIO's FRBR identifiers come along."""
    name = source_name or path.name
    kind = kind_of(name, allowed=VECTOR_KINDS)
    if kind is not Kind.GIO:
        prepared = read_vector(
            path,
            name_field=name_field,
            layer=layer,
            crs=crs,
            repair=repair,
            source_name=name,
            settings=settings,
            cancel=cancel,
        )
        return prepared, None
    import geopandas as gpd

    with staged(path, allowed=(Kind.GIO,), source_name=name, settings=settings) as st:
        gio = read_gio(st.path, name=name)
    frame = gpd.GeoDataFrame({"name": gio.names}, geometry=gio.geometries, crs="EPSG:28992")
    prepared = prepare_frame(frame, source=path, source_name=name, sha256=st.sha256, repair=repair, cancel=cancel)
    return prepared, gio


def diff_with_current(session: Session, slug: str, prepared: PreparedVector) -> DiffReport:
    rows = session.execute(
        text(
            "SELECT f.fid, ST_AsBinary(f.geom), v.number FROM layers l JOIN layer_versions v ON v.id = "
            "l.current_version_id JOIN features f ON f.version_id = v.id WHERE l.slug = :s"
        ),
        {"s": slug},
    ).all()
    old = {r[0]: bytes(r[1]) for r in rows}
    new = {f.fid: f.wkb for f in prepared.features}
    both = sorted(new.keys() & old.keys())
    same = shapely.equals_exact(
        shapely.from_wkb([new[k] for k in both]), shapely.from_wkb([old[k] for k in both]), 0.01
    )
    changed = [k for k, eq in zip(both, same.tolist(), strict=True) if not eq]
    old_area = float(shapely.area(shapely.from_wkb(list(old.values()))).sum()) if old else None
    return DiffReport(
        slug=slug,
        source_name=prepared.source_name or prepared.path.name,
        source_sha256=prepared.sha256,
        feature_count=len(prepared.features),
        total_area_m2=round(prepared.total_area_m2, 2),
        current_version=rows[0][2] if rows else None,
        added=sorted(new.keys() - old.keys()),
        removed=sorted(old.keys() - new.keys()),
        changed=changed,
        unchanged=len(new.keys() & old.keys()) - len(changed),
        area_change_m2=None if old_area is None else round(prepared.total_area_m2 - old_area, 2),
    )


def load_file(
    session: Session,
    path: Path,
    *,
    slug: str,
    create: bool = False,
    title: str | None = None,
    name_field: str | None = None,
    layer: str | None = None,
    crs: str | None = None,
    note: str | None = None,
    provenance: str | None = None,
    official: bool = False,
    dry_run: bool = False,
    created_by: str | None = None,
    settings: Settings | None = None,
    repair: bool = False,
    source_name: str | None = None,
    cancel: Cancel = None,
) -> LoadResult | DiffReport:
    """Validate ``path`` and either report the difference (dry run) or write it as the layer's new version
    in the caller's transaction."""
    settings = settings or get_settings()
    name = source_name or path.name
    if kind_of(name, allowed=VECTOR_KINDS + (Kind.GTIFF,)) is Kind.GTIFF:
        if dry_run:
            raise InvalidInput("a dry run is for vector layers; a raster version can be rolled back")
        return load_raster_file(
            session,
            path,
            slug=slug,
            crs=crs,
            note=note,
            provenance=provenance,
            official=official,
            created_by=created_by,
            settings=settings,
            source_name=name,
            cancel=cancel,
        )
    prepared, gio = read_layer_file(
        path,
        name_field=name_field,
        layer=layer,
        crs=crs,
        repair=repair,
        source_name=name,
        settings=settings,
        cancel=cancel,
    )
    source, new_layer = _source_for(
        session, slug, create=create, title=title, path=path, provenance=provenance, official=official, source=name
    )
    if gio is not None:  # an official GIO: the answers cite its expression
        update: dict[str, Any] = {"gio": gio.work, "gio_expression": gio.expression}
        if provenance is None:
            update |= {"provenance": f"officieel — GIO {gio.expression}", "indicative": False}
        source = source.model_copy(update=update)
        if new_layer is not None:
            new_layer = new_layer.model_copy(update=update)
    if dry_run or repair:  # a real load of a file as it is: validity decided as it is written (vectorwrite)
        validate_prepared(session, prepared, settings=settings)
    report = diff_with_current(session, slug, prepared)
    report.repairs = prepared.repairs
    if dry_run:
        return report
    return write_version(
        session,
        slug=slug,
        source=source,
        layer=new_layer,
        prepared=prepared,
        created_by=created_by or settings.loaded_by,
        note=note,
        settings=settings,
        cancel=cancel,
    )


def activate(session: Session, slug: str, number: int) -> VersionSummary:
    """Make version ``number`` the layer's current one again (rollback or roll forward); nothing is deleted."""
    get_layer(session, slug)
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"gebiedscheck:layer:{slug}"})
    row: Any = session.execute(
        text(
            "SELECT v.id, v.layer_id FROM layer_versions v JOIN layers l ON l.id = v.layer_id "
            "WHERE l.slug = :s AND v.number = :n"
        ),
        {"s": slug, "n": number},
    ).first()
    if row is None:
        raise NotFound(f"layer {slug!r} has no version {number}")
    session.execute(
        text(
            "UPDATE layer_versions SET status = CASE WHEN id = :v THEN 'current' ELSE 'superseded' END "
            "WHERE layer_id = :l"
        ),
        {"v": row.id, "l": row.layer_id},
    )
    session.execute(
        text("UPDATE layers SET current_version_id = :v, updated_at = now() WHERE id = :l"),
        {"v": row.id, "l": row.layer_id},
    )
    from service.store.catalog import layer_versions

    return next(v for v in layer_versions(session, slug) if v.number == number)


class NewLayer(BaseModel):
    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    title: str = Field(min_length=1, max_length=200)
    description: str = ""
    category: str = Field(default="omgevingsvisie", pattern="^(omgevingsvisie|natura2000|klimaat|referentie)$")
    provenance: str = Field(min_length=1, max_length=1000)
    official: bool = False
    licence: str = "onbekend"
    policy_section: str | None = None
    policy_summary: str | None = None
    accuracy_m: float | None = Field(default=None, ge=0)


def create_layer(session: Session, new: NewLayer) -> None:
    """A new, empty vector layer (its first version comes with the first load)."""
    exists = session.execute(text("SELECT 1 FROM layers WHERE slug = :s"), {"s": new.slug}).first()
    if exists:
        raise InvalidInput(f"layer {new.slug!r} exists already")
    session.execute(
        text(
            "INSERT INTO layers (slug, title, kind, category, description, provenance, indicative, licence, "
            "policy_section, policy_summary, accuracy_m) VALUES (:slug, :title, 'vector', :category, :description, "
            ":provenance, :indicative, :licence, :policy_section, :policy_summary, :accuracy_m)"
        ),
        {**new.model_dump(exclude={"official"}), "indicative": not new.official},
    )


def load_raster_file(
    session: Session,
    path: Path,
    *,
    slug: str,
    crs: str | None = None,
    note: str | None = None,
    provenance: str | None = None,
    official: bool = False,
    created_by: str | None = None,
    settings: Settings | None = None,
    source_name: str | None = None,
    cancel: Cancel = None,
) -> LoadResult:
    """A GeoTIFF (the official RIVM UHI map, say) as a new version of a raster layer; hotspots rebuilt."""
    import tempfile

    settings = settings or get_settings()
    name = source_name or path.name
    row = _layer_row(session, slug)
    if row is None:
        raise NotFound(f"layer {slug!r} does not exist")
    if row["kind"] != "raster":
        raise InvalidInput(f"layer {slug!r} is a vector layer; load a GeoJSON, GeoPackage, Shapefile or GIO")
    source = VersionSource(
        provenance=provenance or (f"officieel — geladen uit {name}" if official else row["provenance"]),
        indicative=False if official else bool(row["indicative"]),
    )
    with tempfile.TemporaryDirectory(prefix="gebiedscheck-raster-") as tmp:
        prepared = prepare_raster_file(
            path, Path(tmp), crs=crs, source_name=source_name, settings=settings, cancel=cancel
        )
        return write_version(
            session,
            slug=slug,
            source=source,
            prepared=prepared,
            created_by=created_by or settings.loaded_by,
            note=note,
            settings=settings,
            cancel=cancel,
        )
