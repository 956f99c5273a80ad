"""A filter geometry checked before PostGIS sees it (CQL2 filters, :mod:`service.ogc.filtering`): a known type, few
vertices, finite coordinates in range for ``filter-crs``, and valid (GEOS would stop on an invalid polygon)."""

from __future__ import annotations

from typing import Any

from service.core.errors import BadRequest

MAX_VERTICES = 1_000


def check_geometry(geometry: dict[str, Any], *, srid: int, lat_first: bool) -> None:
    """A filter geometry PostGIS can use safely: a known type, few vertices, finite, in range, valid."""
    import numpy
    import shapely
    from shapely.geometry import shape

    kind = geometry.get("type")
    if kind not in ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"):
        raise BadRequest(f"filter geometry type {kind!r} is not supported")
    try:
        g = shape(geometry)
        coords = shapely.get_coordinates(g)
    except Exception as exc:  # shapely's errors for malformed coordinates
        raise BadRequest(f"filter geometry is malformed: {' '.join(str(exc).split())[:200]}") from exc
    if len(coords) > MAX_VERTICES:
        raise BadRequest(f"filter geometry has {len(coords)} vertices; at most {MAX_VERTICES}")
    if g.is_empty:
        raise BadRequest("filter geometry is empty")
    if not bool(numpy.isfinite(coords).all()):
        raise BadRequest("filter geometry coordinates must be finite numbers")
    xs, ys = (coords[:, 1], coords[:, 0]) if lat_first else (coords[:, 0], coords[:, 1])
    if srid in (4326, 4258):
        if not (abs(xs).max() <= 180 and abs(ys).max() <= 90):
            raise BadRequest("filter geometry is out of range for filter-crs (longitude -180..180, latitude -90..90)")
    elif not (abs(xs).max() <= 1e8 and abs(ys).max() <= 1e8):
        raise BadRequest("filter geometry coordinates are out of range for filter-crs")
    if not g.is_valid:
        raise BadRequest(f"filter geometry is not valid: {shapely.is_valid_reason(g)}")
