"""Reading vector layer files into validated features (the first step of a load; nothing is written here).

Files come through :mod:`service.formats.safeopen` (suffix and content checked, alone in a directory of ours, only our
GDAL drivers); a STOP GIO arrives as a GeoDataFrame made by :mod:`service.formats.gio`. Every feature is checked:
polygonal, non-empty, valid (or repaired on request, each repair reported), inside the RD area, named.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from service.core.errors import LayerLoadError
from service.core.settings import Settings
from service.formats.cells import plain_value

RD_EPSG = 28992
# The area of use of EPSG:28992 (the Netherlands, with a margin), in RD metres.
RD_BOUNDS = (-7_000.0, 289_000.0, 300_000.0, 629_000.0)
MAX_REASONS = 10
# Little-endian 2D WKB heads: a MultiPolygon's is its type and count before its polygons' own WKB.
_POLYGON_HEAD = b"\x01\x03\x00\x00\x00"
_MULTIPOLYGON_HEADS = (b"\x01\x06\x00\x00\x00", b"\x00\x00\x00\x00\x06")
_ONE_POLYGON_MULTI = b"\x01\x06\x00\x00\x00\x01\x00\x00\x00"


@dataclass
class PreparedFeature:
    fid: str
    name: str
    properties: dict[str, Any]
    wkb: bytes
    area_m2: float
    number: int = 0  # 1-based position in the file, for messages


@dataclass
class PreparedVector:
    """Features read and checked; their validity is decided by PostGIS in :func:`validate_prepared`."""

    path: Path
    sha256: str
    features: list[PreparedFeature] = field(default_factory=list)
    repairs: list[dict[str, Any]] = field(default_factory=list)
    source_name: str | None = None  # the user's file name when ``path`` is not theirs
    repair: bool = False  # repair invalid geometries (ST_MakeValid) instead of refusing the file
    validated: bool = False

    @property
    def total_area_m2(self) -> float:
        return sum(f.area_m2 for f in self.features)


# PDOK Natura 2000 (and similar) field names -> ours
FIELD_ALIASES = {"name": ("naamN2K", "naam_n2k", "naam", "NAAM"), "site_number": ("nr", "NR", "sitenummer")}


def multipolygon_wkb(wkb: bytes) -> bytes:
    """2D WKB of a MultiPolygon (what ``features.geom`` holds) from a Polygon's or a MultiPolygon's WKB: a
    little-endian Polygon by a prefix (no parsing), anything else through shapely."""
    if wkb[:5] in _MULTIPOLYGON_HEADS:
        return wkb
    if wkb[:5] == _POLYGON_HEAD:
        return _ONE_POLYGON_MULTI + wkb
    import shapely

    geom = shapely.from_wkb(wkb)
    if geom.geom_type == "Polygon":
        geom = shapely.MultiPolygon([geom])
    return bytes(shapely.to_wkb(geom, byte_order=1, output_dimension=2))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def slugify(value: str) -> str:
    if _SLUG.fullmatch(value):
        return value
    ascii_ = value if value.isascii() else unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    return _NOT_SLUG.sub("-", ascii_.lower()).strip("-") or "feature"


def field_mapping(fields: list[str], name_field: str | None, *, source: str) -> tuple[str, dict[str, str]]:
    """The name field to use and a renaming of known foreign fields (PDOK's naamN2K, nr) to ours."""
    rename = {}
    for ours, aliases in FIELD_ALIASES.items():
        if ours not in fields:
            found = next((a for a in aliases if a in fields), None)
            if found:
                rename[found] = ours
    if name_field:
        if name_field not in fields:
            raise LayerLoadError(f"{source}: no field {name_field!r} (fields: {', '.join(fields)})")
        return name_field, {k: v for k, v in rename.items() if k != name_field}
    return "name", rename


def read_vector(
    path: Path,
    *,
    name_field: str | None = "name",
    id_field: str | None = None,
    layer: str | None = None,
    crs: str | None = None,
    repair: bool = False,
    source_name: str | None = None,
    settings: Settings | None = None,
    cancel: Callable[[], bool] | None = None,
) -> PreparedVector:
    """Read and validate a polygon layer (GeoJSON, GeoPackage, zipped Shapefile) through the safe path
    (:mod:`service.formats.safeopen`): known CRS, polygonal, non-empty, valid, inside the RD area.

    ``name_field=None`` takes ``name`` or a known foreign name field (PDOK's ``naamN2K``), which is renamed.
    """
    from service.formats.safeopen import Kind, read_frame, staged

    with staged(
        path, allowed=(Kind.GEOJSON, Kind.GPKG, Kind.SHAPEFILE), source_name=source_name, settings=settings
    ) as st:
        gdf = read_frame(st, layer=layer, settings=settings)
        field, mapped = field_mapping([str(c) for c in gdf.columns], name_field, source=st.source_name)
        return prepare_frame(
            gdf.rename(columns=mapped),
            source=path,
            source_name=st.source_name,
            sha256=st.sha256,
            name_field=field,
            id_field=id_field,
            crs=crs,
            repair=repair,
            cancel=cancel,
        )


def _to_rd(gdf: Any, crs: str | None, name: str) -> Any:
    from service.formats.safeopen import layer_crs

    given = layer_crs(crs)
    if given is not None:
        if gdf.crs is None:
            gdf = gdf.set_crs(given)
        elif gdf.crs.to_epsg() != int(given.split(":")[-1]):
            raise LayerLoadError(f"{name}: the file says {gdf.crs.to_string()}, but --crs says {given}")
    if gdf.crs is None:
        raise LayerLoadError(
            f"{name}: the file states no coordinate reference system; it is never guessed (give --crs)"
        )
    if gdf.crs.to_epsg() != RD_EPSG:
        try:
            gdf = gdf.to_crs(RD_EPSG)
        except Exception as exc:
            raise LayerLoadError(f"{name}: cannot reproject from {gdf.crs} to EPSG:28992", cause=exc) from exc
    return gdf


def prepare_frame(
    gdf: Any,
    *,
    source: Path,
    source_name: str,
    sha256: str,
    name_field: str = "name",
    id_field: str | None = None,
    crs: str | None = None,
    repair: bool = False,
    cancel: Callable[[], bool] | None = None,
) -> PreparedVector:
    """Check the features of a GeoDataFrame (from a file or a GIO) into a PreparedVector: polygonal, non-empty,
    named, inside the RD area (validity follows in :func:`validate_prepared`, in PostGIS). Columns are used by
    name, so any field name a GIS file may hold (``my field``, ``class``, ``2020``) is kept as it is."""
    import numpy as np
    import shapely

    name = source_name
    gdf = _to_rd(gdf, crs, name)
    if len(gdf) == 0:
        raise LayerLoadError(f"{name}: the layer has no features")
    if name_field not in gdf.columns:
        raise LayerLoadError(f"{name}: no name field {name_field!r} (fields: {', '.join(map(str, gdf.columns))})")
    if id_field is not None and id_field not in gdf.columns:
        raise LayerLoadError(f"{name}: no id field {id_field!r} (fields: {', '.join(map(str, gdf.columns))})")

    prepared = PreparedVector(path=source, sha256=sha256, source_name=source_name, repair=repair)
    attributes = [c for c in gdf.columns if c not in (gdf.geometry.name, name_field)]
    columns = {c: gdf[c].tolist() for c in {name_field, *attributes, *([id_field] if id_field else [])}}
    names = [plain_value(v) for v in columns[name_field]]
    # The geometry checks at once over the whole column (shapely 2), the messages only for the rows that fail.
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    type_id = shapely.get_type_id(geoms)
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    polygonal = (type_id == 3) | (type_id == 6)
    bx0, by0, bx1, by1 = shapely.bounds(geoms).T
    minx, miny, maxx, maxy = RD_BOUNDS
    with np.errstate(invalid="ignore"):
        outside = (bx0 < minx) | (by0 < miny) | (bx1 > maxx) | (by1 > maxy)
    named = np.fromiter((bool(n) for n in names), dtype=bool, count=len(names))
    bad = np.flatnonzero(empty | ~polygonal | outside | ~named)
    if bad.size:
        raise LayerLoadError(_problems(names, geoms, bad, empty, polygonal, outside, name=name, field=name_field))
    if cancel is not None and cancel():
        from service.core.errors import LoadCancelled

        raise LoadCancelled("the load was stopped before it was written; nothing changed")
    if shapely.has_z(geoms).any():  # heights are not part of a zone: RD x/y are stored (a 3D export loads)
        geoms = shapely.force_2d(geoms)
    wkbs = shapely.to_wkb(geoms, byte_order=1, output_dimension=2).tolist()
    for i in np.flatnonzero(type_id == 3).tolist():
        wkbs[i] = multipolygon_wkb(wkbs[i])
    areas = shapely.area(geoms).tolist()
    seen: set[str] = set()
    ids = columns[id_field] if id_field else None
    for i in range(len(names)):
        if cancel is not None and i % 100_000 == 0 and i and cancel():
            from service.core.errors import LoadCancelled

            raise LoadCancelled("the load was stopped before it was written; nothing changed")
        fid = str(plain_value(ids[i])) if ids is not None else slugify(str(names[i]))
        if fid in seen:
            base, n = fid, 2
            while fid in seen:
                fid, n = f"{base}-{n}", n + 1
        seen.add(fid)
        prepared.features.append(
            PreparedFeature(
                fid=fid,
                name=str(names[i]),
                properties={str(k): plain_value(columns[k][i]) for k in attributes},
                wkb=wkbs[i],
                area_m2=areas[i],
                number=i + 1,
            )
        )
    return prepared


def _problems(
    names: list[Any], geoms: Any, bad: Any, empty: Any, polygonal: Any, outside: Any, *, name: str, field: str
) -> str:
    """The refusal of a file: each failing feature in file order, at most MAX_REASONS named."""
    problems: list[str] = []
    for i in bad.tolist():
        label = f"feature {i + 1}" + (f" ({names[i]})" if names[i] else "")
        if not names[i]:
            problems.append(f"{label}: empty name in field {field!r}")
        if empty[i]:
            problems.append(f"{label}: empty geometry")
        elif not polygonal[i]:
            problems.append(f"{label}: geometry is a {geoms[i].geom_type}, not a polygon")
        elif outside[i]:
            problems.append(f"{label}: lies outside the area of use of EPSG:28992 (bounds {geoms[i].bounds})")
    shown = "; ".join(problems[:MAX_REASONS])
    more = f" (and {len(problems) - MAX_REASONS} more)" if len(problems) > MAX_REASONS else ""
    return f"{name}: {len(problems)} invalid feature(s): {shown}{more}"


def validate_prepared(session: Session, prepared: PreparedVector, *, settings: Settings | None = None) -> None:
    """Decide the validity of every feature in PostGIS, set-based and under the validation time budget
    (:func:`service.spatial.validation.validate_many`: the same check and repair as a request's geometry), and repair
    invalid ones when ``prepared.repair`` (each repair recorded: reason, area before and after). Refuses the
    file naming each invalid feature; a no-op once validated."""
    import shapely

    from service.core.errors import GeometryTooComplex
    from service.spatial.validation import validate_many

    if prepared.validated:
        return
    name = prepared.source_name or prepared.path.name
    try:
        checks = validate_many(session, [f.wkb for f in prepared.features], repair=prepared.repair, settings=settings)
    except GeometryTooComplex as exc:
        raise LayerLoadError(f"{name}: {exc.detail}", cause=exc) from exc
    problems: list[str] = []
    for f, v in zip(prepared.features, checks, strict=True):
        if v.valid:
            continue
        label = f"feature {f.number} ({f.name})"
        if not prepared.repair:
            problems.append(f"{label}: {v.problem} (--repair applies ST_MakeValid)")
            continue
        if v.repaired is None or v.area_after_m2 is None:
            problems.append(f"{label}: {v.problem}; repairing leaves no polygon")
            continue
        f.wkb, f.area_m2 = v.repaired, float(shapely.area(shapely.from_wkb(v.repaired)))
        prepared.repairs.append(
            {
                "feature": f.name,
                "reason": v.reason,
                "area_before_m2": round(v.area_before_m2, 2),
                "area_after_m2": round(v.area_after_m2, 2),
                "area_change_m2": round(v.area_after_m2 - v.area_before_m2, 2),
            }
        )
    if problems:
        shown = "; ".join(problems[:MAX_REASONS])
        more = f" (and {len(problems) - MAX_REASONS} more)" if len(problems) > MAX_REASONS else ""
        raise LayerLoadError(f"{name}: {len(problems)} invalid feature(s): {shown}{more}")
    prepared.validated = True
