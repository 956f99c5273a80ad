"""Heat: cell values, coverage-weighted zonal statistics against exactextract, hotspots, the zone table."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from exactextract import exact_extract
from sqlalchemy import text

from service.core.settings import PROJECT_ROOT
from service.questions.heat import coverage_fractions, heat_at, heat_of_feature, heat_overlap, heat_zones
from service.spatial.geo import location, parse_geojson

RASTER = PROJECT_ROOT / "layers" / "raster" / "hitte-eiland.tif"


def reference(geom: shapely.Geometry, threshold: float) -> dict[str, float]:
    """exactextract on the same polygon and raster file."""
    import geopandas as gpd

    gdf = gpd.GeoDataFrame(geometry=[geom], crs="EPSG:28992")
    r = exact_extract(str(RASTER), gdf, ["mean", "max", "coverage", "values"], output="pandas")
    cov, vals = np.asarray(r["coverage"].iloc[0]), np.asarray(r["values"].iloc[0])
    return {
        "mean": float(r["mean"].iloc[0]),
        "max": float(r["max"].iloc[0]),
        "share": float(cov[vals >= threshold].sum() / cov.sum()),
        "area": float(cov.sum() * 100.0),
    }


def test_coverage_fractions_exact() -> None:
    t = Affine(10, 0, 0, 0, -10, 100)  # 10 x 10 cells of 10 m, origin (0, 100)
    half = shapely.box(0, 95, 10, 100)  # upper half of cell (0, 0)
    tri = shapely.Polygon([(20, 100), (40, 100), (20, 80)])  # a right triangle over 4 cells
    frac = coverage_fractions([half, tri], t, (10, 10))
    assert frac[0, 0] == pytest.approx(0.5)
    assert frac[0, 2] == pytest.approx(1.0) and frac[1, 2] == pytest.approx(0.5) and frac[0, 3] == pytest.approx(0.5)
    assert frac.sum() * 100 == pytest.approx(half.area + tri.area)
    # Disjoint parts of one polygon add up to its area exactly.
    poly = shapely.Point(50, 50).buffer(33, quad_segs=32)
    parts = [poly.intersection(shapely.box(0, 0, 50, 100)), poly.intersection(shapely.box(50, 0, 100, 100))]
    assert coverage_fractions(parts, t, (10, 10)).sum() * 100 == pytest.approx(poly.area, rel=1e-9)


def test_heat_at_is_the_cell_value(qsession) -> None:
    loc = location(lat=53.0, lon=6.569)
    a = heat_at(qsession, loc)
    with rasterio.open(RASTER) as src:
        expected = float(next(src.sample([(loc.rd.x, loc.rd.y)]))[0])
    assert a.value_c == pytest.approx(expected, abs=1e-3)
    assert a.has_data and a.above_threshold is (expected >= 1.5)
    assert a.raster.unit == "°C" and "zomer" in a.raster.meaning and a.raster.version == 1


def test_heat_at_outside_the_raster_has_no_data(qsession) -> None:
    a = heat_at(qsession, location(lat=52.0, lon=5.0))  # Utrecht: inside RD, outside the raster
    assert a.value_c is None and a.has_data is False and a.above_threshold is None


@pytest.mark.parametrize(
    "wgs84",
    [
        [[6.565, 52.998], [6.575, 52.998], [6.575, 53.004], [6.565, 53.004], [6.565, 52.998]],  # Havenkwartier-ish
        [[6.55, 52.985], [6.5612, 52.9851], [6.5573, 52.9913], [6.55, 52.985]],  # a skew triangle
    ],
)
def test_polygon_overlap_matches_exactextract(qsession, wgs84) -> None:
    geom = parse_geojson({"type": "Polygon", "coordinates": [wgs84]}).geom
    for threshold in (1.5, 2.5):
        stats = heat_overlap(qsession, geom, threshold_c=threshold)
        ref = reference(geom, threshold)
        assert stats.mean_c == pytest.approx(ref["mean"], abs=1e-3)
        assert stats.max_c == pytest.approx(ref["max"], abs=1e-3)
        assert stats.share_above == pytest.approx(ref["share"], abs=0.005)
        assert stats.area_with_data_m2 == pytest.approx(ref["area"], rel=1e-5)
        assert stats.area_m2 == pytest.approx(geom.area, abs=0.01)


def test_large_polygon_is_subdivided_and_still_exact(qsession) -> None:
    # ~2,000 vertices: a wobbly ring around the centre of Assen.
    ang = np.linspace(0, 2 * np.pi, 2000, endpoint=False)
    r = 900 + 60 * np.sin(ang * 37)
    ring = np.column_stack([234000 + r * np.cos(ang), 557000 + r * np.sin(ang)])
    geom = shapely.Polygon(ring)
    stats = heat_overlap(qsession, geom)
    ref = reference(geom, 1.5)
    assert stats.mean_c == pytest.approx(ref["mean"], abs=1e-3)
    assert stats.share_above == pytest.approx(ref["share"], abs=0.005)


def test_zone_overlap_and_hotspots(qsession) -> None:
    import geopandas as gpd

    hk = heat_of_feature(qsession, layer="havenkwartier", feature_id="havenkwartier")
    geom = gpd.read_file(PROJECT_ROOT / "layers" / "vector" / "havenkwartier.gpkg").geometry.iloc[0]
    ref = reference(geom, 1.5)
    assert hk.mean_c == pytest.approx(ref["mean"], abs=1e-3) and hk.mean_c > 2.0
    assert hk.hotspot_overlap_m2 == pytest.approx(hk.area_above_m2, abs=1.0) and hk.hotspot_threshold_c == 1.5
    # Independently: intersect the zone with the hotspot polygons made at load time, in PostGIS.
    direct = qsession.execute(
        text(
            "SELECT sum(ST_Area(ST_Intersection(h.geom, f.geom))) FROM heat_hotspots h, features f "
            "JOIN layers l ON l.current_version_id = f.version_id AND l.slug = 'havenkwartier' "
            "WHERE h.version_id = (SELECT current_version_id FROM layers WHERE slug = 'hitte-eiland') "
            "AND ST_Intersects(h.geom, f.geom)"
        )
    ).scalar_one()
    assert hk.hotspot_overlap_m2 == pytest.approx(direct, abs=1.0)
    other = heat_of_feature(qsession, layer="havenkwartier", feature_id="havenkwartier", threshold_c=2.5)
    assert other.hotspot_overlap_m2 == hk.hotspot_overlap_m2  # the hotspots keep their own threshold
    assert other.area_above_m2 < hk.area_above_m2


def test_heat_zones_table(qsession) -> None:
    rows = heat_zones(qsession)
    means = [r.mean_c for r in rows if r.mean_c is not None]
    assert means == sorted(means, reverse=True)
    assert rows[0].layer == "havenkwartier"
    witterveld = next(r for r in rows if r.name == "Witterveld")
    assert witterveld.mean_c is not None and witterveld.mean_c < 0.3
    fochtelo = next(r for r in rows if r.name == "Fochteloërveen")
    assert fochtelo.mean_c is None and fochtelo.area_with_data_m2 == 0.0  # outside the raster: no data, said so
    assert {r.layer for r in rows} >= {"binnenstad", "trz", "natura2000", "bedrijventerreinen", "testgebied"}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_coverage_fractions_cell_by_cell_against_shapely(seed: int) -> None:
    """Every cell against shapely's exact intersection area: holes, multipolygons, parts outside the grid."""
    rng = np.random.default_rng(seed)
    t = Affine(10, 0, 1000, 0, -10, 2000)  # 20 x 20 cells, x 1000..1200, y 1800..2000
    ang = np.sort(rng.uniform(0, 2 * np.pi, 40))
    rad = rng.uniform(40, 130, 40)
    star = shapely.Polygon(np.column_stack([1100 + rad * np.cos(ang), 1900 + rad * np.sin(ang)])).buffer(0)
    hole = shapely.Point(1100 + rng.uniform(-10, 10), 1900).buffer(25)
    geom = (
        shapely.MultiPolygon([star.difference(hole), shapely.box(1203, 1810, 1290, 1830)])
        if seed == 3
        else (star.difference(hole))
    )
    frac = coverage_fractions([geom], t, (20, 20))
    for r in range(20):
        for c in range(20):
            cell = shapely.box(1000 + c * 10, 2000 - (r + 1) * 10, 1000 + (c + 1) * 10, 2000 - r * 10)
            assert frac[r, c] == pytest.approx(cell.intersection(geom).area / 100.0, abs=1e-9), (r, c)
