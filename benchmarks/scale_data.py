"""Synthetic national datasets for the scale benchmark, generated once and cached.

* ``national_zones()``: a GeoPackage (layer ``zones``, EPSG:28992) of 1,000,000 valid polygons spread over the
  RD extent of the Netherlands (x 13,000–278,000, y 306,000–619,000); fields ``name`` (``zone-0000001`` …) and
  ``code`` (int). 10 m–2 km across (log-uniform, skewed to small), 8–200 vertices (most 8–40), about 5 % with a
  hole. Each polygon is a radially perturbed star around its centre with strictly increasing angles (always
  simple), stretched and rotated by an affine map (still simple); the hole is the same ring scaled about the
  centre by 0.2–0.5, which lies strictly inside the outer ring. Every polygon is checked with ``shapely.is_valid``.
* ``national_heat()``: a 10 m heat raster as a Cloud Optimized GeoTIFF: 28,000 × 32,500 pixels, origin
  (0, 625,000), Float32, a smooth field of 15–35 °C (low-frequency sines plus a north–south gradient), nodata
  -9999 outside the RD extent, DEFLATE, 512 tiles, overviews. Written block row by block row into a tiled GTiff,
  then converted with GDAL's COG driver under a bounded block cache: the 3.6 GB array is never in memory.

Both are deterministic (fixed seeds) and cached under ``$GEBIEDSCHECK_BENCH_CACHE`` or
``~/.cache/gebiedscheck-bench/``; the file names carry a version, bump it when a generator changes. Files are
written under a ``.part`` name and renamed when complete.

Run: ``.venv/bin/python benchmarks/scale_data.py`` builds both and prints sizes and times.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyogrio
import pyogrio.raw
import rasterio
import rasterio.shutil
import shapely
from rasterio.transform import from_origin
from rasterio.windows import Window

ZONES_VERSION = 1
HEAT_VERSION = 1

ZONES_COUNT = 1_000_000
ZONES_CHUNK = 100_000
ZONES_SEED = 20_150_001
ZONES_LAYER = "zones"
RD_XMIN, RD_XMAX, RD_YMIN, RD_YMAX = 13_000.0, 278_000.0, 306_000.0, 619_000.0
MIN_ACROSS, MAX_ACROSS = 10.0, 2_000.0
MAX_VERTICES = 200
HOLE_SHARE = 0.05
MAX_TOTAL_VERTICES = 60_000_000

HEAT_WIDTH, HEAT_HEIGHT = 28_000, 32_500
HEAT_ORIGIN_X, HEAT_ORIGIN_Y, HEAT_PIXEL = 0.0, 625_000.0, 10.0
HEAT_NODATA = -9999.0
HEAT_BLOCK = 512
GDAL_CACHE_MB = 256
# GDAL stamps gpkg_contents.last_change with the current time unless told otherwise: fixed, the file is
# byte-for-byte reproducible.
GPKG_FIXED_DATE = "2000-01-01T00:00:00.000Z"


def cache_root(cache_dir: Path | None = None) -> Path:
    """The cache directory: the argument, else ``$GEBIEDSCHECK_BENCH_CACHE``, else ``~/.cache/gebiedscheck-bench``."""
    if cache_dir is None:
        env = os.environ.get("GEBIEDSCHECK_BENCH_CACHE")
        cache_dir = Path(env) if env else Path.home() / ".cache" / "gebiedscheck-bench"
    cache_dir = Path(cache_dir).expanduser()
    cache_dir.mkdir(parents=True, exist_ok=True)
    return cache_dir


@contextlib.contextmanager
def _part_file(final: Path) -> Iterator[Path]:
    """A private ``.part`` path next to ``final``; renamed onto it on success, removed on failure."""
    part = final.with_name(f"{final.stem}.part-{os.getpid()}{final.suffix}")
    part.unlink(missing_ok=True)
    try:
        yield part
        os.replace(part, final)
    finally:
        part.unlink(missing_ok=True)


# --- zones -------------------------------------------------------------------------------------------------


def _zone_chunk(rng: np.random.Generator, count: int) -> tuple[np.ndarray, int]:
    """``count`` valid polygons (shapely array) and their vertex count (closing vertices included)."""
    across = np.exp(np.log(MIN_ACROSS) + np.log(MAX_ACROSS / MIN_ACROSS) * rng.random(count) ** 2)
    semi_major = across / 2.0
    semi_minor = semi_major / rng.uniform(1.0, 2.5, count)
    theta = rng.uniform(0.0, np.pi, count)
    cx = rng.uniform(RD_XMIN + MAX_ACROSS / 2, RD_XMAX - MAX_ACROSS / 2, count)
    cy = rng.uniform(RD_YMIN + MAX_ACROSS / 2, RD_YMAX - MAX_ACROSS / 2, count)
    n = np.minimum(8 + np.rint(rng.exponential(10.0, count)).astype(np.int64), MAX_VERTICES)
    big = rng.random(count) < 0.005
    n[big] = rng.integers(40, MAX_VERTICES + 1, int(big.sum()))
    jitter = rng.uniform(0.0, 0.35, count)
    has_hole = rng.random(count) < HOLE_SHARE
    hole_scale = rng.uniform(0.2, 0.5, count)

    # Unit star rings: strictly increasing angles (each step < pi since n >= 8 and steps are 0.5-1.5 before
    # normalising), radius in (0.65, 1]. Star-shaped around the origin, hence simple.
    total = int(n.sum())
    owner = np.repeat(np.arange(count), n)
    starts = np.concatenate(([0], np.cumsum(n)[:-1]))
    steps = rng.uniform(0.5, 1.5, total)
    csum = np.cumsum(steps)
    base = np.concatenate(([0.0], csum[starts[1:] - 1]))
    within = csum - base[owner]
    angle = 2 * np.pi * (within - steps) / within[starts + n - 1][owner] + rng.uniform(0, 2 * np.pi, count)[owner]
    radius = 1.0 - jitter[owner] * rng.random(total)
    ux, uy = radius * np.cos(angle), radius * np.sin(angle)
    del steps, csum, within, angle, radius

    # Rings: each polygon's outer ring, followed by its hole (same vertices reversed, scaled) when it has one.
    ring_poly = np.repeat(np.arange(count), 1 + has_hole)
    is_hole = np.zeros(ring_poly.size, dtype=bool)
    is_hole[1:] = ring_poly[1:] == ring_poly[:-1]
    ring_n = n[ring_poly]
    ring_len = ring_n + 1  # closed
    vertex_ring = np.repeat(np.arange(ring_poly.size), ring_len)
    ring_starts = np.concatenate(([0], np.cumsum(ring_len)[:-1]))
    k = np.arange(vertex_ring.size) - ring_starts[vertex_ring]
    k = k % ring_n[vertex_ring]
    k = np.where(is_hole[vertex_ring], ring_n[vertex_ring] - 1 - k, k)
    src = starts[ring_poly][vertex_ring] + k
    scale = np.where(is_hole, hole_scale[ring_poly], 1.0)[vertex_ring]
    poly = ring_poly[vertex_ring]
    lx, ly = ux[src] * scale * semi_major[poly], uy[src] * scale * semi_minor[poly]
    cos_t, sin_t = np.cos(theta)[poly], np.sin(theta)[poly]
    coords = np.empty((vertex_ring.size, 2))
    coords[:, 0] = np.round(cx[poly] + lx * cos_t - ly * sin_t, 3)
    coords[:, 1] = np.round(cy[poly] + lx * sin_t + ly * cos_t, 3)

    ring_offsets = np.concatenate(([0], np.cumsum(ring_len)))
    geom_offsets = np.concatenate(([0], np.cumsum(1 + has_hole)))
    polygons = shapely.from_ragged_array(shapely.GeometryType.POLYGON, coords, (ring_offsets, geom_offsets))
    return polygons, int(coords.shape[0])


@contextlib.contextmanager
def _gdal_option(name: str, value: str) -> Iterator[None]:
    """Set a GDAL config option for pyogrio for the duration of the block, then restore it."""
    previous = pyogrio.get_gdal_config_option(name)
    pyogrio.set_gdal_config_options({name: value})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({name: previous})


def generate_zones(path: Path) -> int:
    """Write the zones GeoPackage to ``path`` chunk by chunk; returns the total vertex count."""
    with _gdal_option("OGR_CURRENT_DATE", GPKG_FIXED_DATE):
        return _write_zones(path)


def _write_zones(path: Path) -> int:
    seeds = np.random.SeedSequence(ZONES_SEED).spawn(-(-ZONES_COUNT // ZONES_CHUNK))
    vertices = 0
    for index, seed in enumerate(seeds):
        first = index * ZONES_CHUNK
        count = min(ZONES_CHUNK, ZONES_COUNT - first)
        polygons, chunk_vertices = _zone_chunk(np.random.default_rng(seed), count)
        invalid = np.flatnonzero(~shapely.is_valid(polygons))
        if invalid.size:
            reason = shapely.is_valid_reason(polygons[invalid[0]])
            raise RuntimeError(f"{invalid.size} invalid polygons in chunk {index}: {reason}")
        vertices += chunk_vertices
        if vertices > MAX_TOTAL_VERTICES:
            raise RuntimeError(f"{vertices} vertices exceed the budget of {MAX_TOTAL_VERTICES}")
        codes = np.arange(first + 1, first + count + 1, dtype=np.int64)
        names = np.array([f"zone-{code:07d}" for code in codes], dtype=object)
        pyogrio.raw.write(
            path,
            shapely.to_wkb(polygons),
            field_data=[names, codes],
            fields=["name", "code"],
            layer=ZONES_LAYER,
            driver="GPKG",
            geometry_type="Polygon",
            crs="EPSG:28992",
            append=index > 0,
            layer_options={"SPATIAL_INDEX": "YES"},
        )
    return vertices


def national_zones(cache_dir: Path | None = None) -> Path:
    """Path of the cached 1,000,000-polygon GeoPackage, generating it when missing."""
    final = cache_root(cache_dir) / f"national-zones-v{ZONES_VERSION}.gpkg"
    if not final.exists():
        with _part_file(final) as part:
            vertices = generate_zones(part)
        print(f"zones: {ZONES_COUNT:,} polygons, {vertices:,} vertices -> {final}")
    return final


# --- heat --------------------------------------------------------------------------------------------------


def heat_field(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Smooth heat field in °C on the grid ``y`` (rows, metres) × ``x`` (columns, metres); within 15–35."""
    tau = 2 * np.pi
    xr, yc = x[np.newaxis, :], y[:, np.newaxis]
    field = 23.0 + 3.0 * (625_000.0 - yc) / 325_000.0 + 3.0 * np.sin(tau * xr / 47_000.0) * np.cos(tau * yc / 61_000.0)
    field = field + 2.0 * np.sin(tau * (xr + yc) / 23_000.0)
    field += 1.5 * np.sin(tau * xr / 9_100.0 + 1.3) * np.sin(tau * yc / 7_300.0)
    field += 0.8 * np.sin(tau * xr / 1_700.0) * np.cos(tau * yc / 2_300.0 + 0.4)
    return np.clip(np.round(field, 2), 15.0, 35.0)


