"""The urban heat island (UHI) raster: a cell's value, and exact zonal statistics of a polygon.

Partial cells count by the fraction of them the polygon covers (as exactextract does), computed exactly
from the polygon's rings with Green's theorem (see ``coverage_fractions``). Only the
polygon's window of the raster is read, so memory does not grow with the raster.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import numpy as np
import rasterio
import shapely
from affine import Affine
from pydantic import BaseModel, Field
from rasterio.windows import Window, from_bounds
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from service.core.errors import DataMissing, InvalidInput, NotFound
from service.core.settings import Settings, get_settings
from service.formats.gdalguard import open_stored_raster
from service.spatial.coverage import coverage_fractions, weighted_percentile
from service.spatial.geo import Location
from service.store.current import SourceRef, resolve_raster, source_ref

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
    """The heat raster version in force (with its file's resolved path) and how answers cite it."""
    row = session.execute(
        text(
            "SELECT vf.slug, vf.provenance, vf.indicative, vf.version_id AS id, vf.number, vf.source_name, "
            "vf.source_identifier, v.raster_path, v.metadata "
            "FROM gc_versions_in_force vf JOIN layer_versions v ON v.id = vf.version_id WHERE vf.slug = :s"
        ),
        {"s": HEAT_LAYER},
    ).first()
    if row is None:
        raise NotFound(f"the heat raster ({HEAT_LAYER!r}) is not loaded")
    path = resolve_raster(row.raster_path, settings)
    if path is None or not path.is_file():
        raise DataMissing(
            f"the file of raster version {row.number} of {HEAT_LAYER!r} is missing; "
            "run `gebiedscheck layers load-defaults` (or reload the raster) to restore it",
            cause=str(path),
        )
    src = source_ref(row)
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
    threshold = heat_threshold(threshold_c, settings)
    row, ref = current_raster(session, settings=settings)
    with open_stored_raster(row.raster_path) as src:
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


def heat_threshold(threshold_c: float | None, settings: Settings) -> float:
    if threshold_c is None:
        return settings.heat_threshold_c
    if not math.isfinite(threshold_c) or not -50 <= threshold_c <= 50:
        raise InvalidInput(f"threshold_c={threshold_c} is not a sensible temperature difference (-50..50 °C)")
    return float(threshold_c)


RawStats = tuple[float | None, float | None, float | None, float, float, float | None]
WHOLE_RASTER_CELLS = 16_000_000  # a raster up to this size is read into memory once for a zone table (64 MB)


class RasterGrid:
    """An open raster file for the statistics of one or many polygons.

    ``whole=True`` reads the band once (when it has at most ``WHOLE_RASTER_CELLS`` cells), so many small
    polygons (the zone table) cost no file read each; otherwise each polygon reads only its own window.
    """

    def __init__(self, src: Any, *, whole: bool = False) -> None:
        self.src = src
        self.full = Window(0, 0, src.width, src.height)
        self.cell_area = abs(src.res[0] * src.res[1])
        self.nodata = src.nodata
        self.band = src.read(1) if whole and src.width * src.height <= WHOLE_RASTER_CELLS else None

    def _window(self, bounds: Any) -> tuple[Window, Affine] | None:
        """The cells under ``bounds`` (a cell of margin), inside the raster; None when they miss it. Any window
        that covers the polygon gives the same answer: cells it does not cover have coverage 0."""
        t = self.src.transform
        if t.b == 0 and t.d == 0 and t.a > 0 and t.e < 0:  # north up, the usual case: plain arithmetic
            c0 = max(math.floor((bounds[0] - t.c) / t.a), 0)
            c1 = min(math.ceil((bounds[2] - t.c) / t.a) + 1, self.src.width)
            r0 = max(math.floor((bounds[3] - t.f) / t.e), 0)
            r1 = min(math.ceil((bounds[1] - t.f) / t.e) + 1, self.src.height)
            if c1 <= c0 or r1 <= r0:
                return None
            return Window(c0, r0, c1 - c0, r1 - r0), Affine(t.a, 0.0, t.c + c0 * t.a, 0.0, t.e, t.f + r0 * t.e)
        win = from_bounds(*bounds, transform=t)
        win = win.round_offsets(op="floor").round_lengths(op="ceil")
        win = Window(int(win.col_off), int(win.row_off), int(win.width) + 1, int(win.height) + 1)
        try:
            win = win.intersection(self.full)
        except rasterio.errors.WindowError:
            return None
        return (win, self.src.window_transform(win)) if win.width > 0 and win.height > 0 else None

    def _read(self, win: Window) -> np.ndarray:
        if self.band is None:
            return np.asarray(self.src.read(1, window=win))
        r0, c0 = int(win.row_off), int(win.col_off)
        return self.band[r0 : r0 + int(win.height), c0 : c0 + int(win.width)]

    def raw_stats(
        self, parts: Sequence[BaseGeometry], threshold_c: float, hotspot_threshold_c: float | None = None
    ) -> RawStats:
        bounds = parts[0].bounds if len(parts) == 1 else shapely.total_bounds(np.asarray(parts, dtype=object))
        found = self._window(bounds)
        if found is None:
            return None, None, None, 0.0, 0.0, None if hotspot_threshold_c is None else 0.0
        data = self._read(found[0])
        frac = coverage_fractions(parts, found[1], data.shape)
        nodata = self.nodata
        has_data = np.isfinite(data) if nodata is None or np.isnan(nodata) else (data != nodata)
        if nodata is not None and not np.isnan(nodata):
            has_data &= np.isfinite(data)
        valid = has_data & (frac > 0)
        values, weights = data[valid].astype("float64"), frac[valid]
        if values.size == 0:
            return None, None, None, 0.0, 0.0, None if hotspot_threshold_c is None else 0.0
        area_with_data = float(weights.sum() * self.cell_area)
        above = float(weights[values >= threshold_c].sum() * self.cell_area)
        hot = None
        if hotspot_threshold_c is not None:
            hot = float(weights[values >= hotspot_threshold_c].sum() * self.cell_area)
        mean = float((values * weights).sum() / weights.sum())
        return mean, float(values.max()), weighted_percentile(values, weights, 90), area_with_data, above, hot


@contextmanager
def open_grid(raster_path: str, *, whole: bool = False) -> Iterator[RasterGrid]:
    with open_stored_raster(raster_path) as src:
        yield RasterGrid(src, whole=whole)


def _r(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def stats_fields(
    raw: RawStats, *, area_m2: float, threshold_c: float, hotspot_threshold_c: float | None = None
) -> dict[str, Any]:
    """The fields of a :class:`HeatStats` (without ``raster``) from :meth:`RasterGrid.raw_stats`."""
    mean, high, p90, with_data, above, hot = raw
    return {
        "mean_c": _r(mean, 4),
        "max_c": _r(high, 4),
        "p90_c": _r(p90, 4),
        "threshold_c": threshold_c,
        "area_m2": round(area_m2, 2),
        "area_with_data_m2": round(with_data, 2),
        "area_above_m2": round(above, 2),
        "share_above": round(above / with_data, 6) if with_data > 0 else None,
        "hotspot_overlap_m2": _r(hot, 2),
        "hotspot_threshold_c": hotspot_threshold_c,
    }


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
    with open_grid(raster_path) as grid:
        raw = grid.raw_stats(parts, threshold_c, hotspot_threshold_c)
    fields = stats_fields(raw, area_m2=area_m2, threshold_c=threshold_c, hotspot_threshold_c=hotspot_threshold_c)
    return HeatStats(**fields, raster=ref)


def hotspot_threshold(session: Session, raster_version_id: int) -> float | None:
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
    """Heat statistics of an RD polygon (valid; see service.spatial.validation)."""
    settings = settings or get_settings()
    threshold = heat_threshold(threshold_c, settings)
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise InvalidInput(f"heat overlap needs a polygon, not a {geom.geom_type}")
    row, ref = current_raster(session, settings=settings)
    stats = polygon_stats(
        row.raster_path,
        [geom],
        area_m2=geom.area,
        threshold_c=threshold,
        ref=ref,
        hotspot_threshold_c=hotspot_threshold(session, row.id),
    )
    return stats


def heat_of_feature(
    session: Session, *, layer: str, feature_id: str, threshold_c: float | None = None, settings: Settings | None = None
) -> HeatZoneRow:
    settings = settings or get_settings()
    threshold = heat_threshold(threshold_c, settings)
    feat = session.execute(
        text(
            "SELECT f.id, f.fid, f.name, ST_Area(f.geom) AS area, ST_AsBinary(f.geom) AS wkb FROM features f "
            "JOIN gc_versions_in_force vf ON vf.version_id = f.version_id WHERE vf.slug = :l AND f.fid = :f"
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
        hotspot_threshold_c=hotspot_threshold(session, row.id),
    )
    return HeatZoneRow(layer=layer, feature_id=feat.fid, name=feat.name, **stats.model_dump())


def heat_zones(
    session: Session,
    *,
    threshold_c: float | None = None,
    settings: Settings | None = None,
    stop: Callable[[], bool] | None = None,
) -> list[HeatZoneRow]:
    """Every zone of every Omgevingsvisie and Natura 2000 layer, hottest (mean) first (see service.questions.zonetable:
    the raster is read once, and ``stop`` is asked between zones)."""
    from service.questions.zonetable import zone_table

    table, ref = zone_table(session, threshold_c=threshold_c, settings=settings, stop=stop)
    return table.rows(ref, 0, len(table))


__all__ = ["HeatStats", "RasterGrid", "SourceRef", "heat_at", "heat_overlap", "heat_zones", "open_grid"]
