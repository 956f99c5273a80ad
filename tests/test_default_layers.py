"""The default layers: counts, sizes, validity, placement, provenance and idempotent reloads."""

from __future__ import annotations

import pytest
from pyproj import Transformer
from sqlalchemy import text
from sqlalchemy.orm import Session

from service.core.settings import PROJECT_ROOT
from service.loading.manifest import read_manifest
from service.loading.pipeline import load_defaults
from service.store.database import session_scope

MANIFEST = read_manifest(PROJECT_ROOT / "layers")
VECTOR = [layer for layer in MANIFEST.layers if layer.kind == "vector"]
TO_RD = Transformer.from_crs("EPSG:4326", "EPSG:28992", always_xy=True)

CURRENT = """
SELECT f.* FROM features f JOIN layers l ON l.current_version_id = f.version_id WHERE l.slug = :slug
"""


def rd(lat: float, lon: float) -> str:
    x, y = TO_RD.transform(lon, lat)
    return f"ST_SetSRID(ST_MakePoint({x:.1f}, {y:.1f}), 28992)"


# Public places named in the Omgevingsvisie (approximate WGS84).
STATION = rd(52.9922, 6.5697)
KOOPMANSPLEIN = rd(52.9961, 6.5607)
WILHELMINA_ZIEKENHUIS = rd(52.9800, 6.5830)
GGZ_DRENTHE = rd(52.9760, 6.5790)
BAGGELHUIZERPLAS = rd(52.9720, 6.5400)
TT_CIRCUIT = rd(52.9600, 6.5230)
CITY_CENTRE = rd(52.9940, 6.5620)


def scalar(session: Session, sql: str, **params: object) -> object:
    return session.execute(text(sql), params).scalar_one()


def test_every_manifest_layer_loaded(loaded, session: Session) -> None:
    slugs = {r.slug for r in loaded}
    assert slugs == {layer.slug for layer in MANIFEST.layers}
    assert "hitte-eiland" in slugs
    assert all(r.version == 1 for r in loaded)


@pytest.mark.parametrize("spec", VECTOR, ids=lambda s: s.slug)
def test_feature_count_and_area(spec, session: Session) -> None:
    n, area = session.execute(
        text(f"SELECT count(*), sum(ST_Area(geom)) FROM ({CURRENT}) f"), {"slug": spec.slug}
    ).one()
    assert n == spec.expected_features
    assert area / 10_000 == pytest.approx(spec.expected_area_ha, rel=0.25)


@pytest.mark.parametrize("spec", VECTOR, ids=lambda s: s.slug)
def test_geometries_valid_rd_and_in_area(spec, session: Session) -> None:
    rows = session.execute(
        text(
            f"""
            SELECT f.name, ST_IsValid(f.geom), ST_SRID(f.geom), GeometryType(f.geom),
                   ST_CoveredBy(f.geom, ST_Buffer(g.geom, 50)) AS in_municipality,
                   ST_Intersects(f.geom, g.geom) AS touches_municipality,
                   ST_Distance(f.geom, g.geom) AS distance
            FROM ({CURRENT}) f, ({CURRENT.replace(":slug", "'gemeentegrens'")}) g
            """
        ),
        {"slug": spec.slug},
    ).all()
    assert rows
    for name, valid, srid, gtype, inside, touches, distance in rows:
        assert valid and srid == 28992 and gtype == "MULTIPOLYGON", name
        if spec.slug != "natura2000":
            assert inside, f"{spec.slug}/{name} lies outside the municipality"
        elif name == "Fochteloërveen":
            assert not touches and distance < 20_000  # outside Assen, but with impact (§3.8)
        else:
            assert touches, f"{name} should lie (partly) in the municipality (§3.8)"


def test_municipality_size(session: Session) -> None:
    area = scalar(session, f"SELECT ST_Area(geom) FROM ({CURRENT}) f", slug="gemeentegrens")
    assert area / 1e6 == pytest.approx(83, rel=0.15)  # Assen: about 83 km²


def test_natura2000_sites(session: Session) -> None:
    rows = session.execute(
        text(f"SELECT name, (properties->>'site_number')::int, ST_Area(geom) FROM ({CURRENT}) f ORDER BY 2"),
        {"slug": "natura2000"},
    ).all()
    assert [(r[0], r[1]) for r in rows] == [("Fochteloërveen", 23), ("Witterveld", 24), ("Drentsche Aa-gebied", 25)]
    witterveld = next(r[2] for r in rows if r[0] == "Witterveld")
    assert witterveld / 10_000 == pytest.approx(481, rel=0.15)


