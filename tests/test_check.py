"""The quickscan through the API: report contents against shapely, warnings, HTML, repair."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely

from service.core.settings import PROJECT_ROOT
from service.spatial.geo import parse_geojson


def feature(coords, name: str = "Test", kind: str = "wonen", gtype: str = "Polygon") -> dict:
    return {
        "type": "Feature",
        "properties": {"name": name, "kind": kind},
        "geometry": {"type": gtype, "coordinates": coords},
    }


IN_TRZ = [[[6.535, 52.970], [6.545, 52.970], [6.545, 52.975], [6.535, 52.975], [6.535, 52.970]]]
# From the binnenstad eastwards into the Havenkwartier / Stadsbedrijvenpark.
ACROSS = [[[6.562, 52.9975], [6.572, 52.9975], [6.572, 53.0005], [6.562, 53.0005], [6.562, 52.9975]]]


def zone_geom(slug: str, name: str | None = None) -> shapely.Geometry:
    gdf = gpd.read_file(PROJECT_ROOT / "layers" / "vector" / f"{slug}.gpkg")
    return gdf.geometry.iloc[0] if name is None else gdf[gdf.name == name].geometry.iloc[0]


def test_polygon_inside_trz(qclient) -> None:
    r = qclient.post("/check", json=feature(IN_TRZ, name="Glamping bij de plas", kind="recreatie"))
    assert r.status_code == 200, r.text
    rep = r.json()
    assert rep["initiative"]["name"] == "Glamping bij de plas" and rep["initiative"]["kind"] == "recreatie"
    assert [(z["layer"], z["overlap_pct"]) for z in rep["zones"]] == [("trz", 100.0)]
    trz = rep["zones"][0]
    assert trz["policy"]["section"] == "§4.4.5" and "ja, mits" in trz["policy"]["summary"].lower()
    geom = parse_geojson(feature(IN_TRZ)).geom
    assert trz["overlap_m2"] == pytest.approx(geom.area, abs=0.05)
    assert rep["in_municipality"] is True
    n2k = rep["natura2000"]
    assert n2k["nearest"]["name"] == "Witterveld" and not n2k["inside"]
    expected = zone_geom("natura2000", "Witterveld").distance(geom)
    assert n2k["distance_m"] == pytest.approx(expected, abs=1e-3)
    assert rep["heat"]["threshold_c"] == 1.5 and rep["heat"]["raster"]["layer"] == "hitte-eiland"
    assert "ja, mits" in rep["disclaimer"]


def test_polygon_across_zone_boundaries(qclient) -> None:
    rep = qclient.post("/check", json=feature(ACROSS)).json()
    geom = parse_geojson(feature(ACROSS)).geom
    by_layer = {z["layer"]: z for z in rep["zones"]}
    assert {"binnenstad", "havenkwartier"} <= set(by_layer)
    for slug in ("binnenstad", "havenkwartier"):
        expected = zone_geom(slug).intersection(geom).area
        assert by_layer[slug]["overlap_m2"] == pytest.approx(expected, abs=0.05)
        assert by_layer[slug]["overlap_pct"] == pytest.approx(100 * expected / geom.area, abs=0.01)
        assert 0 < by_layer[slug]["overlap_pct"] < 100
    codes = {(w["code"], w.get("layer")) for w in rep["warnings"]}
    assert ("crosses_boundary", "binnenstad") in codes and ("crosses_boundary", "havenkwartier") in codes
    # A zone the plan crosses is reported as crossed, not also as near its edge (its answer is 'partly' already).
    assert not {("near_edge", "binnenstad"), ("near_edge", "havenkwartier")} & codes


def test_point_in_natura2000_and_near_edge(qclient) -> None:
    rep = qclient.post("/check", json=feature([6.4870, 52.9600], gtype="Point")).json()
    assert rep["natura2000"]["inside"] is True and rep["natura2000"]["distance_m"] == 0.0
    assert any(w["code"] == "in_natura2000" for w in rep["warnings"])
    assert rep["heat"]["value_c"] is not None  # a point gets the cell value
    assert rep["zones"][0]["overlap_m2"] is None and rep["zones"][0]["overlap_pct"] == 100.0
    # 3 m from the edge of the test zone (accuracy 5 m): the answer may flip.
    near = qclient.post("/check?crs=EPSG:28992", json=feature([235997, 560200], gtype="Point")).json()
    assert any(w["code"] == "near_edge" and w["layer"] == "testgebied" for w in near["warnings"])
    assert not any(z["layer"] == "testgebied" for z in near["zones"])


def test_outside_municipality(qclient) -> None:
    far = [[[6.60, 53.10], [6.61, 53.10], [6.61, 53.105], [6.60, 53.105], [6.60, 53.10]]]
    rep = qclient.post("/check", json=feature(far)).json()
    assert rep["in_municipality"] is False and rep["zones"] == []
    assert any(w["code"] == "outside_municipality" for w in rep["warnings"])


def test_html_report_is_dutch(qclient) -> None:
    r = qclient.post("/check?f=html", json=feature(IN_TRZ, name="Glamping <bij> de plas"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert "<html lang='nl'>" in html and "Quickscan: Glamping &lt;bij&gt; de plas" in html
    assert "Gebieden uit de Omgevingsvisie" in html and "Toeristisch Recreatieve Zone" in html
    assert "Natura 2000" in html and "Witterveld" in html and "indicatief" in html
    assert "<script" not in html


def test_repair(qclient) -> None:
    bowtie = [[[234000, 557000], [234200, 557200], [234200, 557000], [234000, 557200], [234000, 557000]]]
    r = qclient.post("/check?crs=EPSG:28992", json=feature(bowtie))
    assert r.status_code == 422 and "Self-intersection" in r.json()["detail"] and "RD x 234100" in r.json()["detail"]
    r = qclient.post("/check?crs=EPSG:28992&repair=true", json=feature(bowtie))
    assert r.status_code == 200
    rep = r.json()["repaired"]
    assert rep["reason"] == "Self-intersection" and rep["area_after_m2"] == pytest.approx(20_000.0)
    assert rep["area_change_m2"] == pytest.approx(rep["area_after_m2"] - rep["area_before_m2"])
