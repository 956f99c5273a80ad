"""Property tests (Hypothesis) of the coordinate and geometry parsers, and of the location questions via the API.

Every input is either answered correctly or refused with the project's own 4xx exception (an
:class:`InvalidInput`, of which TooLarge and BadRequest are kinds) that names the problem; never another
exception type (a 500), and never a silent answer for a NaN, a swapped lat/lon or RD numbers given as degrees.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import pytest
import shapely
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from pyproj import Transformer

from service.core.errors import InvalidInput, TooLarge, status_for
from service.spatial.geo import (
    RD,
    RD_AREA_WGS84,
    RD_BOUNDS,
    WGS84,
    Location,
    location,
    parse_feature_collection,
    parse_geojson,
    rd_to_wgs84,
)

SETTINGS = settings(max_examples=200, derandomize=True, database=None, deadline=None)
API_SETTINGS = settings(
    max_examples=60,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
LON0, LAT0, LON1, LAT1 = RD_AREA_WGS84
X0, Y0, X1, Y1 = RD_BOUNDS

# Around Assen: the municipality and some margin, in both systems.
assen_lat = st.floats(52.93, 53.07)
assen_lon = st.floats(6.45, 6.68)
assen_x = st.floats(225_000, 245_000)
assen_y = st.floats(548_000, 566_000)
nl_lat = st.floats(LAT0, LAT1)
nl_lon = st.floats(LON0, LON1)
rd_x = st.floats(X0, X1)
rd_y = st.floats(Y0, Y1)
# Any number JSON or a caller can give: NaN, ±inf, huge and tiny floats, ints past the float range.
numbers = st.one_of(
    st.floats(),
    st.integers(),
    st.sampled_from([10**400, -(10**400), 5e-324, -5e-324, 1e308, -1e308, 0, -0.0]),
    assen_lat,
    assen_lon,
    assen_x,
    assen_y,
)


def refused(exc: InvalidInput) -> None:
    """A refusal is a 4xx that names the problem."""
    assert 400 <= status_for(exc) < 500
    assert isinstance(exc.detail, str) and exc.detail.strip()


TO_RD = Transformer.from_crs("EPSG:4326", "EPSG:28992", always_xy=True)


def in_area(lon: float, lat: float) -> bool:
    """In the lat/lon box and in the RD box: the corners of the lat/lon box lie outside the RD box."""
    if not (LON0 <= lon <= LON1 and LAT0 <= lat <= LAT1):
        return False
    x, y = TO_RD.transform(lon, lat)
    return X0 <= x <= X1 and Y0 <= y <= Y1


def in_rd_area(x: float, y: float) -> bool:
    """In the RD box and in the area of use itself: the corners of the box lie in Belgium and Germany."""
    if not (X0 <= x <= X1 and Y0 <= y <= Y1):
        return False
    wgs84 = rd_to_wgs84(x, y)
    return in_area(wgs84.lon, wgs84.lat)


def finite(*values: Any) -> bool:
    try:
        return all(math.isfinite(float(v)) for v in values)
    except OverflowError:
        return False


# --- locations: lat/lon and x/y ----------------------------------------------------------------------------


@SETTINGS
@given(lat=numbers, lon=numbers)
@example(lat=math.nan, lon=6.5).via("NaN")
@example(lat=52.99, lon=math.inf).via("inf")
@example(lat=10**400, lon=6.5).via("an int past the float range (was an OverflowError)")
@example(lat=53.69, lon=3.21).via("a corner of the lat/lon box, off the RD box (was answered)")
def test_any_lat_lon_is_answered_in_the_area_or_refused(lat: Any, lon: Any) -> None:
    expected = finite(lat, lon) and in_area(float(lon), float(lat))
    try:
        loc = location(lat=lat, lon=lon)
    except InvalidInput as exc:
        refused(exc)
        assert not expected, f"refused a point in the area: {exc.detail}"
        return
    assert expected
    assert (loc.wgs84.lat, loc.wgs84.lon, loc.crs_in) == (lat, lon, WGS84)
    assert X0 <= loc.rd.x <= X1 and Y0 <= loc.rd.y <= Y1


@SETTINGS
@given(x=numbers, y=numbers)
@example(x=10**400, y=557_000).via("an int past the float range (was an OverflowError)")
@example(x=0, y=289_000).via("a corner of the RD box, in Belgium (was answered)")
def test_any_x_y_is_answered_in_the_area_or_refused(x: Any, y: Any) -> None:
    expected = finite(x, y) and in_rd_area(float(x), float(y))
    try:
        loc = location(x=x, y=y, crs="EPSG:28992")
    except InvalidInput as exc:
        refused(exc)
        assert not expected, f"refused a point in the area: {exc.detail}"
        return
    assert expected
    assert (loc.rd.x, loc.rd.y) == (round(float(x), 3), round(float(y), 3)) and loc.crs_in == RD
    assert math.isfinite(loc.wgs84.lat) and math.isfinite(loc.wgs84.lon)


@SETTINGS
@given(lat=nl_lat, lon=nl_lon)
@example(lat=53.0, lon=6.57)
def test_swapped_lat_lon_is_refused_with_a_hint(lat: float, lon: float) -> None:
    """lat=6.57, lon=53.0 is a swapped Assen, never 'in no zone'."""
    with pytest.raises(InvalidInput, match="Did you swap lat and lon") as info:
        location(lat=lon, lon=lat)
    refused(info.value)
    with pytest.raises(InvalidInput, match="Did you swap lat and lon"):
        parse_geojson({"type": "Point", "coordinates": [lat, lon]})


@SETTINGS
@given(x=assen_x, y=assen_y)  # (the RD ranges overlap in 289..300 km, where a swap cannot be told)
def test_swapped_x_y_is_refused_with_a_hint(x: float, y: float) -> None:
    with pytest.raises(InvalidInput, match="Did you swap x and y"):
        location(x=y, y=x, crs="EPSG:28992")


@SETTINGS
@given(x=rd_x, y=rd_y)
@example(x=233_000.0, y=557_000.0)
@example(x=50.0, y=557_000.0)
def test_rd_numbers_given_as_lat_lon_are_refused(x: float, y: float) -> None:
    for lat, lon in ((y, x), (x, y)):
        with pytest.raises(InvalidInput, match="look like RD coordinates: send them as x and y") as info:
            location(lat=lat, lon=lon)
        refused(info.value)
    with pytest.raises(InvalidInput, match="for RD send crs=EPSG:28992"):
        parse_geojson({"type": "Point", "coordinates": [x, y]})


@SETTINGS
@given(lat=nl_lat, lon=nl_lon)
@example(lat=53.0, lon=6.57)
def test_wgs84_degrees_given_as_rd_are_refused(lat: float, lon: float) -> None:
    for x, y in ((lon, lat), (lat, lon)):
        with pytest.raises(InvalidInput, match="look like WGS84 degrees: send them as lat and lon") as info:
            location(x=x, y=y, crs="EPSG:28992")
        refused(info.value)
    with pytest.raises(InvalidInput, match="look like WGS84 lon/lat: leave out crs"):
        parse_geojson({"type": "Point", "coordinates": [lon, lat]}, crs="EPSG:28992")


def _rd_distance(loc: Location, x: float, y: float) -> float:
    return math.hypot(loc.rd.x - x, loc.rd.y - y)


@SETTINGS
@given(x=assen_x, y=assen_y)
def test_round_trip_from_rd(x: float, y: float) -> None:
    """A point in Assen given in RD, and the same point given as its WGS84 equivalent, land within 1 cm."""
    rd = location(x=x, y=y, crs="EPSG:28992")
    back = location(lat=rd.wgs84.lat, lon=rd.wgs84.lon)  # the echoed degrees have 7 decimals (~1 cm)
    assert _rd_distance(back, x, y) <= 0.01
    point = parse_geojson({"type": "Point", "coordinates": [rd.wgs84.lon, rd.wgs84.lat]}).geom
    assert math.hypot(point.x - x, point.y - y) <= 0.01
    same = parse_geojson({"type": "Point", "coordinates": [x, y]}, crs="EPSG:28992").geom
    assert (same.x, same.y) == (x, y)


@SETTINGS
@given(lat=assen_lat, lon=assen_lon)
def test_round_trip_from_wgs84(lat: float, lon: float) -> None:
    wgs = location(lat=lat, lon=lon)
    rd = location(x=wgs.rd.x, y=wgs.rd.y, crs="EPSG:28992")
    assert _rd_distance(rd, wgs.rd.x, wgs.rd.y) == 0
    assert abs(rd.wgs84.lat - lat) <= 1e-7 and abs(rd.wgs84.lon - lon) <= 1e-7
    point = parse_geojson(
        {"type": "Feature", "properties": None, "geometry": {"type": "Point", "coordinates": [lon, lat]}}
    )
    assert _rd_distance(wgs, point.geom.x, point.geom.y) <= 0.01
    assert point.crs_in == WGS84 and point.properties == {}


# --- GeoJSON ---------------------------------------------------------------------------------------------

KINDS = ["Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"]
DEPTH = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2, "Polygon": 2, "MultiPolygon": 3}
odd_types = st.one_of(
    st.sampled_from([*KINDS, "Feature", "FeatureCollection", "GeometryCollection", "point", "", None, 7]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
)
json_leaf = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=4))
json_any = st.recursive(
    json_leaf, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=3), max_leaves=12
)


SYSTEMS = {"wgs84": "EPSG:4326", "rd": "EPSG:28992", "any": None}


def position(system: str) -> st.SearchStrategy[list[Any]]:
    """A position near Assen in degrees or RD metres, or any 1..4 numbers."""
    if system == "wgs84":
        return st.tuples(assen_lon, assen_lat).map(list)
    if system == "rd":
        return st.tuples(assen_x, assen_y).map(list)
    return st.lists(numbers, min_size=1, max_size=4)


@st.composite
def ring(draw: Any, system: str) -> list[list[Any]]:
    """Mostly closed (as a ring must be), of 0..6 positions: degenerate and unclosed ones too."""
    out = draw(st.lists(position(system), max_size=5))
    if out and draw(st.integers(0, 4)):
        out.append(list(out[0]))
    return out


def shaped(kind: str, system: str) -> st.SearchStrategy[Any]:
    """Coordinates of the nesting ``kind`` asks for (their contents may still be wrong)."""
    pos = position(system)
    line = st.lists(pos, max_size=4)
    polygon = st.lists(ring(system), max_size=2)
    return {
        "Point": pos,
        "MultiPoint": line,
        "LineString": line,
        "MultiLineString": st.lists(line, max_size=3),
        "Polygon": polygon,
        "MultiPolygon": st.lists(polygon, max_size=2),
    }[kind]


@st.composite
def geojson_objects(draw: Any) -> tuple[Any, str | None]:
    """(object, crs): geometries and Features, mostly of the right shape and in the stated CRS, then mutated."""
    kind = draw(st.sampled_from(KINDS)) if draw(st.integers(0, 3)) else draw(odd_types)
    system = draw(st.sampled_from(list(SYSTEMS)))
    if isinstance(kind, str) and kind in DEPTH:
        coords = draw(shaped(kind, system))
    else:
        coords = draw(st.lists(position(system), max_size=3))
    mutation = draw(st.integers(0, 9))
    if mutation == 0:
        coords = [coords]  # one level too deep
    elif mutation == 1 and isinstance(coords, list) and coords:
        coords = coords[0]  # one level too shallow
    elif mutation == 2:
        coords = draw(json_any)
    obj: dict[str, Any] = {"type": kind, "coordinates": coords}
    if draw(st.booleans()):
        props = draw(st.one_of(st.none(), st.dictionaries(st.text(max_size=3), json_any, max_size=2)))
        props = draw(json_any) if draw(st.integers(0, 5)) == 0 else props
        obj = {"type": "Feature", "properties": props, "geometry": obj}
    crs = SYSTEMS[system] if draw(st.integers(0, 4)) else draw(st.sampled_from([None, *SYSTEMS.values()]))
    return obj, crs


def check_parsed(obj: Any, crs: str | None) -> None:
    """Parse; a result must be a real, finite, non-empty geometry in the RD area, of the type that was sent."""
    try:
        parsed = parse_geojson(obj, crs=crs, max_vertices=50)
    except InvalidInput as exc:
        refused(exc)
        event("refused")
        return
    event(f"parsed a {parsed.geom.geom_type}")
    geometry = obj["geometry"] if obj.get("type") == "Feature" else obj
    assert parsed.geom.geom_type == geometry["type"]
    assert not parsed.geom.is_empty
    xy = shapely.get_coordinates(parsed.geom)
    assert len(xy) == parsed.vertex_count and bool(((xy >= [X0, Y0]) & (xy <= [X1, Y1])).all())
    assert parsed.crs_in == (RD if crs == "EPSG:28992" else WGS84)
    assert isinstance(parsed.properties, dict)


@SETTINGS
@given(case=geojson_objects())
@example(case=({"type": []}, None)).via("an unhashable type (was a TypeError)")
@example(case=({"type": {"a": 1}}, None)).via("an unhashable type (was a TypeError)")
@example(case=({"type": "MultiLineString", "coordinates": [[[6.5, 53.0]]]}, None)).via("was a GEOSException")
@example(case=({"type": "Point", "coordinates": [6.5, 10**400]}, None)).via("was an OverflowError")
def test_any_geojson_is_parsed_or_refused(case: tuple[Any, str | None]) -> None:
    check_parsed(*case)


@SETTINGS
@given(obj=json_any, crs=st.one_of(st.none(), st.text(max_size=12)))
def test_any_json_value_is_parsed_or_refused(obj: Any, crs: str | None) -> None:
    check_parsed(obj, crs if crs in (None, "EPSG:4326", "EPSG:28992") else None)
    if isinstance(obj, dict) and crs not in (None, "", "EPSG:4326", "EPSG:28992"):
        try:
            parse_geojson({"type": "Point", "coordinates": [6.56, 52.99]}, crs=crs)
        except InvalidInput as exc:
            refused(exc)


POINT = {"type": "Point", "coordinates": [6.56, 52.99]}
VALID = {
    "Point": [6.56, 52.99],
    "MultiPoint": [[6.56, 52.99], [6.57, 53.0]],
    "LineString": [[6.56, 52.99], [6.57, 53.0]],
    "MultiLineString": [[[6.56, 52.99], [6.57, 53.0]]],
    "Polygon": [[[6.56, 52.99], [6.57, 52.99], [6.57, 53.0], [6.56, 53.0], [6.56, 52.99]]],
    "MultiPolygon": [[[[6.56, 52.99], [6.57, 52.99], [6.57, 53.0], [6.56, 53.0], [6.56, 52.99]]]],
}


@pytest.mark.parametrize("kind", KINDS)
def test_wrong_nesting_is_refused(kind: str) -> None:
    coords = VALID[kind]
    assert parse_geojson({"type": kind, "coordinates": coords}).geom.geom_type == kind
    with pytest.raises(InvalidInput):
        parse_geojson({"type": kind, "coordinates": [coords]})  # one level too deep
    shallower = coords[0]
    with pytest.raises(InvalidInput):
        parse_geojson({"type": kind, "coordinates": shallower})  # one level too shallow
    with pytest.raises(InvalidInput, match="2 or 3 numbers" if kind == "Point" else "empty"):
        parse_geojson({"type": kind, "coordinates": []})


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"type": "Polygon", "coordinates": [[]]}, "empty"),
        ({"type": "MultiPolygon", "coordinates": [[]]}, "empty"),
        ({"type": "MultiPolygon", "coordinates": [VALID["Polygon"], []]}, "needs at least one ring"),
        ({"type": "MultiLineString", "coordinates": [[]]}, "empty"),
        ({"type": "MultiLineString", "coordinates": [VALID["LineString"], [[6.5, 53.0]]]}, "at least 2 positions"),
        ({"type": "LineString", "coordinates": [[6.5, 53.0]]}, "at least 2 positions"),
        ({"type": "Point", "coordinates": None}, "must be an array"),
        ({"type": "Point", "coordinates": [6.5, 53.0, 1.0, 2.0]}, "2 or 3 numbers"),
        ({"type": []}, "unknown GeoJSON geometry type"),
        ({"type": {"type": "Point"}}, "unknown GeoJSON geometry type"),
        ({"type": "x" * 10_000}, "unknown GeoJSON geometry type"),
        ({"type": "Point", "coordinates": [6.5, 10**400]}, "finite"),
        ({"type": "Feature", "properties": [], "geometry": {"type": "Point", "coordinates": [6.56, 52.99]}}, "object"),
        ({"type": "Feature", "properties": "", "geometry": {"type": "Point", "coordinates": [6.56, 52.99]}}, "object"),
    ],
)
def test_degenerate_and_malformed_geometries_are_refused(obj: Any, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as info:
        parse_geojson(obj)
    refused(info.value)
    assert len(info.value.detail) <= 300  # a 10,000-character type is not echoed back whole


def test_regression_hole_outside_the_degree_range_is_refused() -> None:
    """A hole at lon 366.56 was wrapped by PROJ onto lon 6.56 and accepted (the shell's bounds were checked)."""
    shell = [[6.55, 52.98], [6.58, 52.98], [6.58, 53.01], [6.55, 53.01], [6.55, 52.98]]
    hole = [[366.56, 52.99], [366.57, 52.99], [366.57, 53.0], [366.56, 52.99]]
    with pytest.raises(InvalidInput, match="not WGS84 lon/lat"):
        parse_geojson({"type": "Polygon", "coordinates": [shell, hole]})
    rd_shell = [[233000, 556000], [235000, 556000], [235000, 558000], [233000, 558000], [233000, 556000]]
    rd_hole = [[234000, 1e9], [234100, 556500], [234100, 556600], [234000, 1e9]]
    with pytest.raises(InvalidInput, match="outside the area of use"):
        parse_geojson({"type": "Polygon", "coordinates": [rd_shell, rd_hole]}, crs="EPSG:28992")


def test_regression_rd_box_corner_is_outside_the_area() -> None:
    """x=0, y=289000 lies in the RD box but at lat 50.57 (Belgium): it was answered ('in no zone'), while the
    same point as lat/lon was refused; and the converse. Both systems now accept the same area."""
    with pytest.raises(InvalidInput, match="outside the area this service covers"):
        location(x=0, y=289_000, crs="EPSG:28992")
    with pytest.raises(InvalidInput, match="outside the area this service covers"):
        location(lat=rd_to_wgs84(0, 289_000).lat, lon=rd_to_wgs84(0, 289_000).lon)
    with pytest.raises(InvalidInput, match="outside the area this service covers"):
        parse_geojson({"type": "Point", "coordinates": [0, 289_000]}, crs="EPSG:28992")
    # and the other way round: lat 53.69, lon 3.21 lies in the lat/lon box, but at RD y 635978
    with pytest.raises(InvalidInput, match=r"RD x 11172, y 635978\) lies outside the area this service covers"):
        location(lat=53.69, lon=3.21)
    with pytest.raises(InvalidInput, match="outside the area this service covers"):
        parse_geojson({"type": "Point", "coordinates": [3.21, 53.69]})
    assert location(x=233_000, y=557_000, crs="EPSG:28992").wgs84.lat == pytest.approx(52.9943, abs=1e-4)


def test_regression_deep_properties_are_refused() -> None:
    """Properties nested 300 deep were accepted, and the answer echoing them failed to serialize (a 500)."""
    point = {"type": "Point", "coordinates": [6.56, 52.99]}
    ok = parse_geojson({"type": "Feature", "properties": {"a": [[[{"b": 1}]]]}, "geometry": point})
    assert ok.properties == {"a": [[[{"b": 1}]]]}
    deep = json.loads("[" * 300 + "]" * 300)
    with pytest.raises(InvalidInput, match="nested deeper than 32 levels"):
        parse_geojson({"type": "Feature", "properties": {"a": deep}, "geometry": point})


def test_degenerate_polygon_is_kept_for_the_database_to_judge() -> None:
    """A ring of one repeated position passes the parser (closed, 4 positions) and is never empty; the
    database's validity check refuses it (tests below, through the API)."""
    ring = [[6.56, 52.99]] * 4
    parsed = parse_geojson({"type": "Polygon", "coordinates": [ring]})
    assert not parsed.geom.is_empty and parsed.geom.area == 0


@st.composite
def feature_collections(draw: Any) -> Any:
    features = draw(
        st.lists(
            st.one_of(
                st.just(
                    {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [6.56, 52.99]}}
                ),
                geojson_objects().map(lambda case: case[0]),
                json_any,
            ),
            max_size=4,
        )
    )
    return draw(
        st.sampled_from([{"type": "FeatureCollection", "features": features}, {"features": features}, features])
    )


