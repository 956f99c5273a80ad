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

from service.core.errors import InvalidInput, TooLarge

WGS84 = "EPSG:4326"
RD = "EPSG:28992"
CrsName = Literal["EPSG:4326", "EPSG:28992"]
# Area of use of EPSG:28992 (PROJ): the Netherlands, onshore and 12-mile zone.
RD_AREA_WGS84 = (3.2, 50.75, 7.22, 53.7)  # lon_min, lat_min, lon_max, lat_max
RD_BOUNDS = (-7_000.0, 289_000.0, 300_000.0, 629_000.0)  # x_min, y_min, x_max, y_max
# The area this service covers is where a point lies in both boxes, whichever system it comes in: the corners
# of each box lie outside the other (x=0, y=289000 is at lat 50.57; lat 53.69, lon 3.21 is at y 634400).

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
def rd_to_wgs84_transformer() -> Transformer:
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
    try:
        number = float(value)  # an int past the float range (10**400) raises instead of becoming inf
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise InvalidInput(f"{name} must be a finite number, not {value!r}"[:200])
    return number


def _in_rd_bounds(x: float, y: float) -> bool:
    x0, y0, x1, y1 = RD_BOUNDS
    return x0 <= x <= x1 and y0 <= y <= y1


def _in_rd_area_wgs84(lon: float, lat: float) -> bool:
    lon0, lat0, lon1, lat1 = RD_AREA_WGS84
    return lon0 <= lon <= lon1 and lat0 <= lat <= lat1


def _looks_rd(a: float, b: float) -> str:
    """A hint when two numbers given as lat/lon are RD metres (in either order)."""
    if _in_rd_bounds(a, b) or _in_rd_bounds(b, a):
        return " These look like RD coordinates: send them as x and y with crs=EPSG:28992."
    return ""


def _looks_wgs84(a: float, b: float) -> str:
    """A hint when two numbers given as RD x/y are WGS84 degrees (in either order)."""
    if _in_rd_area_wgs84(a, b) or _in_rd_area_wgs84(b, a):
        return " These look like WGS84 degrees: send them as lat and lon."
    return ""


def rd_to_wgs84(x: float, y: float) -> LatLon:
    lon, lat = rd_to_wgs84_transformer().transform(x, y)
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
        x, y = _finite("x", x), _finite("y", y)
        x0, y0, x1, y1 = RD_BOUNDS
        if not _in_rd_bounds(x, y):
            hint = " Did you swap x and y?" if _in_rd_bounds(y, x) else _looks_wgs84(x, y)
            raise InvalidInput(
                f"x={x}, y={y} lies outside the area of use of EPSG:28992 (x {x0:.0f}..{x1:.0f}, "
                f"y {y0:.0f}..{y1:.0f}).{hint}"
            )
        wgs84 = rd_to_wgs84(x, y)  # the corners of the RD box lie outside the area of use (Belgium, Germany)
        check_wgs84_in_rd_area(wgs84.lon, wgs84.lat, what=f"x={x}, y={y} (lat {wgs84.lat}, lon {wgs84.lon})")
        return Location(wgs84=wgs84, rd=XY(x=round(x, 3), y=round(y, 3)), crs_in=RD)
    if lat is None or lon is None:
        raise InvalidInput("give a location: lat and lon (WGS84), or x and y with crs=EPSG:28992")
    if parse_crs(crs) != WGS84:
        raise InvalidInput("lat/lon are WGS84 coordinates: use crs=EPSG:4326 (or x/y for RD)")
    lat, lon = _finite("lat", lat), _finite("lon", lon)
    if not -90 <= lat <= 90:
        raise InvalidInput(f"lat={lat} is out of range (-90..90).{_looks_rd(lat, lon)}")
    if not -180 <= lon <= 180:
        raise InvalidInput(f"lon={lon} is out of range (-180..180).{_looks_rd(lat, lon)}")
    check_wgs84_in_rd_area(lon, lat, what=f"lat={lat}, lon={lon}")
    ex, ey = _to_rd().transform(lon, lat)
    _check_rd_box([ex], [ey], what=f"lat={lat}, lon={lon} (RD x {ex:.0f}, y {ey:.0f})")
    return Location(wgs84=LatLon(lat=lat, lon=lon), rd=XY(x=round(ex, 3), y=round(ey, 3)), crs_in=WGS84)


def _check_rd_box(x: Any, y: Any, *, what: str) -> None:
    """Every x/y (RD metres, from degrees) in the RD box."""
    import numpy as np

    x0, y0, x1, y1 = RD_BOUNDS
    if not (x0 <= np.min(x) and np.max(x) <= x1 and y0 <= np.min(y) and np.max(y) <= y1):
        raise InvalidInput(
            f"{what} lies outside the area this service covers (EPSG:28992, the Netherlands: "
            f"x {x0:.0f}..{x1:.0f}, y {y0:.0f}..{y1:.0f})."
        )


def check_wgs84_in_rd_area(lon: float, lat: float, *, what: str) -> None:
    lon0, lat0, lon1, lat1 = RD_AREA_WGS84
    if not _in_rd_area_wgs84(lon, lat):
        hint = " Did you swap lat and lon?" if _in_rd_area_wgs84(lat, lon) else ""
        raise InvalidInput(
            f"{what} lies outside the area this service covers (EPSG:28992, the Netherlands: "
            f"lat {lat0}..{lat1}, lon {lon0}..{lon1}).{hint}"
        )


