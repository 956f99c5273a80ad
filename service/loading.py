"""Loading layer files into the store: read, validate, then write a new version in one transaction.

Everything is read and validated before anything is written, so a bad file changes nothing. A load
never deletes or rewrites an older version; it adds one and moves the layer's current-version pointer.
Loading a file whose sha256 equals the current version's creates no new version.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import shutil
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.orm import Session

from service.errors import LayerLoadError
from service.manifest import Manifest, ManifestLayer, read_manifest
from service.settings import Settings, get_settings

log = logging.getLogger(__name__)

RD_EPSG = 28992
MAX_PART_VERTICES = 256  # as migration 0002
# The area of use of EPSG:28992 (the Netherlands, with a margin), in RD metres.
RD_BOUNDS = (-7_000.0, 289_000.0, 300_000.0, 629_000.0)
MAX_REASONS = 10


@dataclass
class PreparedFeature:
    fid: str
    name: str
    properties: dict[str, Any]
    wkb: bytes
    area_m2: float


@dataclass
class PreparedVector:
    path: Path
    sha256: str
    features: list[PreparedFeature] = field(default_factory=list)
    repairs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def total_area_m2(self) -> float:
        return sum(f.area_m2 for f in self.features)


@dataclass
class PreparedRaster:
    path: Path
    sha256: str
    metadata: dict[str, Any]
    source_name: str | None = None  # the user's file name when ``path`` is our converted copy


class LoadResult(BaseModel):
    slug: str
    kind: str
    status: str  # "created" (a new version) or "unchanged"
    version: int
    feature_count: int
    source_name: str
    source_sha256: str
    repairs: list[dict[str, Any]] = []


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def slugify(value: str) -> str:
    ascii_ = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_.lower()).strip("-") or "feature"


def _plain(value: Any) -> Any:
    """A JSON-safe Python value from a pandas/numpy cell (NaN and NaT become None)."""
    if value is None:
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise LayerLoadError(f"{path.name}: file not found ({path})")
    if not path.is_file():
        raise LayerLoadError(f"{path.name}: not a file ({path})")


def read_vector(
    path: Path,
    *,
    name_field: str = "name",
    id_field: str | None = None,
    layer: str | None = None,
    crs: str | None = None,
    rename: dict[str, str] | None = None,
    repair: bool = False,
) -> PreparedVector:
    """Read and validate a polygon layer: known CRS, polygonal, non-empty, valid, inside the RD area."""
    import geopandas as gpd
    import pyogrio
    import shapely
    from shapely.validation import explain_validity

    _check_readable(path)
    try:
        if layer is None:
            names = [str(n) for n in pyogrio.list_layers(path)[:, 0]]
            if len(names) > 1:
                raise LayerLoadError(f"{path.name}: holds {len(names)} layers ({', '.join(names)}); choose one")
        gdf = gpd.read_file(path, layer=layer) if layer else gpd.read_file(path)
    except LayerLoadError:
        raise
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise LayerLoadError(f"{path.name}: cannot be read as a vector layer ({exc})", cause=exc) from exc
    if rename:
        gdf = gdf.rename(columns=rename)
    if crs is not None:
        if gdf.crs is None:
            gdf = gdf.set_crs(crs)
        elif gdf.crs.to_epsg() != int(crs.split(":")[-1]):
            raise LayerLoadError(f"{path.name}: the file says {gdf.crs.to_string()}, but --crs says {crs}")
    if gdf.crs is None:
        raise LayerLoadError(
            f"{path.name}: the file states no coordinate reference system; it is never guessed (give --crs)"
        )
    epsg = gdf.crs.to_epsg()
    if epsg != RD_EPSG:
        try:
            gdf = gdf.to_crs(RD_EPSG)
        except Exception as exc:
            raise LayerLoadError(f"{path.name}: cannot reproject from {gdf.crs} to EPSG:28992", cause=exc) from exc
    if len(gdf) == 0:
        raise LayerLoadError(f"{path.name}: the layer has no features")
    if name_field not in gdf.columns:
        raise LayerLoadError(f"{path.name}: no name field {name_field!r} (fields: {', '.join(map(str, gdf.columns))})")

    prepared = PreparedVector(path=path, sha256=file_sha256(path))
    problems: list[str] = []
    seen: set[str] = set()
    minx, miny, maxx, maxy = RD_BOUNDS
    for i, row in enumerate(gdf.itertuples(index=False), start=1):
        geom = getattr(row, "geometry", None)
        raw_name = _plain(getattr(row, name_field))
        label = f"feature {i}" + (f" ({raw_name})" if raw_name else "")
        if not raw_name:
            problems.append(f"{label}: empty name in field {name_field!r}")
        if geom is None or geom.is_empty:
            problems.append(f"{label}: empty geometry")
            continue
        if geom.geom_type not in ("Polygon", "MultiPolygon"):
            problems.append(f"{label}: geometry is a {geom.geom_type}, not a polygon")
            continue
        if not geom.is_valid:
            reason = explain_validity(geom)
            if not repair:
                problems.append(f"{label}: invalid geometry: {reason} (--repair applies ST_MakeValid)")
                continue
            fixed = shapely.make_valid(geom)
            polys = [p for p in shapely.get_parts(fixed) if p.geom_type == "Polygon" and not p.is_empty]
            if not polys:
                problems.append(f"{label}: invalid geometry: {reason}; repairing leaves no polygon")
                continue
            before = float(geom.area)
            geom = shapely.MultiPolygon(polys)
            prepared.repairs.append(
                {
                    "feature": str(raw_name),
                    "reason": reason,
                    "area_before_m2": round(before, 2),
                    "area_after_m2": round(float(geom.area), 2),
                    "area_change_m2": round(float(geom.area) - before, 2),
                }
            )
        bx0, by0, bx1, by1 = geom.bounds
        if bx0 < minx or by0 < miny or bx1 > maxx or by1 > maxy:
            problems.append(f"{label}: lies outside the area of use of EPSG:28992 (bounds {geom.bounds})")
            continue
        props = {str(k): _plain(getattr(row, k)) for k in gdf.columns if k not in ("geometry", name_field)}
        fid = str(_plain(getattr(row, id_field))) if id_field else slugify(str(raw_name))
        base, n = fid, 2
        while fid in seen:
            fid, n = f"{base}-{n}", n + 1
        seen.add(fid)
        multi = geom if geom.geom_type == "MultiPolygon" else shapely.MultiPolygon([geom])
        prepared.features.append(
            PreparedFeature(
                fid=fid, name=str(raw_name), properties=props, wkb=shapely.to_wkb(multi), area_m2=float(multi.area)
            )
        )
    if problems:
        shown = "; ".join(problems[:MAX_REASONS])
        more = f" (and {len(problems) - MAX_REASONS} more)" if len(problems) > MAX_REASONS else ""
        raise LayerLoadError(f"{path.name}: {len(problems)} invalid feature(s): {shown}{more}")
    return prepared


def read_raster(path: Path, *, unit: str | None = None) -> PreparedRaster:
    """Open and describe a single-band GeoTIFF in EPSG:28992 (reprojection arrives with layer management)."""
    import numpy as np
    import rasterio
    from rasterio.errors import RasterioIOError

    _check_readable(path)
    try:
        with rasterio.Env(), rasterio.open(path) as src:
            if src.crs is None:
                raise LayerLoadError(f"{path.name}: the raster states no coordinate reference system")
            if src.crs.to_epsg() != RD_EPSG:
                raise LayerLoadError(f"{path.name}: the raster is in {src.crs}, expected EPSG:28992")
            band = src.read(1, masked=True)
            valid = band.compressed()
            if valid.size == 0:
                raise LayerLoadError(f"{path.name}: the raster holds no valid cells")
            if not np.isfinite(valid).all():
                raise LayerLoadError(f"{path.name}: the raster holds NaN or infinite values outside nodata")
            meta = {
                "crs": "EPSG:28992",
                "width": src.width,
                "height": src.height,
                "cell_size_m": [abs(src.res[0]), abs(src.res[1])],
                "bounds": list(src.bounds),
                "dtype": src.dtypes[0],
                "nodata": src.nodata,
                "min": float(valid.min()),
                "max": float(valid.max()),
                "mean": float(valid.mean()),
                "unit": unit,
                "driver": src.driver,
                "tiled": bool(src.profile.get("tiled", False)),
                "overviews": src.overviews(1),
            }
    except RasterioIOError as exc:
        raise LayerLoadError(f"{path.name}: cannot be read as a raster ({exc})", cause=exc) from exc
    return PreparedRaster(path=path, sha256=file_sha256(path), metadata=meta)


def prepare(spec: ManifestLayer, base: Path) -> PreparedVector | PreparedRaster:
    path = spec.path(base)
    if spec.kind == "raster":
        return read_raster(path, unit=spec.unit)
    return read_vector(path, name_field=spec.name_field, id_field=spec.id_field)


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
    spec: ManifestLayer,
    prepared: PreparedVector | PreparedRaster,
    created_by: str,
    feature_defaults: dict[str, Any] | None = None,
    note: str | None = None,
    settings: Settings | None = None,
) -> LoadResult:
    """Write ``prepared`` as the layer's new current version (unless unchanged). Caller commits."""
    settings = settings or get_settings()
    # A load may run longer than a question: its own timeout, for this transaction only.
    session.execute(
        text("SELECT set_config('statement_timeout', :t, true)"), {"t": str(settings.load_statement_timeout_ms)}
    )
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"gebiedscheck:layer:{spec.slug}"})
    layer_id = upsert_layer(session, spec)
    current = _current(session, layer_id)
    is_raster = isinstance(prepared, PreparedRaster)
    count = 1 if is_raster else len(prepared.features)  # type: ignore[union-attr]
    source_name = getattr(prepared, "source_name", None) or prepared.path.name
    base: dict[str, Any] = {
        "slug": spec.slug,
        "kind": spec.kind,
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
                "source_identifier": spec.gio_expression,
                "count": count,
                "area": total_area,
                "note": note,
                "raster_path": raster_path,
                "provenance": spec.provenance,
                "indicative": spec.indicative,
                "metadata": json.dumps(metadata),
            },
        ).scalar_one()
    )
    if isinstance(prepared, PreparedVector):
        defaults = feature_defaults or {}
        session.execute(
            text(
                "INSERT INTO features (version_id, fid, name, properties, geom) VALUES "
                "(:v, :fid, :name, CAST(:props AS jsonb), ST_Multi(ST_GeomFromWKB(:wkb, 28992)))"
            ),
            [
                {
                    "v": version_id,
                    "fid": f.fid,
                    "name": f.name,
                    "props": json.dumps({**defaults, **{k: v for k, v in f.properties.items() if v is not None}}),
                    "wkb": f.wkb,
                }
                for f in prepared.features
            ],
        )
        session.execute(
            text(
                "INSERT INTO feature_parts (feature_id, version_id, geom) "
                "SELECT id, version_id, (ST_Dump(ST_Subdivide(geom, :n))).geom FROM features WHERE version_id = :v"
            ),
            {"v": version_id, "n": MAX_PART_VERTICES},
        )
    else:
        write_hotspots(session, version_id=version_id, raster_path=target, threshold_c=settings.heat_threshold_c)
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
    log.info("layer %s: version %d (%d features) from %s", spec.slug, number, count, prepared.path.name)
    repairs = prepared.repairs if isinstance(prepared, PreparedVector) else []
    return LoadResult(**base, status="created", version=number, feature_count=count, repairs=repairs)