@SETTINGS
@given(obj=feature_collections())
def test_any_feature_collection_is_parsed_or_refused_naming_the_feature(obj: Any) -> None:
    try:
        parsed = parse_feature_collection(obj, max_vertices=50, limit=3)
    except TooLarge as exc:
        refused(exc)
        assert "limit" in exc.detail
        return
    except InvalidInput as exc:
        refused(exc)
        assert exc.detail.startswith(("feature ", "the body must be", "the FeatureCollection has no features"))
        return
    assert len(parsed) == len(obj["features"]) >= 1
    assert all(not p.geom.is_empty for p in parsed)


# --- through the API: GET /zones/at and /natura2000/distance -----------------------------------------------

query_values = st.one_of(
    st.floats().map(repr),
    st.floats().map(str),
    st.integers().map(str),
    assen_lat.map(repr),
    assen_lon.map(repr),
    assen_x.map(repr),
    assen_y.map(repr),
    st.sampled_from(["NaN", "nan", "inf", "-Infinity", "1e400", "1" * 400, "", " ", "52,99", "0x10", "1_0", "٥٢"]),
    st.text(max_size=8),
)


PLAIN_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?", re.ASCII)


def _as_float(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def _check_answer(r: Any, path: str, lat: float | None, lon: float | None, x: float | None, y: float | None) -> None:
    assert r.status_code in (200, 400, 422), r.text
    body = r.json()
    if r.status_code != 200:
        assert isinstance(body["detail"], str) and body["detail"], body
        return
    loc = body["location"]
    assert LAT0 <= loc["wgs84"]["lat"] <= LAT1 and LON0 <= loc["wgs84"]["lon"] <= LON1
    assert X0 <= loc["rd"]["x"] <= X1 and Y0 <= loc["rd"]["y"] <= Y1
    if lat is not None:  # answered for the point that was asked about
        assert (loc["wgs84"]["lat"], loc["wgs84"]["lon"]) == (lat, lon)
    else:
        assert (loc["rd"]["x"], loc["rd"]["y"]) == (round(x or 0, 3), round(y or 0, 3))
    if path == "/natura2000/distance":
        assert math.isfinite(body["distance_m"]) and body["distance_m"] >= 0
        assert body["inside"] == (body["distance_m"] == 0)
    else:
        assert isinstance(body["zones"], list) and body["in_municipality"] in (True, False, None)


@API_SETTINGS
@given(path=st.sampled_from(["/zones/at", "/natura2000/distance"]), lat=query_values, lon=query_values)
@example(path="/zones/at", lat="6.57", lon="53.0").via("swapped")
@example(path="/zones/at", lat="557000", lon="233000").via("RD as degrees")
@example(path="/natura2000/distance", lat="52.9925", lon="6.5625").via("Assen")
@example(path="/zones/at", lat="53.69", lon="3.21").via("a corner of the lat/lon box, off the RD box (was answered)")
def test_api_lat_lon(qclient: Any, path: str, lat: str, lon: str) -> None:
    r = qclient.get(path, params={"lat": lat, "lon": lon})
    flat, flon = _as_float(lat), _as_float(lon)
    if r.status_code == 200:
        assert flat is not None and flon is not None and in_area(flon, flat), (lat, lon)
    if PLAIN_NUMBER.fullmatch(lat) and PLAIN_NUMBER.fullmatch(lon) and finite(flat, flon):
        # plain numbers: answered exactly when they lie in the area (else a 422 naming the problem)
        assert (r.status_code == 200) == in_area(flon, flat), r.text
    _check_answer(r, path, flat, flon, None, None)


@API_SETTINGS
@given(path=st.sampled_from(["/zones/at", "/natura2000/distance"]), x=query_values, y=query_values)
@example(path="/zones/at", x="6.57", y="53.0").via("degrees as RD")
@example(path="/zones/at", x="557000", y="233000").via("swapped")
@example(path="/natura2000/distance", x="233000", y="557000").via("Assen")
@example(path="/zones/at", x="0", y="289000").via("a corner of the RD box, in Belgium (was answered)")
def test_api_x_y(qclient: Any, path: str, x: str, y: str) -> None:
    r = qclient.get(path, params={"x": x, "y": y, "crs": "EPSG:28992"})
    fx, fy = _as_float(x), _as_float(y)
    inside = fx is not None and fy is not None and finite(fx, fy) and in_rd_area(fx, fy)
    if r.status_code == 200:
        assert inside, (x, y)
    if PLAIN_NUMBER.fullmatch(x) and PLAIN_NUMBER.fullmatch(y) and finite(fx, fy):
        assert (r.status_code == 200) == inside, r.text
    _check_answer(r, path, None, None, fx, fy)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"type":[]}', "unknown GeoJSON geometry type"),
        ('{"type":"MultiLineString","coordinates":[[[6.5,53.0]]]}', "at least 2 positions"),
        ('{"type":"Point","coordinates":[6.5,' + "1" * 400 + "]}", "finite"),
        ("[" * 5_000 + "]" * 5_000, "nested too deeply"),
        ('{"a":' * 5_000 + "1" + "}" * 5_000, "nested too deeply"),
        (
            json.dumps({"type": "Feature", "properties": {"a": json.loads("[" * 300 + "]" * 300)}, "geometry": POINT}),
            "nested deeper than 32 levels",
        ),
        (json.dumps({"type": "Polygon", "coordinates": [[[6.56, 52.99]] * 4]}), "Too few points"),
    ],
)
def test_api_regressions_were_500s(qclient: Any, body: str, message: str) -> None:
    """Each of these was a 500 (or, for the degenerate polygon, is refused by the database's validity check)."""
    r = qclient.post("/check", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert message in r.json()["detail"]