def _write_heat_gtiff(path: Path) -> None:
    """The heat field as a tiled GTiff, one block row (512 rows) at a time."""
    transform = from_origin(HEAT_ORIGIN_X, HEAT_ORIGIN_Y, HEAT_PIXEL, HEAT_PIXEL)
    x = HEAT_ORIGIN_X + (np.arange(HEAT_WIDTH) + 0.5) * HEAT_PIXEL
    inside_x = (x >= RD_XMIN) & (x <= RD_XMAX)
    profile = {
        "driver": "GTiff",
        "width": HEAT_WIDTH,
        "height": HEAT_HEIGHT,
        "count": 1,
        "dtype": "float32",
        "crs": "EPSG:28992",
        "transform": transform,
        "nodata": HEAT_NODATA,
        "tiled": True,
        "blockxsize": HEAT_BLOCK,
        "blockysize": HEAT_BLOCK,
        "compress": "DEFLATE",
        "zlevel": 1,
        "predictor": 3,
        "bigtiff": "IF_SAFER",
    }
    with rasterio.open(path, "w", **profile) as dst:
        for row in range(0, HEAT_HEIGHT, HEAT_BLOCK):
            rows = min(HEAT_BLOCK, HEAT_HEIGHT - row)
            y = HEAT_ORIGIN_Y - (np.arange(row, row + rows) + 0.5) * HEAT_PIXEL
            inside = ((y >= RD_YMIN) & (y <= RD_YMAX))[:, np.newaxis] & inside_x[np.newaxis, :]
            block = np.where(inside, heat_field(x, y), HEAT_NODATA).astype(np.float32)
            dst.write(block, 1, window=Window(0, row, HEAT_WIDTH, rows))