# --- GeoJSON -------------------------------------------------------------------------------------------

_KINDS = {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"}
# Feature.properties come back in the answers; deeper nesting than this is refused (a 300-deep list would
# exceed pydantic's serialization depth: a 500 after the work was done).
MAX_PROPERTIES_DEPTH = 32


def _depth(value: Any) -> int:
    """How deeply lists and objects nest in a JSON value (iterative: no recursion limit to hit)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in children)
    return deepest


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
        try:
            numbers = [float(c) for c in coords]  # an int past the float range (10**400) raises OverflowError
        except OverflowError:
            numbers = [math.inf]
        if not all(math.isfinite(c) for c in numbers):
            raise InvalidInput(f"{path}: coordinates must be finite numbers (no NaN or Infinity)")
        counter[0] += 1
        if counter[0] > max_vertices:
            raise TooLarge(f"the geometry has more than {max_vertices} vertices (the limit)")
        return numbers[:2]
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
        given = obj.get("properties")
        if not isinstance(given, dict | None):  # [] or "" too: falsy is not null
            raise InvalidInput("Feature.properties must be an object or null")
        properties = given or {}
        if _depth(properties) > MAX_PROPERTIES_DEPTH:
            raise InvalidInput(f"Feature.properties are nested deeper than {MAX_PROPERTIES_DEPTH} levels")
        obj = obj.get("geometry")
        if not isinstance(obj, dict):
            raise InvalidInput("the Feature has no geometry")
        kind = obj.get("type")
    if kind == "GeometryCollection":
        raise InvalidInput("a GeometryCollection is not supported; send a Point, Polygon or MultiPolygon")
    if not isinstance(kind, str) or kind not in _KINDS:  # a list or object as "type" is unhashable
        raise InvalidInput(f"unknown GeoJSON geometry type {kind!r}"[:200])
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
    elif kind == "MultiLineString":
        for i, line in enumerate(coords):
            if len(line) < 2:
                raise InvalidInput(f"coordinates[{i}]: a LineString needs at least 2 positions")
    crs_in = parse_crs(crs)
    geom = shapely.geometry.shape({"type": kind, "coordinates": coords})
    if geom.is_empty:
        raise InvalidInput("the geometry is empty")
    # The bounds of every position, holes included: GEOS's envelope of a polygon is that of its shell only, and
    # a hole at lon 366.56 would be wrapped by PROJ onto lon 6.56 and accepted.
    xy = shapely.get_coordinates(geom)
    (x0, y0), (x1, y1) = _corners(xy)
    if crs_in == WGS84:
        for lon, lat in ((x0, y0), (x1, y1)):
            if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                raise InvalidInput(f"coordinates ({lon}, {lat}) are not WGS84 lon/lat; for RD send crs=EPSG:28992")
            check_wgs84_in_rd_area(lon, lat, what=f"the geometry (lon {lon}, lat {lat})")
        rd = _transform_xy(xy)
        _check_rd_box(rd[:, 0], rd[:, 1], what="the geometry")
        geom = shapely.set_coordinates(geom, rd)
    elif not (_in_rd_bounds(x0, y0) and _in_rd_bounds(x1, y1)):
        hint = " They look like WGS84 lon/lat: leave out crs (RFC 7946)." if _looks_wgs84(x0, y0) else ""
        raise InvalidInput(
            f"the geometry (bounds {(x0, y0, x1, y1)}) lies outside the area of use of EPSG:28992.{hint}"
        )
    elif not _inside(_rd_inside_area(), x0, y0, x1, y1):  # near the edge of the area: look at every position
        for lon, lat in _corners(_back(xy)):
            check_wgs84_in_rd_area(lon, lat, what=f"the geometry (lon {lon:.7f}, lat {lat:.7f})")
    return ParsedGeometry(geom=geom, crs_in=crs_in, properties=properties, vertex_count=counter[0])


def _inside(box: tuple[float, float, float, float], x0: float, y0: float, x1: float, y1: float) -> bool:
    return box[0] <= x0 and box[1] <= y0 and x1 <= box[2] and y1 <= box[3]


@lru_cache
def _rd_inside_area() -> tuple[float, float, float, float]:
    """An RD rectangle wholly inside the lat/lon area of use (its edges sampled, 100 m kept clear): positions in
    it need not be transformed to be checked, which is most of the cost of a large RD geometry."""
    import numpy as np

    lon0, lat0, lon1, lat1 = RD_AREA_WGS84
    t = np.linspace(0.0, 1.0, 401)
    lats, lons = lat0 + t * (lat1 - lat0), lon0 + t * (lon1 - lon0)
    west_x, _ = _to_rd().transform(np.full_like(t, lon0), lats)
    east_x, _ = _to_rd().transform(np.full_like(t, lon1), lats)
    _, south_y = _to_rd().transform(lons, np.full_like(t, lat0))
    _, north_y = _to_rd().transform(lons, np.full_like(t, lat1))
    margin = 100.0
    return (
        float(west_x.max()) + margin,
        float(south_y.max()) + margin,
        float(east_x.min()) - margin,
        float(north_y.min()) - margin,
    )


def _corners(xy: Any) -> list[tuple[float, float]]:
    """The lower-left and upper-right corner of an (n, 2) array of positions."""
    return [(float(xy[:, 0].min()), float(xy[:, 1].min())), (float(xy[:, 0].max()), float(xy[:, 1].max()))]


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

    lon, lat = rd_to_wgs84_transformer().transform(xy[:, 0], xy[:, 1])
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
