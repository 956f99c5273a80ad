"""The initiative quickscan: zones (with overlap and policy), Natura 2000, heat and warnings in one report."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import shapely
from pydantic import BaseModel, Field
from shapely.geometry.base import BaseGeometry
from sqlalchemy.orm import Session

from service.core.dutch import getal, procent
from service.core.schemas import Policy, ZoneRef
from service.core.settings import Settings, get_settings
from service.questions.batch import municipality_answer, warning_codes, zone_rules
from service.questions.heat import HeatAtAnswer, HeatStats, heat_at, heat_overlap
from service.questions.zones import (
    MUNICIPALITY,
    NEARBY_DESCRIPTION,
    Natura2000Answer,
    NearbyZone,
    ZoneContext,
    natura2000_distance,
    nearby_distance,
    zone_context,
)
from service.spatial.geo import XY, Location, ParsedGeometry, rd_to_wgs84
from service.spatial.validation import Repair, validate_polygonal
from service.store.current import SourceRef, is_loaded, source_ref

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


# What the single report says of each zone beyond the shared rules (:data:`service.questions.batch.ZONE_RULES_SQL`).
ZONE_DETAIL = """,
       l.title, l.policy_section, l.policy_summary, l.accuracy_m, l.provenance, l.indicative, l.number,
       l.source_name, l.source_identifier,
       CASE WHEN ST_Dimension(b.geom) = 2 AND k.hit THEN
         (SELECT coalesce(sum(ST_Area(ST_Intersection(p.geom, b.geom))), 0) FROM feature_parts p
          WHERE p.feature_id = f.id AND ST_Intersects(p.geom, b.geom))
       END AS overlap,
       ST_Distance(ST_Boundary(f.geom), b.geom) AS edge
"""


# The initiative as the one-row relation of :func:`service.questions.zones.zone_context` (the batch uses its input
# table).
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
        from service.core.errors import InvalidInput

        raise InvalidInput(f"an initiative is a Point or a (Multi)Polygon, not a {geom.geom_type}")
    rp = geom.representative_point()
    loc = Location(wgs84=rd_to_wgs84(rp.x, rp.y), rd=XY(x=round(rp.x, 3), y=round(rp.y, 3)), crs_in=parsed.crs_in)
    area = float(geom.area) if polygonal else None
    wkb = shapely.to_wkb(geom)
    rows = sorted(
        zone_rules(session, SINGLE_SOURCE, {"wkb": wkb}, detail=ZONE_DETAIL),
        key=lambda r: (r.category == "natura2000", r.slug, r.name),
    )
    distance = nearby_distance(settings)
    ctx = zone_context(session, SINGLE_SOURCE, {"wkb": wkb}, distance).get(0) or ZoneContext()
    containers = {(z.layer, z.feature_id): z.nested_in for z in ctx.nested}

    zones: list[CheckZone] = []
    zone_warnings: dict[str, list[Warning_]] = {"crosses_boundary": [], "near_edge": []}
    muni_covered: bool | None = None
    for r in rows:
        if r.slug == MUNICIPALITY:
            muni_covered = bool(muni_covered or r.covered)  # as the batch: any feature covering the plan
        if not r.z:
            continue
        acc = r.accuracy_m or 0.0
        pct = 0.0
        if r.hit:
            overlap = float(r.overlap) if r.overlap is not None else None
            pct = 100.0 if overlap is None or r.covered else _pct(overlap, area or 0.0)
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
        if r.crosses:
            message = f"Het initiatief ligt deels in {r.name} ({procent(pct)}); het kruist de grens van de zone."
        elif r.near_edge and r.hit:
            message = (
                f"Het initiatief ligt op {float(r.edge):.0f} m van de rand van {r.name}, binnen de "
                f"opgegeven nauwkeurigheid van deze laag (±{getal(acc)} m): het antwoord kan omslaan."
            )
        elif r.near_edge:
            message = (
                f"Het initiatief ligt net buiten {r.name} ({float(r.edge):.0f} m), binnen de opgegeven "
                f"nauwkeurigheid van deze laag (±{getal(acc)} m): het kan er toch in liggen."
            )
        else:
            continue
        code = "crosses_boundary" if r.crosses else "near_edge"
        zone_warnings[code].append(Warning_(code=code, layer=r.slug, feature_id=r.fid, message=message))
    in_municipality = municipality_answer(muni_covered, is_loaded(session, MUNICIPALITY))

    n2k = natura2000_distance(session, loc, geom=geom, settings=settings)
    codes = warning_codes(
        crosses=bool(zone_warnings["crosses_boundary"]),
        near_edge=bool(zone_warnings["near_edge"]),
        in_municipality=in_municipality,
        in_natura2000=n2k.inside,
    )
    warnings: list[Warning_] = []
    for code in codes:
        if code in zone_warnings:
            warnings.extend(zone_warnings[code])
        elif code == "outside_municipality":
            message = (
                "Het initiatief ligt (deels) buiten de gemeente Assen; "
                "de Omgevingsvisie geldt alleen binnen de gemeente."
            )
            warnings.append(Warning_(code=code, message=message))
        else:
            message = (
                f"Het initiatief ligt (deels) in Natura 2000-gebied {n2k.nearest.name}; "
                "houd rekening met de bescherming van dit gebied (§3.8)."
            )
            warnings.append(Warning_(code=code, layer="natura2000", feature_id=n2k.nearest.feature_id, message=message))
    heat: HeatStats | HeatAtAnswer
    if polygonal:
        heat = heat_overlap(session, geom, threshold_c=threshold_c, settings=settings)
    else:  # the cell of the point itself, as the batch reads it (not of its coordinates rounded for display)
        exact = Location(wgs84=loc.wgs84, rd=XY(x=rp.x, y=rp.y), crs_in=parsed.crs_in)
        heat = heat_at(session, exact, threshold_c=threshold_c, settings=settings).model_copy(update={"location": loc})

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