def generate_heat(path: Path) -> None:
    """Write the heat COG to ``path`` via a temporary tiled GTiff next to it."""
    tmp = path.with_name(f"{path.stem}.strips{path.suffix}")
    try:
        with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB, GDAL_NUM_THREADS="2"):
            _write_heat_gtiff(tmp)
            rasterio.shutil.copy(
                tmp,
                path,
                driver="COG",
                COMPRESS="DEFLATE",
                PREDICTOR="FLOATING_POINT",
                LEVEL=6,
                BLOCKSIZE=HEAT_BLOCK,
                OVERVIEWS="AUTO",
                OVERVIEW_RESAMPLING="AVERAGE",
                RESAMPLING="AVERAGE",
                NUM_THREADS=2,
                BIGTIFF="IF_SAFER",
            )
    finally:
        tmp.unlink(missing_ok=True)


def national_heat(cache_dir: Path | None = None) -> Path:
    """Path of the cached national 10 m heat COG, generating it when missing."""
    final = cache_root(cache_dir) / f"national-heat-v{HEAT_VERSION}.tif"
    if not final.exists():
        with _part_file(final) as part:
            generate_heat(part)
        print(f"heat: {HEAT_WIDTH:,} x {HEAT_HEIGHT:,} COG -> {final}")
    return final


def main() -> None:
    for name, build in (("zones", national_zones), ("heat", national_heat)):
        started = time.perf_counter()
        path = build()
        seconds = time.perf_counter() - started
        print(f"{name}: {path} {path.stat().st_size / 1e6:,.1f} MB in {seconds:,.1f} s")


if __name__ == "__main__":
    main()
