"""Which zones lie at a location, and how far the nearest Natura 2000 area is.

Answers come from PostGIS in EPSG:28992 metres, from each layer's *current* version, and say which
layer version and source they used and whether it is indicative.
"""

from __future__ import annotations

from typing import Any

import shapely
from pydantic import BaseModel, Field
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from service.errors import NotFound
from service.geo import XY, Location, rd_to_wgs84
from service.schemas import Policy
from service.settings import Settings, get_settings

NATURA2000 = "natura2000"
MUNICIPALITY = "gemeentegrens"
# Layers a location can be "in" as a zone: the Omgevingsvisie areas and Natura 2000 (not reference layers).
ZONE_CATEGORIES = ("omgevingsvisie", "natura2000")


class SourceRef(BaseModel):
    """What an answer used: the layer, its version and source, and whether it is indicative."""

    layer: str
    version: int
    source_name: str
    source_identifier: str | None = None
    label: str = Field(description="'indicatief' or 'officieel'")
    provenance: str


class Zone(BaseModel):
    layer: str
    layer_title: str
    feature_id: str
    name: str
    policy: Policy
    accuracy_m: float | None = None
    source: SourceRef


class ZonesAnswer(BaseModel):
    location: Location
    in_municipality: bool | None = Field(description="Inside the (indicative) boundary of the municipality of Assen")
    zones: list[Zone]
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


def _source(row: Any) -> SourceRef:
    m = row._mapping
    return SourceRef(
        layer=m["slug"],
        version=m["number"],
        source_name=m["source_name"],
        source_identifier=m["source_identifier"],
        label="indicatief" if m["indicative"] else "officieel",
        provenance=m["provenance"],
    )


def point_sql(loc: Location) -> tuple[str, dict[str, float]]:
    return "ST_SetSRID(ST_MakePoint(:px, :py), 28992)", {"px": loc.rd.x, "py": loc.rd.y}


def zones_at(session: Session, loc: Location) -> ZonesAnswer:
    """Every zone (current version of each Omgevingsvisie or Natura 2000 layer) that contains the point.

    Uses ST_Intersects, so a point on a boundary counts as inside, and a point in a hole is outside.
    """
    pt, params = point_sql(loc)
    rows = session.execute(
        text(
            f"""
            SELECT l.slug, l.title, l.category, l.policy_section, l.policy_summary, l.accuracy_m,
                   coalesce(v.provenance, l.provenance) AS provenance,
                   coalesce(v.indicative, l.indicative) AS indicative,
                   v.number, v.source_name, v.source_identifier, f.fid, f.name
            FROM layers l
            JOIN layer_versions v ON v.id = gc_version(l.id, l.current_version_id)
            JOIN features f ON f.version_id = v.id
            WHERE l.kind = 'vector' AND ST_Intersects(f.geom, {pt})
            ORDER BY l.category = 'natura2000', l.slug, f.name
            """
        ),
        params,
    ).all()
    zones = [
        Zone(
            layer=r.slug,
            layer_title=r.title,
            feature_id=r.fid,
            name=r.name,
            policy=Policy(section=r.policy_section, summary=r.policy_summary),
            accuracy_m=r.accuracy_m,
            source=_source(r),
        )
        for r in rows
        if r.category in ZONE_CATEGORIES
    ]
    muni_loaded = any(r.slug == MUNICIPALITY for r in rows) or _loaded(session, MUNICIPALITY)
    inside = any(r.slug == MUNICIPALITY for r in rows) if muni_loaded else None
    return ZonesAnswer(location=loc, in_municipality=inside, zones=zones)


def _loaded(session: Session, slug: str) -> bool:
    """Whether the layer had a current version (at ``as_of``, when the session asks for a day)."""
    return bool(
        session.execute(
            text("SELECT gc_version(id, current_version_id) IS NOT NULL FROM layers WHERE slug = :s"), {"s": slug}
        ).scalar()
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


def _current_version(session: Session, slug: str) -> Any:
    row = session.execute(
        text(
            "SELECT l.slug, coalesce(v.provenance, l.provenance) AS provenance, "
            "coalesce(v.indicative, l.indicative) AS indicative, "
            "v.id, v.number, v.source_name, v.source_identifier "
            "FROM layers l JOIN layer_versions v ON v.id = gc_version(l.id, l.current_version_id) WHERE l.slug = :s"
        ),
        {"s": slug},
    ).first()
    if row is None:
        raise NotFound(f"layer {slug!r} is not loaded")
    return row


NEAREST_SQL = """
SELECT p.feature_id, ST_Distance(p.geom, pt.g) AS d, ST_X(ST_ClosestPoint(p.geom, pt.g)) AS cx,
       ST_Y(ST_ClosestPoint(p.geom, pt.g)) AS cy
FROM feature_parts p, (SELECT {pt} AS g) pt
WHERE p.version_id = :version_id
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
    version = _current_version(session, NATURA2000)
    if geom is None:
        pt, params = point_sql(loc)
    else:
        pt, params = "ST_GeomFromWKB(:wkb, 28992)", {"wkb": shapely.to_wkb(geom)}
    row = session.execute(text(NEAREST_SQL.format(pt=pt)), {**params, "version_id": version.id}).first()
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
        source=_source(version),
    )
