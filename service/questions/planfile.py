"""A plan from a file, for the quickscan: GeoJSON, GeoPackage, zipped Shapefile or DXF (a CAD drawing in RD).

The file is read through the one safe path (:mod:`service.formats.safeopen`: suffix and content confirmed, staged in a
directory of ours, GDAL restricted) within the public limits: at most ``batch_limit`` features and
``max_vertices`` vertices, both checked before the geometry is worked on. Nothing is written anywhere.

What becomes the plan:

- every polygon of the file, and every closed shape its lines form (a closed polyline, or lines that meet:
  the line work is noded and polygonized, as a CAD drawing needs); several of them form ONE plan, their union,
  and the answer says how many parts were used;
- only when there is no such shape: a single point (GeoJSON, GeoPackage, Shapefile), as ``POST /check`` takes;
- points and texts of a DXF, open lines and further points are ignored (and counted).

A file without CRS gets the ``crs`` given with it (EPSG codes only, :func:`service.formats.safeopen.layer_crs`); a DXF
without either is read as RD New (EPSG:28992), and the answer says so. The plan is then checked exactly as a
``POST /check`` body in RD is (:func:`service.spatial.geo.parse_geojson`: finite, within the vertex limit, inside the
area this service covers).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pydantic import BaseModel, Field
from shapely.geometry.base import BaseGeometry

from service.core.errors import InvalidInput
from service.core.settings import Settings, get_settings
from service.formats.safeopen import Kind, layer_crs, read_frame, staged, vector_info
from service.questions.check import CheckReport
from service.spatial.geo import RD, ParsedGeometry, parse_geojson, to_wgs84_geojson

FILE_KINDS = (Kind.GEOJSON, Kind.GPKG, Kind.SHAPEFILE, Kind.DXF)
NAME_FIELDS = ("name", "naam", "Name", "NAAM", "NAME")


class PlanFileInfo(BaseModel):
    """How a file became the plan that was checked."""

    source_name: str = Field(description="The file's name, as uploaded")
    format: str = Field(description="GeoJSON, GeoPackage, ESRI Shapefile or DXF")
    features: int = Field(description="Features (DXF: entities) in the file")
    parts_used: int = Field(
        description="Polygons that form the plan (their union): the file's polygons and the closed shapes its "
        "lines form; 1 for a point"
    )
    polygons: int = Field(description="Polygons of the file among the parts used")
    closed_lines: int = Field(description="Closed shapes formed by the file's lines (polylines) among the parts used")
    points_ignored: int = Field(description="Points (and DXF texts, blocks) that were not used")
    lines_read: int = Field(description="Lines and polylines read (closed ones became parts; open ones not)")
    crs_file: str | None = Field(description="The CRS the file states (None: it states none)")
    crs_used: str = Field(description="The CRS the file was read in")
    crs_assumed: bool = Field(description="True when the file stated no CRS and none was given: a DXF read as RD")


class FileCheckReport(CheckReport):
    """The quickscan of a plan from a file: the ``POST /check`` report, with how the file was read and the plan
    itself (WGS84 GeoJSON Feature), to draw it, download it or ask ``POST /check`` again."""

    plan_file: PlanFileInfo
    plan: dict[str, Any] = Field(description="The plan that was checked, a GeoJSON Feature in WGS84 (RFC 7946)")


@dataclass
class PlanFromFile:
    parsed: ParsedGeometry
    info: PlanFileInfo


def read_plan(
    path: Path,
    *,
    source_name: str | None = None,
    crs: str | None = None,
    layer: str | None = None,
    repair: bool = False,
    settings: Settings | None = None,
) -> PlanFromFile:
    """The plan in a file, in RD, as :func:`service.questions.check.check` takes it (422/413 for anything else)."""
    settings = settings or get_settings()
    name = source_name or path.name
    given = layer_crs(crs)  # before any work: an EPSG code or nothing
    # read_frame's own file limits, narrowed to the public ones of a request
    limited = settings.model_copy(
        update={"max_load_features": settings.batch_limit, "max_load_vertices": settings.max_vertices}
    )
    with staged(path, allowed=FILE_KINDS, source_name=name, settings=limited) as st:
        head = vector_info(st, layer=layer, settings=limited)
        if head["features"] == 0:
            raise InvalidInput(f"{name}: the file holds no features")
        gdf = read_frame(st, layer=layer, settings=limited)
        kind = st.kind
    file_crs = None if gdf.crs is None else _crs_name(gdf.crs)
    assumed = False
    if given is not None and file_crs is not None and file_crs != given:
        raise InvalidInput(f"{name}: the file says {file_crs}, but crs says {given}; leave crs out or correct it")
    if gdf.crs is None:
        if given is None and kind is not Kind.DXF:
            raise InvalidInput(
                f"{name}: the file states no coordinate reference system; it is never guessed: give crs "
                "(e.g. EPSG:28992 for RD New)"
            )
        assumed = given is None
        gdf = gdf.set_crs(given or RD)
    used = given or file_crs or RD
    geoms = [g for g in gdf.geometry.tolist() if g is not None and not g.is_empty]
    _check_finite(geoms, name)
    if gdf.crs.to_epsg() != 28992:
        try:
            gdf = gdf.to_crs(28992)
        except Exception as exc:
            raise InvalidInput(f"{name}: cannot be brought from {used} to RD New (EPSG:28992)", cause=exc) from exc
        geoms = [g for g in gdf.geometry.tolist() if g is not None and not g.is_empty]
        _check_finite(geoms, name, after=used)
    plan, counts = plan_geometry(geoms, dxf=kind is Kind.DXF, repair=repair, name=name)
    parsed = parse_geojson(json.loads(shapely.to_geojson(plan)), crs=RD, max_vertices=settings.max_vertices)
    title = _plan_name(gdf, name)
    parsed = ParsedGeometry(geom=parsed.geom, crs_in=used, properties={"name": title}, vertex_count=parsed.vertex_count)
    info = PlanFileInfo(
        source_name=name,
        format=kind.value,
        features=int(head["features"]),
        crs_file=file_crs,
        crs_used=used,
        crs_assumed=assumed,
        **counts,
    )
    return PlanFromFile(parsed=parsed, info=info)


def plan_geometry(
    geoms: list[BaseGeometry], *, dxf: bool = False, repair: bool = False, name: str = "the file"
) -> tuple[BaseGeometry, dict[str, int]]:
    """One plan from a file's geometries (2D, RD): the union of its polygons and of the closed shapes its lines
    form; else its one point. The counts of :class:`PlanFileInfo`."""
    polygons: list[BaseGeometry] = []
    lines: list[BaseGeometry] = []
    points: list[BaseGeometry] = []
    for g in geoms:
        for part in shapely.get_parts(shapely.force_2d(g)).tolist():
            for single in shapely.get_parts(part).tolist():  # a collection inside a collection
                kind = single.geom_type
                if single.is_empty:
                    continue
                if kind == "Polygon":
                    polygons.append(single)
                elif kind in ("LineString", "LinearRing"):
                    lines.append(shapely.LineString(single.coords))
                elif kind == "Point":
                    points.append(single)
    from_lines: list[BaseGeometry] = []
    if lines:
        noded = shapely.union_all(np.asarray(lines, dtype=object))  # nodes the line work where lines cross
        from_lines = list(shapely.get_parts(shapely.polygonize(shapely.get_parts(noded))).tolist())
        from_lines = [p for p in from_lines if p.area > 0]
    parts = polygons + from_lines
    counts = {
        "polygons": len(polygons),
        "closed_lines": len(from_lines),
        "lines_read": len(lines),
        "points_ignored": len(points),
        "parts_used": len(parts),
    }
    if not parts:
        if len(points) == 1 and not dxf:
            return points[0], {**counts, "points_ignored": 0, "parts_used": 1}
        what = f"{len(lines)} line(s) that close no shape" if lines else "no polygons or lines"
        extra = f" and {len(points)} point(s)/text(s), which are not used" if points else ""
        hint = (
            "; draw the plan as closed polylines (LWPOLYLINE, closed) in RD"
            if dxf
            else "; send polygons, or one point (several points: use /check/batch)"
        )
        raise InvalidInput(f"{name}: nothing usable as a plan: the file holds {what}{extra}{hint}")
    if len(parts) == 1:
        return parts[0], counts  # as it is: POST /check with the same polygon gives the same answer
    bad = [i for i, p in enumerate(parts, start=1) if not p.is_valid]
    if bad and not repair:
        reason = shapely.is_valid_reason(parts[bad[0] - 1])
        raise InvalidInput(
            f"{name}: part {bad[0]} of {len(parts)} is not a valid polygon ({reason}); correct it, or ask with "
            "repair=true"
        )
    if bad:
        parts = [_polygonal(shapely.make_valid(p)) if not p.is_valid else p for p in parts]
    try:
        plan = shapely.union_all(np.asarray(parts, dtype=object))
    except shapely.errors.GEOSException as exc:
        raise InvalidInput(f"{name}: the {len(parts)} parts cannot be joined into one plan ({exc})") from exc
    plan = _polygonal(plan)
    if plan.is_empty:
        raise InvalidInput(f"{name}: the parts of the plan have no area together")
    return plan, counts


def _polygonal(geom: BaseGeometry) -> BaseGeometry:
    """The polygonal part of a geometry (a collection from a repair or union may hold lines and points)."""
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    polys = [p for p in shapely.get_parts(geom).tolist() if p.geom_type in ("Polygon", "MultiPolygon")]
    if not polys:
        return shapely.Polygon()
    return shapely.union_all(np.asarray(polys, dtype=object))


def _check_finite(geoms: list[BaseGeometry], name: str, *, after: str | None = None) -> None:
    if not geoms:
        return
    xy = shapely.get_coordinates(np.asarray(geoms, dtype=object))
    if xy.size and not np.isfinite(xy).all():
        where = f" after transformation from {after} (are they in that CRS?)" if after else ""
        raise InvalidInput(f"{name}: coordinates that are not finite numbers{where}")


def _crs_name(crs: Any) -> str:
    epsg = crs.to_epsg()
    if epsg is not None:
        return f"EPSG:{epsg}"
    text = str(crs.to_string())
    return text[:80]


def _plan_name(gdf: Any, source_name: str) -> str:
    """The plan's name: the name field of a one-feature file, else the file name without its suffix."""
    if len(gdf) == 1:
        for field in NAME_FIELDS:
            if field in gdf.columns:
                value = gdf[field].iloc[0]
                if isinstance(value, str) and value.strip():
                    return value.strip()[:200]
                if value is not None and not (isinstance(value, float) and math.isnan(value)):
                    return str(value)[:200]
    return Path(source_name).stem[:200] or "plan"


def plan_feature(parsed: ParsedGeometry) -> dict[str, Any]:
    """The checked plan as a GeoJSON Feature in WGS84, for the answer."""
    return {"type": "Feature", "properties": dict(parsed.properties), "geometry": to_wgs84_geojson(parsed.geom)}
