"""Batch quickscan: API and CLI, files in and out, consistent with the single check."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from shapely.affinity import rotate, scale
from shapely.geometry import MultiPolygon, Point, box
from sqlalchemy import text
from typer.testing import CliRunner

from service.cli.main import app
from service.core.settings import Settings
from service.loading.versions import load_file
from service.questions.batch import _load_temp, batch_frame, check_batch
from service.questions.batchheat import batch_heat
from service.questions.batchinput import copy_binary
from service.questions.heat import current_raster, heat_at, polygon_stats
from service.spatial.geo import ParsedGeometry, location
from service.store.database import make_engine, make_sessionmaker
from service.store.timetravel import set_as_of
from tests.conftest import DATA, defaults_database

runner = CliRunner()
POINTS = [("Havenkade", 53.0000, 6.5690), ("Baggelhuizerplas", 52.9720, 6.5400), ("Witterveld", 52.9600, 6.4870)]


def fc() -> dict:
    feats = [
        {
            "type": "Feature",
            "properties": {"name": n, "id": i},
            "geometry": {"type": "Point", "coordinates": [lon, lat]},
        }
        for i, (n, lat, lon) in enumerate(POINTS)
    ]
    feats.append(
        {
            "type": "Feature",
            "properties": {"name": "Vlak"},
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[6.535, 52.970], [6.545, 52.970], [6.545, 52.975], [6.535, 52.975], [6.535, 52.970]]],
            },
        }
    )
    return {"type": "FeatureCollection", "features": feats}


def test_batch_matches_single_checks(qclient) -> None:
    r = qclient.post("/check/batch", json=fc())
    assert r.status_code == 200, r.text
    rows = r.json()["rows"]
    assert [row["name"] for row in rows] == ["Havenkade", "Baggelhuizerplas", "Witterveld", "Vlak"]
    for row, feat in zip(rows, fc()["features"], strict=True):
        single = qclient.post("/check", json=feat).json()
        assert set(row["zones"]) == {f"{z['layer']}/{z['feature_id']}" for z in single["zones"]}
        assert row["natura2000_distance_m"] == pytest.approx(single["natura2000"]["distance_m"], abs=1e-3)
        assert row["natura2000_name"] == single["natura2000"]["nearest"]["name"]
        assert row["nearby"] == single["nearby"]
        assert (row["outside_zones_m2"], row["outside_zones_pct"]) == (
            single["outside_zones_m2"],
            single["outside_zones_pct"],
        )
        heat = single["heat"].get("value_c", single["heat"].get("mean_c"))
        assert row["heat_c"] == pytest.approx(heat, abs=1e-3)
        # The same warnings, in the batch's order (one code per kind; the single check names each zone).
        codes = [w["code"] for w in single["warnings"]]
        assert row["warnings"] == sorted(set(codes), key=codes.index)
        assert row["in_municipality"] == single["in_municipality"]
        assert row["natura2000_band"] == single["natura2000"]["band"]["label"]
    assert "in_natura2000" in rows[2]["warnings"]
    assert rows[0]["heat_c"] > 2 and rows[0]["heat_share_above"] == 1.0


def test_batch_names_the_bad_feature(qclient) -> None:
    body = fc()
    body["features"][2]["geometry"]["coordinates"] = [52.96, 6.487]
    r = qclient.post("/check/batch", json=body)
    assert r.status_code == 422 and r.json()["detail"].startswith("feature 3: ")


def test_cli_csv_to_gpkg_and_csv(cli_env, tmp_path) -> None:
    src = tmp_path / "punten.csv"
    src.write_text("naam;lat;lon\n" + "".join(f"{n};{lat};{lon}\n".replace(".", ",") for n, lat, lon in POINTS))
    out = tmp_path / "uit.gpkg"
    r = runner.invoke(app, ["check", str(src), "--uit", str(out)])
    assert r.exit_code == 0, r.output
    gdf = gpd.read_file(out)
    assert len(gdf) == 3 and gdf.crs.to_epsg() == 28992
    assert "havenkwartier/havenkwartier" in gdf.zones.iloc[0]
    assert gdf.natura2000_name.iloc[2] == "Witterveld" and gdf.natura2000_distance_m.iloc[2] == 0.0
    out_csv = tmp_path / "uit.csv"
    assert runner.invoke(app, ["check", str(src), "--uit", str(out_csv)]).exit_code == 0
    rows = list(csv.DictReader(out_csv.open()))
    assert [r["name"] for r in rows] == ["Havenkade", "Baggelhuizerplas", "Witterveld"]
    assert float(rows[0]["lat"]) == pytest.approx(53.0, abs=1e-6)


def test_cli_geojson_single_and_json(cli_env, tmp_path) -> None:
    one = tmp_path / "een.geojson"
    one.write_text(json.dumps({"type": "FeatureCollection", "features": [fc()["features"][3]]}))
    r = runner.invoke(app, ["check", str(one)])
    assert r.exit_code == 0, r.output
    assert "Quickscan: Vlak" in r.output and "Toeristisch" in r.output
    r = runner.invoke(app, ["check", str(one), "--json"])
    assert json.loads(r.stdout)["zones"][0]["layer"] == "trz"


def test_cli_bad_csv_row(cli_env, tmp_path) -> None:
    src = tmp_path / "fout.csv"
    src.write_text("naam,lat,lon\nGoed,52.99,6.56\nOmgedraaid,6.56,52.99\n")
    r = runner.invoke(app, ["check", str(src)])
    assert r.exit_code == 1
    assert "line 3" in r.output and "swap lat and lon" in r.output


def test_cli_questions(cli_env) -> None:
    r = runner.invoke(app, ["zones-at", "--lat", "53.0", "--lon", "6.569", "--json"])
    assert r.exit_code == 0, r.output
    assert {z["layer"] for z in json.loads(r.stdout)["zones"]} >= {"havenkwartier", "bedrijventerreinen"}
    r = runner.invoke(app, ["zones-at", "--lat", "53.0", "--lon", "6.569"])
    assert r.exit_code == 0 and "Havenkwartier" in r.output and "binnen de gemeente Assen" in r.output
    r = runner.invoke(app, ["natura2000", "--x", "233000", "--y", "557000", "--crs", "EPSG:28992"])
    assert r.exit_code == 0 and "Dichtstbijzijnde Natura 2000-gebied" in r.output
    r = runner.invoke(app, ["heat", "--lat", "53.0", "--lon", "6.569", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["value_c"] > 2
    r = runner.invoke(app, ["heat", "--laag", "havenkwartier", "--gebied", "havenkwartier"])
    assert r.exit_code == 0 and "Havenkwartier: gemiddeld 2," in r.output
    r = runner.invoke(app, ["heat", "--gebieden", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)[0]["layer"] == "havenkwartier"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["zones-at", "--lat", "6.56", "--lon", "52.99"], "swap lat and lon"),
        (["natura2000", "--lat", "nan", "--lon", "6.5"], "finite"),
        (["heat", "--laag", "bestaat-niet", "--gebied", "x"], "does not exist"),
        (["heat", "--laag", "havenkwartier"], "geef zowel --laag als --gebied"),
    ],
)
def test_cli_bad_input(cli_env, args, message: str) -> None:
    r = runner.invoke(app, args)
    assert r.exit_code == 1
    assert "Fout:" in r.output and message in r.output.replace("\n", " ")


# --- The fast batch (issue 15): the same answers as the single questions, by construction and by test ------------


def _rd(geom) -> ParsedGeometry:
    return ParsedGeometry(
        geom=geom, crs_in="EPSG:28992", properties={}, vertex_count=int(shapely.get_num_coordinates(geom))
    )


def test_batch_heat_equals_the_single_check_exactly(qsession, qsettings) -> None:
    """The vectorised polygons give the very numbers of polygon_stats (same window, same sums): holes, two parts,
    a polygon partly and one wholly off the raster, a large one, rotated ellipses; points the cell of heat_at."""
    row, ref = current_raster(qsession, settings=qsettings)
    qsession.rollback()
    rnd = np.random.default_rng(11)
    ring = Point(234000, 557000).buffer(300).difference(Point(234000, 557000).buffer(100))
    geoms = [
        ring,
        MultiPolygon([box(230000, 555000, 230100, 555070), box(230500, 555000, 230533, 555033)]),
        box(100, 100, 200, 200),  # off the raster
        Point(232000, 556000).buffer(2500, 64),
        Point(235000, 558000),
        Point(1, 1),  # off the raster
    ]
    with rasterio.open(row.raster_path) as src:
        left, bottom, right, top = src.bounds
    geoms.append(box(left + 3650, bottom - 50, left + 3725, bottom + 45))  # partly off the raster (with data)
    for _ in range(150):  # inside the raster's extent (see test_heat_of_a_polygon_just_off_the_raster)
        c = Point(rnd.uniform(left + 500, right - 500), rnd.uniform(bottom + 500, top - 500))
        geoms.append(rotate(scale(c.buffer(rnd.uniform(5, 400), 16), 1, rnd.uniform(0.2, 1)), rnd.uniform(0, 180)))
    xs, ys = rnd.uniform(left - 300, right + 100, 100), rnd.uniform(bottom - 300, top + 100, 100)
    geoms += [
        box(x, y, x + w, y + h)
        for x, y, w, h in zip(xs, ys, rnd.uniform(5, 200, 100), rnd.uniform(5, 200, 100), strict=True)
    ]
    values, shares = batch_heat(row.raster_path, geoms, 1.5)
    checked = 0
    for g, v, s in zip(geoms, values, shares, strict=True):
        if g.geom_type == "Point":
            continue
        stats = polygon_stats(row.raster_path, [g], area_m2=g.area, threshold_c=1.5, ref=ref)
        assert (None if np.isnan(v) else v) == stats.mean_c, g.wkt[:80]
        assert (None if np.isnan(s) else s) == stats.share_above, g.wkt[:80]
        checked += stats.mean_c is not None
    assert checked >= 150 and np.isnan(values[2]) and not np.isnan(values[6])
    heat = heat_at(qsession, location(x=235000, y=558000, crs="EPSG:28992"), settings=qsettings)
    assert values[4] == heat.value_c and shares[4] == float(heat.above_threshold) and np.isnan(values[5])


def test_heat_of_a_polygon_just_off_the_raster(qsession, qsettings) -> None:
    """A polygon left of the raster whose window is the raster's first column covers no cell: no heat (NaN)."""
    row, _ref = current_raster(qsession, settings=qsettings)
    qsession.rollback()
    with rasterio.open(row.raster_path) as src:
        left, bottom = src.bounds.left, src.bounds.bottom
    off = box(left - 200, bottom + 3000, left - 0.5, bottom + 3600)
    values, shares = batch_heat(row.raster_path, [off, box(234900, 557900, 235100, 558100)], 1.5)
    assert np.isnan(values[0]) and np.isnan(shares[0]) and not np.isnan(values[1])
    assert np.isnan(batch_heat(row.raster_path, [off], 1.5)[0][0])  # alone in its chunk: no piece at all


