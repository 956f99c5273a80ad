"""Batch quickscan: API and CLI, files in and out, consistent with the single check."""

from __future__ import annotations

import csv
import json

import geopandas as gpd
import pytest
from typer.testing import CliRunner

from service.cli.main import app

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