def write_hotspots(session: Session, *, version_id: int, raster_path: Path, threshold_c: float) -> int:
    """Polygonise the raster's cells at or above ``threshold_c`` into heat_hotspots (subdivided)."""
    import numpy as np
    import rasterio
    import shapely
    from rasterio.features import shapes

    with rasterio.Env(), rasterio.open(raster_path) as src:
        band = src.read(1, masked=True)
        hot = (~np.ma.getmaskarray(band)) & (band.filled(-np.inf) >= threshold_c)
        polys = [
            shapely.geometry.shape(geom)
            for geom, value in shapes(hot.astype("uint8"), mask=hot, transform=src.transform)
            if value == 1
        ]
    session.execute(
        text(
            "UPDATE layer_versions SET metadata = metadata || jsonb_build_object('hotspot_threshold_c', "
            "CAST(:t AS float8)) WHERE id = :v"
        ),
        {"v": version_id, "t": threshold_c},
    )
    if polys:
        session.execute(
            text(
                "INSERT INTO heat_hotspots (version_id, threshold_c, geom) "
                "SELECT :v, :t, (ST_Dump(ST_Subdivide(ST_GeomFromWKB(:wkb, 28992), :n))).geom"
            ),
            [{"v": version_id, "t": threshold_c, "wkb": shapely.to_wkb(p), "n": MAX_PART_VERTICES} for p in polys],
        )
    return len(polys)


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
        prepared.append((spec, prepare(spec, settings.layers_dir)))
        if progress:
            progress(spec.slug)
    results = []
    for spec, prep in prepared:
        results.append(
            write_version(
                session,
                spec=spec,
                prepared=prep,
                created_by=created_by or settings.loaded_by,
                feature_defaults=feature_provenance(spec, manifest),
                note="standaardlaag uit layers/manifest.toml",
                settings=settings,
            )
        )
    return results
