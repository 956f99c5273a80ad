"""The batch quickscan vs the notebook pipeline an analyst would write, with the same answers checked row by row.

Reference (geopandas + shapely 2 + rasterio + exactextract, the layers read from PostGIS once, the same versions
in force — the read time is reported separately and NOT counted in the reference's time):
- zones: ``sjoin(predicate="intersects")``; nearby zones: ``sjoin(predicate="dwithin", distance=nearby)`` minus the
  zones hit, distance per pair (rounded to 1 m); Natura 2000: ``sjoin_nearest(distance_col=...)``;
- points: heat with rasterio ``sample``; polygons: the area in no zone (``difference`` with the union of the zones)
  and heat with exactextract (coverage-weighted ``mean``, and the covered share of cells at or above the threshold).
Ours: ``batch_frame`` (temp table, set-based SQL, the frame) on the same inputs; the ``ParsedGeometry`` items and the
reference's GeoDataFrame are built before the clock starts (input parsing is not what is compared).

Checked row by row: zones (set), nearby (names; distance within 1 m), Natura 2000 distance (1 m) and name, heat
(0.05 °C), heat share above (0.5 pp) and the area in no zone (0.5 m²) for polygons; any mismatch stops the run.
Each repeat runs ours then the reference; the ratio (reference time / ours, >= 1.0 is the goal) is printed per run
with the median. Wall time is the goal's measure; the CPU seconds (ours: this process plus its PostgreSQL backend,
read from /proc) are printed too, as on a shared machine they vary far less than wall time.
Run: .venv/bin/python benchmarks/bench_batch.py [--repeats 5] [--points 100000] [--polygons 10000]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import geopandas as gpd  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import rasterio  # noqa: E402
import shapely  # noqa: E402
from sqlalchemy import text  # noqa: E402

from service.core.settings import Settings  # noqa: E402
from service.loading.pipeline import load_defaults  # noqa: E402
from service.questions.batch import batch_frame  # noqa: E402
from service.questions.heat import current_raster  # noqa: E402
from service.spatial.geo import ParsedGeometry  # noqa: E402
from service.store.database import drop_database, init_database, make_engine, make_sessionmaker, session_scope  # noqa: E402
from service.store.embedded import resolve_database_url  # noqa: E402

BBOX_SQL = """
SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(f.geom) AS e FROM features f
JOIN gc_versions_in_force vf ON vf.version_id = f.version_id WHERE vf.slug = 'gemeentegrens') m
"""  # the municipality of Assen's bounding box (RD), from the boundary in force
LAYERS_SQL = """
SELECT vf.slug, vf.category, f.fid, f.name, f.properties->>'site_number' AS site, f.geom
FROM gc_versions_in_force vf JOIN features f ON f.version_id = vf.version_id
WHERE vf.kind = 'vector' AND vf.category IN ('omgevingsvisie', 'natura2000')
"""
NEARBY_RE = re.compile(r"^(.*) \((-?\d+) m\)$")


def read_layers(session: Any, settings: Settings) -> dict[str, Any]:
    """The zone layers in force and the heat raster's file, read once (the analyst's notebook cell 1)."""
    conn = session.connection()
    zones = gpd.read_postgis(LAYERS_SQL, conn, geom_col="geom", crs="EPSG:28992")
    zones["key"] = zones["slug"] + "/" + zones["fid"]
    raster_row, _ = current_raster(session, settings=settings)
    return {
        "zones": zones,
        "n2k": zones[zones["category"] == "natura2000"].reset_index(drop=True),
        "raster": raster_row.raster_path,
    }


def _by_row(n: int, idx: np.ndarray, values: list[Any]) -> list[list[Any]]:
    out: list[list[Any]] = [[] for _ in range(n)]
    for i, v in zip(idx.tolist(), values, strict=True):
        out[i].append(v)
    return out


def reference(gdf: gpd.GeoDataFrame, layers: dict[str, Any], settings: Settings) -> pd.DataFrame:
    """The notebook: zones, nearby zones, Natura 2000 distance and heat for every row of ``gdf``."""
    from exactextract import exact_extract

    n = len(gdf)
    zones, n2k = layers["zones"], layers["n2k"]
    hit = gpd.sjoin(gdf, zones, predicate="intersects", how="inner")
    zone_sets = [set(v) for v in _by_row(n, hit.index.to_numpy(), hit["key"].tolist())]
    near = gpd.sjoin(gdf, zones, predicate="dwithin", distance=float(settings.nearby_distance_m), how="inner")
    near_geom = zones.geometry.to_numpy()[near["index_right"].to_numpy()]
    d = shapely.distance(gdf.geometry.to_numpy()[near.index.to_numpy()], near_geom)
    keep = d > 0
    near = near[keep].assign(d=d[keep])
    near = near.sort_values(["d", "slug", "fid"], kind="stable")
    nearby = _by_row(n, near.index.to_numpy(), list(zip(near["name"], np.floor(near["d"] + 0.5), strict=True)))
    nearest = gpd.sjoin_nearest(gdf, n2k[["name", "site", "geom"]], distance_col="dist", how="left")
    nearest = nearest[~nearest.index.duplicated(keep="first")]
    heat_t = time.perf_counter()
    out = pd.DataFrame(
        {
            "zones": zone_sets,
            "nearby": nearby,
            "n2k_d": nearest["dist"].to_numpy(),
            "n2k_name": nearest["name"].to_numpy(),
        }
    )
    threshold = settings.heat_threshold_c
    if (gdf.geom_type == "Point").all():
        with rasterio.open(layers["raster"]) as src:
            xy = zip(gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy(), strict=True)
            vals = np.array([v[0] for v in src.sample(xy, masked=True)], dtype=object)
            nodata = src.nodata
        heat = np.array([np.nan if (v is np.ma.masked or v == nodata) else float(v) for v in vals])
        out["heat_c"], out["share"] = heat, np.where(np.isnan(heat), np.nan, heat >= threshold)
        out.attrs["heat_s"] = time.perf_counter() - heat_t
        return out
    union = shapely.union_all(zones.geometry.to_numpy())
    shapely.prepare(union)
    out["outside_m2"] = shapely.area(shapely.difference(gdf.geometry.to_numpy(), union))
    stats = exact_extract(layers["raster"], gdf, ["mean", "coverage", "values"], output="pandas")
    share = [
        float(c[v >= threshold].sum() / c.sum()) if c.sum() > 0 else np.nan
        for c, v in zip(stats["coverage"], stats["values"], strict=True)
    ]
    out["heat_c"], out["share"] = stats["mean"].to_numpy(dtype="float64"), np.asarray(share)
    out.attrs["heat_s"] = time.perf_counter() - heat_t  # the area in no zone and the heat
    return out


def _nearby_of(text: str) -> list[tuple[str, float]]:
    found = []
    for part in [p for p in (text or "").split("; ") if p]:
        m = NEARBY_RE.match(part)
        if m is None:
            raise ValueError(f"unparsable nearby entry {part!r}")
        found.append((m.group(1), float(m.group(2))))
    return found


def compare(ours: pd.DataFrame, ref: pd.DataFrame, polygons: bool) -> dict[str, int]:
    """Mismatches per answer, row by row (0 everywhere: the same answers)."""
    bad = dict.fromkeys(("zones", "nearby", "n2k_d", "n2k_name", "heat_c", "share", "outside_m2"), 0)
    examples: list[str] = []
    for i, (o, r) in enumerate(zip(ours.itertuples(index=False), ref.itertuples(index=False), strict=True)):
        checks = {
            "zones": {z for z in o.zones.split(";") if z} == r.zones,
            "n2k_d": abs(o.natura2000_distance_m - r.n2k_d) <= 1.0,
            "n2k_name": o.natura2000_name == r.n2k_name,
            "heat_c": _close(o.heat_c, r.heat_c, 0.05),
            "share": _close(o.heat_share_above, r.share, 0.005),
        }
        mine = _nearby_of(o.nearby)
        checks["nearby"] = sorted(n for n, _ in mine) == sorted(n for n, _ in r.nearby) and all(
            abs(a - b) <= 1.0 for (_, a), (_, b) in zip(sorted(mine), sorted(r.nearby), strict=True)
        )
        if polygons:
            checks["outside_m2"] = _close(o.outside_zones_m2, r.outside_m2, 0.5)
        for key, ok in checks.items():
            if not ok:
                bad[key] += 1
                if len(examples) < 5:
                    examples.append(f"row {i} {key}: ours {o} ref {r}")
    for e in examples:
        print("   MISMATCH", e[:400])
    return bad


def _close(a: Any, b: Any, tol: float) -> bool:
    a_nan = a is None or (isinstance(a, float) and np.isnan(a))
    b_nan = b is None or (isinstance(b, float) and np.isnan(b))
    return a_nan == b_nan and (a_nan or abs(float(a) - float(b)) <= tol)


def inputs(kind: str, n: int, seed: int, bbox: tuple[float, ...]) -> tuple[list[ParsedGeometry], gpd.GeoDataFrame]:
    rnd = np.random.default_rng(seed)
    xs, ys = rnd.uniform(bbox[0], bbox[2], n), rnd.uniform(bbox[1], bbox[3], n)
    if kind == "points":
        geoms = shapely.points(xs, ys)
    else:  # small plans: squares and rectangles of 10-200 m
        w, h = rnd.uniform(10, 200, n), rnd.uniform(10, 200, n)
        geoms = shapely.box(xs, ys, xs + w, ys + h)
    items = [
        ParsedGeometry(geom=g, crs_in="EPSG:28992", properties={}, vertex_count=int(shapely.get_num_coordinates(g)))
        for g in geoms
    ]
    return items, gpd.GeoDataFrame(geometry=geoms, crs="EPSG:28992")


def bench(kind: str, n: int, repeats: int, session: Any, settings: Settings) -> tuple[float, list[float]]:
    bbox = tuple(float(v) for v in session.execute(text(BBOX_SQL)).one())
    session.rollback()
    items, gdf = inputs(kind, n, 5 if kind == "points" else 7, bbox)
    t = time.perf_counter()
    layers = read_layers(session, settings)
    read_s = time.perf_counter() - t
    backend = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
    session.rollback()
    ratios, cpu_ratios, t_ours, t_ref = [], [], [], []
    for run in range(repeats):
        t, c, d = time.perf_counter(), time.process_time(), _cpu_of(backend)
        frame, _ = batch_frame(session, items, settings=settings)
        session.rollback()
        a, a_cpu = time.perf_counter() - t, time.process_time() - c + _cpu_of(backend) - d
        t, c = time.perf_counter(), time.process_time()
        ref = reference(gdf, layers, settings)
        b, b_cpu = time.perf_counter() - t, time.process_time() - c
        t_ours.append(a)
        t_ref.append(b)
        ratios.append(b / a)
        cpu_ratios.append(b_cpu / a_cpu)
        print(
            f"  {kind} run {run + 1}: wall ours {a:.3f} s, reference {b:.3f} s (of which heat"
            f"{' and area outside' if kind == 'polygons' else ''} {ref.attrs['heat_s']:.3f} s), ratio {b / a:.2f}x; "
            f"CPU ours {a_cpu:.3f} s (Python + PostgreSQL backend), reference {b_cpu:.3f} s, "
            f"ratio {b_cpu / a_cpu:.2f}x",
            flush=True,
        )
        if run == 0:
            bad = compare(frame, ref, kind == "polygons")
            print(f"  {kind}: mismatches row by row {bad}", flush=True)
            if any(bad.values()):
                raise SystemExit(f"{kind}: the answers differ; no speed comparison")
    med = statistics.median(ratios)
    print(
        f"{kind:8} n={n:,}: wall ours median {statistics.median(t_ours):.3f} s, reference median "
        f"{statistics.median(t_ref):.3f} s (+ {read_s:.3f} s reading the layers, not counted); "
        f"ratios {', '.join(f'{r:.2f}' for r in ratios)}; median {med:.2f}x "
        + ("OK" if med >= 1.0 else "MISS (goal >= 1.0x)")
        + f"; CPU ratios {', '.join(f'{r:.2f}' for r in cpu_ratios)}; median {statistics.median(cpu_ratios):.2f}x",
        flush=True,
    )
    return med, ratios


def _cpu_of(pid: int) -> float:
    """CPU seconds of a local process (the session's PostgreSQL backend); 0 where /proc cannot tell."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--polygons", type=int, default=10_000)
    ap.add_argument("--db-prefix", default="gebiedscheck_bench_batch")
    args = ap.parse_args()
    server = resolve_database_url(Settings(_env_file=None))
    url = server.rsplit("/", 1)[0] + f"/{args.db_prefix}_{random.randrange(16**8):08x}"
    init_database(url)
    try:
        with tempfile.TemporaryDirectory(prefix="gebiedscheck-bench-batch-") as data_dir:
            settings = Settings(_env_file=None, database_url=url, data_dir=Path(data_dir), rate_limit_per_minute=0)
            engine = make_engine(settings)
            with session_scope(engine) as s:
                load_defaults(s, settings=settings)
            with make_sessionmaker(engine)() as session:
                if args.points:
                    bench("points", args.points, args.repeats, session, settings)
                if args.polygons:
                    bench("polygons", args.polygons, args.repeats, session, settings)
            engine.dispose()
    finally:
        drop_database(url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
