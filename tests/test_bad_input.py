"""Every kind of bad input gets a clear 4xx naming the problem, never a 500 and never a silent answer."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app

SQ = [[[6.56, 52.99], [6.57, 52.99], [6.57, 53.0], [6.56, 53.0], [6.56, 52.99]]]
GET_ENDPOINTS = ["/zones/at", "/natura2000/distance", "/heat/at"]


@pytest.mark.parametrize("path", GET_ENDPOINTS)
@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("lat=6.5625&lon=52.9925", 422, "swap lat and lon"),
        ("x=557000&y=233000&crs=EPSG:28992", 422, "swap x and y"),
        ("lat=91&lon=6.5", 422, "out of range"),
        ("lat=NaN&lon=6.5", 422, "finite"),
        ("lat=52.99&lon=Infinity", 422, "finite"),
        ("lat=52.99&lon=1e400", 422, "finite"),
        ("lat=abc&lon=6.5", 422, "lat"),
        ("lat=52.99", 422, "give a location"),
        ("", 422, "give a location"),
        ("lat=52.99&lon=6.56&crs=EPSG:3857", 422, "not supported"),
    ],
)
def test_bad_locations(qclient, path: str, query: str, status: int, message: str) -> None:
    r = qclient.get(f"{path}?{query}")
    assert r.status_code == status, r.text
    assert message in r.json()["detail"]


@pytest.mark.parametrize("path", ["/check", "/heat/overlap"])
@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ('{"type":"Polygon","coordinates":[[[6.56,52.99],[6.57,52.99],[6.57,53.0],[6.56,52.99]]]}', 200, ""),
        ('{"type":"Polygon","coordinates":[[[6.56,52.99],[6.57,52.99],[6.57,53.0],[6.56,53.0]]]}', 422, "not closed"),
        ('{"type":"Polygon","coordinates":[[[6.56,52.99],[6.57,52.99],[6.56,52.99]]]}', 422, "at least 4"),
        ('{"type":"Polygon","coordinates":[]}', 422, "empty"),
        ('{"type":"Polygon","coordinates":[[[6.56,NaN],[6.57,52.99],[6.57,53.0],[6.56,53.0],[6.56,NaN]]]}', 422, "NaN"),
        (
            '{"type":"Polygon","coordinates":[[[6.56,1e400],[6.57,52.99],[6.57,53.0],[6.56,53.0],[6.56,1e400]]]}',
            422,
            "finite",
        ),
        (
            '{"type":"Polygon","coordinates":[[[52.99,6.56],[52.99,6.57],[53.0,6.57],[53.0,6.56],[52.99,6.56]]]}',
            422,
            "swap lat and lon",
        ),
        ('{"type":"LineString","coordinates":[[6.56,52.99],[6.57,52.99]]}', 422, "LineString"),
        ('{"type":"FeatureCollection","features":[]}', 422, "FeatureCollection"),
        ("not json", 422, "not valid JSON"),
        ("", 422, "empty"),
        (
            '{"type":"Polygon","coordinates":[[[6.56,52.99],[6.57,53.0],[6.57,52.99],[6.56,53.0],[6.56,52.99]]]}',
            422,
            "Self-intersection",
        ),
    ],
)
def test_bad_geometries(qclient, path: str, body: str, status: int, message: str) -> None:
    r = qclient.post(path, content=body, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    if message:
        assert message in r.json()["detail"]


def test_point_for_polygon_question(qclient) -> None:
    r = qclient.post("/heat/overlap", json={"type": "Point", "coordinates": [6.56, 52.99]})
    assert r.status_code == 422 and "needs a Polygon" in r.json()["detail"]


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("layer=bestaat-niet&feature_id=x", 404, "layer 'bestaat-niet' does not exist"),
        ("layer=havenkwartier&feature_id=bestaat-niet", 404, "has no feature 'bestaat-niet'"),
        ("layer=Bad!&feature_id=x", 422, "layer"),
        ("layer=havenkwartier&feature_id=havenkwartier&threshold_c=NaN", 422, "threshold_c"),
    ],
)
def test_unknown_zone(qclient, query: str, status: int, message: str) -> None:
    r = qclient.get(f"/heat/overlap?{query}")
    assert r.status_code == status, r.text
    assert message in r.json()["detail"]


def test_size_limits(qsettings) -> None:
    small = qsettings.model_copy(update={"max_body_bytes": 2_000, "max_vertices": 50, "batch_limit": 2})
    with TestClient(create_app(small), raise_server_exceptions=False) as c:
        big_body = {"type": "Polygon", "coordinates": SQ, "pad": "x" * 5_000}
        r = c.post("/check", json=big_body)
        assert r.status_code == 413 and "larger than 2000 bytes" in r.json()["detail"]
        ring = [[6.5 + i * 1e-4, 53.0] for i in range(60)] + [[6.5, 53.01], [6.5, 53.0]]
        r = c.post("/heat/overlap", json={"type": "Polygon", "coordinates": [ring]})
        assert r.status_code == 413 and "vertices" in r.json()["detail"]
        pt = {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [6.56, 52.99]}}
        r = c.post("/check/batch", json={"type": "FeatureCollection", "features": [pt, pt, pt]})
        assert r.status_code == 413 and "limit is 2" in r.json()["detail"]
