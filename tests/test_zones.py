"""Zones at a location and Natura 2000 distances, against shapely on the same geometry files."""

from __future__ import annotations

import random

import geopandas as gpd
import pytest
import shapely
from sqlalchemy import text

from service.core.settings import PROJECT_ROOT
from service.loading.manifest import read_manifest
from service.loading.vectorload import slugify
from service.questions.zones import NEAREST_SQL, natura2000_distance, zones_at
from service.spatial.geo import location
from tests.conftest import DATA

MANIFEST = read_manifest(PROJECT_ROOT / "layers")
ZONE_LAYERS = [la for la in MANIFEST.layers if la.kind == "vector" and la.category in ("omgevingsvisie", "natura2000")]


def reference_zones() -> list[tuple[str, str, shapely.Geometry]]:
    out = []
    for spec in ZONE_LAYERS:
        gdf = gpd.read_file(PROJECT_ROOT / "layers" / spec.file)
        out += [(spec.slug, slugify(r.name), r.geometry) for r in gdf.itertuples()]
    gdf = gpd.read_file(DATA / "testgebied.gpkg")
    out += [("testgebied", slugify(r.name), r.geometry) for r in gdf.itertuples()]
    return out


def random_points(n: int, seed: int) -> list[tuple[float, float]]:
    rnd = random.Random(seed)
    return [(rnd.uniform(227_000, 240_000), rnd.uniform(551_000, 563_000)) for _ in range(n)]


def test_zones_match_shapely(qsession) -> None:
    ref = reference_zones()
    hits_seen = 0
    for x, y in random_points(300, seed=1):
        p = shapely.Point(x, y)
        expected = {(slug, fid) for slug, fid, g in ref if g.intersects(p)}
        answer = zones_at(qsession, location(x=x, y=y, crs="EPSG:28992"))
        assert {(z.layer, z.feature_id) for z in answer.zones} == expected, (x, y)
        hits_seen += bool(expected)
    assert hits_seen > 40  # the sample really exercises the zones


@pytest.mark.parametrize(
    ("x", "y", "inside", "why"),
    [
        (236000, 560200, True, "on the outer edge"),
        (236400, 560400, True, "on a corner"),
        (236200, 560200, False, "in the hole"),
        (236100, 560200, True, "on the hole's edge"),
        (237100, 560100, True, "in the multipolygon's second part"),
        (236700, 560100, False, "between the parts"),
    ],
)
def test_boundary_cases(qsession, x: float, y: float, inside: bool, why: str) -> None:
    answer = zones_at(qsession, location(x=x, y=y, crs="EPSG:28992"))
    assert any(z.layer == "testgebied" for z in answer.zones) is inside, why


def test_answer_names_its_sources(qsession) -> None:
    answer = zones_at(qsession, location(lat=53.0, lon=6.569))
    hk = next(z for z in answer.zones if z.layer == "havenkwartier")
    assert hk.source.version == 1 and hk.source.label == "indicatief"
    assert hk.source.source_name == "havenkwartier.gpkg"
    assert hk.policy.section == "§4.4.2" and "ja, mits" in (hk.policy.summary or "").lower()
    assert answer.in_municipality is True
    assert answer.location.rd.x == pytest.approx(234337.0, abs=1)


def test_natura2000_distance_matches_shapely(qsession) -> None:
    gdf = gpd.read_file(PROJECT_ROOT / "layers" / "vector" / "natura2000.gpkg")
    union = shapely.union_all(gdf.geometry.values)
    for x, y in random_points(150, seed=2):
        p = shapely.Point(x, y)
        a = natura2000_distance(qsession, location(x=x, y=y, crs="EPSG:28992"))
        assert a.distance_m == pytest.approx(union.distance(p), abs=1e-3)
        assert a.inside is union.intersects(p)
        nearest = gdf.geometry.values[gdf.distance(p).argmin()]
        assert a.nearest.name == gdf.name.values[gdf.distance(p).argmin()]
        if not a.inside:
            q = shapely.Point(a.nearest_point.rd.x, a.nearest_point.rd.y)
            assert nearest.boundary.distance(q) < 1e-2
            assert q.distance(p) == pytest.approx(a.distance_m, abs=1e-2)


def test_natura2000_inside_and_site_number(qsession) -> None:
    a = natura2000_distance(qsession, location(lat=52.9600, lon=6.4870))
    assert a.inside and a.distance_m == 0.0
    assert (a.nearest.name, a.nearest.site_number) == ("Witterveld", 24)
    assert a.band.label == "in een Natura 2000-gebied"
    assert "AERIUS" in a.note and a.source.label == "indicatief"


def test_natura2000_query_uses_the_index(qengine) -> None:
    with qengine.connect() as conn:
        v = conn.execute(text("SELECT current_version_id FROM layers WHERE slug = 'natura2000'")).scalar_one()
        plan = "\n".join(
            r[0]
            for r in conn.execute(
                text("EXPLAIN " + NEAREST_SQL.format(pt="ST_SetSRID(ST_MakePoint(:px, :py), 28992)")),
                {"px": 233000.0, "py": 557000.0, "version_id": v},
            )
        )
    # The version is part of the GiST search (migration 0009): with a national layer loaded, the nearest part of
    # another layer's version is never walked through (it was a Filter on feature_parts_geom_gist: 8.5 s).
    assert "Index Scan using feature_parts_geom_version_gist" in plan
    assert "Index Cond: (version_id =" in plan and "Filter" not in plan