def test_single_check_heat_of_a_polygon_just_off_the_raster(qsession, qsettings) -> None:
    row, ref = current_raster(qsession, settings=qsettings)
    qsession.rollback()
    with rasterio.open(row.raster_path) as src:
        left, bottom = src.bounds.left, src.bounds.bottom
    off = box(left - 200, bottom + 3000, left - 0.5, bottom + 3600)
    assert polygon_stats(row.raster_path, [off], area_m2=off.area, threshold_c=1.5, ref=ref).mean_c is None


def test_load_temp_binary_copy_keeps_every_geometry(qsession) -> None:
    """The numpy-built binary COPY: every geometry arrives exactly, numbered from 0, in RD."""
    geoms = [Point(230000.125, 555000.5), box(230000, 555000, 230010, 555020), Point(1, 2).buffer(3)]
    geoms.append(MultiPolygon([box(0, 0, 1, 1), box(2, 2, 3, 3)]))
    _load_temp(qsession, geoms)
    rows = qsession.execute(text("SELECT i, ST_SRID(geom), ST_AsBinary(geom) FROM batch_input ORDER BY i")).all()
    qsession.rollback()
    assert [r[0] for r in rows] == [0, 1, 2, 3] and {r[1] for r in rows} == {28992}
    assert all(shapely.from_wkb(bytes(r[2])).equals_exact(g, 0) for r, g in zip(rows, geoms, strict=True))
    assert copy_binary([]).startswith(b"PGCOPY\n\xff\r\n\x00")


