"""Load test of the running service on loopback; writes its figures to benchmarks/LOAD.md.

1. Mixed load: zones, Natura 2000 distance, heat at a point, heat overlap, check, vector tiles, items and the
   layer list, from 8 concurrent clients for ``--seconds`` (default 180) against ``gebiedscheck serve`` with
   ``--workers`` processes (default 2). Zero errors expected; p50/p95/p99 per request kind; the server's
   memory (all its processes) sampled every 5 s, to see that it does not grow.
2. Burst: the cheap questions (zones, distance) from 4 clients alone, then again while 4 more clients hammer the
   heavy endpoints (heat overlap, check) at the default rate limit of 60 a minute: the burst gets 429s with
   Retry-After, and the cheap questions' p99 is compared with their p99 without the burst.

Run: ``.venv/bin/python benchmarks/bench_load.py [--seconds 180] [--workers 2]`` (``make bench`` runs it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

import httpx
import psutil
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.loadgen import CHEAP, HEAVY, MIX, TRIVIAL, Stats, percentile, run_mix, wait_until_up  # noqa: E402
from service.core.settings import Settings  # noqa: E402
from service.loading.pipeline import load_defaults  # noqa: E402
from service.store.database import drop_database, init_database, libpq_url, make_engine, session_scope  # noqa: E402
from service.store.embedded import resolve_database_url  # noqa: E402

OUT = Path(__file__).resolve().parent / "LOAD.md"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`gebiedscheck serve` in its own process group, with the memory of all its processes sampled."""

    def __init__(self, db_url: str, data_dir: Path, *, workers: int, rate_limit: int) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "DATABASE_URL": db_url,
            "GEBIEDSCHECK_DATA_DIR": str(data_dir),
            "GEBIEDSCHECK_RATE_LIMIT_PER_MINUTE": str(rate_limit),
            "GEBIEDSCHECK_LOG_LEVEL": "warning",
        }
        cmd = [sys.executable, "-m", "service.cli.main", "serve", "--port", str(self.port), "--workers", str(workers)]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
        wait_until_up(self.base)
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()

    def rss_mb(self) -> float:
        root = psutil.Process(self.proc.pid)
        procs = [root, *root.children(recursive=True)]
        return sum(p.memory_info().rss for p in procs if p.is_running()) / 2**20

    def sample_every(self, seconds: float) -> None:
        def loop() -> None:
            t0 = time.perf_counter()
            while not self._stop.wait(seconds):
                self.samples.append((time.perf_counter() - t0, self.rss_mb()))

        self._stop.clear()
        threading.Thread(target=loop, daemon=True).start()

    def stop_sampling(self) -> None:
        self._stop.set()

    def close(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(30)


def ms(x: float) -> str:
    return f"{x * 1000:.1f}"


def table(stats: Stats) -> list[str]:
    rows = [
        "| request | count | p50 ms | p95 ms | p99 ms | max ms | statuses |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for kind in sorted(stats.latencies):
        v = stats.latencies[kind]
        codes = ", ".join(f"{c}: {n}" for c, n in sorted(stats.statuses[kind].items()))
        rows.append(
            f"| {kind} | {len(v)} | {ms(percentile(v, 50))} | {ms(percentile(v, 95))} | {ms(percentile(v, 99))} "
            f"| {ms(max(v))} | {codes} |"
        )
    every = stats.all_latencies()
    rows.append(
        f"| **all** | {len(every)} | {ms(percentile(every, 50))} | {ms(percentile(every, 95))} "
        f"| {ms(percentile(every, 99))} | {ms(max(every))} | {len(stats.errors)} errors |"
    )
    return rows


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=180)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--burst-seconds", type=float, default=20)
    ap.add_argument("--burst", metavar="BASE_URL", help="(internal) only run a burst against BASE_URL")
    ap.add_argument("--burst-of", choices=["heavy", "trivial"], default="heavy", help="(internal) what to send")
    args = ap.parse_args()
    if args.burst:
        mix = HEAVY if args.burst_of == "heavy" else TRIVIAL
        st = asyncio.run(run_mix(args.burst, mix=mix, concurrency=4, seconds=args.burst_seconds, ok=(200, 429)))
        codes = [n for per_kind in st.statuses.values() for n in [per_kind.get(200, 0), per_kind.get(429, 0)]]
        print(
            json.dumps({"count": st.count, "200": sum(codes[0::2]), "429": sum(codes[1::2]), "errors": len(st.errors)})
        )
        return 0 if not st.errors else 1
    server_url = resolve_database_url(Settings(_env_file=None))
    url = server_url.rsplit("/", 1)[0] + f"/gebiedscheck_load_{random.randrange(16**8):08x}"
    data_dir = Path(tempfile.mkdtemp(prefix="gebiedscheck-load-"))
    init_database(url)
    lines = [f"# Load test ({date.today().isoformat()}, `benchmarks/bench_load.py`, 2-core machine, loopback)", ""]
    status = 0
    try:
        settings = Settings(_env_file=None, database_url=url, data_dir=data_dir)
        engine = make_engine(settings)
        with session_scope(engine) as s:
            load_defaults(s, settings=settings)
        engine.dispose()

        # 1. Mixed load. The limit is raised (not off) so its counting stays in every heavy request.
        srv = Server(url, data_dir, workers=args.workers, rate_limit=1_000_000)
        try:
            asyncio.run(run_mix(srv.base, mix=MIX, concurrency=8, seconds=10, seed=99))  # warm up
            srv.sample_every(5)
            mixed = asyncio.run(run_mix(srv.base, mix=MIX, concurrency=8, seconds=args.seconds))
            srv.stop_sampling()
        finally:
            srv.close()
        rss = [mb for _, mb in srv.samples]
        quarter = rss[len(rss) // 4 : len(rss) // 2] or rss
        first, last = sum(quarter) / len(quarter), sum(rss[-3:]) / len(rss[-3:])
        growth = last - first
        lines += [
            f"## 1. Mixed load: {mixed.seconds:.0f} s, 8 clients, {args.workers} workers",
            "",
            f"{mixed.count} requests, {mixed.count / mixed.seconds:.0f} requests/s, **{len(mixed.errors)} errors**.",
            "",
            *table(mixed),
            "",
            f"Server memory (all processes): {min(rss):.0f}–{max(rss):.0f} MB over {len(rss)} samples; "
            f"second quarter {first:.0f} MB, end {last:.0f} MB: growth **{growth:+.0f} MB** "
            f"({'not growing' if growth < max(20, 0.1 * first) else 'GROWING'}).",
            "",
        ]
        if mixed.errors:
            status = 1
            lines += ["Errors (first 10):", "", *[f"- {e}" for e in mixed.errors[:10]], ""]

        # 2. Burst against the heavy endpoints at the default limit of 60 a minute.
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:  # phase 1 counted too: a fresh start
            conn.execute("DELETE FROM rate_counters")
        srv = Server(url, data_dir, workers=args.workers, rate_limit=60)
        try:
            asyncio.run(run_mix(srv.base, mix=CHEAP, concurrency=4, seconds=5, seed=98))  # warm up
            alone = asyncio.run(run_mix(srv.base, mix=CHEAP, concurrency=4, seconds=args.burst_seconds, seed=2))

            def during(of: str) -> tuple[Stats, dict[str, int]]:
                """The cheap questions while a burst comes from a process of its own, as another client's would."""
                cmd = [sys.executable, __file__, "--burst", srv.base, "--burst-of", of]
                burst = subprocess.Popen(
                    [*cmd, "--burst-seconds", str(args.burst_seconds)], cwd=ROOT, stdout=subprocess.PIPE, text=True
                )
                cheap = asyncio.run(run_mix(srv.base, mix=CHEAP, concurrency=4, seconds=args.burst_seconds, seed=3))
                out, _ = burst.communicate(timeout=args.burst_seconds + 60)
                return cheap, json.loads(out.strip().splitlines()[-1])

            cheap, heavy = during("heavy")
            point = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [6.56, 53.0]}}
            limited = httpx.post(f"{srv.base}/check", json=point)  # right after the burst: still limited
            beside, trivial = during("trivial")  # the same burst of requests that cost nothing: the reference
        finally:
            srv.close()
        p99_alone, p99_burst = percentile(alone.all_latencies(), 99), percentile(cheap.all_latencies(), 99)
        p99_trivial = percentile(beside.all_latencies(), 99)
        over = sum(1 for x in cheap.all_latencies() if x > p99_alone) / max(1, cheap.count)
        n429, n200 = heavy["429"], heavy["200"]
        lines += [
            f"## 2. Burst on the heavy endpoints ({args.burst_seconds:.0f} s, rate limit 60 a minute per client)",
            "",
            f"Heavy burst (4 clients in another process): {heavy['count']} requests, {n200} answered, "
            f"{n429} refused with 429 (Retry-After: {limited.headers.get('retry-after')} s on the one after), "
            f"{heavy['errors']} errors.",
            "",
            "| cheap questions (zones, distance), 4 clients | requests/s | p50 ms | p99 ms |",
            "| --- | ---: | ---: | ---: |",
            f"| alone | {alone.count / alone.seconds:.0f} | {ms(percentile(alone.all_latencies(), 50))} "
            f"| {ms(p99_alone)} |",
            f"| during the burst | {cheap.count / cheap.seconds:.0f} | {ms(percentile(cheap.all_latencies(), 50))} "
            f"| {ms(p99_burst)} |",
            f"| during an equal burst of trivial requests (`/conformance`, {trivial['count']} requests) "
            f"| {beside.count / beside.seconds:.0f} | {ms(percentile(beside.all_latencies(), 50))} "
            f"| {ms(p99_trivial)} |",
            "",
            f"During the burst {over:.1%} of the cheap questions took longer than their p99 alone "
            f"(1 % would be no change); p99 ratio burst/alone **{p99_burst / p99_alone:.2f}×**, heavy burst/trivial "
            f"burst **{p99_burst / p99_trivial:.2f}×** (≤ 1: the heavy work itself costs the cheap questions nothing; "
            "what remains is the cost of any burst of requests on this 2-core machine, load generators included).",
            "",
        ]
        if cheap.errors or heavy["errors"] or limited.status_code != 429:
            status = 1
            lines += ["Errors:", "", *[f"- {e}" for e in cheap.errors[:10]], ""]
    finally:
        drop_database(url)
    text = "\n".join(lines)
    print(text)
    OUT.write_text(text)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