def test_placement(session: Session) -> None:
    def where(slug: str, expr: str) -> object:
        return scalar(session, f"SELECT bool_and({expr}) FROM ({CURRENT}) f", slug=slug)

    def dist(slug: str, point: str) -> float:
        return float(scalar(session, f"SELECT min(ST_Distance(geom, {point})) FROM ({CURRENT}) f", slug=slug))

    # TRZ: western edge, includes the Baggelhuizerplas, directly next to the TT circuit (§4.4.5).
    assert where("trz", f"ST_Contains(geom, {BAGGELHUIZERPLAS})")
    assert where("trz", f"NOT ST_Contains(geom, {TT_CIRCUIT})")
    assert dist("trz", TT_CIRCUIT) < 1_000
    # Havenkwartier: next to the centre and close to the station (§4.4.2).
    assert dist("havenkwartier", STATION) < 800
    assert dist("havenkwartier", KOOPMANSPLEIN) < 1_000
    # Zuidoost Assen: from the station to Schepersmaat/Mandemaat, with the hospitals (§4.4.7).
    assert dist("zuidoost-assen", STATION) < 300
    assert where("zuidoost-assen", f"ST_Contains(geom, {WILHELMINA_ZIEKENHUIS}) AND ST_Contains(geom, {GGZ_DRENTHE})")
    # Publiekshart: at the Koopmansplein, inside the binnenstad (§4.2.2).
    assert dist("publiekshart", KOOPMANSPLEIN) < 100
    assert scalar(
        session,
        f"""SELECT ST_CoveredBy(p.geom, ST_Buffer(b.geom, 10))
        FROM ({CURRENT}) p, ({CURRENT.replace(":slug", "'binnenstad'")}) b""",
        slug="publiekshart",
    )
    # Werklandschap Assen-Zuid: about 55 ha, south of the centre (§4.4.8).
    area = scalar(session, f"SELECT sum(ST_Area(geom)) FROM ({CURRENT}) f", slug="werklandschap-assen-zuid")
    assert float(area) / 10_000 == pytest.approx(55, rel=0.10)
    assert where("werklandschap-assen-zuid", f"ST_Y(ST_Centroid(geom)) < ST_Y({CITY_CENTRE}) - 2000")
    # Witterveld south-west of the city, the Drentsche Aa east of it (§3.8).
    wx, wy = session.execute(
        text(f"SELECT ST_X(ST_Centroid(geom)), ST_Y(ST_Centroid(geom)) FROM ({CURRENT}) f WHERE name = 'Witterveld'"),
        {"slug": "natura2000"},
    ).one()
    cx, cy = session.execute(text(f"SELECT ST_X({CITY_CENTRE}), ST_Y({CITY_CENTRE})")).one()
    assert wx < cx - 3000 and wy < cy - 1000
    ax = scalar(
        session,
        f"SELECT ST_X(ST_Centroid(geom)) FROM ({CURRENT}) f WHERE name = 'Drentsche Aa-gebied'",
        slug="natura2000",
    )
    assert float(ax) > cx + 2000


def test_every_feature_carries_provenance(session: Session) -> None:
    rows = session.execute(
        text("SELECT l.slug, f.name, f.properties FROM features f JOIN layers l ON l.current_version_id = f.version_id")
    ).all()
    assert len(rows) >= 20
    for slug, name, props in rows:
        assert props["provenance"].startswith("indicatief — handmatig gedigitaliseerd"), (slug, name)
        assert props["indicatief"] is True
        assert props["omgevingsvisie_in_werking"] == "2026-02-26"
    havenkwartier = next(p for s, _, p in rows if s == "havenkwartier")
    assert havenkwartier["gio"] == "/join/id/regdata/gm0106/2025/23cfc5881b0347258af6b8807ce76be1"
    assert havenkwartier["gio_expression"].endswith("/nld@2026-01-05;12452657")


def test_policy_text_cites_a_section(session: Session) -> None:
    rows = session.execute(
        text(
            "SELECT slug, policy_section, policy_summary FROM layers WHERE category IN ('omgevingsvisie', 'natura2000')"
        )
    ).all()
    assert len(rows) >= 12
    for slug, section, summary in rows:
        assert section and section.startswith("§"), slug
        assert summary and len(summary) > 80, slug


def test_reload_is_idempotent(engine, settings, loaded) -> None:
    with engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM layer_versions")).scalar_one()
    with session_scope(engine) as session:
        again = load_defaults(session, settings=settings)
    assert {r.status for r in again} == {"unchanged"}
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM layer_versions")).scalar_one() == before
