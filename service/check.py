"""The initiative quickscan: zones (with overlap and policy), Natura 2000, heat and warnings in one report."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import shapely
from pydantic import BaseModel, Field
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from service.dutch import getal, procent
from service.geo import XY, Location, ParsedGeometry, rd_to_wgs84
from service.heat import HeatAtAnswer, HeatStats, heat_at, heat_overlap
from service.schemas import Policy, ZoneRef
from service.settings import Settings, get_settings
from service.store import SourceRef, is_loaded, source_ref
from service.validation import Repair, validate_polygonal
from service.zones import (
    MUNICIPALITY,
    NEARBY_DESCRIPTION,
    ZONE_CATEGORIES,
    Natura2000Answer,
    NearbyZone,
    ZoneContext,
    natura2000_distance,
    nearby_distance,
    zone_context,
)

DISCLAIMER = (
    "Quickscan op basis van indicatieve kaartlagen (handmatig gedigitaliseerd uit openbare kennis, niet de "
    "officiële GIO's van de Omgevingsvisie). De Omgevingsvisie hanteert 'ja, mits' (§3.12): een initiatief kan "
    "als het past binnen de kaders. Deze scan is geen toets of vergunning en geen AERIUS-berekening."
)


class Warning_(BaseModel):
    code: str = Field(description="crosses_boundary | outside_municipality | near_edge | in_natura2000 | ...")
    message: str = Field(description="Dutch, for people")
    layer: str | None = None
    feature_id: str | None = None


class CheckZone(BaseModel):
    layer: str
    layer_title: str
    feature_id: str
    name: str
    overlap_m2: float | None = Field(description="Area of the initiative inside the zone (None for a point)")
    overlap_pct: float = Field(description="Share of the initiative inside the zone, in percent")
    edge_distance_m: float = Field(description="Distance from the initiative to the zone's boundary")
    nested_in: list[ZoneRef] = Field(
        description="The other zones of this report that contain this whole zone (its geometry is covered by "
        "theirs, e.g. the publiekshart inside the binnenstad): the area of the initiative inside this zone is "
        "also inside those, so the overlaps of nested zones overlap and do not add up"
    )
    accuracy_m: float | None
    policy: Policy
    source: SourceRef


class Initiative(BaseModel):
    name: str | None
    kind: str | None
    geometry_type: str
    area_m2: float | None
    vertex_count: int
    crs_in: str
    location: Location = Field(description="A point on the initiative (its representative point)")
    properties: dict[str, Any]


class CheckReport(BaseModel):
    initiative: Initiative
    in_municipality: bool | None = Field(description="Entirely inside the (indicative) municipality boundary")
    zones: list[CheckZone]
    outside_zones_m2: float | None = Field(
        description="Area of the initiative (m²) that lies in none of the zones: the initiative minus the union "
        "of every zone it intersects (Omgevingsvisie and Natura 2000 layers), so nested or overlapping zones are "
        "counted once, not summed. None for a point"
    )
    outside_zones_pct: float | None = Field(
        description="outside_zones_m2 as a percentage of the initiative's area (100: in no zone at all; 0: wholly "
        "inside zones). None for a point"
    )
    nearby: list[NearbyZone] = Field(
        description=NEARBY_DESCRIPTION + " Distances from the point, or from the edge of the polygon."
    )
    nearby_distance_m: float = Field(description="The distance within which zones count as nearby (m)")
    natura2000: Natura2000Answer
    heat: HeatStats | HeatAtAnswer
    warnings: list[Warning_]
    repaired: Repair | None = None
    generated_at: datetime
    disclaimer: str = DISCLAIMER


ZONES_SQL = """
WITH g AS (SELECT ST_GeomFromWKB(:wkb, 28992) AS geom)
SELECT l.slug, l.title, l.category, l.policy_section, l.policy_summary, l.accuracy_m,
       l.provenance, l.indicative, l.number, l.source_name, l.source_identifier, f.id, f.fid, f.name,
       ST_Intersects(f.geom, g.geom) AS hits,
       ST_CoveredBy(g.geom, f.geom) AS covered,
       CASE WHEN ST_Dimension(g.geom) = 2 THEN
         (SELECT coalesce(sum(ST_Area(ST_Intersection(p.geom, g.geom))), 0) FROM feature_parts p
          WHERE p.feature_id = f.id AND ST_Intersects(p.geom, g.geom))
       END AS overlap,
       ST_Distance(ST_Boundary(f.geom), g.geom) AS edge
