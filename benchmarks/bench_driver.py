"""psycopg 3 versus asyncpg, side by side in one run, on the queries this service makes.

Measures, against a throwaway PostGIS database loaded with the default layers:
  1. point-in-zone lookups, one after another on one connection (API latency);
  2. the same with 4 workers (psycopg: threads with a connection each, asyncpg: a pool of 4);
  3. a bulk insert of polygons (the layer-loading path), with executemany, and with each driver's
     best path (psycopg COPY; asyncpg has no binary COPY encoder for geometry, so executemany).
Prints each timing and the ratio asyncpg/psycopg (>1 means psycopg is faster).
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg  # noqa: E402
import psycopg  # noqa: E402
import shapely  # noqa: E402

from service.core.settings import Settings  # noqa: E402
from service.loading.pipeline import load_defaults  # noqa: E402
from service.store.database import drop_database, init_database, libpq_url, make_engine, session_scope  # noqa: E402
from service.store.embedded import resolve_database_url  # noqa: E402

QUERY = (
    "SELECT l.slug, f.name FROM features f JOIN layers l ON l.current_version_id = f.version_id "
    "WHERE ST_Intersects(f.geom, ST_SetSRID(ST_MakePoint({x}, {y}), 28992))"
)
NEAREST_N2K = (
    "SELECT f.name, ST_Distance(f.geom, p.g) FROM features f JOIN layers l ON l.current_version_id = f.version_id, "
    "(SELECT ST_SetSRID(ST_MakePoint({x}, {y}), 28992) g) p WHERE l.slug = 'natura2000' "
    "ORDER BY f.geom <-> p.g LIMIT 1"
)
N_QUERIES = 2000
N_INSERT = 3000
REPEATS = 3


def points(n: int) -> list[tuple[float, float]]:
    rnd = random.Random(42)
    return [(rnd.uniform(228_000, 240_000), rnd.uniform(551_000, 563_000)) for _ in range(n)]


def polygons(n: int) -> list[bytes]:
    rnd = random.Random(7)
    out = []
    for _ in range(n):
        x, y = rnd.uniform(228_000, 240_000), rnd.uniform(551_000, 563_000)
        out.append(shapely.to_wkb(shapely.MultiPolygon([shapely.Point(x, y).buffer(50, quad_segs=8)])))
    return out


def bench_psycopg_serial(url: str, pts: list[tuple[float, float]], query: str = QUERY) -> float:
    sql = query.format(x="%s::float8", y="%s::float8")
    with psycopg.connect(url) as conn:
        conn.execute(sql, pts[0], prepare=True).fetchall()
        t = time.perf_counter()
        for p in pts:
            conn.execute(sql, p, prepare=True).fetchall()
        return time.perf_counter() - t


def bench_psycopg_parallel(url: str, pts: list[tuple[float, float]], workers: int = 4) -> float:
    sql = QUERY.format(x="%s", y="%s")
    chunks = [pts[i::workers] for i in range(workers)]

    def work(chunk: list[tuple[float, float]]) -> None:
        with psycopg.connect(url) as conn:
            for p in chunk:
                conn.execute(sql, p, prepare=True).fetchall()

    t = time.perf_counter()
    with ThreadPoolExecutor(workers) as ex:
        list(ex.map(work, chunks))
    return time.perf_counter() - t


async def _asyncpg_serial(url: str, pts: list[tuple[float, float]], query: str = QUERY) -> float:
    conn = await asyncpg.connect(url)
    stmt = await conn.prepare(query.format(x="$1::float8", y="$2::float8"))
    await stmt.fetch(*pts[0])
    t = time.perf_counter()
    for p in pts:
        await stmt.fetch(*p)
    elapsed = time.perf_counter() - t
    await conn.close()
    return elapsed


async def _asyncpg_parallel(url: str, pts: list[tuple[float, float]], workers: int = 4) -> float:
    pool = await asyncpg.create_pool(url, min_size=workers, max_size=workers)
    sql = QUERY.format(x="$1::float8", y="$2::float8")
    chunks = [pts[i::workers] for i in range(workers)]

    async def work(chunk: list[tuple[float, float]]) -> None:
        async with pool.acquire() as conn:
            stmt = await conn.prepare(sql)
            for p in chunk:
                await stmt.fetch(*p)

    t = time.perf_counter()
    await asyncio.gather(*(work(c) for c in chunks))
    elapsed = time.perf_counter() - t
    await pool.close()
    return elapsed


def bench_psycopg_insert(url: str, wkbs: list[bytes]) -> float:
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TEMP TABLE bench_poly (g geometry(MultiPolygon, 28992))")
        t = time.perf_counter()
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO bench_poly VALUES (ST_GeomFromWKB(%s, 28992))", [(w,) for w in wkbs])
        return time.perf_counter() - t


def bench_psycopg_copy(url: str, wkbs: list[bytes]) -> float:
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TEMP TABLE bench_poly (g geometry(MultiPolygon, 28992))")
        t = time.perf_counter()
        with conn.cursor() as cur, cur.copy("COPY bench_poly (g) FROM STDIN") as copy:
            for w in wkbs:
                copy.write_row(("SRID=28992;" + shapely.to_wkt(shapely.from_wkb(w), rounding_precision=2),))
        return time.perf_counter() - t


async def _asyncpg_insert(url: str, wkbs: list[bytes]) -> float:
    conn = await asyncpg.connect(url)
    await conn.execute("CREATE TEMP TABLE bench_poly (g geometry(MultiPolygon, 28992))")
    t = time.perf_counter()
    await conn.executemany("INSERT INTO bench_poly VALUES (ST_GeomFromWKB($1::bytea, 28992))", [(w,) for w in wkbs])
    elapsed = time.perf_counter() - t
    await conn.close()
    return elapsed


def _apps(url: str):  # type: ignore[no-untyped-def]
    """The same endpoint twice: sync SQLAlchemy + psycopg (plain def), async SQLAlchemy + asyncpg."""
    from fastapi import FastAPI
    from sqlalchemy import create_engine, text
    from sqlalchemy.ext.asyncio import create_async_engine

    from service.store.database import sqlalchemy_url

    sql = text(QUERY.format(x="CAST(:x AS float8)", y="CAST(:y AS float8)"))
    sync_engine = create_engine(sqlalchemy_url(url), pool_size=8)
    async_engine = create_async_engine(sqlalchemy_url(url).replace("+psycopg", "+asyncpg"), pool_size=8)
    app_sync, app_async = FastAPI(), FastAPI()

    @app_sync.get("/zones")
    def zones_sync(x: float, y: float) -> list[str]:
        with sync_engine.connect() as conn:
            return [r[0] for r in conn.execute(sql, {"x": x, "y": y})]

    @app_async.get("/zones")
    async def zones_async(x: float, y: float) -> list[str]:
        async with async_engine.connect() as conn:
            return [r[0] for r in await conn.execute(sql, {"x": x, "y": y})]

    return app_sync, app_async, sync_engine, async_engine


def bench_http(
    app,
    pts: list[tuple[float, float]],
    concurrency: int,  # type: ignore[no-untyped-def]
    async_engine=None,
) -> float:
    import httpx

    async def run() -> float:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            await client.get("/zones", params={"x": pts[0][0], "y": pts[0][1]})
            sem = asyncio.Semaphore(concurrency)

            async def one(p: tuple[float, float]) -> None:
                async with sem:
                    r = await client.get("/zones", params={"x": p[0], "y": p[1]})
                    r.raise_for_status()

            t = time.perf_counter()
            await asyncio.gather(*(one(p) for p in pts))
            elapsed = time.perf_counter() - t
        if async_engine is not None:  # its pool belongs to this event loop
            await async_engine.dispose()
        return elapsed

    return asyncio.run(run())


def main() -> int:
    server = resolve_database_url(Settings(_env_file=None))
    url = server.rsplit("/", 1)[0] + f"/gebiedscheck_bench_{random.randrange(16**8):08x}"
    init_database(url)
    try:
        settings = Settings(_env_file=None, database_url=url, data_dir=Path("/tmp/gebiedscheck-bench"))
        engine = make_engine(settings)
        with session_scope(engine) as s:
            load_defaults(s, settings=settings)
        engine.dispose()
        plain = libpq_url(url)
        pts, wkbs = points(N_QUERIES), polygons(N_INSERT)
        cases = {
            f"{N_QUERIES} point-in-zone queries, 1 connection": (
                lambda: bench_psycopg_serial(plain, pts),
                lambda: asyncio.run(_asyncpg_serial(plain, pts)),
            ),
            f"{N_QUERIES} nearest Natura 2000 + distance, 1 conn.": (
                lambda: bench_psycopg_serial(plain, pts, NEAREST_N2K),
                lambda: asyncio.run(_asyncpg_serial(plain, pts, NEAREST_N2K)),
            ),
            f"{N_QUERIES} point-in-zone queries, 4 workers": (
                lambda: bench_psycopg_parallel(plain, pts),
                lambda: asyncio.run(_asyncpg_parallel(plain, pts)),
            ),
            f"insert {N_INSERT} polygons (executemany)": (
                lambda: bench_psycopg_insert(plain, wkbs),
                lambda: asyncio.run(_asyncpg_insert(plain, wkbs)),
            ),
            # asyncpg has no binary COPY encoder for geometry: its best path is executemany.
            f"insert {N_INSERT} polygons (best: COPY / executemany)": (
                lambda: bench_psycopg_copy(plain, wkbs),
                lambda: asyncio.run(_asyncpg_insert(plain, wkbs)),
            ),
        }
        app_sync, app_async, sync_engine, async_engine = _apps(url)
        cases[f"{N_QUERIES // 2} API requests (FastAPI+SQLAlchemy), 1 at a time"] = (
            lambda: bench_http(app_sync, pts[: N_QUERIES // 2], 1),
            lambda: bench_http(app_async, pts[: N_QUERIES // 2], 1, async_engine),
        )
        cases[f"{N_QUERIES // 2} API requests (FastAPI+SQLAlchemy), 8 at a time"] = (
            lambda: bench_http(app_sync, pts[: N_QUERIES // 2], 8),
            lambda: bench_http(app_async, pts[: N_QUERIES // 2], 8, async_engine),
        )
        print(f"{'case':56} {'psycopg 3':>11} {'asyncpg':>11} {'asyncpg/psycopg':>16}")
        for name, (fa, fb) in cases.items():
            ta, tb = [], []
            for _ in range(REPEATS):  # interleaved, so both see the same machine load
                ta.append(fa())
                tb.append(fb())
            a, b = statistics.median(ta), statistics.median(tb)
            print(f"{name:56} {a * 1000:9.0f}ms {b * 1000:9.0f}ms {b / a:15.2f}x")
        sync_engine.dispose()
    finally:
        drop_database(url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
