"""Raster layers (the heat island): a GeoTIFF checked, converted to a COG in EPSG:28992, described and
polygonised into hotspots — window by window, so memory does not grow with the raster.

Files come through :mod:`service.formats.safeopen` (the GTiff driver only, the size checked from the header before any
pixel is read). Every pass over the pixels reads windows of at most ``WINDOW`` × ``WINDOW`` cells and checks
``cancel`` between them, so a load can be stopped.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from service.core.errors import LayerLoadError, LoadCancelled
from service.core.settings import Settings, get_settings
from service.formats.gdalguard import open_stored_raster
from service.formats.safeopen import Kind, Staged, layer_crs, open_raster, rasterio_env, staged

log = logging.getLogger(__name__)

RD_EPSG = 28992
MAX_PART_VERTICES = 256  # as migration 0002
WINDOW = 2048
Cancel = Callable[[], bool] | None


@dataclass
class PreparedRaster:
    path: Path
    sha256: str
    metadata: dict[str, Any]
    source_name: str | None = None  # the user's file name when ``path`` is our converted copy


def _check(cancel: Cancel) -> None:
    if cancel is not None and cancel():
        raise LoadCancelled("the load was stopped before it was written; nothing changed")


def windows(src: Any, size: int = WINDOW) -> Iterator[Any]:
    """Windows of at most ``size`` × ``size`` cells covering the raster, row by row."""
    from rasterio.windows import Window

    for row in range(0, src.height, size):
        for col in range(0, src.width, size):
            yield Window(col, row, min(size, src.width - col), min(size, src.height - row))


def describe(src: Any, *, name: str, unit: str | None, cancel: Cancel = None) -> dict[str, Any]:
    """The metadata of a single-band raster in EPSG:28992, with min/max/mean over its valid cells (windowed)."""
    if src.crs is None:
        raise LayerLoadError(f"{name}: the raster states no coordinate reference system")
    if src.crs.to_epsg() != RD_EPSG:
        raise LayerLoadError(f"{name}: the raster is in {src.crs}, expected EPSG:28992")
    count, total, lo, hi = 0, 0.0, math.inf, -math.inf
    for win in windows(src):
        _check(cancel)
        band = src.read(1, window=win, masked=True)
        valid = band.compressed()
        if valid.size == 0:
            continue
        if not np.isfinite(valid).all():
            raise LayerLoadError(f"{name}: the raster holds NaN or infinite values outside nodata")
        count += int(valid.size)
        total += float(valid.sum(dtype="float64"))
        lo, hi = min(lo, float(valid.min())), max(hi, float(valid.max()))
    if count == 0:
        raise LayerLoadError(f"{name}: the raster holds no valid cells")
    return {
        "crs": "EPSG:28992",
        "width": src.width,
        "height": src.height,
        "cell_size_m": [abs(src.res[0]), abs(src.res[1])],
        "bounds": list(src.bounds),
        "dtype": src.dtypes[0],
        "nodata": src.nodata,
        "min": lo,
        "max": hi,
        "mean": total / count,
        "unit": unit,
        "driver": src.driver,
        "tiled": bool(src.profile.get("tiled", False)),
        "overviews": src.overviews(1),
    }


def read_raster(
    path: Path, *, unit: str | None = None, settings: Settings | None = None, cancel: Cancel = None
) -> PreparedRaster:
    """A single-band GeoTIFF in EPSG:28992 as it is (the default layer): checked, described."""
    with staged(path, allowed=(Kind.GTIFF,), settings=settings) as st, open_raster(st, settings=settings) as src:
        meta = describe(src, name=st.source_name, unit=unit, cancel=cancel)
    return PreparedRaster(path=path, sha256=st.sha256, metadata=meta)


def _predictor(dtype: str) -> int:
    """DEFLATE's predictor: 3 (floating point) for float rasters, 2 (horizontal differencing) for integers."""
    return 3 if np.dtype(dtype).kind == "f" else 2


