"""Zones near a location or plan, nested zones, and the part of a plan in no zone (issue 12, items 5 and 6).

Distances and areas are held against shapely on the layer files themselves; the batch is held to the single
check field by field; the CLI to its Dutch notation.
"""

from __future__ import annotations

import csv
import json
import random

import geopandas as gpd
import pytest
import shapely
from sqlalchemy import text
from typer.testing import CliRunner

from service.cli.common import nl
from service.cli.main import app
from service.core.settings import PROJECT_ROOT
from service.loading.manifest import read_manifest
from service.loading.vectorload import slugify
from service.questions.batch import _load_temp, batch_frame
from service.questions.zones import CONTEXT_SQL, zones_at
from service.spatial.geo import location, parse_feature_collection, parse_geojson, rd_to_wgs84
from tests.conftest import DATA

runner = CliRunner()
MANIFEST = read_manifest(PROJECT_ROOT / "layers")
ZONE_LAYERS = [la for la in MANIFEST.layers if la.kind == "vector" and la.category in ("omgevingsvisie", "natura2000")]
TT_CIRCUIT = {"lat": 52.9614, "lon": 6.5233}
TRZ = ("trz", "toeristisch-recreatieve-zone")
BINNENSTAD = {"layer": "binnenstad", "feature_id": "binnenstad", "name": "Binnenstad"}
# A square of about 100 m by 100 m inside the publiekshart (RD), one inside the binnenstad only, and one from the
# binnenstad into the Havenkwartier and the Stadsbedrijvenpark (WGS84, as tests/test_check.py).
IN_PUBLIEKSHART = [[[233780, 556960], [233880, 556960], [233880, 557060], [233780, 557060], [233780, 556960]]]
IN_BINNENSTAD_ONLY = [[[234170, 556990], [234230, 556990], [234230, 557050], [234170, 557050], [234170, 556990]]]
ACROSS = [[[6.562, 52.9975], [6.572, 52.9975], [6.572, 53.0005], [6.562, 53.0005], [6.562, 52.9975]]]
IN_TRZ = [[[6.535, 52.970], [6.545, 52.970], [6.545, 52.975], [6.535, 52.975], [6.535, 52.970]]]
FAR = [[[6.60, 53.10], [6.61, 53.10], [6.61, 53.105], [6.60, 53.105], [6.60, 53.10]]]


def reference_zones() -> dict[tuple[str, str], shapely.Geometry]:
    """Every zone of the questions database, from the files it was loaded from."""
    out = {}
    for spec in ZONE_LAYERS:
        gdf = gpd.read_file(PROJECT_ROOT / "layers" / spec.file)
        out.update({(spec.slug, slugify(r.name)): r.geometry for r in gdf.itertuples()})
    gdf = gpd.read_file(DATA / "testgebied.gpkg")
    out.update({("testgebied", slugify(r.name)): r.geometry for r in gdf.itertuples()})
    return out


def feature(geometry: dict, name: str = "plan") -> dict:
    return {"type": "Feature", "properties": {"name": name}, "geometry": geometry}


def polygon(coords: list) -> dict:
    return {"type": "Polygon", "coordinates": coords}


def rd_geom(geometry: dict, crs: str | None = None) -> shapely.Geometry:
    return parse_geojson(geometry, crs=crs).geom


def test_tt_circuit_names_the_trz_nearby(qclient) -> None:
    r = qclient.get("/zones/at", params=TT_CIRCUIT)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["zones"] == [] and body["nearby_distance_m"] == 500.0
    trz = next(z for z in body["nearby"] if (z["layer"], z["feature_id"]) == TRZ)
    assert 0 < trz["distance_m"] < 500
    assert set(trz) == {"layer", "layer_title", "feature_id", "name", "distance_m", "policy"}
    assert trz["layer_title"] == "Toeristisch Recreatieve Zone (TRZ)" and trz["name"] == "Toeristisch Recreatieve Zone"
    assert trz["policy"]["section"] == "§4.4.5" and "ja, mits" in trz["policy"]["summary"].lower()
    geom = reference_zones()[TRZ]
    p = shapely.Point(body["location"]["rd"]["x"], body["location"]["rd"]["y"])
    assert trz["distance_m"] == pytest.approx(geom.distance(p), abs=1.0)
    assert trz["distance_m"] == float(round(trz["distance_m"]))  # rounded to 1 m
    distances = [z["distance_m"] for z in body["nearby"]]
    assert distances == sorted(distances)
    assert all(z["layer"] != "gemeentegrens" for z in body["nearby"])  # a point inside the municipality