FROM gc_versions_in_force l
JOIN features f ON f.version_id = l.version_id, g
WHERE l.kind = 'vector' AND ST_DWithin(f.geom, g.geom, greatest(coalesce(l.accuracy_m, 0), 0))
ORDER BY l.category = 'natura2000', l.slug, f.name
"""


# The initiative as the one-row relation of :func:`service.zones.zone_context` (the batch uses its input table).
SINGLE_SOURCE = "(SELECT 0 AS i, ST_GeomFromWKB(:wkb, 28992) AS geom)"


def _pct(overlap: float, area: float) -> float:
    return round(100.0 * overlap / area, 2) if area > 0 else 0.0


def check(
    session: Session,
    parsed: ParsedGeometry,
    *,
    threshold_c: float | None = None,
    repair: bool = False,
    settings: Settings | None = None,
) -> CheckReport:
    """One report for one initiative (a point or polygon in RD)."""
    settings = settings or get_settings()
    geom: BaseGeometry = parsed.geom
    repaired = None
    polygonal = geom.geom_type in ("Polygon", "MultiPolygon")
    if polygonal:
        geom, repaired = validate_polygonal(session, geom, repair=repair, settings=settings)
    elif geom.geom_type != "Point":
        from service.errors import InvalidInput

        raise InvalidInput(f"an initiative is a Point or a (Multi)Polygon, not a {geom.geom_type}")
    rp = geom.representative_point()
    loc = Location(wgs84=rd_to_wgs84(rp.x, rp.y), rd=XY(x=round(rp.x, 3), y=round(rp.y, 3)), crs_in=parsed.crs_in)
    area = float(geom.area) if polygonal else None
    wkb = shapely.to_wkb(geom)
    rows = session.execute(text(ZONES_SQL), {"wkb": wkb}).all()
    distance = nearby_distance(settings)
    ctx = zone_context(session, SINGLE_SOURCE, {"wkb": wkb}, distance).get(0) or ZoneContext()
    containers = {(z.layer, z.feature_id): z.nested_in for z in ctx.nested}

    zones: list[CheckZone] = []
    warnings: list[Warning_] = []
    in_municipality: bool | None = None
    for r in rows:
        if r.slug == MUNICIPALITY:
            in_municipality = bool(r.covered)
            continue
        if r.category not in ZONE_CATEGORIES:
            continue
        acc = r.accuracy_m or 0.0
        label = r.name
        if r.hits:
            overlap = float(r.overlap) if r.overlap is not None else None
            pct = 100.0 if overlap is None else _pct(overlap, area or 0.0)
            if overlap is not None and r.covered:
                pct = 100.0
            zones.append(
                CheckZone(
                    layer=r.slug,
                    layer_title=r.title,
                    feature_id=r.fid,
                    name=r.name,
                    overlap_m2=None if overlap is None else round(overlap, 2),
                    overlap_pct=pct,
                    edge_distance_m=round(float(r.edge), 2),
                    nested_in=containers.get((r.slug, r.fid), []),
                    accuracy_m=r.accuracy_m,
                    policy=Policy(section=r.policy_section, summary=r.policy_summary),
                    source=source_ref(r),
                )
            )
            if polygonal and not r.covered:
                warnings.append(
                    Warning_(
                        code="crosses_boundary",
                        layer=r.slug,
                        feature_id=r.fid,
                        message=f"Het initiatief ligt deels in {label} ({procent(pct)}); "
                        "het kruist de grens van de zone.",
                    )
                )
            elif float(r.edge) <= acc:
                warnings.append(
                    Warning_(
                        code="near_edge",
                        layer=r.slug,
                        feature_id=r.fid,
                        message=(
                            f"Het initiatief ligt op {float(r.edge):.0f} m van de rand van {label}, binnen de "
                            f"opgegeven nauwkeurigheid van deze laag (±{getal(acc)} m): het antwoord kan omslaan."
                        ),
                    )
                )
        else:
            warnings.append(
                Warning_(
                    code="near_edge",
                    layer=r.slug,
                    feature_id=r.fid,
                    message=(
                        f"Het initiatief ligt net buiten {label} ({float(r.edge):.0f} m), binnen de opgegeven "
                        f"nauwkeurigheid van deze laag (±{getal(acc)} m): het kan er toch in liggen."
                    ),
                )
            )
    if in_municipality is None and is_loaded(session, MUNICIPALITY):
        in_municipality = False  # farther from the municipality than its boundary's accuracy
    if in_municipality is False:
        warnings.append(
            Warning_(
                code="outside_municipality",
                message=(
                    "Het initiatief ligt (deels) buiten de gemeente Assen; "
                    "de Omgevingsvisie geldt alleen binnen de gemeente."
                ),
            )
        )

    n2k = natura2000_distance(session, loc, geom=geom, settings=settings)
    if n2k.inside:
        warnings.append(
            Warning_(
                code="in_natura2000",
                layer="natura2000",
                feature_id=n2k.nearest.feature_id,
                message=(
                    f"Het initiatief ligt (deels) in Natura 2000-gebied {n2k.nearest.name}; "
                    "houd rekening met de bescherming van dit gebied (§3.8)."
                ),
            )
        )
    heat: HeatStats | HeatAtAnswer
    if polygonal:
        heat = heat_overlap(session, geom, threshold_c=threshold_c, settings=settings)
    else:
        heat = heat_at(session, loc, threshold_c=threshold_c, settings=settings)

    props = parsed.properties
    return CheckReport(
        initiative=Initiative(
            name=_str(props.get("name") or props.get("naam")),
            kind=_str(props.get("kind") or props.get("soort")),
            geometry_type=geom.geom_type,
            area_m2=None if area is None else round(area, 2),
            vertex_count=parsed.vertex_count,
            crs_in=parsed.crs_in,
            location=loc,
            properties=props,
        ),
        in_municipality=in_municipality,
        zones=zones,
        outside_zones_m2=ctx.outside_zones_m2,
        outside_zones_pct=ctx.outside_zones_pct,
        nearby=ctx.nearby,
        nearby_distance_m=distance,
        natura2000=n2k,
        heat=heat,
        warnings=warnings,
        repaired=repaired,
        generated_at=datetime.now(UTC),
    )


def _str(v: Any) -> str | None:
    return None if v is None else str(v)[:200]
