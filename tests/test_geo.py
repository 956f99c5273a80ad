"""Parsing locations and GeoJSON (no database needed)."""

from __future__ import annotations

import math

import pytest

from service.core.errors import InvalidInput, TooLarge
from service.questions.zones import band_for
from service.spatial.geo import location, parse_feature_collection, parse_geojson

SQUARE = [[6.56, 52.99], [6.57, 52.99], [6.57, 53.0], [6.56, 53.0], [6.56, 52.99]]


def test_wgs84_and_rd_locations_agree() -> None:
    a = location(lat=52.9925, lon=6.5625)
    b = location(x=a.rd.x, y=a.rd.y, crs="EPSG:28992")
    assert 233_000 < a.rd.x < 234_500 and 556_000 < a.rd.y < 558_000
    assert b.wgs84.lat == pytest.approx(52.9925, abs=1e-6) and b.wgs84.lon == pytest.approx(6.5625, abs=1e-6)
    assert a.crs_in == "EPSG:4326" and b.crs_in == "EPSG:28992"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lat": 6.5625, "lon": 52.9925}, "swap lat and lon"),
        ({"x": 557000, "y": 233000, "crs": "EPSG:28992"}, "swap x and y"),
        ({"lat": 95, "lon": 6.5}, "out of range"),
        ({"lat": 52.9, "lon": 200}, "out of range"),
        ({"lat": math.nan, "lon": 6.5}, "finite"),
        ({"lat": 52.9, "lon": math.inf}, "finite"),
        ({"lat": 52.9, "lon": 6.5, "x": 1, "y": 2}, "not both"),
        ({"lat": 52.9}, "give a location"),
        ({"x": 233000}, "both x and y"),
        ({"x": 233000, "y": 557000, "crs": "EPSG:4326"}, "crs=EPSG:28992"),
        ({"lat": 52.9, "lon": 6.5, "crs": "EPSG:3857"}, "not supported"),
        ({"lat": 48.85, "lon": 2.35}, "outside the area"),
    ],
)
def test_bad_locations(kwargs, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        location(**kwargs)


def test_parse_feature_and_geometry() -> None:
    feat = parse_geojson(
        {"type": "Feature", "properties": {"name": "X"}, "geometry": {"type": "Polygon", "coordinates": [SQUARE]}}
    )
    assert feat.properties == {"name": "X"} and feat.geom.geom_type == "Polygon" and feat.vertex_count == 5
    assert 600_000 < feat.geom.area < 800_000  # ~680 m x ~1110 m
    rd = parse_geojson({"type": "Point", "coordinates": [233000, 557000]}, crs="EPSG:28992")
    assert (rd.geom.x, rd.geom.y) == (233000, 557000)


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"type": "Polygon", "coordinates": [SQUARE[:-1]]}, "not closed"),
        ({"type": "Polygon", "coordinates": [[SQUARE[0], SQUARE[1], SQUARE[0]]]}, "at least 4 positions"),
        ({"type": "Polygon", "coordinates": []}, "empty"),
        ({"type": "MultiPolygon", "coordinates": []}, "empty"),
        ({"type": "Point", "coordinates": [6.5, math.nan]}, "finite"),
        ({"type": "Point", "coordinates": [6.5, 1e400]}, "finite"),
        ({"type": "Point", "coordinates": [True, 53.0]}, "2 or 3 numbers"),
        ({"type": "Point", "coordinates": ["6.5", "53"]}, "2 or 3 numbers"),
        ({"type": "Point", "coordinates": [53.0, 6.5]}, "swap lat and lon"),
        ({"type": "Circle", "coordinates": [6.5, 53]}, "unknown GeoJSON geometry type"),
        ({"type": "FeatureCollection", "features": []}, "FeatureCollection is not accepted"),
        ({"type": "Feature", "geometry": None}, "no geometry"),
        ([1, 2], "JSON object"),
    ],
)
def test_bad_geojson(obj, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_geojson(obj)


def test_vertex_limit() -> None:
    ring = [[6.5 + i * 1e-5, 53.0] for i in range(100)] + [[6.5, 53.01], [6.5, 53.0]]
    with pytest.raises(TooLarge):
        parse_geojson({"type": "Polygon", "coordinates": [ring]}, max_vertices=50)


def test_feature_collection_names_the_feature() -> None:
    good = {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [6.56, 52.99]}}
    bad = {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [52.99, 6.56]}}
    assert len(parse_feature_collection({"type": "FeatureCollection", "features": [good, good]})) == 2
    with pytest.raises(InvalidInput, match="feature 2: "):
        parse_feature_collection({"type": "FeatureCollection", "features": [good, bad]})
    with pytest.raises(TooLarge, match="limit is 1"):
        parse_feature_collection({"type": "FeatureCollection", "features": [good, good]}, limit=1)


def test_band_edges_are_inclusive() -> None:
    bands = [500.0, 1000.0, 5000.0, 25000.0]
    assert band_for(0.0, bands, inside=True).label == "in een Natura 2000-gebied"
    assert band_for(500.0, bands, inside=False).label == "tot en met 500 m"
    assert band_for(500.001, bands, inside=False).label == "500 m – 1 km"
    assert band_for(5000.0, bands, inside=False).max_m == 5000.0
    assert band_for(25000.0, bands, inside=False).max_m == 25000.0
    far = band_for(25000.01, bands, inside=False)
    assert far.max_m is None and far.label == "verder dan 25 km"
