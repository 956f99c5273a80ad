"""GIS staff load files as new versions: dry run, formats, PDOK field mapping, history, rollback, safety."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from service.api.app import create_app
from service.cli.main import app
from service.core.errors import InvalidInput, LayerLoadError, NotFound
from service.core.settings import PROJECT_ROOT, Settings, get_settings
from service.loading.versions import DiffReport, activate, load_file
from service.questions.zones import natura2000_distance, zones_at
from service.spatial.geo import location
from service.store.database import make_engine, make_sessionmaker
from tests.conftest import DATA, defaults_database


# 100 m outside our Witterveld, inside PDOK's (200 m larger): the answer must change with the version.
@pytest.fixture(scope="module")
def vsettings(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    with defaults_database(server_url, tmp_path_factory.mktemp("vdata"), "gebiedscheck_test_v") as settings:
        yield settings


@pytest.fixture(scope="module")
def vengine(vsettings: Settings):
    eng = make_engine(vsettings)
    yield eng
    eng.dispose()


def versions(engine, slug: str) -> list[tuple[int, str]]:
    with engine.connect() as c:
        return [
            tuple(r)
            for r in c.execute(
                text(
                    "SELECT v.number, v.status FROM layer_versions v JOIN layers l ON l.id = v.layer_id "
                    "WHERE l.slug = :s ORDER BY v.number"
                ),
                {"s": slug},
            )
        ]


def point_outside_witterveld(engine, number: int = 1) -> tuple[float, float]:
    """A point 100 m outside our Witterveld (version ``number`` of the layer; RD)."""
    with engine.connect() as c:
        x, y = c.execute(
            text(
                "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(ST_Difference(ST_Buffer(f.geom, 110), "
                "ST_Buffer(f.geom, 90))) p FROM features f JOIN layer_versions v ON v.id = f.version_id "
                "JOIN layers l ON l.id = v.layer_id WHERE l.slug = 'natura2000' AND v.number = :n "
                "AND f.name = 'Witterveld') s"
            ),
            {"n": number},
        ).one()
    return float(x), float(y)


def test_dry_run_reports_and_changes_nothing(vsettings, vengine) -> None:
    before = versions(vengine, "natura2000")
    with make_sessionmaker(vengine)() as s, s.begin():
        report = load_file(s, DATA / "pdok_natura2000.gpkg", slug="natura2000", dry_run=True, settings=vsettings)
    assert isinstance(report, DiffReport)
    assert report.feature_count == 3 and report.current_version == 1
    assert report.changed == ["witterveld"] and report.added == [] and report.removed == [] and report.unchanged == 2
    assert report.area_change_m2 > 100 * 10_000  # a 200 m wider Witterveld: well over 100 ha more
    assert versions(vengine, "natura2000") == before


def test_official_pdok_load_then_rollback(vsettings, vengine) -> None:
    x, y = point_outside_witterveld(vengine)
    loc = location(x=x, y=y, crs="EPSG:28992")
    Session = make_sessionmaker(vengine)
    with Session() as s:
        before = natura2000_distance(s, loc, settings=vsettings)
    assert not before.inside and 80 < before.distance_m < 120 and before.source.label == "indicatief"
    with Session() as s, s.begin():
        result = load_file(
            s,
            DATA / "pdok_natura2000.gpkg",
            slug="natura2000",
            official=True,
            provenance="officieel — PDOK Natura 2000 (test)",
            note="PDOK",
            settings=vsettings,
        )
    assert (result.status, result.version, result.feature_count) == ("created", 2, 3)
    with Session() as s:
        after = natura2000_distance(s, loc, settings=vsettings)
        sites = dict(
            s.execute(
                text(
                    "SELECT f.name, (f.properties->>'site_number')::int FROM features f JOIN layers l "
                    "ON l.current_version_id = f.version_id WHERE l.slug = 'natura2000'"
                )
            ).all()
        )
    assert after.inside and after.distance_m == 0 and after.source.version == 2
    assert after.source.label == "officieel" and after.source.provenance.startswith("officieel — PDOK")
    assert sites == {"Witterveld": 24, "Drentsche Aa-gebied": 25, "Fochteloërveen": 23}  # naamN2K, nr mapped
    assert versions(vengine, "natura2000") == [(1, "superseded"), (2, "current")]
    with Session() as s, s.begin():
        activate(s, "natura2000", 1)
    with Session() as s:
        back = natura2000_distance(s, loc, settings=vsettings)
    assert back.model_dump(exclude={"source"}) == before.model_dump(exclude={"source"})
    assert back.source.label == "indicatief" and back.source.version == 1
    assert versions(vengine, "natura2000") == [(1, "current"), (2, "superseded")]


def test_geojson_wgs84_new_version_moves_the_answer(vsettings, vengine) -> None:
    # A point only in our Havenkwartier, and one only in the new one (300 m further east).
    with vengine.connect() as c:
        wx, wy, ex, ey = c.execute(
            text(
                "SELECT ST_X(a), ST_Y(a), ST_X(b), ST_Y(b) FROM (SELECT "
                "ST_PointOnSurface(ST_Difference(f.geom, ST_Translate(f.geom, 300, 0))) AS a, "
                "ST_PointOnSurface(ST_Difference(ST_Translate(f.geom, 300, 0), f.geom)) AS b "
                "FROM features f JOIN layers l ON l.current_version_id = f.version_id "
                "WHERE l.slug = 'havenkwartier') s"
            )
        ).one()
    west, east = location(x=wx, y=wy, crs="EPSG:28992"), location(x=ex, y=ey, crs="EPSG:28992")
    Session = make_sessionmaker(vengine)
    with Session() as s:
        assert "havenkwartier" in {z.layer for z in zones_at(s, west).zones}
        assert "havenkwartier" not in {z.layer for z in zones_at(s, east).zones}
    meta = "SELECT title, policy_section, policy_summary, properties->>'expected_area_ha' FROM layers WHERE slug = :s"
    with vengine.connect() as c:
        before = c.execute(text(meta), {"s": "havenkwartier"}).one()
    with Session() as s, s.begin():
        load_file(s, DATA / "havenkwartier_oost.geojson", slug="havenkwartier", settings=vsettings)
    with Session() as s:
        assert "havenkwartier" not in {z.layer for z in zones_at(s, west).zones}
        assert "havenkwartier" in {z.layer for z in zones_at(s, east).zones}
    # A new version leaves the layer's own description alone (it used to lose expected_area_ha and unit).
    with vengine.connect() as c:
        assert c.execute(text(meta), {"s": "havenkwartier"}).one() == before
    assert before[3] == "40.0"


def test_zipped_shapefile_new_layer_and_crs_rules(vsettings, vengine) -> None:
    Session = make_sessionmaker(vengine)
    with pytest.raises(LayerLoadError, match="never guessed"), Session() as s, s.begin():
        load_file(
            s,
            DATA / "proefgebied_zonder_crs.zip",
            slug="proef",
            create=True,
            title="Proef",
            name_field="naam",
            settings=vsettings,
        )
    with pytest.raises(InvalidInput, match="needs --title"), Session() as s, s.begin():
        load_file(s, DATA / "proefgebied.zip", slug="proef", create=True, name_field="naam", settings=vsettings)
    with Session() as s, s.begin():
        r = load_file(
            s,
            DATA / "proefgebied_zonder_crs.zip",
            slug="proef",
            create=True,
            title="Proefgebied",
            name_field="naam",
            crs="EPSG:28992",
            settings=vsettings,
        )
    assert (r.version, r.feature_count) == (1, 1)
    with Session() as s:
        answer = zones_at(s, location(x=234000, y=557000, crs="EPSG:28992"))
    assert "proef" in {z.layer for z in answer.zones}
    with pytest.raises(NotFound, match="does not exist"), Session() as s, s.begin():
        load_file(s, DATA / "proefgebied.zip", slug="bestaat-niet", name_field="naam", settings=vsettings)


@pytest.mark.parametrize(
    ("file", "message"),
    [
        ("evil.zip", "absolute path or '..'"),
        ("not_a_layer.gpkg", "the name says GeoPackage, but the content is text"),
        ("bowtie.gpkg", "Self-intersection"),
        ("points.gpkg", "not a polygon"),
        ("missing.geojson", "file not found"),
    ],
)
def test_bad_files_change_nothing(vsettings, vengine, file: str, message: str) -> None:
    before = versions(vengine, "binnenstad")
    with pytest.raises(LayerLoadError, match=message), make_sessionmaker(vengine)() as s, s.begin():
        load_file(s, DATA / file, slug="binnenstad", settings=vsettings)
    assert versions(vengine, "binnenstad") == before


def test_history_api_and_cli(vsettings, monkeypatch) -> None:
    with TestClient(create_app(vsettings)) as c:
        r = c.get("/layers/natura2000/versions")
        assert r.status_code == 200
        hist = r.json()
        assert [v["number"] for v in hist] == [2, 1] and hist[0]["note"] == "PDOK"
        assert c.get("/layers/bestaat-niet/versions").status_code == 404
    monkeypatch.setenv("DATABASE_URL", str(vsettings.database_url))
    monkeypatch.setenv("GEBIEDSCHECK_DATA_DIR", str(vsettings.data_dir))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        r = runner.invoke(
            app, ["layers", "load", str(DATA / "pdok_natura2000.gpkg"), "--layer", "natura2000", "--dry-run", "--json"]
        )
        assert r.exit_code == 0, r.output
        assert json.loads(r.stdout)["current_version"] == 1
        r = runner.invoke(app, ["layers", "activate", "natura2000", "2"])
        assert r.exit_code == 0 and "versie 2" in r.output
        r = runner.invoke(app, ["layers", "history", "natura2000", "--json"])
        assert [v["status"] for v in json.loads(r.stdout)] == ["current", "superseded"]
        r = runner.invoke(app, ["layers", "load", str(DATA / "evil.zip"), "--layer", "binnenstad"])
        assert r.exit_code == 1 and "De database is niet gewijzigd" in r.output
        r = runner.invoke(app, ["layers", "activate", "natura2000", "9"])
        assert r.exit_code == 1 and "no version 9" in r.output
    finally:
        get_settings.cache_clear()


def test_stop_gio_gml_is_cited(vsettings, vengine) -> None:
    expression = "/join/id/regdata/gm0106/2025/23cfc5881b0347258af6b8807ce76be1/nld@2026-01-05;12452657"
    Session = make_sessionmaker(vengine)
    with Session() as s, s.begin():
        r = load_file(s, DATA / "gio_havenkwartier.gml", slug="havenkwartier", settings=vsettings)
    assert r.status == "created" and r.feature_count == 1
    with vengine.connect() as c:
        x, y, ident = c.execute(
            text(
                "SELECT ST_X(ST_PointOnSurface(f.geom)), ST_Y(ST_PointOnSurface(f.geom)), v.source_identifier "
                "FROM features f JOIN layers l ON l.current_version_id = f.version_id "
                "JOIN layer_versions v ON v.id = f.version_id WHERE l.slug = 'havenkwartier'"
            )
        ).one()
    assert ident == expression
    with Session() as s:
        zone = next(z for z in zones_at(s, location(x=x, y=y, crs="EPSG:28992")).zones if z.layer == "havenkwartier")
    assert zone.source.source_identifier == expression and zone.source.label == "officieel"
    assert zone.source.source_name == "gio_havenkwartier.gml"


def test_gio_with_doctype_is_refused(vsettings, vengine) -> None:
    before = versions(vengine, "havenkwartier")
    with pytest.raises(LayerLoadError, match="DOCTYPE"), make_sessionmaker(vengine)() as s, s.begin():
        load_file(s, DATA / "gio_doctype.gml", slug="havenkwartier", settings=vsettings)
    assert versions(vengine, "havenkwartier") == before


def test_geotiff_reprojected_new_raster_version_and_rollback(vsettings, vengine) -> None:
    import rasterio

    from service.questions.heat import heat_at, heat_of_feature

    loc = location(lat=53.0, lon=6.569)
    Session = make_sessionmaker(vengine)
    with Session() as s:
        before = heat_at(s, loc, settings=vsettings).value_c
    assert before > 2
    with pytest.raises(LayerLoadError, match="never guessed"), Session() as s, s.begin():
        load_file(s, DATA / "uhi_zonder_crs.tif", slug="hitte-eiland", settings=vsettings)
    with pytest.raises(InvalidInput, match="vector layer"), Session() as s, s.begin():
        load_file(s, DATA / "uhi_wgs84.tif", slug="binnenstad", settings=vsettings)
    with Session() as s, s.begin():
        r = load_file(
            s,
            DATA / "uhi_wgs84.tif",
            slug="hitte-eiland",
            official=True,
            provenance="officieel — test-UHI",
            settings=vsettings,
        )
    assert (r.kind, r.version, r.source_name) == ("raster", 2, "uhi_wgs84.tif")
    with Session() as s:
        after = heat_at(s, loc, settings=vsettings)
        hk = heat_of_feature(s, layer="havenkwartier", feature_id="havenkwartier", settings=vsettings)
        path = s.execute(
            text(
                "SELECT v.raster_path FROM layers l JOIN layer_versions v ON v.id = l.current_version_id "
                "WHERE l.slug = 'hitte-eiland'"
            )
        ).scalar_one()
    assert after.value_c == pytest.approx(0.5, abs=1e-3) and after.raster.version == 2
    assert after.raster.label == "officieel"
    assert hk.hotspot_overlap_m2 == 0.0 and hk.share_above == 0.0  # hotspots rebuilt for the new version
    with rasterio.open(path) as src:
        assert src.crs.to_epsg() == 28992 and src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
    with Session() as s, s.begin():
        activate(s, "hitte-eiland", 1)
    with Session() as s:
        assert heat_at(s, loc, settings=vsettings).value_c == pytest.approx(before)


def test_concurrent_loads_take_turns(vsettings, vengine) -> None:
    import threading

    from service.loading.versions import NewLayer, create_layer

    Session = make_sessionmaker(vengine)
    with Session() as s, s.begin():
        create_layer(s, NewLayer(slug="gelijktijdig", title="Gelijktijdig", provenance="indicatief — test"))
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def load(file: str, field: str | None) -> None:
        try:
            barrier.wait()
            with Session() as s, s.begin():
                load_file(s, DATA / file, slug="gelijktijdig", name_field=field, settings=vsettings)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=load, args=a) for a in (("two_squares.gpkg", None), ("proefgebied.zip", "naam"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert versions(vengine, "gelijktijdig") == [(1, "superseded"), (2, "current")]
    with vengine.connect() as c:
        current = c.execute(
            text(
                "SELECT count(*) FROM layers WHERE slug = 'gelijktijdig' AND current_version_id = "
                "(SELECT v.id FROM layer_versions v JOIN layers l ON l.id = v.layer_id "
                "WHERE l.slug = 'gelijktijdig' AND v.number = 2)"
            )
        ).scalar_one()
    assert current == 1


KILLED = """
import sys, time
from pathlib import Path
from service.store.database import make_engine, make_sessionmaker
from service.core.settings import Settings
from service.loading.versions import load_file
settings = Settings(_env_file=None, database_url=sys.argv[1], data_dir=Path(sys.argv[2]))
session = make_sessionmaker(make_engine(settings))()
load_file(session, Path(sys.argv[3]), slug="binnenstad", settings=settings)  # written, not committed
session.flush()
print("written", flush=True)
time.sleep(60)
"""


def test_a_load_killed_halfway_leaves_nothing(vsettings, vengine) -> None:
    import signal
    import subprocess
    import sys

    before = versions(vengine, "binnenstad")
    with vengine.connect() as c:
        features_before = c.execute(text("SELECT count(*) FROM features")).scalar_one()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            KILLED,
            str(vsettings.database_url),
            str(vsettings.data_dir),
            str(DATA / "havenkwartier_oost.geojson"),
        ],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "written"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    import time

    for _ in range(50):  # the server notices the dead client and rolls its transaction back
        with vengine.connect() as c:
            busy = c.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND state LIKE 'idle in transaction%'"
                )
            ).scalar_one()
        if not busy:
            break
        time.sleep(0.1)
    assert versions(vengine, "binnenstad") == before
    with vengine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM features")).scalar_one() == features_before


def test_as_of_answers_with_the_versions_current_then(vsettings, vengine) -> None:
    from datetime import date, timedelta

    x, y = point_outside_witterveld(vengine)
    Session = make_sessionmaker(vengine)
    # Version 1 became current "last week": move its activation back so the day is unambiguous.
    with vengine.begin() as c:
        c.execute(
            text(
                "UPDATE version_activations SET at = now() - interval '7 days' WHERE version_id IN "
                "(SELECT v.id FROM layer_versions v JOIN layers l ON l.id = v.layer_id "
                "WHERE l.slug = 'natura2000' AND v.number = 1)"
            )
        )
    with Session() as s, s.begin():
        activate(s, "natura2000", 2)  # the PDOK version (Witterveld 200 m larger) is current from today
    today, last_week = date.today(), date.today() - timedelta(days=3)
    with TestClient(create_app(vsettings)) as c:
        now = c.get(f"/natura2000/distance?x={x}&y={y}&crs=EPSG:28992").json()
        then = c.get(f"/natura2000/distance?x={x}&y={y}&crs=EPSG:28992&as_of={last_week}").json()
        again = c.get(f"/natura2000/distance?x={x}&y={y}&crs=EPSG:28992&as_of={today}").json()
        after = c.get(f"/natura2000/distance?x={x}&y={y}&crs=EPSG:28992").json()  # no leak between requests
        future = c.get(f"/natura2000/distance?x={x}&y={y}&crs=EPSG:28992&as_of={today + timedelta(days=2)}")
        bad = c.get(f"/natura2000/distance?x={x}&y={y}&crs=EPSG:28992&as_of=gisteren")
        before_all = c.get("/zones/at?lat=53.0&lon=6.569&as_of=2000-01-01")
        ogc_before = c.get("/collections/havenkwartier/items?as_of=2000-01-01")  # datetime is the Part 1 filter
    assert before_all.status_code == 422 and "before the first layer version" in before_all.json()["detail"]
    assert ogc_before.status_code == 422
    assert now["inside"] is True and now["source"]["version"] == 2
    assert then["inside"] is False and then["source"]["version"] == 1 and then["distance_m"] > 80
    assert again["source"]["version"] == 2 and after == now
    assert future.status_code == 422 and "future" in future.json()["detail"]
    assert bad.status_code == 422 and "as_of" in bad.json()["detail"]


def test_repair_records_each_area_change(vsettings, vengine) -> None:
    from service.loading.versions import NewLayer, create_layer

    Session = make_sessionmaker(vengine)
    with Session() as s, s.begin():
        create_layer(s, NewLayer(slug="hersteld", title="Hersteld", category="referentie", provenance="test"))
    with pytest.raises(LayerLoadError, match="--repair"), Session() as s, s.begin():
        load_file(s, DATA / "bowtie.gpkg", slug="hersteld", settings=vsettings)
    with Session() as s, s.begin():
        dry = load_file(s, DATA / "bowtie.gpkg", slug="hersteld", repair=True, dry_run=True, settings=vsettings)
    assert [r["feature"] for r in dry.repairs] == ["Vlinderdas"] and "Self-intersection" in dry.repairs[0]["reason"]
    with Session() as s, s.begin():
        r = load_file(s, DATA / "bowtie.gpkg", slug="hersteld", repair=True, settings=vsettings)
    assert r.version == 1 and r.feature_count == 2
    rep = r.repairs[0]
    assert rep["area_before_m2"] == pytest.approx(0.0) and rep["area_after_m2"] == pytest.approx(20_000.0)
    with vengine.connect() as c:
        stored = c.execute(
            text(
                "SELECT v.metadata->'repairs' FROM layer_versions v JOIN layers l ON l.id = v.layer_id "
                "WHERE l.slug = 'hersteld'"
            )
        ).scalar_one()
    assert stored[0]["feature"] == "Vlinderdas"
