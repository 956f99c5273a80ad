"""Quickscan of many initiatives at once, set-based: one SQL query per question for the whole batch.

Results are columnar (a pandas DataFrame) so 100,000 initiatives cost about 2 s of CPU (points) and 10,000 plans
about 1 s, faster than the same answers from a geopandas + rasterio notebook (benchmarks/bench_batch.py); the API
turns the rows of a (small) batch into pydantic models. The rules stay in PostGIS, shared with the single check
(:data:`ZONE_RULES_SQL`, :data:`service.questions.zones.CONTEXT_SQL`) and resolved against the versions in force
on every call (``as_of`` honoured); an in-process STRtree would be faster still for points but would be a second
copy of these rules. Heat is read in-process for all items at once (:mod:`service.questions.batchheat`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import shapely
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.orm import Session

from service.core.schemas import NestedZone
from service.core.settings import Settings, get_settings
from service.questions.batchheat import batch_heat
from service.questions.batchinput import context_rows, prepare, read_frame
from service.questions.batchinput import load_temp as _load_temp  # the name tests/test_nearby.py uses
from service.questions.heat import current_raster, heat_threshold
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
)
from service.spatial.geo import ParsedGeometry
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
    models: bool = False,
) -> tuple[pd.DataFrame, dict[str, Any], ContextRows]:
    """:func:`batch_frame`, and the rows of :data:`service.questions.zones.CONTEXT_SQL` by item (with ``models``:
    with the zone layers' titles and policy, for the pydantic rows)."""
    settings = settings or get_settings()
    threshold = heat_threshold(threshold_c, settings)
    n = len(items)
    step = max(n // 4, 1)
    geoms = prepare(session, items, repair, settings)
    _load_temp(session, geoms)
    if progress:
        progress(step)

    rules, bound = _rules_sql(session, "batch_input", {})
    sql = str(text(BATCH_ZONES_SQL.format(rules=rules)).compile(dialect=session.get_bind().dialect))  # %(name)s
    zones = read_frame(session, sql, bound, ["i", "zones", "zone_names", "crosses", "near_edge", "in_muni"])
    distance = nearby_distance(settings)
    context = context_rows(session, distance, models)
    if progress:
        progress(step)
    n2k_version = require_version(session, NATURA2000)
    nearest = read_frame(session, NEAREST_SQL, {"v": n2k_version.version_id}, ["i", "d", "name", "site"])
    if progress:
        progress(step)
    raster_row, ref = current_raster(session, settings=settings)
    heat_c, share = batch_heat(raster_row.raster_path, geoms, threshold)

    idx = pd.RangeIndex(n)
    zones = zones.reindex(idx)
    nearest = nearest.reindex(idx)
    arr = np.asarray(geoms, dtype=object)
    type_id = shapely.get_type_id(arr)
    is_point = type_id == 0
    dist = nearest["d"].to_numpy(dtype="float64")
    in_muni, muni_key = _municipality(zones["in_muni"].to_numpy(dtype=object), is_loaded(session, MUNICIPALITY))
    bands = sorted(settings.natura2000_bands_m)  # band_for's labels, picked for all rows at once (edges inclusive)
    labels = [band_for(e, bands, False).label for e in bands] + [band_for(np.inf, bands, False).label]
    band_idx = np.searchsorted(np.asarray(bands), dist, side="left")
    band = np.where(dist == 0.0, band_for(0.0, bands, True).label, np.asarray(labels, dtype=object)[band_idx])
    crosses = zones["crosses"].to_numpy(dtype=object) == True  # noqa: E712 (NaN and None: no)
    near = zones["near_edge"].to_numpy(dtype=object) == True  # noqa: E712
    warnings = _warnings(crosses, near, muni_key, dist == 0.0)
    nested, nearby = np.full(n, "", dtype=object), np.full(n, "", dtype=object)
    outside_m2, outside_pct = np.full(n, np.nan), np.full(n, np.nan)
    for i, c in context.rows.items():
        nested[i], nearby[i] = _nested_text(c.nested), _nearby_text(c.nearby)
        m2, pct = outside_share(c.area, c.outside)
        outside_m2[i], outside_pct[i] = np.nan if m2 is None else m2, np.nan if pct is None else pct
    props = [it.properties for it in items]
    frame = pd.DataFrame(
        {
            "index": np.arange(n),
            "id": [None if p.get("id") is None else str(p.get("id")) for p in props],
            "name": [_s(p.get("name") or p.get("naam")) for p in props],
            "kind": [_s(p.get("kind") or p.get("soort")) for p in props],
            "geometry_type": GEOMETRY_TYPES[type_id],
            "area_m2": np.where(is_point, np.nan, np.round(shapely.area(arr), 2)),
            "in_municipality": in_muni,
            "zones": zones["zones"].fillna("").to_numpy(),
            "zone_names": zones["zone_names"].fillna("").to_numpy(),
            "nested": nested,
            "outside_zones_m2": outside_m2,
            "outside_zones_pct": outside_pct,
            "nearby": nearby,
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


GEOMETRY_TYPES = np.array(
    [
        "Point",
        "LineString",
        "LinearRing",
        "Polygon",
        "MultiPoint",
        "MultiLineString",
        "MultiPolygon",
        "GeometryCollection",
    ],
    dtype=object,
)  # by GEOS type id (shapely.get_type_id)


def _municipality(covered: np.ndarray, loaded: bool) -> tuple[np.ndarray, np.ndarray]:
    """:func:`municipality_answer` of every row (``covered``: True, False, or None/NaN where no feature is near),
    and a key per row: 0 its answer is True, 1 False, 2 None."""
    key = np.where(covered == True, 0, np.where(covered == False, 1, 2))  # noqa: E712
    answers = [municipality_answer(c, loaded) for c in (True, False, None)]
    out = np.asarray([answers[k] for k in (0, 1, 2)], dtype=object)[key]
    if all(a is not None for a in answers):
        out = out.astype(bool)
    keys = np.asarray([[True, False, None].index(a) for a in answers])[key]
    return out, keys


def _warnings(crosses: np.ndarray, near: np.ndarray, muni_key: np.ndarray, in_n2k: np.ndarray) -> np.ndarray:
    """:func:`warning_codes` of every row as 'code;code', looked up from its answer for each of the 24 cases."""
    table = np.asarray(
        [
            ";".join(warning_codes(crosses=c, near_edge=e, in_municipality=m, in_natura2000=d))
            for m in (True, False, None)
            for d in (False, True)
            for e in (False, True)
            for c in (False, True)
        ],
        dtype=object,
    )
    return table[muni_key * 8 + in_n2k.astype(int) * 4 + near.astype(int) * 2 + crosses.astype(int)]


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
    frame, used, context = _batch(session, items, models=True, **kwargs)
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


def _s(v: Any) -> str | None:
    return None if v is None else str(v)[:200]
