"""Reading initiatives from files (GeoJSON, GeoPackage, CSV) and writing batch results (GeoPackage, CSV)."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from service.core.errors import GebiedscheckError, InvalidInput
from service.core.settings import Settings
from service.formats.cells import plain_value
from service.formats.safeopen import Kind, read_frame, staged
from service.spatial.geo import RD, WGS84, ParsedGeometry, location, parse_crs, rd_to_wgs84_transformer

LAT_NAMES = ("lat", "latitude", "breedte", "breedtegraad")
LON_NAMES = ("lon", "lng", "long", "longitude", "lengte", "lengtegraad")


def _pick(fields: Sequence[str], names: tuple[str, ...]) -> str | None:
    lower = {f.lower().strip(): f for f in fields}
    return next((lower[n] for n in names if n in lower), None)


def read_initiatives(
    path: Path,
    *,
    crs: str | None = None,
    layer: str | None = None,
    max_vertices: int = 250_000,
    settings: Settings | None = None,
) -> list[ParsedGeometry]:
    """Initiatives from a GeoJSON, GeoPackage, zipped Shapefile (CRS from the file) or CSV (lat/lon, or x/y
    with RD), read through the safe path (:mod:`service.formats.safeopen`): these are files planners receive from
    others, so they are as hostile as any upload."""
    allowed = (Kind.GEOJSON, Kind.GPKG, Kind.SHAPEFILE, Kind.CSV)
    try:
        with staged(path, allowed=allowed, settings=settings) as st:
            if st.kind is Kind.CSV:
                return _read_csv(st.path, crs=crs, name=st.source_name)
            gdf = read_frame(st, layer=layer, settings=settings)
    except InvalidInput:
        raise
    except GebiedscheckError as exc:  # a file that cannot be read is the input's fault here
        raise InvalidInput(exc.detail, cause=exc.cause) from exc
    if gdf.crs is None:
        raise InvalidInput(f"{path.name}: the file states no CRS; it is never guessed")
    if len(gdf) == 0:
        raise InvalidInput(f"{path.name}: the file has no features")
    if gdf.crs.to_epsg() != 28992:
        gdf = gdf.to_crs(28992)
    attributes = [c for c in gdf.columns if c != gdf.geometry.name]
    columns = {c: gdf[c].tolist() for c in attributes}  # by name: any field name a GIS file may hold
    out = []
    for i, geom in enumerate(gdf.geometry.tolist(), start=1):
        if geom is None or geom.is_empty:
            raise InvalidInput(f"{path.name}: feature {i} has no geometry")
        n = int(shapely.get_num_coordinates(geom))
        if n > max_vertices:
            raise InvalidInput(f"{path.name}: feature {i} has more than {max_vertices} vertices")
        if not all(math.isfinite(v) for v in geom.bounds):
            raise InvalidInput(f"{path.name}: feature {i} has coordinates that are not finite numbers")
        props = {str(k): plain_value(columns[k][i - 1]) for k in attributes}
        out.append(ParsedGeometry(geom=geom, crs_in=RD, properties=props, vertex_count=n))
    return out


def _read_csv(path: Path, *, crs: str | None, name: str) -> list[ParsedGeometry]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        sample = fh.read(4096)
        fh.seek(0)
        try:
            dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        reader = csv.DictReader(fh, dialect=dialect)
        fields = reader.fieldnames or []
        lat_f, lon_f = _pick(fields, LAT_NAMES), _pick(fields, LON_NAMES)
        x_f, y_f = _pick(fields, ("x",)), _pick(fields, ("y",))
        if not ((lat_f and lon_f) or (x_f and y_f)):
            raise InvalidInput(f"{name}: needs lat/lon columns (WGS84) or x/y columns (RD); found {fields}")
        use_xy = not (lat_f and lon_f)
        if use_xy and parse_crs(crs, default=RD) != RD:
            raise InvalidInput(f"{name}: x/y columns are read as RD (EPSG:28992)")
        out = []
        for i, rec in enumerate(reader, start=2):
            try:
                if use_xy:
                    loc = location(x=_num(rec[x_f]), y=_num(rec[y_f]), crs=RD)
                else:
                    loc = location(lat=_num(rec[lat_f]), lon=_num(rec[lon_f]), crs=WGS84)
            except InvalidInput as exc:
                raise InvalidInput(f"{name}, line {i}: {exc.detail}") from exc
            except (ValueError, TypeError) as exc:
                raise InvalidInput(f"{name}, line {i}: coordinates are not numbers") from exc
            props = {k: v for k, v in rec.items() if k not in (lat_f, lon_f, x_f, y_f) and k is not None}
            out.append(
                ParsedGeometry(
                    geom=shapely.Point(loc.rd.x, loc.rd.y), crs_in=loc.crs_in, properties=props, vertex_count=1
                )
            )
    if not out:
        raise InvalidInput(f"{name}: no rows")
    return out


def _num(v: str | None) -> float:
    if v is None or not v.strip():
        raise ValueError("empty")
    return float(v.strip().replace(",", ".")) if v.count(",") == 1 and "." not in v else float(v)


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: object) -> object:
    """A cell that a spreadsheet would run as a formula, made text (OWASP CSV injection: a leading ')."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def write_results(frame: pd.DataFrame, items: list[ParsedGeometry], out: Path) -> None:
    """GeoPackage (with geometry, EPSG:28992) or CSV (with lat/lon of a point on each initiative).

    In CSV, text cells that start with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return get a leading
    ``'`` so no spreadsheet runs them; numbers stay numbers. The GeoPackage keeps every value as it is.
    """
    suffix = out.suffix.lower()
    if suffix == ".csv":
        pts = shapely.point_on_surface(np.asarray([i.geom for i in items], dtype=object))
        xy = shapely.get_coordinates(pts)
        lon, lat = rd_to_wgs84_transformer().transform(xy[:, 0], xy[:, 1])
        safe = frame.copy()
        for column in safe.columns:
            if not (pd.api.types.is_numeric_dtype(safe[column]) or pd.api.types.is_bool_dtype(safe[column])):
                safe[column] = safe[column].map(csv_safe)
        safe.columns = [str(csv_safe(str(c))) for c in safe.columns]
        safe.assign(lat=np.round(lat, 7), lon=np.round(lon, 7)).to_csv(out, index=False)
        return
    if suffix != ".gpkg":
        raise InvalidInput(f"{out.name}: write .gpkg or .csv")
    import geopandas as gpd

    gdf = gpd.GeoDataFrame(frame.copy(), geometry=[i.geom for i in items], crs="EPSG:28992")
    gdf["in_municipality"] = gdf["in_municipality"].astype("boolean")
    if out.exists():
        out.unlink()
    # GeoPackage 1.2: read without warnings by older GDAL (Debian 12's 3.6) too.
    gdf.to_file(out, layer="gebiedscheck", driver="GPKG", VERSION="1.2")
