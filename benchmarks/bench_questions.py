"""The planners' questions, side by side in one run (medians of several repeats).

1. point-in-zone API throughput vs a constant-returning endpoint in the same app and server (target >= 70 % in every
   run; `--only-server [RUNS]` runs only this part, RUNS times);
2. Natura 2000 distance: KNN on ST_Subdivide parts vs plain ST_Distance, 200,000-vertex polygon (>= 10x,
   identical distances to 1 mm);
3. heat overlap vs exactextract, 2,000- and 200,000-vertex polygons (at least as fast, share within 0.5 pp);
4. batch quickscan of 100,000 points vs a geopandas sjoin of the same points and zones;
5. memory: the server's peak RSS through 1-4 (< 600 MB); heat overlap on a raster 10x larger does not raise
   peak memory (only the polygon's window is read).
Run: make bench  (or .venv/bin/python benchmarks/bench_questions.py)
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import geopandas as gpd  # noqa: E402
import httpx  # noqa: E402
import numpy as np  # noqa: E402
import shapely  # noqa: E402
from sqlalchemy import text  # noqa: E402

from benchmarks.loadgen import wait_until_up  # noqa: E402
from service.core.settings import Settings  # noqa: E402
from service.loading.manifest import ManifestLayer, read_manifest  # noqa: E402
from service.loading.pipeline import load_defaults, read_vector, write_version  # noqa: E402
from service.questions.heat import current_raster, heat_overlap  # noqa: E402
from service.spatial.geo import ParsedGeometry, location, to_wgs84_geojson  # noqa: E402
from service.store.database import drop_database, init_database, make_engine, make_sessionmaker, session_scope  # noqa: E402
from service.store.embedded import resolve_database_url  # noqa: E402

REPEATS = 5
RESULTS: list[tuple[str, str, str, str, str]] = []


def row(name: str, ours: float, ref: float, unit: str, verdict: str) -> None:
    RESULTS.append((name, f"{ours:.3g} {unit}", f"{ref:.3g} {unit}", f"{ours / ref:.2f}" if ref else "-", verdict))
    print(f"{name:58} ours {ours:10.4g} {unit:6} ref {ref:10.4g} {unit:6} {verdict}", flush=True)


def wobbly(n: int, cx: float, cy: float, radius: float) -> shapely.Polygon:
    ang = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = radius * (1 + 0.06 * np.sin(ang * 97) + 0.016 * np.sin(ang * 1301))
    return shapely.Polygon(np.column_stack([cx + r * np.cos(ang), cy + r * np.sin(ang)]))


def median_time(fn, repeats: int = REPEATS) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_n2k(session, big_version: int) -> None:  # type: ignore[no-untyped-def]
    """Set-based (one query for all points), so both sides measure database work, not round trips."""
    rnd = random.Random(3)
    pts = [(rnd.uniform(224_000, 244_000), rnd.uniform(548_000, 566_000)) for _ in range(200)]
    params = {"xs": [p[0] for p in pts], "ys": [p[1] for p in pts], "v": big_version}
    source = "unnest(CAST(:xs AS float8[]), CAST(:ys AS float8[])) WITH ORDINALITY AS q(x, y, i)"
    knn = text(
        f"SELECT q.i, n.d FROM {source} CROSS JOIN LATERAL ("
        "SELECT ST_Distance(p.geom, ST_SetSRID(ST_MakePoint(q.x, q.y), 28992)) AS d FROM feature_parts p "
        "WHERE p.version_id = :v ORDER BY p.geom <-> ST_SetSRID(ST_MakePoint(q.x, q.y), 28992) LIMIT 1) n ORDER BY q.i"
    )
    plain = text(
        f"SELECT q.i, (SELECT min(ST_Distance(f.geom, ST_SetSRID(ST_MakePoint(q.x, q.y), 28992))) FROM features f "
        f"WHERE f.version_id = :v) FROM {source} ORDER BY q.i"
    )
    d_knn = [r[1] for r in session.execute(knn, params)]
    d_plain = [r[1] for r in session.execute(plain, params)]
    worst = max(abs(a - b) for a, b in zip(d_knn, d_plain, strict=True))
    t_knn, t_plain = [], []
    for _ in range(REPEATS):  # interleaved
        t_knn.append(median_time(lambda: session.execute(knn, params).all(), 1))
        t_plain.append(median_time(lambda: session.execute(plain, params).all(), 1))
    a, b = statistics.median(t_knn), statistics.median(t_plain)
    speedup = b / a
    row(
        "N2K distance, 200 pts, 200k-vertex polygon: parts+KNN vs plain",
        a * 1000,
        b * 1000,
        "ms",
        f"{speedup:.1f}x faster, max diff {worst * 1000:.3f} mm "
        + ("OK" if speedup >= 10 and worst < 1e-3 else "MISS"),
    )


def bench_heat(session, settings) -> None:  # type: ignore[no-untyped-def]
    from exactextract import exact_extract

    raster_row, _ = current_raster(session, settings=settings)
    for n in (2_000, 200_000):
        geom = wobbly(n, 234_000, 557_000, 2_500)
        gdf = gpd.GeoDataFrame(geometry=[geom], crs="EPSG:28992")
        ours_stats = heat_overlap(session, geom, settings=settings)
        ref = exact_extract(raster_row.raster_path, gdf, ["coverage", "values"], output="pandas")
        cov, vals = np.asarray(ref["coverage"].iloc[0]), np.asarray(ref["values"].iloc[0])
        share_ref = float(cov[vals >= 1.5].sum() / cov.sum())
        t_ours, t_ref = [], []
        for _ in range(REPEATS):
            t_ours.append(median_time(lambda g=geom: heat_overlap(session, g, settings=settings), 1))
            t_ref.append(
                median_time(
                    lambda g=gdf: exact_extract(raster_row.raster_path, g, ["mean", "coverage"], output="pandas"), 1
                )
            )
        a, b = statistics.median(t_ours), statistics.median(t_ref)
        diff_pp = abs((ours_stats.share_above or 0) - share_ref) * 100
        row(
            f"heat overlap, {n:,}-vertex polygon vs exactextract",
            a * 1000,
            b * 1000,
            "ms",
            f"share diff {diff_pp:.4f} pp " + ("OK" if a <= b and diff_pp <= 0.5 else "MISS"),
        )


def bench_batch(session, settings) -> None:  # type: ignore[no-untyped-def]
    from service.questions.batch import batch_frame

    rnd = np.random.default_rng(5)
    xs, ys = rnd.uniform(228_000, 240_000, 100_000), rnd.uniform(551_000, 563_000, 100_000)
    items = [
        ParsedGeometry(geom=shapely.Point(x, y), crs_in="EPSG:28992", properties={}, vertex_count=1)
        for x, y in zip(xs, ys, strict=True)
    ]
    zones = []
    for spec in read_manifest(ROOT / "layers").layers:
        if spec.kind == "vector" and spec.category in ("omgevingsvisie", "natura2000"):
            zones.append(gpd.read_file(ROOT / "layers" / spec.file)[["name", "geometry"]])
    zones_gdf = gpd.GeoDataFrame(gpd.pd.concat(zones, ignore_index=True), crs="EPSG:28992")
    pts_gdf = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xs, ys), crs="EPSG:28992")
    t_ours, t_ref = [], []
    for _ in range(3):
        t = time.perf_counter()
        frame, _ = batch_frame(session, items, settings=settings)
        session.rollback()
        t_ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        joined = gpd.sjoin(pts_gdf, zones_gdf, predicate="intersects", how="left")
        t_ref.append(time.perf_counter() - t)
    ours_hits = int(sum(len([z for z in s.split(";") if z]) for s in frame["zones"]))
    ref_hits = int(joined["index_right"].notna().sum())
    a, b = statistics.median(t_ours), statistics.median(t_ref)
    row(
        "batch quickscan 100k points (zones+N2K+heat) vs sjoin (zones)",
        a,
        b,
        "s",
        f"zone hits {ours_hits} vs {ref_hits} " + ("OK" if a <= b and ours_hits == ref_hits else "MISS"),
    )


async def _hammer(client: httpx.AsyncClient, urls: list[str], concurrency: int) -> float:
    sem = asyncio.Semaphore(concurrency)

    async def one(u: str) -> None:
        async with sem:
            r = await client.get(u)
            r.raise_for_status()

    t = time.perf_counter()
    await asyncio.gather(*(one(u) for u in urls))
    return len(urls) / (time.perf_counter() - t)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


PORT = free_port()  # not a fixed one: other servers may run on this machine


@contextmanager
def serving(db_url: str, data_dir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """benchmarks/bench_app.py (the app plus /bench/constant) in a uvicorn subprocess on PORT, up and answering."""
    port = PORT
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "GEBIEDSCHECK_DATA_DIR": str(data_dir),
        "GEBIEDSCHECK_RATE_LIMIT_PER_MINUTE": "0",
    }
    cmd = [sys.executable, "-m", "uvicorn", "benchmarks.bench_app:app", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen([*cmd, "--log-level", "warning"], cwd=ROOT, env=env)
    try:
        wait_until_up(f"http://127.0.0.1:{port}")
        yield server
    finally:
        server.terminate()
        server.wait(10)


ZONE_URLS = [
    f"/zones/at?lat={rnd.uniform(52.96, 53.02):.6f}&lon={rnd.uniform(6.50, 6.62):.6f}"
    for rnd in [random.Random(9)]
    for _ in range(1000)
]
CONST_URLS = ["/bench/constant"] * 1000


async def zones_vs_constant(c: httpx.AsyncClient) -> tuple[float, float]:
    """Median throughput (req/s) of /zones/at and of /bench/constant, interleaved, 8 concurrent clients."""
    await _hammer(c, ZONE_URLS[:100] + CONST_URLS[:100], 8)  # warm up
    rz, rc = [], []
    for _ in range(REPEATS):
        rc.append(await _hammer(c, CONST_URLS, 8))
        rz.append(await _hammer(c, ZONE_URLS, 8))
    return statistics.median(rz), statistics.median(rc)


def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{PORT}", limits=httpx.Limits(max_connections=8), timeout=30)


def zones_row(zones_rps: float, const_rps: float, name: str = "zones/at throughput vs constant endpoint") -> float:
    ratio = zones_rps / const_rps
    verdict = f"{ratio * 100:.0f}% of constant " + ("OK" if ratio >= 0.7 else "MISS")
    row(f"{name} (8 concurrent)", zones_rps, const_rps, "req/s", verdict)
    return ratio


def bench_server(db_url: str, data_dir: Path) -> None:
    rnd = random.Random(9)
    with serving(db_url, data_dir) as server:

        async def run() -> tuple[float, float]:
            async with client() as c:
                zones_rps, const_rps = await zones_vs_constant(c)
                # The rest of the questions through the same server, for its peak memory.
                big = to_wgs84_geojson(wobbly(200_000, 234_000, 557_000, 2_500))
                r = await c.post("/heat/overlap", content=json.dumps(big), headers={"content-type": "application/json"})
                r.raise_for_status()
                for u in ZONE_URLS[:200]:
                    (await c.get(u.replace("/zones/at", "/natura2000/distance"))).raise_for_status()
                fc = {
                    "type": "FeatureCollection",
                    "features": [
                        {
                            "type": "Feature",
                            "properties": {},
                            "geometry": {
                                "type": "Point",
                                "coordinates": [rnd.uniform(6.50, 6.62), rnd.uniform(52.96, 53.02)],
                            },
                        }
                        for _ in range(1000)
                    ],
                }
                (await c.post("/check/batch", json=fc)).raise_for_status()
                return zones_rps, const_rps

        zones_row(*asyncio.run(run()))
        status = Path(f"/proc/{server.pid}/status").read_text()
        peak_mb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))) / 1024
        row("server peak RSS through all of the above", peak_mb, 600, "MB", "OK" if peak_mb < 600 else "MISS")


def server_only(runs: int, database: str | None, keep: bool) -> int:
    """Only the /zones/at vs constant part, ``runs`` times (a fresh server each run), on the default layers:
    ``python benchmarks/bench_questions.py --only-server [RUNS] [--database NAME] [--keep]``."""
    server = resolve_database_url(Settings(_env_file=None))
    name = database or f"gebiedscheck_bench_{random.randrange(16**8):08x}"
    url = server.rsplit("/", 1)[0] + f"/{name}"
    data_dir = Path(tempfile.mkdtemp(prefix="gebiedscheck-bench-"))
    init_database(url)
    try:
        settings = Settings(_env_file=None, database_url=url, data_dir=data_dir, rate_limit_per_minute=0)
        engine = make_engine(settings)
        with session_scope(engine) as s:
            if not s.execute(text("SELECT count(*) FROM layers WHERE current_version_id IS NOT NULL")).scalar():
                load_defaults(s, settings=settings)
        engine.dispose()
        ratios = []
        for i in range(runs):
            with serving(url, data_dir):

                async def one() -> tuple[float, float]:
                    async with client() as c:
                        return await zones_vs_constant(c)

                ratios.append(zones_row(*asyncio.run(one()), name=f"run {i + 1}: zones/at vs constant"))
        print("ratios: " + ", ".join(f"{r * 100:.0f}%" for r in ratios), f"(min {min(ratios) * 100:.0f}%)")
    finally:
        if not keep:
            drop_database(url)
    return 0


PEAK_SCRIPT = """
import sys, shapely
from service.questions.heat import RasterRef, polygon_stats
ref = RasterRef(layer="x", version=1, source_name="x", label="indicatief", provenance="x", cell_size_m=10)
g = shapely.Point(234000, 557000).buffer(600)
s = polygon_stats(sys.argv[1], [g], area_m2=g.area, threshold_c=1.5, ref=ref)
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print(hwm, s.mean_c)
"""


def bench_window_memory(raster: str) -> None:
    import rasterio
    from rasterio.enums import Resampling

    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "big.tif"
        with rasterio.open(raster) as src:
            # Ten times the area: the same values tiled 5 x 2 (about 12,700 x 2,400 cells... per band).
            data = src.read(1)
            tiled = np.tile(data, (2, 5))
            profile = src.profile | {
                "width": tiled.shape[1],
                "height": tiled.shape[0],
                "driver": "GTiff",
                "tiled": True,
                "blockxsize": 256,
                "blockysize": 256,
                "compress": "deflate",
            }
            profile["transform"] = src.transform
            with rasterio.open(big, "w", **profile) as dst:
                dst.write(tiled, 1)
                dst.build_overviews([2, 4, 8], Resampling.nearest)
        peaks = {}
        for name, path in (("1x", raster), ("10x", str(big))):
            out = subprocess.run(
                [sys.executable, "-c", PEAK_SCRIPT, path], capture_output=True, text=True, cwd=ROOT, check=True
            ).stdout.split()
            peaks[name] = int(out[0]) / 1024
        row(
            "heat overlap peak RSS: raster 10x larger vs default",
            peaks["10x"],
            peaks["1x"],
            "MB",
            "OK" if peaks["10x"] <= peaks["1x"] * 1.05 + 5 else "MISS",
        )


def main() -> int:
    server = resolve_database_url(Settings(_env_file=None))
    url = server.rsplit("/", 1)[0] + f"/gebiedscheck_bench_{random.randrange(16**8):08x}"
    data_dir = Path(tempfile.mkdtemp(prefix="gebiedscheck-bench-"))
    init_database(url)
    try:
        settings = Settings(_env_file=None, database_url=url, data_dir=data_dir, rate_limit_per_minute=0)
        engine = make_engine(settings)
        with tempfile.TemporaryDirectory() as tmp:
            big = Path(tmp) / "bench-natura2000.gpkg"
            gpd.GeoDataFrame(
                {"name": ["Synthetisch"]}, geometry=[wobbly(200_000, 250_000, 557_000, 6_000)], crs="EPSG:28992"
            ).to_file(big, driver="GPKG")
            spec = ManifestLayer(
                slug="bench-natura2000",
                title="bench",
                category="referentie",
                file=str(big),
                description="synthetic",
                provenance="synthetisch",
                licence="CC0",
            )
            with session_scope(engine) as s:
                load_defaults(s, settings=settings)
                write_version(
                    s,
                    layer=spec,
                    prepared=read_vector(big),
                    created_by="bench",
                    settings=settings,
                )
        with make_sessionmaker(engine)() as session:
            big_version = session.execute(
                text("SELECT current_version_id FROM layers WHERE slug = 'bench-natura2000'")
            ).scalar_one()
            bench_n2k(session, big_version)
            bench_heat(session, settings)
            bench_batch(session, settings)
            raster = current_raster(session, settings=settings)[0].raster_path
        engine.dispose()
        bench_server(url, data_dir)
        bench_window_memory(raster)
        _ = location  # the domain's input parsing is exercised through the server
    finally:
        drop_database(url)
    print("\n| case | ours | reference | ratio | verdict |\n| --- | --- | --- | --- | --- |")
    for r in RESULTS:
        print("| " + " | ".join(r) + " |")
    return 0


if __name__ == "__main__":
    if "--only-server" in sys.argv:
        args = sys.argv[sys.argv.index("--only-server") + 1 :]
        n = int(args[0]) if args and args[0].isdigit() else 3
        db = args[args.index("--database") + 1] if "--database" in args else None
        raise SystemExit(server_only(n, db, keep="--keep" in args))
    raise SystemExit(main())
