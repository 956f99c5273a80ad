"""The heat raster as a transparent PNG in Web Mercator, for a Leaflet image overlay, with its legend."""

from __future__ import annotations

import warnings
from functools import lru_cache
from typing import Any

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile
from rasterio.warp import Resampling, calculate_default_transform, reproject, transform_bounds

from service.formats.gdalguard import open_stored_raster

# UHI (°C) -> colour; below the first stop fully transparent.
STOPS = [
    (0.25, (255, 255, 178)),
    (1.0, (254, 204, 92)),
    (1.5, (253, 141, 60)),
    (2.0, (240, 59, 32)),
    (3.0, (189, 0, 38)),
]
ALPHA = 170


def colourise(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """RGBA (4, h, w) uint8 from UHI values; transparent where no data or below the first stop."""
    xs = np.array([s[0] for s in STOPS])
    rgba = np.zeros((4, *values.shape), dtype=np.uint8)
    for band in range(3):
        ys = np.array([s[1][band] for s in STOPS], dtype=float)
        rgba[band] = np.interp(values, xs, ys).astype(np.uint8)
    rgba[3] = np.where(valid & (values >= STOPS[0][0]), ALPHA, 0)
    return rgba


@lru_cache(maxsize=4)  # raster files are content-addressed (sha256 in the name): a path never changes
def heat_png(raster_path: str, *, max_pixels: int = 1_000_000) -> tuple[bytes, list[list[float]]]:
    """PNG bytes and Leaflet bounds [[south, west], [north, east]] of the raster reprojected to EPSG:3857."""
    with open_stored_raster(raster_path) as src:
        transform, width, height = calculate_default_transform(src.crs, "EPSG:3857", src.width, src.height, *src.bounds)
        scale = max(1.0, float(np.sqrt(width * height / max_pixels)))
        width, height = int(width / scale), int(height / scale)
        transform = transform * transform.scale(scale, scale)
        out = np.full((height, width), np.nan, dtype="float32")
        reproject(
            rasterio.band(src, 1),
            out,
            dst_transform=transform,
            dst_crs="EPSG:3857",
            dst_nodata=np.nan,
            resampling=Resampling.bilinear,
        )
    valid = np.isfinite(out)
    rgba = colourise(np.nan_to_num(out), valid)
    with warnings.catch_warnings(), MemoryFile() as mem:
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # a plain picture; the bounds go with it
        with mem.open(driver="PNG", width=width, height=height, count=4, dtype="uint8") as dst:
            dst.write(rgba)
        png = mem.read()
    left, top = transform.c, transform.f
    right, bottom = left + width * transform.a, top + height * transform.e
    west, south, east, north = transform_bounds("EPSG:3857", "EPSG:4326", left, bottom, right, top)
    return png, [[south, west], [north, east]]


def legend_stops() -> list[dict[str, Any]]:
    return [{"c": c, "rgb": "#{:02x}{:02x}{:02x}".format(*rgb)} for c, rgb in STOPS]
