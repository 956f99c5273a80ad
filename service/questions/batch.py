"""Quickscan of many initiatives at once, set-based: one SQL query per question for the whole batch.

Results are columnar (a pandas DataFrame) so 100,000 initiatives cost a few seconds, not minutes; the
API turns the rows of a (small) batch into pydantic models.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import shapely
from pydantic import BaseModel, Field
from rasterio.windows import Window
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from service.core.errors import GeometryTooComplex, InvalidInput
from service.core.schemas import NestedZone
from service.core.settings import Settings, get_settings
from service.formats.gdalguard import open_stored_raster
from service.questions.heat import current_raster, heat_threshold, polygon_stats
from service.questions.zones import (
    MUNICIPALITY,
    NATURA2000,
    NEARBY_DESCRIPTION,
    ZONE_CATEGORIES,
    ContextRows,
    NearbyZone,
    band_for,
    context_of,
    nearby_distance,
    outside_share,
    zone_context_rows,
)
from service.spatial.geo import ParsedGeometry
from service.spatial.validation import validate_many
from service.store.current import is_loaded, require_version

COLUMNS = [
    "index",
    "id",
    "name",
    "kind",
    "geometry_type",
    "area_m2",
    "in_municipality",
    "zones",
    "zone_names",
    "nested",
    "outside_zones_m2",
    "outside_zones_pct",
    "nearby",
    "natura2000_distance_m",
    "natura2000_name",
    "natura2000_site_number",
    "natura2000_band",
    "heat_c",
    "heat_share_above",
    "warnings",
]


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
    nested: list[NestedZone] = Field(
        description="The zones of this row that lie entirely inside other zones of this row (as the single "
        "check's `nested_in`); in the CSV/GeoPackage a text column 'Publiekshart in Binnenstad; …'"
    )
    outside_zones_m2: float | None = Field(
        description="Area in no zone: the polygon minus the union of the zones it intersects (None for a point)"
    )
    outside_zones_pct: float | None = Field(description="outside_zones_m2 as a percentage of the area")
    nearby: list[NearbyZone] = Field(
        description=NEARBY_DESCRIPTION + " In the CSV/GeoPackage a text column 'Toeristisch Recreatieve Zone "
        "(416 m); …'"
    )
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
    nearby_distance_m: float = Field(description="The distance within which zones count as nearby (m)")
    label: str = "indicatief"
    rows: list[BatchRow]


# --- The quickscan's rules, written once for both doors: the single check is the batch of one ---------------

# One row per (plan i, zone or municipality feature it touches, or lies within its layer's stated accuracy of).
# ``crosses``: a polygon partly in the zone. ``near_edge``: within the layer's accuracy of the zone's edge, inside
# or just outside, and not crossing it (a crossing plan is reported as crossing; its answer is 'partly' already).
# ``{detail}`` adds columns for the single check's report (constants of ours, never input).
ZONE_RULES_SQL = """
SELECT b.i, l.slug, l.category, f.fid, f.name, k.z, k.hit, k.covered, k.crosses,
       k.z AND NOT k.crosses AND ST_DWithin(ST_Boundary(f.geom), b.geom, coalesce(l.accuracy_m, 0)) AS near_edge
       {detail}
FROM {source} b
JOIN features f ON ST_DWithin(f.geom, b.geom, :max_acc)
JOIN gc_versions_in_force l ON l.version_id = f.version_id AND l.kind = 'vector'
CROSS JOIN LATERAL (  -- OFFSET 0: each predicate computed once per pair (a point is covered where it hits)
    SELECT h.z, h.hit, coalesce(h.cov, h.hit) AS covered, h.z AND h.hit AND coalesce(NOT h.cov, false) AS crosses
    FROM (SELECT l.category = ANY(:categories) AS z, ST_Intersects(f.geom, b.geom) AS hit,
                 CASE WHEN ST_Dimension(b.geom) = 2 THEN ST_CoveredBy(b.geom, f.geom) END AS cov
          OFFSET 0) h
) k
WHERE k.hit OR (k.z AND ST_DWithin(f.geom, b.geom, coalesce(l.accuracy_m, 0)))
"""

BATCH_ZONES_SQL = """
SELECT r.i,
       string_agg(r.slug || '/' || r.fid, ';' ORDER BY r.slug, r.fid) FILTER (WHERE r.z AND r.hit) AS zones,
       string_agg(r.name, ';' ORDER BY r.slug, r.fid) FILTER (WHERE r.z AND r.hit) AS zone_names,
       bool_or(r.crosses) AS crosses, bool_or(r.near_edge) AS near_edge,
       bool_or(r.covered) FILTER (WHERE r.slug = :muni) AS in_muni