def _to_rd(st: Staged, src: Any, workdir: Path, crs: str | None, cancel: Cancel) -> Path:
    """The raster in EPSG:28992 as a GeoTIFF of ours: the source itself, a copy stating the CRS it lacked,
    or a reprojection (GDAL's warper works in chunks)."""
    import rasterio
    from rasterio.crs import CRS
    from rasterio.enums import Resampling
    from rasterio.warp import calculate_default_transform, reproject

    given = layer_crs(crs)
    src_crs = src.crs
    if src_crs is None:
        if given is None:
            raise LayerLoadError(f"{st.source_name}: the raster states no CRS; it is never guessed (give --crs)")
        src_crs = CRS.from_string(given)
    elif given is not None and src_crs.to_epsg() != int(given.split(":")[1]):
        raise LayerLoadError(f"{st.source_name}: the raster says {src_crs.to_string()}, but crs says {given}")
    nodata = src.nodata if src.nodata is not None else -9999.0
    if src_crs.to_epsg() == RD_EPSG and src.crs is not None:
        return st.path
    staged_tif = workdir / "rd.tif"
    if src_crs.to_epsg() == RD_EPSG:  # only the CRS is missing: copy window by window, stating it
        profile = src.profile | {"crs": "EPSG:28992", "driver": "GTiff", "nodata": nodata, "tiled": True}
        profile |= {"blockxsize": 512, "blockysize": 512, "compress": "deflate"}
        with rasterio.open(staged_tif, "w", **profile) as dst:
            for win in windows(src):
                _check(cancel)
                dst.write(src.read(1, window=win), 1, window=win)
        return staged_tif
    transform, width, height = calculate_default_transform(src_crs, "EPSG:28992", src.width, src.height, *src.bounds)
    profile = src.profile | {
        "crs": "EPSG:28992",
        "transform": transform,
        "width": width,
        "height": height,
        "nodata": nodata,
        "driver": "GTiff",
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "deflate",
    }
    _check(cancel)
    with rasterio.open(staged_tif, "w", **profile) as dst:
        reproject(
            rasterio.band(src, 1),
            rasterio.band(dst, 1),
            src_crs=src_crs,
            dst_crs="EPSG:28992",
            src_nodata=nodata,
            dst_nodata=nodata,
            resampling=Resampling.bilinear,
        )
    return staged_tif


def prepare_raster_file(
    path: Path,
    workdir: Path,
    *,
    crs: str | None = None,
    source_name: str | None = None,
    settings: Settings | None = None,
    cancel: Cancel = None,
) -> PreparedRaster:
    """A GeoTIFF as a tiled Cloud Optimized GeoTIFF in EPSG:28992 (reprojected when needed) in ``workdir``."""
    from rasterio.errors import RasterioError
    from rasterio.shutil import copy as rio_copy

    settings = settings or get_settings()
    cog = workdir / "raster.tif"
    with staged(path, allowed=(Kind.GTIFF,), source_name=source_name, settings=settings) as st:
        with open_raster(st, settings=settings) as src:
            if src.count != 1:
                raise LayerLoadError(f"{st.source_name}: one band expected, found {src.count}")
            try:
                rd = _to_rd(st, src, workdir, crs, cancel)
                _check(cancel)
                with rasterio_env():
                    rio_copy(
                        rd,
                        cog,
                        driver="COG",
                        compress="DEFLATE",
                        predictor=_predictor(src.dtypes[0]),
                        overview_resampling="nearest",
                    )
            except RasterioError as exc:
                raise LayerLoadError(f"{st.source_name}: cannot be converted ({exc})", cause=exc) from exc
        source, sha = st.source_name, st.sha256
    ours = Staged(path=cog, kind=Kind.GTIFF, source_name=source, sha256=sha, size=cog.stat().st_size)
    with open_raster(ours, settings=settings) as src:
        meta = describe(src, name=source, unit="°C", cancel=cancel)
    return PreparedRaster(path=cog, sha256=sha, metadata=meta, source_name=source)


def write_hotspots(
    session: Session, *, version_id: int, raster_path: Path, threshold_c: float, cancel: Cancel = None
) -> int:
    """Polygonise the raster's cells at or above ``threshold_c`` into heat_hotspots (subdivided), window by
    window: a hotspot crossing a window edge is stored as two parts (the overlap areas add up the same)."""
    import shapely
    from rasterio.features import shapes

    session.execute(
        text(
            "UPDATE layer_versions SET metadata = metadata || jsonb_build_object('hotspot_threshold_c', "
            "CAST(:t AS float8)) WHERE id = :v"
        ),
        {"v": version_id, "t": threshold_c},
    )
    written = 0
    with open_stored_raster(raster_path) as src:
        for win in windows(src):
            _check(cancel)
            band = src.read(1, window=win, masked=True)
            hot = (~np.ma.getmaskarray(band)) & (np.ma.getdata(band) >= threshold_c)
            if not hot.any():
                continue
            polys = [
                shapely.geometry.shape(geom)
                for geom, value in shapes(hot.astype("uint8"), mask=hot, transform=src.window_transform(win))
                if value == 1
            ]
            session.execute(
                text(
                    "INSERT INTO heat_hotspots (version_id, threshold_c, geom) "
                    "SELECT :v, :t, (ST_Dump(ST_Subdivide(ST_GeomFromWKB(:wkb, 28992), :n))).geom"
                ),
                [{"v": version_id, "t": threshold_c, "wkb": shapely.to_wkb(p), "n": MAX_PART_VERTICES} for p in polys],
            )
            written += len(polys)
    return written
