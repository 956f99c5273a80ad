"""A plan from a file (service/questions/planfile.py) and POST /check/file, with real files made here: GeoJSON (WGS84),
GeoPackage (RD), a zipped Shapefile, DXF drawings written by hand, and hostile ones."""

from __future__ import annotations

import json
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import text

from service.api.app import create_app
from service.core.errors import InvalidInput, LayerLoadError, TooLarge
from service.questions.planfile import plan_geometry, read_plan

# Inside the Havenkwartier (layers/vector/havenkwartier.gpkg spans lon 6.565-6.575, lat 52.9955-53.004).
LON, LAT, D = 6.5699, 52.9996, 0.0008
WGS84_RING = [[LON - D, LAT - D], [LON + D, LAT - D], [LON + D, LAT + D], [LON - D, LAT + D], [LON - D, LAT - D]]
X, Y = 234_398.0, 557_611.0  # the same place in RD
RD_SQUARE = [(X - 40, Y - 40), (X + 40, Y - 40), (X + 40, Y + 40), (X - 40, Y + 40)]


# --- files -------------------------------------------------------------------------------------------------


def geojson_file(path: Path, features: list[dict[str, Any]] | None = None) -> Path:
    features = features or [
        {
            "type": "Feature",
            "properties": {"naam": "Loods"},
            "geometry": {"type": "Polygon", "coordinates": [WGS84_RING]},
        }
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return path


def rd_polygon(points: list[tuple[float, float]] = RD_SQUARE) -> shapely.Polygon:
    return shapely.Polygon(points)


def gpkg_file(path: Path) -> Path:
    gpd.GeoDataFrame({"name": ["Kavel"]}, geometry=[rd_polygon()], crs="EPSG:28992").to_file(path, driver="GPKG")
    return path


def shapefile_zip(path: Path, *, prj: bool = True) -> Path:
    work = Path(tempfile.mkdtemp(dir=path.parent))
    gpd.GeoDataFrame({"name": ["Kavel"]}, geometry=[rd_polygon()], crs="EPSG:28992").to_file(work / "plan.shp")
    with zipfile.ZipFile(path, "w") as z:
        for member in sorted(work.iterdir()):
            if member.suffix == ".prj" and not prj:
                continue
            z.write(member, member.name)
    return path


def _dxf(entities: list[list[str]]) -> str:
    out = ["0", "SECTION", "2", "ENTITIES"]
    for e in entities:
        out += e
    return "\n".join([*out, "0", "ENDSEC", "0", "EOF"]) + "\n"


def lwpolyline(points: list[tuple[float, float]], *, closed: bool = True) -> list[str]:
    e = ["0", "LWPOLYLINE", "8", "PLAN", "90", str(len(points)), "70", "1" if closed else "0"]
    for x, y in points:
        e += ["10", f"{x:.3f}", "20", f"{y:.3f}"]
    return e


def line(a: tuple[float, float], b: tuple[float, float]) -> list[str]:
    return f"0 LINE 8 0 10 {a[0]} 20 {a[1]} 30 0 11 {b[0]} 21 {b[1]} 31 0".split()


def dxf_text(at: tuple[float, float], words: str) -> list[str]:
    return ["0", "TEXT", "8", "TEKST", "10", str(at[0]), "20", str(at[1]), "30", "0", "40", "2.5", "1", words]


def dxf_file(path: Path, entities: list[list[str]]) -> Path:
    path.write_text(_dxf(entities), encoding="ascii")
    return path


def shifted(dx: float, dy: float = 0.0) -> list[tuple[float, float]]:
    return [(x + dx, y + dy) for x, y in RD_SQUARE]


# --- the domain --------------------------------------------------------------------------------------------


def test_geojson_in_wgs84_becomes_the_plan_in_rd(tmp_path: Path, qsettings) -> None:
    plan = read_plan(geojson_file(tmp_path / "loods.geojson"), settings=qsettings)
    assert plan.parsed.geom.geom_type == "Polygon"
    assert plan.parsed.properties == {"name": "Loods"}
    assert plan.info.parts_used == 1 and plan.info.polygons == 1 and plan.info.crs_used == "EPSG:4326"
    rp = plan.parsed.geom.representative_point()
    assert abs(rp.x - X) < 60 and abs(rp.y - Y) < 60
    assert 10_000 < plan.parsed.geom.area < 25_000  # 0.0016° x 0.0016°: about 108 m x 178 m


def test_dxf_closed_polylines_form_one_plan_and_texts_are_ignored(tmp_path: Path, qsettings) -> None:
    entities = [lwpolyline(RD_SQUARE), lwpolyline(shifted(200)), dxf_text((X, Y), "Bouwvlak")]
    plan = read_plan(dxf_file(tmp_path / "tekening.dxf", entities), settings=qsettings)
    assert plan.info.format == "DXF" and plan.info.crs_assumed and plan.info.crs_used == "EPSG:28992"
    assert plan.info.parts_used == 2 and plan.info.closed_lines == 2 and plan.info.points_ignored == 1
    assert plan.parsed.geom.geom_type == "MultiPolygon"
    assert plan.parsed.geom.area == pytest.approx(2 * 80 * 80)


def test_dxf_lines_that_meet_close_a_shape_and_nested_rings_make_one_plan(tmp_path: Path, qsettings) -> None:
    a, b, c = (X, Y), (X + 100, Y), (X + 50, Y + 60)
    inner = [(X + 40, Y + 10), (X + 60, Y + 10), (X + 60, Y + 20), (X + 40, Y + 20)]
    entities = [
        line(a, b),
        line(b, c),
        line(c, a),
        lwpolyline(inner),
        lwpolyline([(X, Y - 50), (X + 80, Y - 50)], closed=False),
    ]
    plan = read_plan(dxf_file(tmp_path / "driehoek.dxf", entities), settings=qsettings)
    assert plan.parsed.geom.geom_type == "Polygon"
    assert plan.parsed.geom.area == pytest.approx(100 * 60 / 2)  # the room inside the triangle adds nothing
    assert plan.info.parts_used == 2 and plan.info.lines_read == 5


def test_a_dxf_with_a_crs_given_is_read_in_it(tmp_path: Path, qsettings) -> None:
    ring = [(LON - D, LAT - D), (LON + D, LAT - D), (LON + D, LAT + D), (LON - D, LAT + D)]
    plan = read_plan(dxf_file(tmp_path / "graden.dxf", [lwpolyline(ring)]), crs="EPSG:4326", settings=qsettings)
    assert not plan.info.crs_assumed and plan.info.crs_used == "EPSG:4326"
    assert abs(plan.parsed.geom.centroid.x - X) < 60


def test_nothing_usable_is_refused_with_what_the_file_holds(tmp_path: Path, qsettings) -> None:
    entities = [dxf_text((X, Y), "Alleen tekst"), line((X, Y), (X + 50, Y))]
    with pytest.raises(InvalidInput, match="nothing usable as a plan: the file holds 1 line.*1 point"):
        read_plan(dxf_file(tmp_path / "leeg.dxf", entities), settings=qsettings)


def test_one_point_is_a_plan_many_points_are_not() -> None:
    geom, counts = plan_geometry([shapely.Point(X, Y)])
    assert geom.geom_type == "Point" and counts["parts_used"] == 1
    with pytest.raises(InvalidInput, match="use /check/batch"):
        plan_geometry([shapely.Point(X, Y), shapely.Point(X + 1, Y)])
    with pytest.raises(InvalidInput, match="nothing usable"):
        plan_geometry([shapely.Point(X, Y)], dxf=True)  # a DXF's points are texts and inserts


def test_an_invalid_part_among_several_is_named_unless_repaired() -> None:
    bowtie = shapely.Polygon([(X + 100, Y), (X + 110, Y + 10), (X + 110, Y), (X + 100, Y + 10)])
    with pytest.raises(InvalidInput, match="part 2 of 2 is not a valid polygon"):
        plan_geometry([rd_polygon(), bowtie])
    geom, _ = plan_geometry([rd_polygon(), bowtie], repair=True)
    assert geom.is_valid and geom.area > 80 * 80


def test_hostile_and_wrong_files_are_refused(tmp_path: Path, qsettings) -> None:
    vrt = tmp_path / "stiekem.dxf"
    vrt.write_text(
        '<OGRVRTDataSource><OGRVRTLayer name="x"><SrcDataSource>/etc/passwd</SrcDataSource>'
        "</OGRVRTLayer></OGRVRTDataSource>",
        encoding="utf-8",
    )
    with pytest.raises(LayerLoadError, match="the name says DXF, but the content is a GDAL virtual dataset"):
        read_plan(vrt, settings=qsettings)
    with pytest.raises(InvalidInput, match="PROJ strings, WKT, files and URLs are refused"):
        read_plan(gpkg_file(tmp_path / "kavel.gpkg"), crs="https://example.org/crs/28992", settings=qsettings)
    with pytest.raises(InvalidInput, match="the file says EPSG:28992, but crs says EPSG:4326"):
        read_plan(gpkg_file(tmp_path / "kavel2.gpkg"), crs="EPSG:4326", settings=qsettings)
    with pytest.raises(InvalidInput, match="states no coordinate reference system"):
        read_plan(shapefile_zip(tmp_path / "zonder.zip", prj=False), settings=qsettings)
    few = qsettings.model_copy(update={"batch_limit": 3})
    many = [{"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [LON, LAT]}}] * 4
    with pytest.raises(TooLarge, match="4 features; at most 3"):
        read_plan(geojson_file(tmp_path / "veel.geojson", many), settings=few)
    with pytest.raises(TooLarge, match="vertices; at most 4"):
        read_plan(geojson_file(tmp_path / "groot.geojson"), settings=qsettings.model_copy(update={"max_vertices": 4}))


# --- the endpoint ------------------------------------------------------------------------------------------

DATA_TABLES_SQL = (
    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' "
    "AND table_name NOT IN ('rate_counters', 'spatial_ref_sys') ORDER BY 1"
)


def row_counts(engine: Any) -> dict[str, int]:
    with engine.connect() as c:
        names = c.execute(text(DATA_TABLES_SQL)).scalars().all()
        return {n: c.execute(text(f'SELECT count(*) FROM "{n}"')).scalar_one() for n in names}


def post_file(client: TestClient, path: Path, **fields: str) -> Any:
    params = {"f": fields.pop("f")} if "f" in fields else None
    with path.open("rb") as fh:
        return client.post("/check/file", params=params, files={"file": (path.name, fh.read())}, data=fields)


def same_answer(a: dict[str, Any], b: dict[str, Any]) -> None:
    key = [(z["layer"], z["feature_id"]) for z in a["zones"]]
    assert key == [(z["layer"], z["feature_id"]) for z in b["zones"]]
    for za, zb in zip(a["zones"], b["zones"], strict=True):
        assert za["overlap_pct"] == pytest.approx(zb["overlap_pct"], abs=0.01)
        assert za["nested_in"] == zb["nested_in"] and za["policy"] == zb["policy"]
    assert [(n["layer"], n["feature_id"]) for n in a["nearby"]] == [(n["layer"], n["feature_id"]) for n in b["nearby"]]
    assert [n["distance_m"] for n in a["nearby"]] == pytest.approx([n["distance_m"] for n in b["nearby"]], abs=1)
    assert a["natura2000"]["distance_m"] == pytest.approx(b["natura2000"]["distance_m"], abs=0.01)
    assert a["natura2000"]["nearest"] == b["natura2000"]["nearest"]
    assert a["outside_zones_pct"] == pytest.approx(b["outside_zones_pct"], abs=0.01)
    assert a["initiative"]["area_m2"] == pytest.approx(b["initiative"]["area_m2"], rel=1e-6)


def test_geojson_upload_answers_as_post_check(tmp_path: Path, qclient, qengine) -> None:
    before = row_counts(qengine)
    r = post_file(qclient, geojson_file(tmp_path / "loods.geojson"))
    assert r.status_code == 200, r.text
    answer = r.json()
    assert "Havenkwartier" in [z["name"] for z in answer["zones"]]
    assert answer["plan_file"]["parts_used"] == 1 and answer["plan"]["geometry"]["type"] == "Polygon"
    direct = qclient.post(
        "/check",
        json={"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [WGS84_RING]}},
    )
    assert direct.status_code == 200
    same_answer(answer, direct.json())
    assert row_counts(qengine) == before


@pytest.mark.parametrize("maker", ["gpkg", "shapefile", "dxf"])
def test_rd_files_answer_as_post_check_in_rd(tmp_path: Path, qclient, qengine, maker: str) -> None:
    path = {
        "gpkg": lambda: gpkg_file(tmp_path / "kavel.gpkg"),
        "shapefile": lambda: shapefile_zip(tmp_path / "kavel.zip"),
        "dxf": lambda: dxf_file(tmp_path / "kavel.dxf", [lwpolyline(RD_SQUARE), dxf_text((X, Y), "Kavel 1")]),
    }[maker]()
    before = row_counts(qengine)
    r = post_file(qclient, path)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert "Havenkwartier" in [z["name"] for z in answer["zones"]]
    assert answer["plan_file"]["crs_assumed"] is (maker == "dxf")
    ring = [list(p) for p in [*RD_SQUARE, RD_SQUARE[0]]]
    direct = qclient.post("/check?crs=EPSG:28992", json={"type": "Polygon", "coordinates": [ring]})
    same_answer(answer, direct.json())
    assert answer["initiative"]["area_m2"] == pytest.approx(6400)
    assert row_counts(qengine) == before


def test_a_dxf_of_two_buildings_is_one_plan_and_says_so(tmp_path: Path, qclient) -> None:
    path = dxf_file(tmp_path / "twee.dxf", [lwpolyline(RD_SQUARE), lwpolyline(shifted(150)), dxf_text((X, Y), "A")])
    r = post_file(qclient, path)
    assert r.status_code == 200, r.text
    info = r.json()["plan_file"]
    assert info["parts_used"] == 2 and info["points_ignored"] == 1
    assert r.json()["initiative"]["geometry_type"] == "MultiPolygon"
    assert r.json()["initiative"]["area_m2"] == pytest.approx(2 * 6400)


def test_refusals_are_clear_json(tmp_path: Path, qclient, qsettings) -> None:
    cases = [
        (dxf_file(tmp_path / "leeg.dxf", [dxf_text((X, Y), "niets")]), {}, 422, "nothing usable as a plan"),
        ((tmp_path / "vrt.dxf"), {}, 422, "GDAL virtual dataset"),
        (gpkg_file(tmp_path / "k.gpkg"), {"crs": "http://example.org/evil"}, 422, "URLs are refused"),
        (shapefile_zip(tmp_path / "zonder.zip", prj=False), {}, 422, "give crs"),
        ((tmp_path / "plan.kml"), {}, 422, "unknown format .kml"),
        ((tmp_path / "leeg.geojson"), {}, 422, "the file is empty"),
    ]
    (tmp_path / "vrt.dxf").write_text("<OGRVRTDataSource><OGRVRTLayer name='x'/></OGRVRTDataSource>")
    (tmp_path / "plan.kml").write_text("<kml/>")
    (tmp_path / "leeg.geojson").write_bytes(b"")
    for path, fields, status, words in cases:
        r = post_file(qclient, path, **fields)
        assert r.status_code == status, (path.name, r.text)
        assert words in r.json()["detail"], (path.name, r.text)
    assert qclient.post("/check/file", json={"type": "Point"}).status_code == 422  # not multipart
    r = qclient.post("/check/file", files={"file": ("a.geojson", b"{}")}, data={"colour": "red"})
    assert r.status_code == 422 and "unknown field" in r.json()["detail"]
    zonder = shapefile_zip(tmp_path / "zonder2.zip", prj=False)
    assert post_file(qclient, zonder, crs="EPSG:28992").status_code == 200


def test_the_public_limits_hold(tmp_path: Path, qsettings) -> None:
    small = qsettings.model_copy(update={"batch_limit": 2, "max_vertices": 50, "max_body_bytes": 20_000})
    with TestClient(create_app(small)) as client:
        point = {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [LON, LAT]}}
        r = post_file(client, geojson_file(tmp_path / "drie.geojson", [point] * 3))
        assert r.status_code == 413 and "3 features; at most 2" in r.json()["detail"]
        ring = [[LON + 0.0001 * i, LAT + 0.0001 * (i % 2)] for i in range(60)] + [[LON, LAT - 0.001]]
        ring.append(ring[0])
        big = {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [ring]}}
        r = post_file(client, geojson_file(tmp_path / "groot.geojson", [big]))
        assert r.status_code == 413 and "vertices" in r.json()["detail"]
        padding = tmp_path / "zwaar.geojson"
        padding.write_text(json.dumps({"type": "FeatureCollection", "features": [point], "x": "a" * 30_000}))
        assert post_file(client, padding).status_code == 413


def test_html_and_pdf_reports_of_a_file(tmp_path: Path, qclient) -> None:
    path = dxf_file(tmp_path / "kavel.dxf", [lwpolyline(RD_SQUARE)])
    html = post_file(qclient, path, f="html")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "Havenkwartier" in html.text and "kavel" in html.text
    pdf = post_file(qclient, path, f="pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    bad = post_file(qclient, dxf_file(tmp_path / "leeg.dxf", [dxf_text((X, Y), "x")]), f="html")
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("text/html")


def test_nothing_is_left_on_disk(tmp_path: Path, qclient) -> None:
    temp = Path(tempfile.gettempdir())
    before = {p.name for p in temp.glob("gebiedscheck-quickscan-*")}
    assert post_file(qclient, shapefile_zip(tmp_path / "kavel.zip")).status_code == 200
    assert post_file(qclient, dxf_file(tmp_path / "leeg.dxf", [])).status_code == 422
    assert {p.name for p in temp.glob("gebiedscheck-quickscan-*")} <= before


def test_it_is_rate_limited(tmp_path: Path, qsettings, qengine) -> None:
    into = time.time() % 60
    if into > 50:  # the limit counts per clock minute: start well inside one
        time.sleep(60.5 - into)
    with qengine.begin() as c:
        c.execute(text("DELETE FROM rate_counters"))
    try:
        with TestClient(create_app(qsettings.model_copy(update={"rate_limit_per_minute": 2}))) as client:
            path = gpkg_file(tmp_path / "kavel.gpkg")
            assert [post_file(client, path).status_code for _ in range(3)] == [200, 200, 429]
            r = post_file(client, path)
            assert r.status_code == 429 and r.headers["Retry-After"] and "too many requests" in r.json()["detail"]
    finally:
        with qengine.begin() as c:
            c.execute(text("DELETE FROM rate_counters"))