def test_inside_the_trz_it_is_a_zone_not_nearby(qclient) -> None:
    p = reference_zones()[TRZ].representative_point()
    body = qclient.get("/zones/at", params={"x": p.x, "y": p.y, "crs": "EPSG:28992"}).json()
    assert TRZ in {(z["layer"], z["feature_id"]) for z in body["zones"]}
    assert TRZ not in {(z["layer"], z["feature_id"]) for z in body["nearby"]}
    rep = qclient.post("/check", json=feature(polygon(IN_TRZ))).json()
    assert [z["layer"] for z in rep["zones"]] == ["trz"]
    assert TRZ not in {(z["layer"], z["feature_id"]) for z in rep["nearby"]}


def test_far_from_everything_nothing_is_nearby(qclient) -> None:
    body = qclient.get("/zones/at", params={"lat": 53.10, "lon": 6.60}).json()
    assert body["zones"] == [] and body["nearby"] == []
    rep = qclient.post("/check", json=feature(polygon(FAR))).json()
    assert rep["zones"] == [] and rep["nearby"] == []
    assert rep["outside_zones_pct"] == 100.0
    assert rep["outside_zones_m2"] == pytest.approx(rep["initiative"]["area_m2"], abs=0.01)


def test_nearby_matches_shapely(qsession) -> None:
    """Every zone within 500 m and not touched is named, at its shapely distance (±1 m), and no other zone."""
    ref = reference_zones()
    rnd = random.Random(12)
    points = [(rnd.uniform(228_000, 238_000), rnd.uniform(552_000, 561_000)) for _ in range(120)]
    tt = location(**TT_CIRCUIT)
    points.append((tt.rd.x, tt.rd.y))
    named = 0
    for x, y in points:
        p = shapely.Point(x, y)
        d = {key: g.distance(p) for key, g in ref.items()}
        if any(abs(v - 500) < 1 for v in d.values()):
            continue  # too close to the cut-off to hold a rounded answer to it
        answer = zones_at(qsession, location(x=x, y=y, crs="EPSG:28992"))
        got = {(z.layer, z.feature_id): z.distance_m for z in answer.nearby}
        assert set(got) == {key for key, v in d.items() if 0 < v <= 500}, (x, y)
        for key, v in got.items():
            assert v == pytest.approx(d[key], abs=1.0), (x, y, key)
        assert not set(got) & {(z.layer, z.feature_id) for z in answer.zones}
        named += len(got)
    assert named > 30  # the sample really has zones nearby


@pytest.mark.parametrize("coords", [IN_PUBLIEKSHART, IN_BINNENSTAD_ONLY], ids=["publiekshart", "binnenstad"])
def test_polygon_nearby_distances_from_its_edge(qclient, coords) -> None:
    ref = reference_zones()
    rep = qclient.post("/check?crs=EPSG:28992", json=feature(polygon(coords))).json()
    plan = rd_geom(polygon(coords), "EPSG:28992")
    expected = {key for key, g in ref.items() if 0 < g.distance(plan) <= 500}
    assert {(z["layer"], z["feature_id"]) for z in rep["nearby"]} == expected and expected
    for z in rep["nearby"]:
        assert z["distance_m"] == pytest.approx(ref[(z["layer"], z["feature_id"])].distance(plan), abs=1.0)


def test_publiekshart_nests_in_the_binnenstad(qclient) -> None:
    ref = reference_zones()
    assert ref[("publiekshart", "publiekshart")].covered_by(ref[("binnenstad", "binnenstad")])
    rep = qclient.post("/check?crs=EPSG:28992", json=feature(polygon(IN_PUBLIEKSHART))).json()
    by_layer = {z["layer"]: z for z in rep["zones"]}
    assert set(by_layer) == {"binnenstad", "publiekshart"}
    assert by_layer["publiekshart"]["nested_in"] == [BINNENSTAD]
    assert by_layer["binnenstad"]["nested_in"] == []
    # The overlaps count the same area twice; the part in no zone counts it once.
    assert by_layer["publiekshart"]["overlap_pct"] == by_layer["binnenstad"]["overlap_pct"] == 100.0
    assert rep["outside_zones_pct"] == pytest.approx(0.0, abs=0.01) and rep["outside_zones_m2"] < 0.5


def test_plan_inside_the_binnenstad_is_in_a_zone(qclient) -> None:
    rep = qclient.post("/check?crs=EPSG:28992", json=feature(polygon(IN_BINNENSTAD_ONLY))).json()
    assert [(z["layer"], z["nested_in"]) for z in rep["zones"]] == [("binnenstad", [])]
    assert rep["outside_zones_pct"] == pytest.approx(0.0, abs=0.01)
    assert rep["outside_zones_m2"] == pytest.approx(0.0, abs=0.5)