def test_batch_frame_equals_the_pydantic_rows(qsession) -> None:
    """The frame (plain tuples, warnings and municipality looked up per case) says what the pydantic rows say, row by
    row, for random points and plans all over the municipality and beyond its boundary."""
    rnd = np.random.default_rng(12)
    xs, ys = rnd.uniform(224000, 244000, 400), rnd.uniform(548000, 566000, 400)
    geoms = [Point(x, y) for x, y in zip(xs[:250], ys[:250], strict=True)]
    geoms += [box(x, y, x + w, y + w) for x, y, w in zip(xs[250:], ys[250:], rnd.uniform(10, 800, 150), strict=True)]
    items = [_rd(g) for g in geoms]
    frame, _used = batch_frame(qsession, items)
    qsession.rollback()
    report = check_batch(qsession, items)
    qsession.rollback()
    seen = set()
    for rec, row in zip(frame.to_dict("records"), report.rows, strict=True):
        assert [z for z in rec["zones"].split(";") if z] == row.zones
        assert [w for w in rec["warnings"].split(";") if w] == row.warnings
        assert rec["in_municipality"] == row.in_municipality
        assert rec["nearby"] == "; ".join(f"{z.name} ({z.distance_m:.0f} m)" for z in row.nearby)
        assert bool(rec["nested"]) == bool(row.nested)
        assert _nan_none(rec["outside_zones_m2"]) == row.outside_zones_m2
        assert _nan_none(rec["heat_c"]) == row.heat_c and rec["geometry_type"] == row.geometry_type
        seen.update(row.warnings)
        seen.add(f"muni={row.in_municipality}")
    assert {"crosses_boundary", "near_edge", "outside_municipality", "in_natura2000", "muni=True"} <= seen