FROM ({rules}) r
GROUP BY r.i
"""

WARNING_CODES = ("crosses_boundary", "near_edge", "outside_municipality", "in_natura2000")


def zone_rules(session: Session, source: str, params: dict[str, Any], *, detail: str = "") -> Any:
    """:data:`ZONE_RULES_SQL` for every row of ``source`` (a relation ``(i, geom)`` of ours, RD), one row per zone."""
    sql, bound = _rules_sql(session, source, params, detail)
    return session.execute(text(sql), bound).all()


def _rules_sql(session: Session, source: str, params: dict[str, Any], detail: str = "") -> tuple[str, dict[str, Any]]:
    max_acc = session.execute(text("SELECT coalesce(max(accuracy_m), 0) FROM layers")).scalar_one()
    bound = {**params, "max_acc": float(max_acc), "categories": list(ZONE_CATEGORIES), "muni": MUNICIPALITY}
    return ZONE_RULES_SQL.format(source=source, detail=detail), bound


def municipality_answer(covered: bool | None, loaded: bool) -> bool | None:
    """Entirely inside the municipality (None: its boundary is not loaded; no row: farther than its accuracy)."""
    return covered is True if loaded else None


def warning_codes(*, crosses: bool, near_edge: bool, in_municipality: bool | None, in_natura2000: bool) -> list[str]:
    """The quickscan's warnings of a plan, in :data:`WARNING_CODES` order. ``in_natura2000``: the exact (not the
    rounded) distance to Natura 2000 is 0, as :func:`service.questions.zones.natura2000_distance` says ``inside``."""
    flags = (bool(crosses), bool(near_edge), in_municipality is False, bool(in_natura2000))
    return [code for code, on in zip(WARNING_CODES, flags, strict=True) if on]


NEAREST_SQL = """
SELECT b.i, n.d, f.name, f.properties->>'site_number' AS site
FROM batch_input b
CROSS JOIN LATERAL (
    SELECT p.feature_id, ST_Distance(p.geom, b.geom) AS d FROM feature_parts p
    WHERE p.version_id = %(v)s ORDER BY p.geom <-> b.geom LIMIT 1
) n
JOIN features f ON f.id = n.feature_id
"""


def _prepare(
    session: Session, items: Sequence[ParsedGeometry], repair: bool, settings: Settings | None = None
) -> list[BaseGeometry]:
    """The items' geometries, polygons validated (and repaired on request) by PostGIS in one set-based pass
    under the validation time budget (:func:`service.spatial.validation.validate_many`)."""
    geoms: list[BaseGeometry] = []
    polygons: list[int] = []
    for i, item in enumerate(items, start=1):
        kind = item.geom.geom_type
        if kind in ("Polygon", "MultiPolygon"):
            polygons.append(i - 1)
        elif kind != "Point":
            raise InvalidInput(f"feature {i}: an initiative is a Point or a (Multi)Polygon, not a {kind}")
        geoms.append(item.geom)
    if not polygons:
        return geoms
    try:
        checks = validate_many(session, [shapely.to_wkb(geoms[k]) for k in polygons], repair=repair, settings=settings)
    except GeometryTooComplex as exc:
        k = polygons[(exc.index or 1) - 1] + 1
        raise GeometryTooComplex(
            f"feature {k}: " + exc.detail.split(": ", 1)[-1], index=k, vertices=exc.vertices, budget_ms=exc.budget_ms
        ) from exc
    for k, v in zip(polygons, checks, strict=True):
        if v.valid:
            continue
        if not repair:
            raise InvalidInput(f"feature {k + 1}: {v.problem}; send repair=true to repair it with ST_MakeValid")
        if v.repaired is None:
            raise InvalidInput(f"feature {k + 1}: {v.problem}; repairing leaves no polygon")
        geoms[k] = shapely.from_wkb(v.repaired)
    return geoms


def _frame(session: Session, sql: str, params: dict[str, Any], columns: list[str]) -> pd.DataFrame:
    """Run ``sql`` (psycopg %(name)s parameters) on the session's connection; plain tuples into pandas."""
    raw = session.connection().connection.driver_connection
    with raw.cursor() as cur:  # type: ignore[union-attr]
        cur.execute(sql, params)
        return pd.DataFrame.from_records(cur.fetchall(), columns=columns).set_index(columns[0])