def test_outside_is_the_plan_minus_the_union(qclient) -> None:
    ref = reference_zones()
    rep = qclient.post("/check", json=feature(polygon(ACROSS))).json()
    plan = rd_geom(polygon(ACROSS))
    touched = [g for g in ref.values() if g.intersects(plan)]
    outside = plan.difference(shapely.union_all(touched)).area
    assert rep["outside_zones_m2"] == pytest.approx(outside, abs=0.5)
    assert rep["outside_zones_pct"] == pytest.approx(100 * outside / plan.area, abs=0.01)
    assert 0 < rep["outside_zones_pct"] < 100
    # The Havenkwartier lies inside the Stadsbedrijvenpark: nested, and counted once.
    hk = next(z for z in rep["zones"] if z["layer"] == "havenkwartier")
    assert hk["nested_in"] == [
        {"layer": "bedrijventerreinen", "feature_id": "stadsbedrijvenpark", "name": "Stadsbedrijvenpark"}
    ]
    assert sum(z["overlap_m2"] for z in rep["zones"]) > plan.area - outside + 1  # summing would count twice


def test_a_point_has_no_outside_share(qclient) -> None:
    rep = qclient.post("/check", json={"type": "Point", "coordinates": [TT_CIRCUIT["lon"], TT_CIRCUIT["lat"]]}).json()
    assert rep["outside_zones_m2"] is None and rep["outside_zones_pct"] is None
    assert TRZ in {(z["layer"], z["feature_id"]) for z in rep["nearby"]} and rep["nearby_distance_m"] == 500.0


BATCH = [
    feature({"type": "Point", "coordinates": [TT_CIRCUIT["lon"], TT_CIRCUIT["lat"]]}, "TT circuit"),
    feature({"type": "Point", "coordinates": [6.5690, 53.0000]}, "Havenkade"),
    feature({"type": "Point", "coordinates": [6.5790, 53.0030]}, "Oostelijk van het Havenkwartier"),
    feature({"type": "Point", "coordinates": [6.5630, 52.9927]}, "Koopmansplein"),
    feature(polygon([[[6.520, 52.960], [6.526, 52.960], [6.526, 52.963], [6.520, 52.963], [6.520, 52.960]]]), "Bij TT"),
    feature(polygon(IN_TRZ), "In de TRZ"),
    feature(polygon(ACROSS), "Binnenstad tot Havenkwartier"),
    feature(polygon([[[6.5625, 52.9925], [6.5635, 52.9925], [6.5635, 52.993], [6.5625, 52.993], [6.5625, 52.9925]]])),
    feature(polygon(FAR), "Ver weg"),
]


def test_batch_equals_the_single_check(qclient, qsession) -> None:
    r = qclient.post("/check/batch", json={"type": "FeatureCollection", "features": BATCH})
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["nearby_distance_m"] == 500.0
    nested_seen = outside_between = 0
    for row, feat in zip(report["rows"], BATCH, strict=True):
        single = qclient.post("/check", json=feat).json()
        assert row["nearby"] == single["nearby"], feat["properties"]["name"]
        nested = [
            {"layer": z["layer"], "feature_id": z["feature_id"], "name": z["name"], "nested_in": z["nested_in"]}
            for z in single["zones"]
            if z["nested_in"]
        ]
        assert sorted(row["nested"], key=lambda z: (z["layer"], z["feature_id"])) == sorted(
            nested, key=lambda z: (z["layer"], z["feature_id"])
        )
        assert row["outside_zones_m2"] == single["outside_zones_m2"]
        assert row["outside_zones_pct"] == single["outside_zones_pct"]
        nested_seen += bool(nested)
        outside_between += 0 < (single["outside_zones_pct"] or 0) < 100
    assert report["rows"][0]["nearby"][0]["feature_id"] == TRZ[1]
    assert nested_seen >= 2 and outside_between >= 1  # the sample exercises every field
    # The files' text column says the same.
    items = parse_feature_collection({"type": "FeatureCollection", "features": BATCH})
    frame, used = batch_frame(qsession, items)
    qsession.rollback()
    assert used["nearby_distance_m"] == 500.0
    for text_value, row in zip(frame["nearby"], report["rows"], strict=True):
        assert text_value == "; ".join(f"{z['name']} ({z['distance_m']:.0f} m)" for z in row["nearby"])
    assert frame["nearby"].iloc[0].startswith("Toeristisch Recreatieve Zone (416 m)")
    assert "Publiekshart in Binnenstad" in frame["nested"].iloc[7]


