"""The urban heat island (UHI) raster: a cell's value, and exact zonal statistics of a polygon.

Partial cells count by the fraction of them the polygon covers (as exactextract does), computed exactly
from the polygon's rings with Green's theorem (see ``coverage_fractions``). Only the
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
from rasterio.windows import Window, from_bounds
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from service.errors import DatabaseUnavailable, InvalidInput, NotFound
from service.geo import Location
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
        None, description="Overlap with the hotspot polygons made when the raster was loaded (m²)"
    )
    hotspot_threshold_c: float | None = Field(None, description="The threshold the hotspot polygons were made at")
    raster: RasterRef


class HeatZoneRow(HeatStats):
    layer: str
    feature_id: str
    name: str


def current_raster(session: Session, *, settings: Settings | None = None) -> tuple[Any, RasterRef]:
    """The current heat raster version (with its file's resolved path) and how answers cite it."""
    from types import SimpleNamespace

    from service.loading import resolve_raster

    row = session.execute(
        text(
            "SELECT l.slug, coalesce(v.provenance, l.provenance) AS provenance, "
            "coalesce(v.indicative, l.indicative) AS indicative, "
            "v.id, v.number, v.source_name, v.source_identifier, "
            "v.raster_path, v.metadata FROM layers l "
            "JOIN layer_versions v ON v.id = gc_version(l.id, l.current_version_id) "
            "WHERE l.slug = :s"
        ),
        {"s": HEAT_LAYER},
    ).first()
    if row is None:
        raise NotFound(f"the heat raster ({HEAT_LAYER!r}) is not loaded")
    path = resolve_raster(row.raster_path, settings)
    if path is None or not path.is_file():
        raise DatabaseUnavailable(
            f"the file of raster version {row.number} of {HEAT_LAYER!r} is missing; "
            "run `gebiedscheck layers load-defaults` (or reload the raster) to restore it",
            cause=str(path),
        )
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
    return SimpleNamespace(id=row.id, number=row.number, raster_path=str(path), metadata=meta), ref


def heat_at(
    session: Session, loc: Location, *, threshold_c: float | None = None, settings: Settings | None = None
) -> HeatAtAnswer:
    settings = settings or get_settings()
    threshold = _threshold(threshold_c, settings)
    row, ref = current_raster(session, settings=settings)
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


def _rings(geoms: Sequence[BaseGeometry]) -> list[np.ndarray]:
    """Every ring, exteriors counter-clockwise and holes clockwise."""
    from shapely.geometry.polygon import orient

    out = []
    for g in geoms:
        for poly in getattr(g, "geoms", [g]):
            if poly.is_empty or poly.geom_type != "Polygon":
                continue
            poly = orient(poly, 1.0)
            out.append(np.asarray(poly.exterior.coords)[:, :2])
            out += [np.asarray(ring.coords)[:, :2] for ring in poly.interiors]
    return out


def coverage_fractions(geoms: Sequence[BaseGeometry], transform: Any, shape: tuple[int, int]) -> np.ndarray:
    """Exact fraction (0..1) of each cell of the grid (``transform``, ``shape``) that the polygons cover.

    Green's theorem per cell: the covered area of cell (r, c) is the integral over the boundary pieces in
    row r of clamp(u - c, 0, 1) dv (grid units). Every ring segment is cut where it crosses grid lines; a
    piece in column k adds (mean u - k)·dv to its own cell and dv to every cell left of it (a prefix sum).
    Fully vectorised, linear in vertices + crossings + cells; polygons partly outside the grid are fine.
    """
    height, width = shape
    cw, ch = transform.a, -transform.e
    x0, y0 = transform.c, transform.f
    rings = _rings(geoms)
    if not rings or height == 0 or width == 0:
        return np.zeros(shape, dtype="float64")
    a = np.concatenate([r[:-1] for r in rings])
    b = np.concatenate([r[1:] for r in rings])
    u0, v0 = (a[:, 0] - x0) / cw, (y0 - a[:, 1]) / ch
    u1, v1 = (b[:, 0] - x0) / cw, (y0 - b[:, 1]) / ch
    du, dv = u1 - u0, v1 - v0
    n = u0.size
    ts = [np.zeros(n), np.ones(n)]
    segs = [np.arange(n), np.arange(n)]
    for p0, d, f0, f1 in ((u0, du, np.floor(u0), np.floor(u1)), (v0, dv, np.floor(v0), np.floor(v1))):
        count = np.abs(f1 - f0).astype(np.int64)
        total = int(count.sum())
        if total:
            seg = np.repeat(np.arange(n), count)
            first = np.minimum(f0, f1)[seg] + 1
            offset = np.arange(total) - np.repeat(np.cumsum(count) - count, count)
            ts.append((first + offset - p0[seg]) / d[seg])
            segs.append(seg)
    t, seg = np.concatenate(ts), np.concatenate(segs)
    order = np.lexsort((t, seg))
    t, seg = t[order], seg[order]
    keep = (seg[:-1] == seg[1:]) & (t[1:] > t[:-1])
    ta, tb, s = t[:-1][keep], t[1:][keep], seg[:-1][keep]
    ua, ub = u0[s] + ta * du[s], u0[s] + tb * du[s]
    va, vb = v0[s] + ta * dv[s], v0[s] + tb * dv[s]
    um, vm = (ua + ub) / 2, (va + vb) / 2
    col, row = np.floor(um).astype(np.int64), np.floor(vm).astype(np.int64)
    piece_dv = vb - va
    ok = (row >= 0) & (row < height) & (col >= 0)
    row, col, um, piece_dv = row[ok], col[ok], um[ok], piece_dv[ok]
    inside = col < width
    partial = np.bincount(
        row[inside] * width + col[inside],
        weights=(um[inside] - col[inside]) * piece_dv[inside],
        minlength=height * width,
    ).reshape(shape)
    dcol = np.minimum(col, width)
    deltas = np.bincount(row * (width + 1) + dcol, weights=piece_dv, minlength=height * (width + 1))
    deltas = deltas.reshape(height, width + 1)
    right_of = np.cumsum(deltas[:, ::-1], axis=1)[:, ::-1] - deltas  # sum over columns k > c
    frac = -(partial + right_of[:, :width])  # v runs downwards: flip the sign
    np.clip(frac, 0.0, 1.0, out=frac)
    return frac


def weighted_percentile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    order = np.argsort(values)
    v, w = values[order], weights[order]
    cum = np.cumsum(w)
    target = q / 100.0 * cum[-1]
    return float(v[min(np.searchsorted(cum, target), v.size - 1)])


def polygon_stats(
    raster_path: str,
    parts: Sequence[BaseGeometry],
    *,
    area_m2: float,
    threshold_c: float,
    ref: RasterRef,
    hotspot_threshold_c: float | None = None,
) -> HeatStats:
    """Coverage-weighted statistics of the raster under a polygon given as disjoint parts.

    With ``hotspot_threshold_c`` (the threshold the hotspot polygons were made at), the overlap with the
    hotspots is the covered area of the cells at or above it: the hotspots are exactly those cells.
    """
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
        cell_area = abs(src.res[0] * src.res[1])
        if win is None or win.width <= 0 or win.height <= 0:
            data, frac = np.zeros((0, 0), dtype="float64"), np.zeros((0, 0))
            has_data = np.zeros((0, 0), dtype=bool)
        else:
            data = src.read(1, window=win)
            frac = coverage_fractions(parts, src.window_transform(win), data.shape)
            has_data = np.isfinite(data) if src.nodata is None or np.isnan(src.nodata) else (data != src.nodata)
            if src.nodata is not None and not np.isnan(src.nodata):
                has_data &= np.isfinite(data)
    valid = has_data & (frac > 0)
    values, weights = data[valid].astype("float64"), frac[valid]
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
            hotspot_overlap_m2=None if hotspot_threshold_c is None else 0.0,
            hotspot_threshold_c=hotspot_threshold_c,
            raster=ref,
        )
    above = float(weights[values >= threshold_c].sum() * cell_area)
    hot = None if hotspot_threshold_c is None else float(weights[values >= hotspot_threshold_c].sum() * cell_area)
    return HeatStats(
        mean_c=round(float(np.average(values, weights=weights)), 4),
        max_c=round(float(values.max()), 4),
        p90_c=round(weighted_percentile(values, weights, 90), 4),
        threshold_c=threshold_c,
        area_m2=round(area_m2, 2),
        area_with_data_m2=round(area_with_data, 2),
        area_above_m2=round(above, 2),
        share_above=round(above / area_with_data, 6) if area_with_data > 0 else None,
        hotspot_overlap_m2=None if hot is None else round(hot, 2),
        hotspot_threshold_c=hotspot_threshold_c,
        raster=ref,
    )