def _nan_none(v: Any) -> Any:
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else v


@pytest.fixture(scope="module")
def bsettings(server_url, tmp_path_factory) -> Iterator[Settings]:
    with defaults_database(server_url, tmp_path_factory.mktemp("bdata"), "gebiedscheck_test_b") as settings:
        yield settings


def test_batch_frame_answers_as_of(bsettings) -> None:
    """The fast batch resolves the versions in force in the store on every call: with ``as_of`` last week it answers
    with Natura 2000 version 1, today with version 2 (the PDOK layer, Witterveld 200 m larger)."""
    from datetime import date, timedelta

    engine = make_engine(bsettings)
    Session = make_sessionmaker(engine)
    try:
        with engine.connect() as c:
            x, y = c.execute(
                text(
                    "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(ST_Difference(ST_Buffer(f.geom, 110), "
                    "ST_Buffer(f.geom, 90))) p FROM features f JOIN gc_versions_in_force vf ON vf.version_id = "
                    "f.version_id WHERE vf.slug = 'natura2000' AND f.name = 'Witterveld') s"
                )
            ).one()
        with Session() as s, s.begin():
            load_file(s, DATA / "pdok_natura2000.gpkg", slug="natura2000", official=True, settings=bsettings)
            s.execute(
                text(
                    "UPDATE version_activations SET at = now() - interval '7 days' WHERE version_id NOT IN (SELECT "
                    "v.id FROM layer_versions v JOIN layers l ON l.id = v.layer_id WHERE l.slug = 'natura2000' "
                    "AND v.number = 2)"  # every other version (heat raster, zones) was in force last week too
                )
            )
        items = [_rd(Point(x, y)), _rd(box(x - 5, y - 5, x + 5, y + 5))]
        with Session() as s:
            now, used_now = batch_frame(s, items, settings=bsettings)
            s.rollback()
            set_as_of(s, date.today() - timedelta(days=3))
            then, used_then = batch_frame(s, items, settings=bsettings)
            s.rollback()
    finally:
        engine.dispose()
    assert used_now["natura2000_version"] == 2 and used_then["natura2000_version"] == 1
    assert list(now["natura2000_distance_m"]) == [0.0, 0.0] and all("in_natura2000" in w for w in now["warnings"])
    assert all(80 < d < 120 for d in then["natura2000_distance_m"])
    assert not any("in_natura2000" in w for w in then["warnings"])
    assert all("natura2000/" in z for z in now["zones"]) and not any("natura2000/" in z for z in then["zones"])