def test_nearby_uses_the_gist_index(qsession) -> None:
    """The single question and the batch (its input table) both reach the parts through their GiST index."""
    point = "(SELECT 0 AS i, ST_SetSRID(ST_MakePoint(:px, :py), 28992) AS geom)"
    params = {"px": 231337.0, "py": 553310.0, "nearby_m": 500.0, "categories": ["omgevingsvisie", "natura2000"]}
    plan = "\n".join(r[0] for r in qsession.execute(text("EXPLAIN " + CONTEXT_SQL.format(source=point)), params))
    assert "feature_parts_geom_version_gist" in plan  # the parts' GiST (geometry, then version: migration 0009)
    rnd = random.Random(3)
    _load_temp(
        qsession, [shapely.Point(rnd.uniform(228_000, 238_000), rnd.uniform(552_000, 561_000)) for _ in range(500)]
    )
    del params["px"], params["py"]
    batch = CONTEXT_SQL.format(source="batch_input")
    plan = "\n".join(r[0] for r in qsession.execute(text("EXPLAIN " + batch), params))
    qsession.rollback()
    assert "feature_parts_geom_version_gist" in plan or "batch_input_geom_idx" in plan


def test_nl_is_dutch_notation() -> None:
    assert nl(3596) == "3.596" and nl(56.56, 1) == "56,6" and nl(1234567.891, 2) == "1.234.567,89"
    assert nl(-3596.4) == "-3.596" and nl(416.2) == "416" and nl(0.25, 2) == "0,25" and nl(None) == "–"


def test_cli_names_nearby_zones_in_dutch(cli_env, tmp_path) -> None:
    r = runner.invoke(app, ["zones-at", "--lat", "52.9614", "--lon", "6.5233"])
    assert r.exit_code == 0, r.output
    assert "Deze plek ligt in geen van de gebieden." in r.output
    assert "Binnen 500 m: Toeristisch Recreatieve Zone (TRZ), 416 m" in r.output
    r = runner.invoke(app, ["zones-at", "--lat", "53.10", "--lon", "6.60"])
    assert r.exit_code == 0 and "Binnen 500 m: geen andere gebieden." in r.output
    r = runner.invoke(app, ["zones-at", "--lat", "52.9614", "--lon", "6.5233", "--json"])
    assert json.loads(r.stdout)["nearby"][0]["distance_m"] == 416.0

    across = tmp_path / "over.geojson"
    across.write_text(json.dumps({"type": "FeatureCollection", "features": [feature(polygon(ACROSS), "Over")]}))
    r = runner.invoke(app, ["check", str(across), "--json"])
    rep = json.loads(r.stdout)
    assert rep["outside_zones_m2"] > 1000  # so the thousands separator shows
    r = runner.invoke(app, ["check", str(across)])
    assert r.exit_code == 0, r.output
    expected = f"Buiten alle gebieden: {nl(rep['outside_zones_m2'])} m² ({nl(rep['outside_zones_pct'], 1)} %)."
    assert expected in r.output and "." in nl(rep["outside_zones_m2"])
    assert "Havenkwartier ligt geheel in Stadsbedrijvenpark" in r.output
    assert "Binnen 500 m: " in r.output

    pub = tmp_path / "pub.geojson"  # a GeoJSON file is WGS84
    ring = [[(ll := rd_to_wgs84(x, y)).lon, ll.lat] for x, y in IN_PUBLIEKSHART[0]]
    pub.write_text(json.dumps({"type": "FeatureCollection", "features": [feature(polygon([ring]))]}))
    r = runner.invoke(app, ["check", str(pub)])
    assert r.exit_code == 0, r.output
    assert "Publiekshart ligt geheel in Binnenstad" in r.output and "Buiten alle gebieden: 0 m² (0,0 %)." in r.output


def test_cli_files_carry_the_nearby_column(cli_env, tmp_path) -> None:
    src = tmp_path / "punten.csv"
    src.write_text("naam,lat,lon\nTT,52.9614,6.5233\nVer,53.10,6.60\n")
    out = tmp_path / "uit.csv"
    r = runner.invoke(app, ["check", str(src), "--uit", str(out)])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(out.open()))
    assert rows[0]["nearby"].startswith("Toeristisch Recreatieve Zone (416 m)") and rows[1]["nearby"] == ""
    gpkg = tmp_path / "uit.gpkg"
    assert runner.invoke(app, ["check", str(src), "--uit", str(gpkg)]).exit_code == 0
    gdf = gpd.read_file(gpkg)
    assert {"nearby", "nested", "outside_zones_m2", "outside_zones_pct"} <= set(gdf.columns)
    assert gdf.nearby.iloc[0] == rows[0]["nearby"]


def test_only_the_current_version_counts(qsession) -> None:
    """A layer without a current version (never loaded, or not yet at ``as_of``) is named nowhere."""
    tt = location(**TT_CIRCUIT)
    assert TRZ in {(z.layer, z.feature_id) for z in zones_at(qsession, tt).nearby}
    qsession.execute(text("UPDATE layers SET current_version_id = NULL WHERE slug = 'trz'"))
    try:
        assert TRZ not in {(z.layer, z.feature_id) for z in zones_at(qsession, tt).nearby}
    finally:
        qsession.rollback()
    assert TRZ in {(z.layer, z.feature_id) for z in zones_at(qsession, tt).nearby}
