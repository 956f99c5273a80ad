"""Validity of request geometries, checked by PostGIS (ST_IsValidDetail), repaired on request."""

from __future__ import annotations

import shapely
from pydantic import BaseModel
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from service.errors import InvalidInput
from service.geo import XY, LatLon, rd_to_wgs84


class Repair(BaseModel):
    reason: str
    location_rd: XY | None
    location_wgs84: LatLon | None
    area_before_m2: float
    area_after_m2: float
    area_change_m2: float


def validate_polygonal(
    session: Session, geom: BaseGeometry, *, repair: bool = False
) -> tuple[BaseGeometry, Repair | None]:
    """The geometry if valid; else a 422 naming the reason and location, or (``repair``) ST_MakeValid."""
    row = session.execute(
        text(
            "SELECT d.valid, d.reason, ST_X(d.location), ST_Y(d.location) "
            "FROM ST_IsValidDetail(ST_GeomFromWKB(:wkb, 28992)) d"
        ),
        {"wkb": shapely.to_wkb(geom)},
    ).one()
    if row.valid:
        return geom, None
    x, y = row[2], row[3]
    where_rd = XY(x=round(x, 3), y=round(y, 3)) if x is not None else None
    where_wgs = rd_to_wgs84(x, y) if x is not None else None
    place = (
        f" at lat {where_wgs.lat}, lon {where_wgs.lon} (RD x {where_rd.x}, y {where_rd.y})"
        if where_rd and where_wgs
        else ""
    )
    if not repair:
        raise InvalidInput(f"invalid geometry: {row.reason}{place}; send repair=true to repair it with ST_MakeValid")
    fixed = session.execute(
        text(
            "SELECT ST_AsBinary(ST_Multi(ST_CollectionExtract(ST_MakeValid(g), 3))), ST_Area(g) "
            "FROM (SELECT ST_GeomFromWKB(:wkb, 28992) AS g) s"
        ),
        {"wkb": shapely.to_wkb(geom)},
    ).one()
    repaired = shapely.from_wkb(bytes(fixed[0]))
    if repaired.is_empty:
        raise InvalidInput(f"invalid geometry: {row.reason}{place}; repairing leaves no polygon")
    before, after = float(fixed[1]), float(repaired.area)
    return repaired, Repair(
        reason=str(row.reason),
        location_rd=where_rd,
        location_wgs84=where_wgs,
        area_before_m2=round(before, 2),
        area_after_m2=round(after, 2),
        area_change_m2=round(after - before, 2),
    )
