"""Locations and geometries from requests: parsed, checked and brought to EPSG:28992 (RD New).

WGS84 comes as lat/lon (query) or as RFC 7946 GeoJSON (lon, lat order); RD as x/y with
``crs=EPSG:28992``. Anything that cannot be understood is an :class:`InvalidInput` (422) that names
the problem, so it can never turn into a silent "in no zone" or "far away".
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Literal

import shapely
from pydantic import BaseModel, Field
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

from service.errors import InvalidInput, TooLarge

WGS84 = "EPSG:4326"
RD = "EPSG:28992"
CrsName = Literal["EPSG:4326", "EPSG:28992"]
# Area of use of EPSG:28992 (PROJ): the Netherlands, onshore and 12-mile zone.
RD_AREA_WGS84 = (3.2, 50.75, 7.22, 53.7)  # lon_min, lat_min, lon_max, lat_max
RD_BOUNDS = (-7_000.0, 289_000.0, 300_000.0, 629_000.0)  # x_min, y_min, x_max, y_max

_CRS_ALIASES = {
    "epsg:4326": WGS84,
    "wgs84": WGS84,
    "crs84": WGS84,
    "http://www.opengis.net/def/crs/ogc/1.3/crs84": WGS84,
    "urn:ogc:def:crs:ogc:1.3:crs84": WGS84,
    "epsg:28992": RD,
    "urn:ogc:def:crs:epsg::28992": RD,
    "http://www.opengis.net/def/crs/epsg/0/28992": RD,
    "rd": RD,
    "4326": WGS84,
    "28992": RD,
}


@lru_cache
def _to_rd() -> Transformer:
    return Transformer.from_crs(WGS84, RD, always_xy=True)


@lru_cache
def _to_wgs84() -> Transformer:
    return Transformer.from_crs(RD, WGS84, always_xy=True)


class LatLon(BaseModel):
    lat: float
    lon: float


class XY(BaseModel):
    x: float
    y: float


class Location(BaseModel):
    """A point in both systems, and which one the caller used."""

    wgs84: LatLon
    rd: XY
    crs_in: str = Field(description="The CRS the location was given in")


def parse_crs(value: str | None, *, default: str = WGS84) -> str:
    if value is None or value == "":
        return default
    crs = _CRS_ALIASES.get(value.strip().lower())
    if crs is None:
        raise InvalidInput(f"crs {value!r} is not supported; use EPSG:4326 (WGS84 lat/lon) or EPSG:28992 (RD x/y)")
    return crs


def _finite(name: str, value: float) -> float:
    if not math.isfinite(value):
        raise InvalidInput(f"{name} must be a finite number, not {value!r}")
    return value


def rd_to_wgs84(x: float, y: float) -> LatLon:
    lon, lat = _to_wgs84().transform(x, y)
    return LatLon(lat=round(lat, 7), lon=round(lon, 7))


def location(
    *,
    lat: float | None = None,
    lon: float | None = None,
    x: float | None = None,
    y: float | None = None,
    crs: str | None = None,
) -> Location:
    """A location from lat/lon (WGS84) or x/y (RD, with crs=EPSG:28992); checked against the RD area."""
    has_ll = lat is not None or lon is not None
    has_xy = x is not None or y is not None
    if has_ll and has_xy:
        raise InvalidInput("give either lat/lon or x/y, not both")
    if has_xy:
        if x is None or y is None:
            raise InvalidInput("give both x and y")
        if parse_crs(crs, default=RD) != RD:
            raise InvalidInput("x/y are RD coordinates: use crs=EPSG:28992 (or lat/lon for WGS84)")
        _finite("x", x), _finite("y", y)
        x0, y0, x1, y1 = RD_BOUNDS
        if not (x0 <= x <= x1 and y0 <= y <= y1):
            hint = " Did you swap x and y?" if (x0 <= y <= x1 and y0 <= x <= y1) else ""
            raise InvalidInput(
                f"x={x}, y={y} lies outside the area of use of EPSG:28992 (x {x0:.0f}..{x1:.0f}, "
                f"y {y0:.0f}..{y1:.0f}).{hint}"
            )
        return Location(wgs84=rd_to_wgs84(x, y), rd=XY(x=round(x, 3), y=round(y, 3)), crs_in=RD)
    if lat is None or lon is None:
        raise InvalidInput("give a location: lat and lon (WGS84), or x and y with crs=EPSG:28992")
    if parse_crs(crs) != WGS84:
        raise InvalidInput("lat/lon are WGS84 coordinates: use crs=EPSG:4326 (or x/y for RD)")
    _finite("lat", lat), _finite("lon", lon)
    if not -90 <= lat <= 90:
        raise InvalidInput(f"lat={lat} is out of range (-90..90)")
    if not -180 <= lon <= 180:
        raise InvalidInput(f"lon={lon} is out of range (-180..180)")
    check_wgs84_in_rd_area(lon, lat, what=f"lat={lat}, lon={lon}")
    ex, ey = _to_rd().transform(lon, lat)
    return Location(wgs84=LatLon(lat=lat, lon=lon), rd=XY(x=round(ex, 3), y=round(ey, 3)), crs_in=WGS84)


def check_wgs84_in_rd_area(lon: float, lat: float, *, what: str) -> None:
    lon0, lat0, lon1, lat1 = RD_AREA_WGS84
    if not (lon0 <= lon <= lon1 and lat0 <= lat <= lat1):
        swapped = lon0 <= lat <= lon1 and lat0 <= lon <= lat1
        hint = " Did you swap lat and lon?" if swapped else ""
        raise InvalidInput(
            f"{what} lies outside the area this service covers (EPSG:28992, the Netherlands: "
            f"lat {lat0}..{lat1}, lon {lon0}..{lon1}).{hint}"
        )


# --- GeoJSON -------------------------------------------------------------------------------------------

_KINDS = {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"}


class ParsedGeometry(BaseModel):
    model_config = {"arbitrary_types_allowed": True}

    geom: Any = Field(description="shapely geometry in EPSG:28992")
    crs_in: str
    properties: dict[str, Any] = {}
    vertex_count: int


def _positions(coords: Any, depth: int, path: str, counter: list[int], max_vertices: int) -> list[Any]:
    """Check nested coordinate arrays: numbers, finite, 2 or 3 per position. Returns them as lists."""
    if not isinstance(coords, list):
        raise InvalidInput(f"{path}: coordinates must be an array")
    if depth == 0:
        if len(coords) not in (2, 3) or not all(
            isinstance(c, (int, float)) and not isinstance(c, bool) for c in coords
        ):
            raise InvalidInput(f"{path}: a position must be 2 or 3 numbers, got {coords!r}"[:300])
        for c in coords:
            if not math.isfinite(c):
                raise InvalidInput(f"{path}: coordinates must be finite numbers (no NaN or Infinity)")
        counter[0] += 1
        if counter[0] > max_vertices:
            raise TooLarge(f"the geometry has more than {max_vertices} vertices (the limit)")
        return [float(coords[0]), float(coords[1])]
    return [_positions(c, depth - 1, f"{path}[{i}]", counter, max_vertices) for i, c in enumerate(coords)]


def _check_rings(polygon: list[Any], path: str) -> None:
    if not polygon:
        raise InvalidInput(f"{path}: a polygon needs at least one ring")
    for i, ring in enumerate(polygon):
        if len(ring) < 4:
            raise InvalidInput(f"{path}[{i}]: a ring needs at least 4 positions, got {len(ring)}")
        if ring[0] != ring[-1]:
            raise InvalidInput(f"{path}[{i}]: the ring is not closed (first and last position differ)")


def parse_geojson(obj: Any, *, crs: str | None = None, max_vertices: int = 250_000) -> ParsedGeometry:
    """A GeoJSON geometry or Feature (WGS84 as RFC 7946 says, or RD with crs=EPSG:28992) -> RD shapely."""
    if not isinstance(obj, dict):
        raise InvalidInput("the body must be a GeoJSON geometry or Feature (a JSON object)")
    properties: dict[str, Any] = {}
    kind = obj.get("type")
    if kind == "FeatureCollection":
        raise InvalidInput("a FeatureCollection is not accepted here; send one Feature (or use /check/batch)")
    if kind == "Feature":
        properties = obj.get("properties") or {}
        if not isinstance(properties, dict):
            raise InvalidInput("Feature.properties must be an object or null")
        obj = obj.get("geometry")
        if not isinstance(obj, dict):
            raise InvalidInput("the Feature has no geometry")
        kind = obj.get("type")
    if kind == "GeometryCollection":
        raise InvalidInput("a GeometryCollection is not supported; send a Point, Polygon or MultiPolygon")
    if kind not in _KINDS:
        raise InvalidInput(f"unknown GeoJSON geometry type {kind!r}")
    depth = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2, "Polygon": 2, "MultiPolygon": 3}[kind]
    counter = [0]
    coords = _positions(obj.get("coordinates"), depth, "coordinates", counter, max_vertices)
    if counter[0] == 0:
        raise InvalidInput("the geometry is empty")
    if kind == "Polygon":
        _check_rings(coords, "coordinates")
    elif kind == "MultiPolygon":
        if not coords:
            raise InvalidInput("the geometry is empty")
        for i, poly in enumerate(coords):
            _check_rings(poly, f"coordinates[{i}]")
    elif kind == "LineString" and len(coords) < 2:
        raise InvalidInput("a LineString needs at least 2 positions")
    crs_in = parse_crs(crs)
    geom = shapely.geometry.shape({"type": kind, "coordinates": coords})
    if geom.is_empty:
        raise InvalidInput("the geometry is empty")
    if crs_in == WGS84:
        lon0, lat0, lon1, lat1 = geom.bounds
        for lon, lat in ((lon0, lat0), (lon1, lat1)):
            if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                raise InvalidInput(f"coordinates ({lon}, {lat}) are not WGS84 lon/lat; for RD send crs=EPSG:28992")
            check_wgs84_in_rd_area(lon, lat, what=f"the geometry (lon {lon}, lat {lat})")
        geom = shapely.transform(geom, lambda xy: _transform_xy(xy))
    else:
        x0, y0, x1, y1 = geom.bounds
        bx0, by0, bx1, by1 = RD_BOUNDS
        if x0 < bx0 or y0 < by0 or x1 > bx1 or y1 > by1:
            raise InvalidInput(f"the geometry (bounds {geom.bounds}) lies outside the area of use of EPSG:28992")
    return ParsedGeometry(geom=geom, crs_in=crs_in, properties=properties, vertex_count=counter[0])


def _transform_xy(xy: Any) -> Any:
    import numpy as np

    x, y = _to_rd().transform(xy[:, 0], xy[:, 1])
    return np.column_stack([x, y])


def to_wgs84_geojson(geom: BaseGeometry, *, precision: int = 7) -> dict[str, Any]:
    """An RD geometry as RFC 7946 GeoJSON (lon, lat)."""
    out = shapely.transform(geom, lambda xy: _back(xy))
    return dict(shapely.geometry.mapping(shapely.set_precision(out, 10**-precision)))


def _back(xy: Any) -> Any:
    import numpy as np

    lon, lat = _to_wgs84().transform(xy[:, 0], xy[:, 1])
    return np.column_stack([lon, lat])


def parse_feature_collection(
    obj: Any, *, crs: str | None = None, max_vertices: int = 250_000, limit: int = 1_000
) -> list[ParsedGeometry]:
    """A GeoJSON FeatureCollection -> parsed features; errors name the feature (1-based)."""
    if not isinstance(obj, dict) or obj.get("type") != "FeatureCollection":
        raise InvalidInput("the body must be a GeoJSON FeatureCollection")
    features = obj.get("features")
    if not isinstance(features, list) or not features:
        raise InvalidInput("the FeatureCollection has no features")
    if len(features) > limit:
        raise TooLarge(f"the FeatureCollection has {len(features)} features; the limit is {limit}")
    out, total = [], 0
    for i, feature in enumerate(features, start=1):
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            raise InvalidInput(f"feature {i}: not a GeoJSON Feature")
        try:
            parsed = parse_geojson(feature, crs=crs, max_vertices=max_vertices - total)
        except TooLarge as exc:
            raise TooLarge(f"the features together have more than {max_vertices} vertices (the limit)") from exc
        except InvalidInput as exc:
            raise InvalidInput(f"feature {i}: {exc.detail}") from exc
        total += parsed.vertex_count
        out.append(parsed)
    return out
