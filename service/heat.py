"""The urban heat island (UHI) raster: a cell's value, and exact zonal statistics of a polygon.

Partial cells count by the fraction of them the polygon covers (as exactextract does): the polygon is
split into small parts (ST_Subdivide); per part, cells its boundary does not touch are fully in or out
(rasterised), and the cells its boundary touches get their exact covered area by clipping. Only the
polygon's window of the raster is read, so memory does not grow with the raster.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import rasterio
import shapely
from pydantic import BaseModel, Field
from rasterio.features import rasterize
from rasterio.windows import Window, from_bounds
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from service.errors import InvalidInput, NotFound
from service.geo import Location
from service.loading import MAX_PART_VERTICES
from service.settings import Settings, get_settings
from service.zones import SourceRef, _source

HEAT_LAYER = "hitte-eiland"
MEANING = (
    "Stedelijk hitte-eilandeffect (UHI): het verschil in gemiddelde luchttemperatuur tussen stad en platteland "
    "in de zomer, in °C (definitie van de landelijke UHI-kaart, Atlas Natuurlijk Kapitaal)."
)


class RasterRef(BaseModel):
    layer: str
    version: int
    source_name: str
    label: str
    provenance: str
    cell_size_m: float
    unit: str = "°C"
    meaning: str = MEANING


class HeatAtAnswer(BaseModel):
    location: Location
    value_c: float | None = Field(description="UHI of the cell at the location (°C); None where the raster has no data")
    has_data: bool
    above_threshold: bool | None
    threshold_c: float
    raster: RasterRef


class HeatStats(BaseModel):
    mean_c: float | None = Field(description="Coverage-weighted mean UHI (°C)")
    max_c: float | None
    p90_c: float | None = Field(description="Coverage-weighted 90th percentile (°C)")
    threshold_c: float
    area_m2: float = Field(description="Area of the polygon (m²)")
    area_with_data_m2: float = Field(description="Part of the polygon the raster has values for (m²)")
    area_above_m2: float = Field(description="Area of the polygon with UHI at or above the threshold (m²)")
    share_above: float | None = Field(description="area_above_m2 / area_with_data_m2 (0..1)")
    hotspot_overlap_m2: float | None = Field(
        None, description="Overlap with the hotspot polygons made at load time (only for their threshold)"
    )
    raster: RasterRef


class HeatZoneRow(HeatStats):
    layer: str
    feature_id: str
    name: str


def current_raster(session: Session, *, settings: Settings | None = None) -> tuple[Any, RasterRef]:
    row = session.execute(
        text(
            "SELECT l.slug, l.provenance, l.indicative, v.id, v.number, v.source_name, v.source_identifier, "
            "v.raster_path, v.metadata FROM layers l JOIN layer_versions v ON v.id = l.current_version_id "
            "WHERE l.slug = :s"
        ),
        {"s": HEAT_LAYER},
    ).first()
    if row is None:
        raise NotFound(f"the heat raster ({HEAT_LAYER!r}) is not loaded")
    src = _source(row)
    meta = row.metadata or {}
    ref = RasterRef(
        layer=src.layer,
        version=src.version,
        source_name=src.source_name,
        label=src.label,
        provenance=src.provenance,
        cell_size_m=float((meta.get("cell_size_m") or [10.0])[0]),
        unit=meta.get("unit") or "°C",
    )
    return row, ref


def heat_at(
    session: Session, loc: Location, *, threshold_c: float | None = None, settings: Settings | None = None
) -> HeatAtAnswer:
    settings = settings or get_settings()
    threshold = _threshold(threshold_c, settings)
    row, ref = current_raster(session)
    with rasterio.Env(), rasterio.open(row.raster_path) as src:
        r, c = src.index(loc.rd.x, loc.rd.y)
        if not (0 <= r < src.height and 0 <= c < src.width):
            value = None
        else:
            cell = src.read(1, window=Window(c, r, 1, 1), masked=True)
            value = None if np.ma.getmaskarray(cell)[0, 0] else float(cell[0, 0])
    return HeatAtAnswer(
        location=loc,
        value_c=None if value is None else round(value, 3),
        has_data=value is not None,
        above_threshold=None if value is None else value >= threshold,
        threshold_c=threshold,
        raster=ref,
    )


def _threshold(threshold_c: float | None, settings: Settings) -> float:
    if threshold_c is None:
        return settings.heat_threshold_c
    if not math.isfinite(threshold_c) or not -50 <= threshold_c <= 50:
        raise InvalidInput(f"threshold_c={threshold_c} is not a sensible temperature difference (-50..50 °C)")
    return float(threshold_c)


# --- coverage fractions --------------------------------------------------------------------------------


def coverage_fractions(parts: Sequence[BaseGeometry], transform: Any, shape: tuple[int, int]) -> np.ndarray:
    """Fraction (0..1) of each cell of the grid (``transform``, ``shape``) covered by the union of
    ``parts`` (disjoint polygons, e.g. from ST_Subdivide)."""
    height, width = shape
    out = np.zeros(shape, dtype="float64")
    cw, ch = transform.a, -transform.e
    x0, y0 = transform.c, transform.f
    cell_area = cw * ch
    for part in parts:
        if part.is_empty:
            continue
        bx0, by0, bx1, by1 = part.bounds
        c0 = max(int(math.floor((bx0 - x0) / cw)), 0)
        c1 = min(int(math.ceil((bx1 - x0) / cw)), width)
        r0 = max(int(math.floor((y0 - by1) / ch)), 0)
        r1 = min(int(math.ceil((y0 - by0) / ch)), height)
        if c1 <= c0 or r1 <= r0:
            continue
        sub_t = transform * transform.translation(c0, r0)
        sub_shape = (r1 - r0, c1 - c0)
        touched = rasterize(
            [part.boundary],
            out_shape=sub_shape,
            transform=sub_t,
            all_touched=True,
            fill=0,
            default_value=1,
            dtype="uint8",
        ).astype(bool)
        inside = rasterize(
            [part], out_shape=sub_shape, transform=sub_t, all_touched=False, fill=0, default_value=1, dtype="uint8"
        ).astype(bool)
        frac = np.where(inside & ~touched, 1.0, 0.0)
        rows, cols = np.nonzero(touched)
        if rows.size:
            prepared = part
            shapely.prepare(prepared)
            xs = x0 + (c0 + cols) * cw
            ys = y0 - (r0 + rows) * ch
            areas = np.fromiter(
                (
                    shapely.area(shapely.clip_by_rect(prepared, x, y - ch, x + cw, y))
                    for x, y in zip(xs, ys, strict=True)
                ),
                dtype="float64",
                count=rows.size,
            )
            frac[rows, cols] = areas / cell_area
        out[r0:r1, c0:c1] += frac
    np.clip(out, 0.0, 1.0, out=out)
    return out


def weighted_percentile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    order = np.argsort(values)
    v, w = values[order], weights[order]
    cum = np.cumsum(w)
    target = q / 100.0 * cum[-1]
    return float(v[min(np.searchsorted(cum, target), v.size - 1)])


def polygon_stats(
    raster_path: str, parts: Sequence[BaseGeometry], *, area_m2: float, threshold_c: float, ref: RasterRef
) -> HeatStats:
    """Coverage-weighted statistics of the raster under a polygon given as disjoint parts."""
    bounds = shapely.total_bounds(np.asarray(parts, dtype=object))
    with rasterio.Env(), rasterio.open(raster_path) as src:
        win = from_bounds(*bounds, transform=src.transform)
        win = win.round_offsets(op="floor").round_lengths(op="ceil")
        col0, row0 = int(win.col_off), int(win.row_off)
        win = Window(col0, row0, int(win.width) + 1, int(win.height) + 1)
        full = Window(0, 0, src.width, src.height)
        try:
            win = win.intersection(full)
        except rasterio.errors.WindowError:
            win = None
        if win is None or win.width <= 0 or win.height <= 0:
            data = np.ma.masked_all((0, 0))
            frac = np.zeros((0, 0))
            cell_area = abs(src.res[0] * src.res[1])
        else:
            data = src.read(1, window=win, masked=True)
            frac = coverage_fractions(parts, src.window_transform(win), data.shape)
            cell_area = abs(src.res[0] * src.res[1])
    valid = (~np.ma.getmaskarray(data)) & (frac > 0)
    values, weights = np.asarray(data)[valid].astype("float64"), frac[valid]
    area_with_data = float(weights.sum() * cell_area)
    if values.size == 0:
        return HeatStats(
            mean_c=None,
            max_c=None,
            p90_c=None,
            threshold_c=threshold_c,
            area_m2=round(area_m2, 2),
            area_with_data_m2=0.0,
            area_above_m2=0.0,
            share_above=None,
            hotspot_overlap_m2=None,
            raster=ref,
        )
    above = float(weights[values >= threshold_c].sum() * cell_area)
    return HeatStats(
        mean_c=round(float(np.average(values, weights=weights)), 4),
        max_c=round(float(values.max()), 4),
        p90_c=round(weighted_percentile(values, weights, 90), 4),
        threshold_c=threshold_c,
        area_m2=round(area_m2, 2),
        area_with_data_m2=round(area_with_data, 2),
        area_above_m2=round(above, 2),
        share_above=round(above / area_with_data, 6) if area_with_data > 0 else None,
        hotspot_overlap_m2=None,
        raster=ref,
    )


def subdivide(session: Session, geom: BaseGeometry) -> list[BaseGeometry]:
    """Small parts of a (valid, polygonal) RD geometry, via ST_Subdivide; small polygons stay whole."""
    polys = list(getattr(geom, "geoms", [geom]))
    if shapely.get_num_coordinates(geom) <= MAX_PART_VERTICES:
        return polys
    rows = session.execute(
        text("SELECT ST_AsBinary((ST_Dump(ST_Subdivide(ST_GeomFromWKB(:wkb, 28992), :n))).geom)"),
        {"wkb": shapely.to_wkb(geom), "n": MAX_PART_VERTICES},
    ).scalars()
    return [shapely.from_wkb(bytes(r)) for r in rows]


def _hotspot_overlap(
    session: Session, raster_version_id: int, threshold: float, wkb: bytes | None = None, feature_id: int | None = None
) -> float | None:
    stored = session.execute(
        text("SELECT 1 FROM heat_hotspots WHERE version_id = :v AND threshold_c = :t LIMIT 1"),
        {"v": raster_version_id, "t": threshold},
    ).first()
    if stored is None:
        return None
    if feature_id is not None:
        sql = (
            "SELECT coalesce(sum(ST_Area(ST_Intersection(h.geom, p.geom))), 0) FROM heat_hotspots h "
            "JOIN feature_parts p ON ST_Intersects(h.geom, p.geom) "
            "WHERE p.feature_id = :f AND h.version_id = :v AND h.threshold_c = :t"
        )
        params: dict[str, Any] = {"f": feature_id, "v": raster_version_id, "t": threshold}
    else:
        sql = (
            "WITH g AS (SELECT ST_GeomFromWKB(:wkb, 28992) AS geom) "
            "SELECT coalesce(sum(ST_Area(ST_Intersection(h.geom, g.geom))), 0) FROM heat_hotspots h, g "
            "WHERE h.version_id = :v AND h.threshold_c = :t AND ST_Intersects(h.geom, g.geom)"
        )
        params = {"wkb": wkb, "v": raster_version_id, "t": threshold}
    return round(float(session.execute(text(sql), params).scalar_one()), 2)


def heat_overlap(
    session: Session, geom: BaseGeometry, *, threshold_c: float | None = None, settings: Settings | None = None
) -> HeatStats:
    """Heat statistics of an RD polygon (valid; see service.validate)."""
    settings = settings or get_settings()
    threshold = _threshold(threshold_c, settings)
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise InvalidInput(f"heat overlap needs a polygon, not a {geom.geom_type}")
    row, ref = current_raster(session)
    stats = polygon_stats(row.raster_path, subdivide(session, geom), area_m2=geom.area, threshold_c=threshold, ref=ref)
    stats.hotspot_overlap_m2 = _hotspot_overlap(session, row.id, threshold, wkb=shapely.to_wkb(geom))
    return stats


def heat_of_feature(
    session: Session, *, layer: str, feature_id: str, threshold_c: float | None = None, settings: Settings | None = None
) -> HeatZoneRow:
    settings = settings or get_settings()
    threshold = _threshold(threshold_c, settings)
    feat = session.execute(
        text(
            "SELECT f.id, f.fid, f.name, ST_Area(f.geom) AS area FROM features f JOIN layers l "
            "ON l.current_version_id = f.version_id WHERE l.slug = :l AND f.fid = :f"
        ),
        {"l": layer, "f": feature_id},
    ).first()
    if feat is None:
        exists = session.execute(text("SELECT 1 FROM layers WHERE slug = :l"), {"l": layer}).first()
        raise NotFound(
            f"layer {layer!r} has no feature {feature_id!r}" if exists else f"layer {layer!r} does not exist"
        )
    row, ref = current_raster(session)
    parts = [
        shapely.from_wkb(bytes(w))
        for w in session.execute(
            text("SELECT ST_AsBinary(geom) FROM feature_parts WHERE feature_id = :id"), {"id": feat.id}
        ).scalars()
    ]
    stats = polygon_stats(row.raster_path, parts, area_m2=float(feat.area), threshold_c=threshold, ref=ref)
    stats.hotspot_overlap_m2 = _hotspot_overlap(session, row.id, threshold, feature_id=feat.id)
    return HeatZoneRow(layer=layer, feature_id=feat.fid, name=feat.name, **stats.model_dump())


def heat_zones(
    session: Session, *, threshold_c: float | None = None, settings: Settings | None = None
) -> list[HeatZoneRow]:
    """Every zone of every Omgevingsvisie and Natura 2000 layer, hottest (mean) first."""
    feats = session.execute(
        text(
            "SELECT l.slug, f.fid FROM features f JOIN layers l ON l.current_version_id = f.version_id "
            "WHERE l.kind = 'vector' AND l.category IN ('omgevingsvisie', 'natura2000') ORDER BY l.slug, f.fid"
        )
    ).all()
    rows = [
        heat_of_feature(session, layer=s, feature_id=f, threshold_c=threshold_c, settings=settings) for s, f in feats
    ]
    return sorted(rows, key=lambda r: (r.mean_c is None, -(r.mean_c or 0.0)))


__all__ = ["HeatStats", "SourceRef", "heat_at", "heat_overlap", "heat_zones"]
