"""Quickscan of many initiatives at once, set-based: one SQL query per question for the whole batch."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import rasterio
import shapely
from pydantic import BaseModel
from rasterio.windows import Window
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from service.errors import InvalidInput
from service.geo import ParsedGeometry
from service.heat import current_raster, polygon_stats
from service.settings import Settings, get_settings
from service.validation import validate_polygonal
from service.zones import MUNICIPALITY, NATURA2000, ZONE_CATEGORIES, _current_version, band_for


class BatchRow(BaseModel):
    index: int
    id: str | None
    name: str | None
    kind: str | None
    geometry_type: str
    area_m2: float | None
    in_municipality: bool | None
    zones: list[str]
    zone_names: list[str]
    natura2000_distance_m: float
    natura2000_name: str
    natura2000_site_number: int | None
    natura2000_band: str
    heat_c: float | None
    heat_share_above: float | None
    warnings: list[str]


class BatchReport(BaseModel):
    count: int
    threshold_c: float
    raster_version: int
    natura2000_version: int
    label: str = "indicatief"
    rows: list[BatchRow]


def _prepare(session: Session, items: Sequence[ParsedGeometry], repair: bool) -> list[BaseGeometry]:
    geoms = []
    for i, item in enumerate(items):
        g = item.geom
        if g.geom_type in ("Polygon", "MultiPolygon"):
            if not shapely.is_valid(g):
                try:
                    g, _ = validate_polygonal(session, g, repair=repair)
                except InvalidInput as exc:
                    raise InvalidInput(f"feature {i + 1}: {exc.detail}") from exc
        elif g.geom_type != "Point":
            raise InvalidInput(f"feature {i + 1}: an initiative is a Point or a (Multi)Polygon, not a {g.geom_type}")
        geoms.append(g)
    return geoms


def _load_temp(session: Session, geoms: Sequence[BaseGeometry]) -> None:
    session.execute(
        text("CREATE TEMP TABLE IF NOT EXISTS batch_input (i integer PRIMARY KEY, geom geometry) ON COMMIT DROP")
    )
    session.execute(text("TRUNCATE batch_input"))
    raw = session.connection().connection.driver_connection
    ewkb = shapely.to_wkb(shapely.set_srid(np.asarray(geoms, dtype=object), 28992), hex=True, include_srid=True)
    with raw.cursor() as cur, cur.copy("COPY batch_input (i, geom) FROM STDIN") as copy:  # type: ignore[union-attr]
        for i, wkb in enumerate(ewkb):
            copy.write_row((i, wkb))
    session.execute(text("CREATE INDEX ON batch_input USING gist (geom)"))
    session.execute(text("ANALYZE batch_input"))


def check_batch(
    session: Session,
    items: Sequence[ParsedGeometry],
    *,
    threshold_c: float | None = None,
    repair: bool = False,
    settings: Settings | None = None,
    progress: Callable[[int], None] | None = None,
) -> BatchReport:
    """Zones, Natura 2000 distance, heat and warnings for every item, with set-based SQL."""
    settings = settings or get_settings()
    threshold = settings.heat_threshold_c if threshold_c is None else float(threshold_c)
    geoms = _prepare(session, items, repair)
    _load_temp(session, geoms)

    zones: dict[int, list[tuple[str, str, str, bool, float | None]]] = defaultdict(list)
    in_muni: dict[int, bool] = {}
    for r in session.execute(
        text(
            """
        SELECT b.i, l.slug, l.category, f.fid, f.name, ST_CoveredBy(b.geom, f.geom) AS covered,
               ST_Distance(ST_Boundary(f.geom), b.geom) AS edge, l.accuracy_m
        FROM batch_input b
        JOIN features f ON ST_Intersects(f.geom, b.geom)
        JOIN layers l ON l.current_version_id = f.version_id AND l.kind = 'vector'
        """
        )
    ):
        if r.slug == MUNICIPALITY:
            in_muni[r.i] = bool(r.covered)
        elif r.category in ZONE_CATEGORIES:
            zones[r.i].append(
                (
                    r.slug,
                    r.fid,
                    r.name,
                    bool(r.covered),
                    None if r.accuracy_m is None or float(r.edge) > r.accuracy_m else float(r.edge),
                )
            )
    if progress:
        progress(len(geoms) // 3)

    n2k_version = _current_version(session, NATURA2000)
    nearest = {
        r.i: r
        for r in session.execute(
            text(
                """
            SELECT b.i, n.d, f.name, f.properties->>'site_number' AS site
            FROM batch_input b
            CROSS JOIN LATERAL (
                SELECT p.feature_id, ST_Distance(p.geom, b.geom) AS d FROM feature_parts p
                WHERE p.version_id = :v ORDER BY p.geom <-> b.geom LIMIT 1
            ) n
            JOIN features f ON f.id = n.feature_id
            """
            ),
            {"v": n2k_version.id},
        )
    }
    if progress:
        progress(len(geoms) // 3)
    muni_loaded = bool(
        session.execute(
            text("SELECT current_version_id IS NOT NULL FROM layers WHERE slug = :s"), {"s": MUNICIPALITY}
        ).scalar()
    )

    raster_row, ref = current_raster(session)
    heat_values, heat_share = _heat(session, raster_row.raster_path, geoms, threshold, ref)
    if progress:
        progress(len(geoms) - 2 * (len(geoms) // 3))

    rows = []
    for i, (item, g) in enumerate(zip(items, geoms, strict=True)):
        props = item.properties
        nz = zones.get(i, [])
        inside = in_muni.get(i, False) if muni_loaded else None
        warns = []
        if g.geom_type != "Point" and any(not covered for _, _, _, covered, _ in nz):
            warns.append("crosses_boundary")
        if any(edge is not None for *_, edge in nz):
            warns.append("near_edge")
        if inside is False:
            warns.append("outside_municipality")
        n = nearest[i]
        d = float(n.d)
        if d == 0.0:
            warns.append("in_natura2000")
        rows.append(
            BatchRow(
                index=i,
                id=None if props.get("id") is None else str(props.get("id")),
                name=_s(props.get("name") or props.get("naam")),
                kind=_s(props.get("kind") or props.get("soort")),
                geometry_type=g.geom_type,
                area_m2=None if g.geom_type == "Point" else round(float(g.area), 2),
                in_municipality=inside,
                zones=[f"{slug}/{fid}" for slug, fid, *_ in nz],
                zone_names=[name for _, _, name, *_ in nz],
                natura2000_distance_m=round(d, 3),
                natura2000_name=n.name,
                natura2000_site_number=int(n.site) if n.site else None,
                natura2000_band=band_for(d, settings.natura2000_bands_m, d == 0.0).label,
                heat_c=heat_values[i],
                heat_share_above=heat_share[i],
                warnings=warns,
            )
        )
    return BatchReport(
        count=len(rows),
        threshold_c=threshold,
        raster_version=ref.version,
        natura2000_version=int(n2k_version.number),
        rows=rows,
    )


def _heat(
    session: Session, raster_path: str, geoms: Sequence[BaseGeometry], threshold: float, ref: Any
) -> tuple[list[float | None], list[float | None]]:
    """Points: the cell value (one windowed read for all points); polygons: coverage-weighted mean."""
    values: list[float | None] = [None] * len(geoms)
    shares: list[float | None] = [None] * len(geoms)
    pts = [i for i, g in enumerate(geoms) if g.geom_type == "Point"]
    with rasterio.Env(), rasterio.open(raster_path) as src:
        if pts:
            xy = shapely.get_coordinates(np.asarray([geoms[i] for i in pts], dtype=object))
            inv = ~src.transform
            cols, rows = inv * (xy[:, 0], xy[:, 1])
            cols, rows = np.floor(cols).astype(np.int64), np.floor(rows).astype(np.int64)
            ok = (cols >= 0) & (cols < src.width) & (rows >= 0) & (rows < src.height)
            if ok.any():
                c0, c1, r0, r1 = cols[ok].min(), cols[ok].max() + 1, rows[ok].min(), rows[ok].max() + 1
                data = src.read(1, window=Window(c0, r0, c1 - c0, r1 - r0), masked=True)
                idx = np.nonzero(ok)[0]
                cell = data[rows[idx] - r0, cols[idx] - c0]
                has = ~np.ma.getmaskarray(cell)
                vals = np.asarray(cell.data, dtype="float64")
                for k, v, h in zip(idx.tolist(), vals.tolist(), has.tolist(), strict=True):
                    if h:
                        values[pts[k]] = round(v, 3)
                        shares[pts[k]] = 1.0 if v >= threshold else 0.0
    for i, g in enumerate(geoms):
        if g.geom_type != "Point":
            stats = polygon_stats(raster_path, [g], area_m2=float(g.area), threshold_c=threshold, ref=ref)
            values[i], shares[i] = stats.mean_c, stats.share_above
    return values, shares


def _s(v: Any) -> str | None:
    return None if v is None else str(v)[:200]
