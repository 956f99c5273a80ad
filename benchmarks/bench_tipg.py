"""Our OGC API – Features items and vector tiles against tipg, side by side in one run (issue 6).

A throwaway database gets the default layers plus a synthetic layer of small polygons inside Assen, loaded
through our own load path (`service.loading.versions.load_file`), so it is a real collection of ours. tipg (the
`bench` extra, installed from PyPI by `make bench`) serves the SAME rows through a view
`bench_tipg.bench_grid` (the current version of that layer). Both run as their own uvicorn process with one
worker on loopback, against the same PostGIS; one client (httpx, 8 concurrent connections) sends both the same
list of requests, interleaved (ours, tipg, tipg, ours, ...), and the medians of the repeats are compared:

  1. items, the first page of 10 features (`?limit=10`);
  2. items, the first page of 1,000 features (`?limit=1000`);
  3. a set of vector tiles (WebMercatorQuad): every z=14 tile over Assen, the z=12 ones, a sample of z=16;
  4. items filtered with CQL2 (Part 3), the first page of 10 of 100 matches (`?filter=name LIKE 'Vak 010%'`);
  6. warm tiles: case 3's tiles from our tile cache (a second server of ours, cache on, every tile requested
     once before timing) against a constant endpoint in that same server (benchmarks/bench_app.py); target
     >= 0.8x. Case 3 is cold: our first server runs with GEBIEDSCHECK_TILE_CACHE_MB=0, so every tile is built.
  5. ours against ours: the same area's tiles in NetherlandsRDNewQuad (levels 7/9/11: about the ground size of
     WebMercatorQuad 12/14/16 at Assen's latitude, geometries in 28992, no reprojection) against case 3's
     WebMercatorQuad tiles (reprojected to 3857): the cost of reprojecting.

Same work on both sides: GeoJSON in CRS84 from geometries stored in EPSG:28992, tiles with a 64-pixel buffer
(tipg's default is 256: TIPG_TILE_BUFFER=64 matches ours) and the client asks for uncompressed bodies
(`Accept-Encoding: identity`; tipg would otherwise gzip them and ours does not). Target: ours at least 1.0x
tipg's throughput on each case. Exits 0 when a target is missed (the figures are the point), not on errors.
Run: make bench  (or .venv/bin/python benchmarks/bench_tipg.py [--repeats N] [--concurrency C])
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import math
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import geopandas as gpd  # noqa: E402
import httpx  # noqa: E402
import numpy as np  # noqa: E402
import psycopg  # noqa: E402
import shapely  # noqa: E402
from pyproj import Transformer  # noqa: E402
from sqlalchemy import text  # noqa: E402

from service.core.settings import Settings  # noqa: E402
from service.loading.pipeline import load_defaults  # noqa: E402
from service.loading.versions import load_file  # noqa: E402
from service.store.database import (  # noqa: E402
    database_name,
    drop_database,
    init_database,
    libpq_url,
    make_engine,
    session_scope,
)
from service.store.embedded import resolve_database_url  # noqa: E402

SLUG = "bench-grid"
SCHEMA, VIEW = "bench_tipg", "bench_grid"
TIPG_ID = f"{SCHEMA}.{VIEW}"
ASSEN_RD = (228_000.0, 551_000.0, 240_000.0, 563_000.0)  # RD New (EPSG:28992) x0, y0, x1, y1
CQL2_FILTER = "name%20LIKE%20%27Vak%20010%25%27"  # name LIKE 'Vak 010%': 100 of the grid's polygons
HEADERS = {"Accept-Encoding": "identity", "Accept": "application/geo+json, application/json, */*"}


# --- the synthetic layer ---------------------------------------------------------------------------------


def grid_polygons(per_side: int, seed: int = 11) -> gpd.GeoDataFrame:
    """``per_side``² small wobbly polygons (20-60 vertices, about 40-100 m across) on a jittered grid over Assen."""
    rnd = np.random.default_rng(seed)
    x0, y0, x1, y1 = ASSEN_RD
    step = (x1 - x0) / per_side
    names, geoms = [], []
    for i in range(per_side):
        for j in range(per_side):
            cx = x0 + (i + 0.5) * step + rnd.uniform(-0.2, 0.2) * step
            cy = y0 + (j + 0.5) * step + rnd.uniform(-0.2, 0.2) * step
            n = int(rnd.integers(20, 61))
            radius = float(rnd.uniform(20, 50))
            ang = np.linspace(0, 2 * np.pi, n, endpoint=False)
            r = radius * (1 + 0.15 * np.sin(ang * float(rnd.integers(2, 7)) + float(rnd.uniform(0, 6))))
            geoms.append(shapely.Polygon(np.column_stack([cx + r * np.cos(ang), cy + r * np.sin(ang)])))
            names.append(f"Vak {i * per_side + j + 1:05d}")
    return gpd.GeoDataFrame({"name": names}, geometry=geoms, crs="EPSG:28992")


def load_layer(url: str, work: Path, per_side: int) -> int:
    """Default layers plus the synthetic one, through our own load path; the view tipg serves. Returns its size."""
    settings = Settings(_env_file=None, database_url=url, data_dir=work / "data")
    engine = make_engine(settings)
    try:
        gpkg = work / "bench-grid.gpkg"
        grid_polygons(per_side).to_file(gpkg, driver="GPKG")
        with session_scope(engine) as s:
            load_defaults(s, settings=settings)
        with session_scope(engine) as s:
            result = load_file(
                s, gpkg, slug=SLUG, create=True, title="Benchmark: vakken", created_by="bench", settings=settings
            )
            s.execute(text(f"CREATE SCHEMA {SCHEMA}"))
            s.execute(
                text(
                    f"CREATE VIEW {SCHEMA}.{VIEW} AS SELECT f.id, f.name, f.geom FROM features f "
                    f"JOIN layers l ON l.current_version_id = f.version_id WHERE l.slug = '{SLUG}'"
                )
            )
        return int(result.feature_count)
    finally:
        engine.dispose()


# --- the requests ----------------------------------------------------------------------------------------


def tile_range(z: int, box: tuple[float, float, float, float]) -> list[tuple[int, int, int]]:
    """The WebMercatorQuad tiles of zoom ``z`` covering a lon/lat box."""

    def xy(lon: float, lat: float) -> tuple[int, int]:
        n = 2**z
        x = int((lon + 180) / 360 * n)
        y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
        return x, y

    (xa, ya), (xb, yb) = xy(box[0], box[3]), xy(box[2], box[1])
    return [(z, x, y) for x in range(xa, xb + 1) for y in range(ya, yb + 1)]


def tile_set() -> list[tuple[int, int, int]]:
    t = Transformer.from_crs(28992, 4326, always_xy=True)
    box = t.transform_bounds(*ASSEN_RD)
    z16 = tile_range(16, box)
    return tile_range(12, box) + tile_range(14, box) + random.Random(5).sample(z16, 60)


@dataclass
class Case:
    name: str
    ours: list[str]
    tipg: list[str]
    against: str = "tipg"  # the server of the second list: tipg, ours (RD vs WebMercator tiles) or warm
    server: str = "ours"  # the server of the first list: ours (tile cache off: every tile built) or warm
    ref: str = "tipg"  # what the second list is, in the report
    goal: float = 1.0
    rps: dict[str, list[float]] = field(default_factory=lambda: {"ours": [], "tipg": []})
    bytes_per_request: dict[str, float] = field(default_factory=dict)
    new_sessions: dict[str, int] = field(default_factory=lambda: {"ours": 0, "tipg": 0})


def rd_tile_set() -> list[tuple[int, int, int]]:
    """The NetherlandsRDNewQuad tiles (level, row, col) over Assen at levels 7 and 9, and a sample at 11."""
    from service.ogc.tms import RD_NEW_QUAD, get

    tms = get(RD_NEW_QUAD)
    x0, y0, x1, y1 = ASSEN_RD

    def level(z: int) -> list[tuple[int, int, int]]:
        return [(t.z, t.y, t.x) for t in tms.tiles(x0, y0, x1, y1, [z], geographic_crs=tms.crs._pyproj_crs)]

    return level(7) + level(9) + random.Random(5).sample(level(11), 60)


def cases(tiles: list[tuple[int, int, int]], n_10: int, n_1000: int) -> list[Case]:
    """The first page, as a client asks for it (`?limit=N`). Deeper pages (`&offset=`) cost both sides the same
    extra database work: PostgreSQL computes the GeoJSON of every skipped row too."""
    ours_items, tipg_items = f"/collections/{SLUG}/items", f"/collections/{TIPG_ID}/items"
    ours_tiles, tipg_tiles = (
        f"/collections/{SLUG}/tiles/WebMercatorQuad",
        f"/collections/{TIPG_ID}/tiles/WebMercatorQuad",
    )
    return [
        Case("items, limit=10", [f"{ours_items}?limit=10"] * n_10, [f"{tipg_items}?limit=10"] * n_10),
        Case("items, limit=1000", [f"{ours_items}?limit=1000"] * n_1000, [f"{tipg_items}?limit=1000"] * n_1000),
        Case(
            f"tiles, {len(tiles)} (z12/z14/z16)",
            [f"{ours_tiles}/{z}/{y}/{x}" for z, x, y in tiles],  # OGC API - Tiles: tileMatrix/tileRow/tileCol
            [f"{tipg_tiles}/{z}/{x}/{y}" for z, x, y in tiles],
        ),
        Case(
            "items, CQL2 filter, limit=10",
            [f"{ours_items}?limit=10&filter={CQL2_FILTER}"] * n_10,
            [f"{tipg_items}?limit=10&filter-lang=cql2-text&filter={CQL2_FILTER}"] * n_10,
        ),
        Case(
            "tiles RD vs WebMercator (ours)",
            [f"/collections/{SLUG}/tiles/NetherlandsRDNewQuad/{z}/{row}/{col}" for z, row, col in rd_tile_set()],
            [f"{ours_tiles}/{z}/{y}/{x}" for z, x, y in tiles],
            against="ours",
            ref="WebMercator",
            goal=0.0,  # a figure, not a target
        ),
        Case(
            "tiles warm (cache) vs constant",
            [f"{ours_tiles}/{z}/{y}/{x}" for z, x, y in tiles],
            ["/bench/constant"] * len(tiles),
            server="warm",
            against="warm",
            ref="constant",
            goal=0.8,
        ),
    ]


# --- the servers -----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    name: str
    base: str
    process: subprocess.Popen[bytes]
    log: Path


def start(name: str, target: list[str], env: dict[str, str], cwd: Path, health: str, logdir: Path) -> Server:
    port = free_port()
    log = logdir / f"{name}.log"
    cmd = [sys.executable, "-m", "uvicorn", *target, "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--workers", "1", "--log-level", "warning", "--no-access-log"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(name, f"http://127.0.0.1:{port}", proc, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} server exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(server.base + health, timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop(server)
    raise RuntimeError(f"{name} server did not answer {health} within 60 s:\n{log.read_text()[-3000:]}")


def stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(5)


# --- the client ------------------------------------------------------------------------------------------


async def hammer(client: httpx.AsyncClient, urls: list[str], concurrency: int) -> tuple[float, int]:
    """Requests/s over ``urls`` (all must answer 200) with ``concurrency`` in flight, and the bytes received."""
    queue = list(reversed(urls))
    received = 0

    async def worker() -> None:
        nonlocal received
        while queue:
            u = queue.pop()
            r = await client.get(u)
            if r.status_code != 200:
                raise RuntimeError(f"{client.base_url}{u}: HTTP {r.status_code}: {r.text[:300]}")
            received += len(r.content)

    t = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(urls) / (time.perf_counter() - t), received


async def sanity(ours: httpx.AsyncClient, tipg: httpx.AsyncClient, case_list: list[Case], total: int) -> list[str]:
    """Both answer 200 with the same features: pages (numberMatched/Returned, names, vertex counts) and tiles
    (feature counts per tile). Raises on a difference; returns notes for the report."""
    import mapbox_vector_tile

    notes = []
    for case in case_list[:2]:
        pairs = sorted(set(zip(case.ours, case.tipg, strict=True)))[:3]
        pairs += [(a + "&offset=1000", b + "&offset=1000") for a, b in pairs]  # and a later page
        for u_ours, u_tipg in pairs:
            a, b = (await ours.get(u_ours)), (await tipg.get(u_tipg))
            for r in (a, b):
                if r.status_code != 200:
                    raise RuntimeError(f"{r.url}: HTTP {r.status_code}: {r.text[:300]}")
            ja, jb = a.json(), b.json()
            for key in ("numberMatched", "numberReturned"):
                if ja[key] != jb[key]:
                    raise RuntimeError(f"{case.name}: {key} ours {ja[key]} != tipg {jb[key]} ({u_ours})")
            if ja["numberMatched"] != total:
                raise RuntimeError(f"{case.name}: numberMatched {ja['numberMatched']}, expected {total}")
            names_a = [f["properties"]["name"] for f in ja["features"]]
            names_b = [f["properties"]["name"] for f in jb["features"]]
            if names_a != names_b:
                raise RuntimeError(f"{case.name}: ours and tipg return other features for {u_ours}")
            verts_a = [len(shapely.get_coordinates(shapely.geometry.shape(f["geometry"]))) for f in ja["features"]]
            verts_b = [len(shapely.get_coordinates(shapely.geometry.shape(f["geometry"]))) for f in jb["features"]]
            if verts_a != verts_b:
                raise RuntimeError(f"{case.name}: other geometries (vertex counts) for {u_ours}")
        notes.append(
            f"{case.name}: numberMatched {total}; same features, order and vertex counts (also at offset 1000)"
        )
    filtered = case_list[3]
    a, b = (await ours.get(filtered.ours[0])), (await tipg.get(filtered.tipg[0]))
    for r in (a, b):
        if r.status_code != 200:
            raise RuntimeError(f"{r.url}: HTTP {r.status_code}: {r.text[:300]}")
    if not a.json()["numberMatched"] == b.json()["numberMatched"] == 100:
        matched = (a.json()["numberMatched"], b.json()["numberMatched"])
        raise RuntimeError(f"{filtered.name}: numberMatched ours/tipg {matched}, expected 100")
    names_a = [f["properties"]["name"] for f in a.json()["features"]]
    if names_a != [f["properties"]["name"] for f in b.json()["features"]] or not names_a[0].startswith("Vak 010"):
        raise RuntimeError(f"{filtered.name}: ours and tipg return other features")
    notes.append(f"{filtered.name}: numberMatched 100 on both; same first page")
    rd = case_list[4]
    rd_features, rd_kept = 0, []
    for u in rd.ours:
        r = await ours.get(u)
        if r.status_code not in (200, 404):  # 404: a tile outside the layer's tileMatrixSetLimits
            raise RuntimeError(f"{r.url}: HTTP {r.status_code}: {r.text[:300]}")
        if r.status_code == 200:
            rd_kept.append(u)
            if r.content:
                rd_features += sum(len(layer["features"]) for layer in mapbox_vector_tile.decode(r.content).values())
    rd.ours[:] = rd_kept  # the timed lists hold tiles that answer 200 only
    if rd_features == 0:
        raise RuntimeError("every RD tile is empty: the tile set misses the layer")
    notes.append(f"{rd.name}: {len(rd.ours)} RD tiles, {rd_features} features")
    tiles = case_list[2]
    n_ours = n_tipg = differ = empty = 0
    kept: list[tuple[str, str]] = []
    for u_ours, u_tipg in zip(tiles.ours, tiles.tipg, strict=True):
        a, b = (await ours.get(u_ours)), (await tipg.get(u_tipg))
        if a.status_code == 404 and b.status_code == 200 and not b.content:
            continue  # outside the layer's tileMatrixSetLimits: ours says 404, tipg an empty tile; not timed
        for r in (a, b):
            if r.status_code != 200:
                raise RuntimeError(f"{r.url}: HTTP {r.status_code}: {r.text[:300]}")
        kept.append((u_ours, u_tipg))
        fa = sum(len(layer["features"]) for layer in mapbox_vector_tile.decode(a.content).values()) if a.content else 0
        fb = sum(len(layer["features"]) for layer in mapbox_vector_tile.decode(b.content).values()) if b.content else 0
        if (fa == 0) != (fb == 0):
            raise RuntimeError(f"{u_ours}: ours has {fa} features, tipg {fb}: one side is empty")
        n_ours, n_tipg, differ, empty = n_ours + fa, n_tipg + fb, differ + (fa != fb), empty + (fa == 0)
    if n_ours == 0:
        raise RuntimeError("every tile is empty: the tile set misses the layer")
    skipped = len(tiles.ours) - len(kept)
    tiles.ours[:], tiles.tipg[:] = [a for a, _ in kept], [b for _, b in kept]
    rd.tipg[:] = list(tiles.ours)  # RD against the same WebMercatorQuad tiles
    notes.append(
        f"{tiles.name}: {skipped} tiles outside the data's limits left out (ours 404, tipg empty); "
        f"{len(tiles.ours) - empty} tiles with data, {n_ours} features (ours) vs {n_tipg} (tipg); "
        f"{differ} tiles differ in count (edge features: ours selects by bounding box, tipg by intersection)"
    )
    return notes


def sessions_opened(url: str) -> int:
    """Connections ever opened to the bench database (pg_stat_database.sessions, asked from `postgres`): the
    difference over a timed run shows a side that opens connections per request instead of reusing them."""
    with psycopg.connect(libpq_url(url, database="postgres"), autocommit=True) as conn:
        row = conn.execute("SELECT sessions FROM pg_stat_database WHERE datname = %s", (database_name(url),)).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


async def measure(
    ours: Server, tipg: Server, warm: Server, case_list: list[Case], total: int, url: str, args: argparse.Namespace
) -> list[str]:
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    opts = {"limits": limits, "timeout": 120, "headers": HEADERS}
    async with (
        httpx.AsyncClient(base_url=ours.base, **opts) as c_ours,
        httpx.AsyncClient(base_url=tipg.base, **opts) as c_tipg,
        httpx.AsyncClient(base_url=warm.base, **opts) as c_warm,
    ):
        notes = await sanity(c_ours, c_tipg, case_list, total)
        case_list[5].ours[:] = list(case_list[2].ours)  # the tiles that answer 200 (sanity dropped the others)
        case_list[5].tipg[:] = case_list[5].tipg[: len(case_list[5].ours)]
        servers = {"ours": c_ours, "tipg": c_tipg, "warm": c_warm}
        for case in case_list:  # warm up: up to 200 requests of each case on both; every tile of the warm case
            clients = {"ours": servers[case.server], "tipg": servers[case.against]}
            for side in ("ours", "tipg"):
                urls = getattr(case, side)
                await hammer(clients[side], urls if case.server == "warm" else urls[:200], args.concurrency)
        for case in case_list:
            clients = {"ours": servers[case.server], "tipg": servers[case.against]}
            for rep in range(args.repeats):
                order = ("ours", "tipg") if rep % 2 == 0 else ("tipg", "ours")  # interleaved, alternating first
                for side in order:
                    before = sessions_opened(url)
                    rps, received = await hammer(clients[side], getattr(case, side), args.concurrency)
                    case.new_sessions[side] += sessions_opened(url) - before
                    case.rps[side].append(rps)
                    case.bytes_per_request[side] = received / len(getattr(case, side))
            print(
                f"  {case.name:30} ours {', '.join(f'{v:.0f}' for v in case.rps['ours'])} req/s | "
                f"tipg {', '.join(f'{v:.0f}' for v in case.rps['tipg'])} req/s",
                flush=True,
            )
    return notes


# --- main ------------------------------------------------------------------------------------------------


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="measurements per side and case (median)")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    parser.add_argument("--per-side", type=int, default=50, help="grid size: per_side² polygons (>= 45: 2,025)")
    parser.add_argument("--n-10", type=int, default=600, help="requests of the limit=10 case per repeat")
    parser.add_argument("--n-1000", type=int, default=40, help="requests of the limit=1000 case per repeat")
    parser.add_argument("--hold", type=float, default=0, help="keep servers and database this many s (profiling)")
    parser.add_argument(
        "--ours-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment of our server, e.g. GEBIEDSCHECK_POOL_SIZE=10 (repeatable)",
    )
    args = parser.parse_args()
    if args.per_side < 45:
        parser.error("--per-side must be 45 or more (at least 2,000 features)")
    if importlib.util.find_spec("tipg") is None:
        print(
            "bench_tipg: tipg is not installed; `make bench` installs it (the `bench` extra: "
            ".venv/bin/pip install -e '.[dev,bench]')",
            file=sys.stderr,
        )
        return 2

    server_url = resolve_database_url(Settings(_env_file=None))
    url = server_url.rsplit("/", 1)[0] + f"/gebiedscheck_bench_{random.randrange(16**8):08x}"
    work = Path(tempfile.mkdtemp(prefix="gebiedscheck-bench-tipg-"))
    servers: list[Server] = []
    try:
        init_database(url)
        t = time.perf_counter()
        total = load_layer(url, work, args.per_side)
        print(
            f"loaded {total:,} polygons as layer {SLUG!r} (view {TIPG_ID} for tipg) in {time.perf_counter() - t:.1f} s"
        )
        base_env = {k: v for k, v in os.environ.items() if not k.startswith(("TIPG_", "GEBIEDSCHECK_", "DATABASE_"))}
        servers.append(
            start(
                "ours",
                ["service.api.app:create_app", "--factory"],
                {
                    **base_env,
                    "DATABASE_URL": url,
                    "GEBIEDSCHECK_DATA_DIR": str(work / "data"),
                    "GEBIEDSCHECK_TILE_CACHE_MB": "0",  # cold: every tile built from the database
                    **dict(e.split("=", 1) for e in args.ours_env),
                },
                work,  # both run from the scratch dir: neither reads a developer's `.env`
                "/health",
                work,
            )
        )
        servers.append(
            start(
                "tipg",
                ["tipg.main:app"],
                {**base_env, "DATABASE_URL": url, "TIPG_DB_SCHEMAS": f'["{SCHEMA}"]', "TIPG_TILE_BUFFER": "64"},
                work,
                "/healthz",
                work,
            )
        )
        servers.append(
            start(
                "warm",
                ["benchmarks.bench_app:app"],
                {**base_env, "DATABASE_URL": url, "GEBIEDSCHECK_DATA_DIR": str(work / "data-warm")},
                ROOT,
                "/health",
                work,
            )
        )
        ours, tipg, warm = servers
        cols = httpx.get(f"{tipg.base}/collections", timeout=30).json()
        if TIPG_ID not in [c["id"] for c in cols.get("collections", [])]:
            raise RuntimeError(f"tipg does not list {TIPG_ID}: {[c['id'] for c in cols.get('collections', [])]}")
        tiles = tile_set()
        case_list = cases(tiles, args.n_10, args.n_1000)
        print(
            f"servers: ours {ours.base}, tipg {tipg.base} (1 uvicorn worker each); "
            f"{args.concurrency} concurrent, {args.repeats} interleaved repeats; load average "
            f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; req/s per repeat:",
            flush=True,
        )
        notes = asyncio.run(measure(ours, tipg, warm, case_list, total, url, args))
        if args.hold:
            print(
                f"holding {args.hold:.0f} s: ours {ours.base} (pid {ours.process.pid}), tipg {tipg.base} "
                f"(pid {tipg.process.pid}), database {url}",
                flush=True,
            )
            signal.signal(signal.SIGTERM, _interrupt)  # `kill PID` ends the hold and still cleans up
            try:
                time.sleep(args.hold)
            except KeyboardInterrupt:
                pass
    finally:
        for s in servers:
            stop(s)
        drop_database(url)
        shutil.rmtree(work, ignore_errors=True)

    print(f"load average at the end {os.getloadavg()[0]:.1f} (other work on the machine moves the figures)")
    print("\nsanity: " + "\n        ".join(notes))
    print(
        f"\n{'case':32} {'ours req/s':>11} {'tipg req/s':>11} {'ours/tipg':>10} {'kB/resp ours/tipg':>18} "
        f"{'new db sessions ours/tipg':>26}"
    )
    rows = []
    for case in case_list:
        a, b = statistics.median(case.rps["ours"]), statistics.median(case.rps["tipg"])
        ratio = a / b
        verdict = ("met" if ratio >= case.goal else "MISSED") if case.goal else "(figure)"
        kb = f"{case.bytes_per_request['ours'] / 1024:.1f} / {case.bytes_per_request['tipg'] / 1024:.1f}"
        opened = f"{case.new_sessions['ours']} / {case.new_sessions['tipg']}"
        print(f"{case.name:32} {a:11.1f} {b:11.1f} {ratio:9.2f}x {kb:>18} {opened:>26}")
        print(f"{'':32} vs {case.ref}, target >= {case.goal:.1f}x: {verdict}")
        rows.append(
            f"| {case.name} | {a:.0f} req/s | {b:.0f} req/s ({case.ref}) | {ratio:.2f}x "
            f"| >= {case.goal:.1f}x | {verdict} |"
        )
    print("\n| case | ours | reference | ratio | target | verdict |\n| --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