def _load_temp(session: Session, geoms: Sequence[BaseGeometry]) -> None:
    session.execute(
        text("CREATE TEMP TABLE IF NOT EXISTS batch_input (i integer PRIMARY KEY, geom geometry) ON COMMIT DROP")
    )
    session.execute(text("TRUNCATE batch_input"))
    # One big query per question: JIT compilation costs more than it saves here, and sorting needs memory.
    session.execute(text("SET LOCAL jit = off"))
    session.execute(text("SET LOCAL work_mem = '64MB'"))
    raw = session.connection().connection.driver_connection
    ewkb = shapely.to_wkb(shapely.set_srid(np.asarray(geoms, dtype=object), 28992), hex=True, include_srid=True)
    with raw.cursor() as cur, cur.copy("COPY batch_input (i, geom) FROM STDIN") as copy:  # type: ignore[union-attr]
        for i, wkb in enumerate(ewkb.tolist()):
            copy.write_row((i, wkb))
    session.execute(text("CREATE INDEX ON batch_input USING gist (geom)"))
    session.execute(text("ANALYZE batch_input"))


def batch_frame(
    session: Session,
    items: Sequence[ParsedGeometry],
    *,
    threshold_c: float | None = None,
    repair: bool = False,
    settings: Settings | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Zones, nested zones, the part outside every zone, nearby zones, Natura 2000 distance, heat and warnings
    for every item, as columns (nested and nearby as text); plus what was used."""
    frame, used, _ = _batch(
        session, items, threshold_c=threshold_c, repair=repair, settings=settings, progress=progress
    )
    return frame, used


def _batch(
    session: Session,
    items: Sequence[ParsedGeometry],
    *,
    threshold_c: float | None = None,
    repair: bool = False,
    settings: Settings | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[pd.DataFrame, dict[str, Any], ContextRows]:
    """:func:`batch_frame`, and the rows of :data:`service.questions.zones.CONTEXT_SQL` by item (for the pydantic
    rows)."""
    settings = settings or get_settings()
    threshold = heat_threshold(threshold_c, settings)
    n = len(items)
    step = max(n // 4, 1)
    geoms = _prepare(session, items, repair, settings)
    _load_temp(session, geoms)
    if progress:
        progress(step)

    rules, bound = _rules_sql(session, "batch_input", {})
    sql = str(text(BATCH_ZONES_SQL.format(rules=rules)).compile(dialect=session.get_bind().dialect))  # %(name)s
    zones = _frame(session, sql, bound, ["i", "zones", "zone_names", "crosses", "near_edge", "in_muni"])
    distance = nearby_distance(settings)
    context = zone_context_rows(session, "batch_input", {}, distance)
    if progress:
        progress(step)
    n2k_version = require_version(session, NATURA2000)
    nearest = _frame(session, NEAREST_SQL, {"v": n2k_version.version_id}, ["i", "d", "name", "site"])
    if progress:
        progress(step)
    raster_row, ref = current_raster(session, settings=settings)
    heat_c, share = _heat(raster_row.raster_path, geoms, threshold, ref)

    idx = pd.RangeIndex(n)
    zones = zones.reindex(idx)
    nearest = nearest.reindex(idx)
    is_point = np.array([g.geom_type == "Point" for g in geoms])
    dist = nearest["d"].to_numpy(dtype="float64")
    muni_loaded = is_loaded(session, MUNICIPALITY)
    in_muni = np.array([municipality_answer(c, muni_loaded) for c in zones["in_muni"].tolist()], dtype=object)
    if muni_loaded:
        in_muni = in_muni.astype(bool)
    bands = sorted(settings.natura2000_bands_m)  # band_for's labels, picked for all rows at once (edges inclusive)
    labels = [band_for(e, bands, False).label for e in bands] + [band_for(np.inf, bands, False).label]
    band_idx = np.searchsorted(np.asarray(bands), dist, side="left")
    band = np.where(dist == 0.0, band_for(0.0, bands, True).label, np.asarray(labels, dtype=object)[band_idx])
    crosses, near = zones["crosses"].tolist(), zones["near_edge"].tolist()
    warnings = [
        ";".join(warning_codes(crosses=c is True, near_edge=e is True, in_municipality=m, in_natura2000=d == 0.0))
        for c, e, m, d in zip(crosses, near, in_muni.tolist(), dist.tolist(), strict=True)
    ]
    ctx = [context.rows.get(i) for i in range(n)]
    outside = [outside_share(c.area, c.outside) if c is not None else (None, None) for c in ctx]
    props = [it.properties for it in items]
    frame = pd.DataFrame(
        {
            "index": np.arange(n),
            "id": [None if p.get("id") is None else str(p.get("id")) for p in props],
            "name": [_s(p.get("name") or p.get("naam")) for p in props],
            "kind": [_s(p.get("kind") or p.get("soort")) for p in props],
            "geometry_type": [g.geom_type for g in geoms],
            "area_m2": np.where(is_point, np.nan, np.round(shapely.area(np.asarray(geoms, dtype=object)), 2)),
            "in_municipality": in_muni,
            "zones": zones["zones"].fillna("").to_numpy(),
            "zone_names": zones["zone_names"].fillna("").to_numpy(),
            "nested": [_nested_text(c.nested if c is not None else None) for c in ctx],
            "outside_zones_m2": np.array([o[0] for o in outside], dtype="float64"),
            "outside_zones_pct": np.array([o[1] for o in outside], dtype="float64"),
            "nearby": [_nearby_text(c.nearby if c is not None else None) for c in ctx],
            "natura2000_distance_m": np.round(dist, 3),
            "natura2000_name": nearest["name"].to_numpy(),
            "natura2000_site_number": pd.array(nearest["site"].astype("float64"), dtype="Int64"),
            "natura2000_band": band,
            "heat_c": heat_c,
            "heat_share_above": share,
            "warnings": warnings,
        }
    )
    if progress:
        progress(n - 3 * step)
    used = {
        "threshold_c": threshold,
        "raster_version": ref.version,
        "natura2000_version": int(n2k_version.number),
        "nearby_distance_m": distance,
    }
    return frame, used, context


def _nearby_text(nearby: list[list[Any]] | None) -> str:
    """'Toeristisch Recreatieve Zone (416 m); Witterveld (480 m)' (empty: no zone nearby)."""
    return "; ".join(f"{name} ({d:.0f} m)" for _slug, _fid, name, d in nearby or [])


def _nested_text(nested: list[list[str]] | None) -> str:
    """'Publiekshart in Binnenstad; Havenkwartier in Stadsbedrijvenpark' (empty: no nested zones)."""
    inside: dict[tuple[str, str], tuple[str, list[str]]] = {}
    for layer, fid, name, _layer, _fid, out_name in nested or []:
        inside.setdefault((layer, fid), (name, []))[1].append(out_name)
    return "; ".join(f"{name} in {', '.join(outer)}" for name, outer in inside.values())


def check_batch(session: Session, items: Sequence[ParsedGeometry], **kwargs: Any) -> BatchReport:
    """The batch as pydantic rows (for the API's size of batch)."""
    frame, used, context = _batch(session, items, **kwargs)
    rows = []
    for rec in frame.astype(object).where(frame.notna(), None).to_dict("records"):
        for key in ("zones", "zone_names", "warnings"):
            rec[key] = [v for v in (rec[key] or "").split(";") if v]
        row = context.rows.get(rec["index"])
        ctx = context_of(row, context.layers) if row is not None else None
        rec["nearby"] = ctx.nearby if ctx else []
        rec["nested"] = ctx.nested if ctx else []
        rows.append(BatchRow(**rec))
    return BatchReport(count=len(rows), rows=rows, **used)


def _heat(raster_path: str, geoms: Sequence[BaseGeometry], threshold: float, ref: Any) -> tuple[np.ndarray, np.ndarray]:
    """Points: the cell value (one windowed read for all points); polygons: coverage-weighted mean."""
    n = len(geoms)
    values, shares = np.full(n, np.nan), np.full(n, np.nan)
    is_point = np.array([g.geom_type == "Point" for g in geoms], dtype=bool)
    with open_stored_raster(raster_path) as src:
        if is_point.any():
            pts = np.nonzero(is_point)[0]
            xy = shapely.get_coordinates(np.asarray(geoms, dtype=object)[pts])
            inv = ~src.transform
            cols, rows = inv * (xy[:, 0], xy[:, 1])
            cols, rows = np.floor(cols).astype(np.int64), np.floor(rows).astype(np.int64)
            ok = (cols >= 0) & (cols < src.width) & (rows >= 0) & (rows < src.height)
            if ok.any():
                c0, c1, r0, r1 = cols[ok].min(), cols[ok].max() + 1, rows[ok].min(), rows[ok].max() + 1
                data = src.read(1, window=Window(c0, r0, c1 - c0, r1 - r0), masked=True)
                sel = np.nonzero(ok)[0]
                cell = data[rows[sel] - r0, cols[sel] - c0]
                has = ~np.ma.getmaskarray(cell)
                vals = np.asarray(cell.data, dtype="float64")
                values[pts[sel[has]]] = np.round(vals[has], 3)
                shares[pts[sel[has]]] = (vals[has] >= threshold).astype("float64")
    for i in np.nonzero(~is_point)[0].tolist():
        g = geoms[i]
        stats = polygon_stats(raster_path, [g], area_m2=float(g.area), threshold_c=threshold, ref=ref)
        values[i] = np.nan if stats.mean_c is None else stats.mean_c
        shares[i] = np.nan if stats.share_above is None else stats.share_above
    return values, shares


def _s(v: Any) -> str | None:
    return None if v is None else str(v)[:200]
