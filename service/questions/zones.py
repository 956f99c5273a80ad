"""Which zones lie at a location, which lie near it, and how far the nearest Natura 2000 area is.

Answers come from PostGIS in EPSG:28992 metres, from each layer's *current* version, and say which
layer version and source they used and whether it is indicative.

:data:`CONTEXT_SQL` is the one definition of the zones *near* a location, of nested zones and of the part of a
plan in no zone: one set-based statement over ``(i, geom)`` rows, for the single questions (one row) and the
batch (``batch_input``, all rows at once) alike, so both give the same answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import shapely
from pydantic import BaseModel, Field
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from service.core.errors import NotFound
from service.core.schemas import NestedZone, Policy, ZoneRef
from service.core.settings import Settings, get_settings
from service.spatial.geo import XY, Location, rd_to_wgs84
from service.store.current import VERSIONS_IN_FORCE, SourceRef, require_version, source_ref
from service.store.generic import large_store, one_generic

NATURA2000 = "natura2000"
MUNICIPALITY = "gemeentegrens"
# Layers a location can be "in" as a zone: the Omgevingsvisie areas and Natura 2000 (not reference layers).
ZONE_CATEGORIES = ("omgevingsvisie", "natura2000")


class Zone(BaseModel):
    layer: str
    layer_title: str
    feature_id: str
    name: str
    policy: Policy
    accuracy_m: float | None = None
    source: SourceRef


class NearbyZone(BaseModel):
    """A zone near the location or plan that it does not lie in (or overlap)."""

    layer: str
    layer_title: str
    feature_id: str
    name: str
    distance_m: float = Field(
        description="Distance in metres, rounded to 1 m, from the point (or from the plan polygon's edge) to the "
        "zone; the zone itself is not touched (distance greater than 0 before rounding)"
    )
    policy: Policy


NEARBY_DESCRIPTION = (
    "Zones of the Omgevingsvisie and Natura 2000 layers within `nearby_distance_m` of the location (or plan) "
    "that it does not lie in or overlap, nearest first. A zone listed under `zones` is never listed here."
)


class ZonesAnswer(BaseModel):
    location: Location
    in_municipality: bool | None = Field(description="Inside the (indicative) boundary of the municipality of Assen")
    zones: list[Zone]
    nearby: list[NearbyZone] = Field(description=NEARBY_DESCRIPTION)
    nearby_distance_m: float = Field(description="The distance within which zones count as nearby (m)")
    note: str = "A point on a zone boundary counts as inside; a point in a hole of a zone is outside."


class NearestSite(BaseModel):
    feature_id: str
    name: str
    site_number: int | None


class Band(BaseModel):
    label: str
    max_m: float | None = Field(description="Upper edge of the band (inclusive); None beyond the last band")


class Natura2000Answer(BaseModel):
    location: Location
    distance_m: float = Field(description="Distance to the nearest Natura 2000 polygon edge in metres; 0 inside")
    inside: bool
    nearest: NearestSite
    nearest_point: Location
    band: Band
    bands_m: list[float]
    note: str = (
        "Indicatief: afstand tot de (indicatieve) begrenzing van het dichtstbijzijnde Natura 2000-gebied. "
        "Dit is geen AERIUS-berekening van stikstofdepositie."
    )
    source: SourceRef


def point_sql(loc: Location) -> tuple[str, dict[str, float]]:
    return "ST_SetSRID(ST_MakePoint(:px, :py), 28992)", {"px": loc.rd.x, "py": loc.rd.y}


def zones_at(session: Session, loc: Location, *, settings: Settings | None = None) -> ZonesAnswer:
    """Every zone (current version of each Omgevingsvisie or Natura 2000 layer) that contains the point, and
    the zones within ``settings.nearby_distance_m`` that do not (:data:`CONTEXT_SQL`), in one statement
    (:data:`ZONES_AT_SQL`: the viewer's hottest question, one round trip).

    Uses ST_Intersects, so a point on a boundary counts as inside, and a point in a hole is outside.
    """
    settings = settings or get_settings()
    distance = nearby_distance(settings)
    params = {
        "px": loc.rd.x,
        "py": loc.rd.y,
        "nearby_m": distance,
        "categories": list(ZONE_CATEGORIES),
        "municipality": MUNICIPALITY,
    }
    if large_store(session, from_rows=settings.generic_plan_from_rows):  # a national layer: service.store.generic
        r = one_generic(session, ZONES_AT_SQL, params)
    else:
        r = session.execute(ZONES_AT_SQL, params).one()
    zones = [
        Zone(
            layer=slug,
            layer_title=title,
            feature_id=fid,
            name=name,
            policy=Policy(section=section, summary=summary),
            accuracy_m=accuracy,
            source=source_ref(dict(zip(SOURCE_COLUMNS, (slug, *source), strict=True))),
        )
        for slug, title, fid, name, section, summary, accuracy, *source in r.zones or []
    ]
    layers = {slug: (v[0], v[1], v[2]) for slug, v in (r.layer_info or {}).items()}
    return ZonesAnswer(
        location=loc,
        in_municipality=r.in_municipality,
        zones=zones,
        nearby=context_of(r, layers).nearby,
        nearby_distance_m=distance,
    )


def band_for(distance_m: float, bands_m: list[float], inside: bool) -> Band:
    """The band a distance falls in; upper edges are inclusive (exactly 500 m is 'tot en met 500 m')."""
    if inside:
        return Band(label="in een Natura 2000-gebied", max_m=0.0)
    lower = 0.0
    for edge in sorted(bands_m):
        if distance_m <= edge:
            return Band(label=f"{_fmt(lower)} – {_fmt(edge)}" if lower else f"tot en met {_fmt(edge)}", max_m=edge)
        lower = edge
    return Band(label=f"verder dan {_fmt(lower)}", max_m=None)


def _fmt(m: float) -> str:
    return f"{m / 1000:g} km" if m >= 1000 else f"{m:g} m"


NEAREST_SQL = """
SELECT p.feature_id, ST_Distance(p.geom, pt.g) AS d, ST_X(ST_ClosestPoint(p.geom, pt.g)) AS cx,
       ST_Y(ST_ClosestPoint(p.geom, pt.g)) AS cy
FROM feature_parts p, (SELECT {pt} AS g) pt
WHERE p.version_id = CAST(:version_id AS integer)  -- the column's type: the GiST (geom, version_id) index
ORDER BY p.geom <-> pt.g
LIMIT 1
"""


def natura2000_distance(
    session: Session, loc: Location, *, geom: BaseGeometry | None = None, settings: Settings | None = None
) -> Natura2000Answer:
    """Exact distance to the nearest Natura 2000 polygon edge (0 inside), via KNN on subdivided parts.

    ``loc`` is the point asked about; with ``geom`` (an RD geometry, e.g. an initiative's polygon) the
    distance is measured from that geometry instead.
    """
    settings = settings or get_settings()
    version = require_version(session, NATURA2000)
    if geom is None:
        pt, params = point_sql(loc)
    else:
        pt, params = "ST_GeomFromWKB(:wkb, 28992)", {"wkb": shapely.to_wkb(geom)}
    row = session.execute(text(NEAREST_SQL.format(pt=pt)), {**params, "version_id": version.version_id}).first()
    if row is None:
        raise NotFound("the Natura 2000 layer has no features")
    feature = session.execute(
        text("SELECT fid, name, properties->>'site_number' FROM features WHERE id = :id"), {"id": row.feature_id}
    ).one()
    distance = float(row.d)
    inside = distance == 0.0
    if inside and geom is None:
        nearest_point = loc
    else:
        nearest_point = Location(
            wgs84=rd_to_wgs84(row.cx, row.cy), rd=XY(x=round(row.cx, 3), y=round(row.cy, 3)), crs_in="EPSG:28992"
        )
    site = feature[2]
    return Natura2000Answer(
        location=loc,
        distance_m=round(distance, 3),
        inside=inside,
        nearest=NearestSite(feature_id=feature[0], name=feature[1], site_number=int(site) if site else None),
        nearest_point=nearest_point,
        band=band_for(distance, settings.natura2000_bands_m, inside),
        bands_m=sorted(settings.natura2000_bands_m),
        source=version.source(),
    )


# --- Zones near a location, nested zones, and the part of a plan in no zone: one definition for every door ---

CONTEXT_SQL = """
WITH zl AS (
    SELECT vf.slug, vf.version_id AS vid
    FROM gc_versions_in_force vf WHERE vf.kind = 'vector' AND vf.category = ANY(:categories)
),
parts AS (
    SELECT s.i, p.feature_id, p.geom AS part, s.geom AS g,
           ST_Distance(p.geom, s.geom) AS d, ST_Intersects(p.geom, s.geom) AS hit
    FROM {source} s
    JOIN feature_parts p ON ST_DWithin(p.geom, s.geom, :nearby_m)
    JOIN zl ON zl.vid = p.version_id
),
feats AS (
    SELECT pa.i, pa.feature_id, min(pa.d) AS d, bool_or(pa.hit) AS hit FROM parts pa GROUP BY pa.i, pa.feature_id
),
near AS (
    SELECT fe.i, jsonb_agg(jsonb_build_array(zl.slug, f.fid, f.name, round(fe.d)) ORDER BY fe.d, zl.slug, f.fid)
           AS nearby
    FROM feats fe JOIN features f ON f.id = fe.feature_id JOIN zl ON zl.vid = f.version_id
    WHERE NOT fe.hit
    GROUP BY fe.i
),
hits AS (SELECT fe.i, fe.feature_id FROM feats fe WHERE fe.hit),
nests AS MATERIALIZED (  -- once per pair of zones, not once per plan
    SELECT pr.inner_id, pr.outer_id
    FROM (SELECT DISTINCT a.feature_id AS inner_id, b.feature_id AS outer_id
          FROM hits a JOIN hits b ON b.i = a.i AND b.feature_id <> a.feature_id) pr
    JOIN features fa ON fa.id = pr.inner_id JOIN features fb ON fb.id = pr.outer_id
    WHERE ST_CoveredBy(fa.geom, fb.geom)
),
nested AS (
    SELECT a.i, jsonb_agg(jsonb_build_array(la.slug, fa.fid, fa.name, lb.slug, fb.fid, fb.name)
                          ORDER BY la.slug, fa.fid, lb.slug, fb.fid) AS nested
    FROM hits a JOIN hits b ON b.i = a.i
    JOIN nests n ON n.inner_id = a.feature_id AND n.outer_id = b.feature_id
    JOIN features fa ON fa.id = a.feature_id JOIN zl la ON la.vid = fa.version_id
    JOIN features fb ON fb.id = b.feature_id JOIN zl lb ON lb.vid = fb.version_id
    GROUP BY a.i
),
cover AS (
    SELECT pa.i, ST_UnaryUnion(ST_Collect(ST_CollectionExtract(ST_Intersection(pa.part, pa.g), 3))) AS u
    FROM parts pa WHERE pa.hit AND ST_Dimension(pa.g) = 2
    GROUP BY pa.i
)
SELECT s.i, n.nearby, x.nested,
       CASE WHEN ST_Dimension(s.geom) = 2 THEN ST_Area(s.geom) END AS area,
       CASE WHEN ST_Dimension(s.geom) = 2 THEN
         ST_Area(CASE WHEN c.u IS NULL THEN s.geom ELSE ST_Difference(s.geom, c.u) END) END AS outside
FROM {source} s
LEFT JOIN near n ON n.i = s.i
LEFT JOIN nested x ON x.i = s.i
LEFT JOIN cover c ON c.i = s.i
"""


ZONES_AT_SQL = text(
    f"""
WITH vif AS MATERIALIZED (SELECT * FROM {VERSIONS_IN_FORCE}),
hit AS MATERIALIZED (  -- one index scan for the point, over every version; then only the versions in force
    SELECT f.version_id, f.fid, f.name FROM features f
    WHERE ST_Intersects(f.geom, ST_SetSRID(ST_MakePoint(:px, :py), 28992))
),
at AS (
    SELECT vf.slug, vf.title, vf.category, vf.policy_section, vf.policy_summary, vf.accuracy_m,
           vf.provenance, vf.indicative, vf.number, vf.source_name, vf.source_identifier, h.fid, h.name
    FROM hit h JOIN vif vf ON vf.version_id = h.version_id
    WHERE vf.kind = 'vector'
)
SELECT ctx.nearby, ctx.nested, ctx.area, ctx.outside,
       CASE WHEN ctx.nearby IS NOT NULL THEN (
           SELECT jsonb_object_agg(l.slug, jsonb_build_array(l.title, l.policy_section, l.policy_summary))
           FROM vif l WHERE l.category = ANY(:categories)) END AS layer_info,
       CASE WHEN (SELECT vif.version_id IS NOT NULL FROM vif WHERE vif.slug = :municipality)
            THEN EXISTS (SELECT 1 FROM at WHERE at.slug = :municipality) END AS in_municipality,
       (SELECT jsonb_agg(jsonb_build_array(z.slug, z.title, z.fid, z.name, z.policy_section, z.policy_summary,
                                           z.accuracy_m, z.number, z.source_name, z.source_identifier,
                                           z.indicative, z.provenance)
                         ORDER BY z.category = 'natura2000', z.slug, z.name)
        FROM at z WHERE z.category = ANY(:categories)) AS zones
FROM ({CONTEXT_SQL.format(source="(SELECT 0 AS i, ST_SetSRID(ST_MakePoint(:px, :py), 28992) AS geom)")}) ctx
"""
)
""":func:`zones_at` in one statement and one row: :data:`CONTEXT_SQL` for the point (its zones nearby), the titles
and policy of the zone layers (only when a zone is nearby), whether the point lies in the municipality (NULL while
its boundary is not loaded) and the zones of :data:`ZONE_CATEGORIES` at the point in answer order (``zones``: JSON
arrays, few columns: building a result's column metadata costs more than its values)."""
# The order of the source columns at the end of each of ``zones``' arrays (for :func:`source_ref`).
SOURCE_COLUMNS = ("slug", "number", "source_name", "source_identifier", "indicative", "provenance")


class ZoneContext(BaseModel):
    """What :data:`CONTEXT_SQL` says about one location or plan."""

    nearby: list[NearbyZone] = []
    nested: list[NestedZone] = []
    outside_zones_m2: float | None = None
    outside_zones_pct: float | None = None


def nearby_distance(settings: Settings | None = None) -> float:
    """The distance within which zones count as nearby (0 for a negative or NaN setting: none are nearby)."""
    d = float((settings or get_settings()).nearby_distance_m)
    return d if d > 0 else 0.0


@dataclass(frozen=True)
class ContextRows:
    """The rows of :data:`CONTEXT_SQL` by ``i``, and the titles and policy of the zone layers they name."""

    rows: dict[int, Any]
    layers: dict[str, tuple[str, str | None, str | None]]


def zone_context_rows(session: Session, source: str, params: dict[str, Any], distance_m: float) -> ContextRows:
    """:data:`CONTEXT_SQL` for every row of ``source`` in one set-based statement. ``source`` is a relation of
    ``(i integer, geom geometry)`` in EPSG:28992, a constant of ours: a table, or a subquery of bound values.

    Nearby: zones of the Omgevingsvisie and Natura 2000 layers (current version, ``as_of`` honoured) whose
    subdivided parts lie within ``distance_m`` (ST_DWithin on the GiST index of ``feature_parts``) and which
    the geometry does not intersect; the distance is the minimum over the zone's parts, rounded to 1 m.
    Nested: pairs of zones the geometry intersects where one covers the other entirely. Outside: the area of
    a polygon not covered by the union of the zones it intersects. (Layer titles and policy: once, not per row.)
    """
    categories = list(ZONE_CATEGORIES)
    bound = {**params, "nearby_m": distance_m, "categories": categories}
    rows = session.execute(text(CONTEXT_SQL.format(source=source)), bound).all()
    layers: Sequence[Any] = []
    if any(r.nearby for r in rows):
        layers = session.execute(
            text("SELECT slug, title, policy_section, policy_summary FROM layers WHERE category = ANY(:categories)"),
            {"categories": categories},
        ).all()
    return ContextRows(rows={int(r.i): r for r in rows}, layers={r[0]: (r[1], r[2], r[3]) for r in layers})


def zone_context(session: Session, source: str, params: dict[str, Any], distance_m: float) -> dict[int, ZoneContext]:
    """:func:`zone_context_rows`, read into :class:`ZoneContext` models."""
    ctx = zone_context_rows(session, source, params, distance_m)
    return {i: context_of(r, ctx.layers) for i, r in ctx.rows.items()}


def outside_share(area: float | None, outside: float | None) -> tuple[float | None, float | None]:
    """``(outside_zones_m2, outside_zones_pct)`` from a polygon's area and its part in no zone (None, None for a
    point): clamped to the area, rounded to 0.01."""
    if area is None or outside is None:
        return None, None
    area = float(area)
    out = min(max(float(outside), 0.0), area)
    return round(out, 2), (round(100.0 * out / area, 2) if area > 0 else 0.0)


def context_of(r: Any, layers: dict[str, tuple[str, str | None, str | None]]) -> ZoneContext:
    """One row of :data:`CONTEXT_SQL` as a :class:`ZoneContext` (``layers``: :attr:`ContextRows.layers`)."""
    nearby = [
        NearbyZone(
            layer=slug,
            layer_title=layers[slug][0],
            feature_id=fid,
            name=name,
            distance_m=float(d),
            policy=Policy(section=layers[slug][1], summary=layers[slug][2]),
        )
        for slug, fid, name, d in r.nearby or []
    ]
    nested: dict[tuple[str, str], NestedZone] = {}
    for layer, fid, name, out_layer, out_fid, out_name in r.nested or []:
        zone = nested.setdefault((layer, fid), NestedZone(layer=layer, feature_id=fid, name=name, nested_in=[]))
        zone.nested_in.append(ZoneRef(layer=out_layer, feature_id=out_fid, name=out_name))
    m2, pct = outside_share(r.area, r.outside)
    return ZoneContext(nearby=nearby, nested=list(nested.values()), outside_zones_m2=m2, outside_zones_pct=pct)