def _hotspot_threshold(session: Session, raster_version_id: int) -> float | None:
    """The threshold the raster version's hotspot polygons were made at (None: none were made)."""
    value = session.execute(
        text(
            "SELECT coalesce((metadata->>'hotspot_threshold_c')::float8, "
            "(SELECT min(threshold_c) FROM heat_hotspots WHERE version_id = :v)) FROM layer_versions WHERE id = :v"
        ),
        {"v": raster_version_id},
    ).scalar()
    return None if value is None else float(value)


def heat_overlap(
    session: Session, geom: BaseGeometry, *, threshold_c: float | None = None, settings: Settings | None = None
) -> HeatStats:
    """Heat statistics of an RD polygon (valid; see service.validate)."""
    settings = settings or get_settings()
    threshold = _threshold(threshold_c, settings)
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise InvalidInput(f"heat overlap needs a polygon, not a {geom.geom_type}")
    row, ref = current_raster(session, settings=settings)
    stats = polygon_stats(
        row.raster_path,
        [geom],
        area_m2=geom.area,
        threshold_c=threshold,
        ref=ref,
        hotspot_threshold_c=_hotspot_threshold(session, row.id),
    )
    return stats


def heat_of_feature(
    session: Session, *, layer: str, feature_id: str, threshold_c: float | None = None, settings: Settings | None = None
) -> HeatZoneRow:
    settings = settings or get_settings()
    threshold = _threshold(threshold_c, settings)
    feat = session.execute(
        text(
            "SELECT f.id, f.fid, f.name, ST_Area(f.geom) AS area, ST_AsBinary(f.geom) AS wkb FROM features f "
            "JOIN layers l ON gc_version(l.id, l.current_version_id) = f.version_id WHERE l.slug = :l AND f.fid = :f"
        ),
        {"l": layer, "f": feature_id},
    ).first()
    if feat is None:
        exists = session.execute(text("SELECT 1 FROM layers WHERE slug = :l"), {"l": layer}).first()
        raise NotFound(
            f"layer {layer!r} has no feature {feature_id!r}" if exists else f"layer {layer!r} does not exist"
        )
    row, ref = current_raster(session, settings=settings)
    geom = shapely.from_wkb(bytes(feat.wkb))
    stats = polygon_stats(
        row.raster_path,
        [geom],
        area_m2=float(feat.area),
        threshold_c=threshold,
        ref=ref,
        hotspot_threshold_c=_hotspot_threshold(session, row.id),
    )
    return HeatZoneRow(layer=layer, feature_id=feat.fid, name=feat.name, **stats.model_dump())


def heat_zones(
    session: Session, *, threshold_c: float | None = None, settings: Settings | None = None
) -> list[HeatZoneRow]:
    """Every zone of every Omgevingsvisie and Natura 2000 layer, hottest (mean) first."""
    feats = session.execute(
        text(
            "SELECT l.slug, f.fid FROM features f "
            "JOIN layers l ON gc_version(l.id, l.current_version_id) = f.version_id "
            "WHERE l.kind = 'vector' AND l.category IN ('omgevingsvisie', 'natura2000') ORDER BY l.slug, f.fid"
        )
    ).all()
    rows = [
        heat_of_feature(session, layer=s, feature_id=f, threshold_c=threshold_c, settings=settings) for s, f in feats
    ]
    return sorted(rows, key=lambda r: (r.mean_c is None, -(r.mean_c or 0.0)))


__all__ = ["HeatStats", "SourceRef", "heat_at", "heat_overlap", "heat_zones"]
