"""A small async load generator: a weighted mix of real requests, bounded by time and count, with latencies.

Used by benchmarks/bench_load.py (minutes, figures in benchmarks/LOAD.md) and tests/test_load.py (seconds).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx

WEST, EAST, SOUTH, NORTH = 6.50, 6.62, 52.96, 53.03  # Assen


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, dict[int, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.latencies.values())

    def all_latencies(self, kinds: set[str] | None = None) -> list[float]:
        return [x for k, v in self.latencies.items() if kinds is None or k in kinds for x in v]


def wait_until_up(base: str, *, seconds: float = 30) -> None:
    """Wait until ``base``/health answers 200 (a server just started in another process)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{base} did not answer /health within {seconds:g} s")


def percentile(values: list[float], p: float) -> float:
    if not values:
        return math.nan
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(p / 100 * len(s)) - 1))]


def _tile(lat: float, lon: float, z: int) -> tuple[int, int]:
    n = 2**z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def _square(lat: float, lon: float, d: float = 0.002) -> dict[str, Any]:
    ring = [[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


def make_request(kind: str, rnd: random.Random) -> tuple[str, str, Any]:
    """(method, path, json body) of one request of ``kind`` at a random place in Assen."""
    lat, lon = rnd.uniform(SOUTH, NORTH), rnd.uniform(WEST, EAST)
    where = f"lat={lat:.6f}&lon={lon:.6f}"
    if kind == "zones":
        return "GET", f"/zones/at?{where}", None
    if kind == "distance":
        return "GET", f"/natura2000/distance?{where}", None
    if kind == "heat":
        return "GET", f"/heat/at?{where}", None
    if kind == "heat_overlap":
        return "POST", "/heat/overlap", _square(lat, lon)
    if kind == "check":
        return "POST", "/check", {"type": "Feature", "properties": {"name": "last"}, "geometry": _square(lat, lon)}
    if kind == "tiles":
        z = rnd.choice([12, 13, 14, 15])
        x, y = _tile(lat, lon, z)
        return (
            "GET",
            f"/collections/{rnd.choice(['havenkwartier', 'trz', 'natura2000'])}/tiles/WebMercatorQuad/{z}/{y}/{x}",
            None,
        )
    if kind == "items":
        slug = rnd.choice(["havenkwartier", "wijkwinkelcentra", "bedrijventerreinen", "natura2000"])
        return "GET", f"/collections/{slug}/items?limit=10", None
    if kind == "layers":
        return "GET", "/layers", None
    if kind == "trivial":  # no database, no computation: the cost of an HTTP request itself
        return "GET", "/conformance", None
    raise ValueError(kind)


MIX = {
    "zones": 30,
    "distance": 15,
    "heat": 10,
    "tiles": 15,
    "items": 12,
    "layers": 5,
    "heat_overlap": 7,
    "check": 6,
}
CHEAP = {"zones": 2, "distance": 1}
HEAVY = {"heat_overlap": 1, "check": 1}
TRIVIAL = {"trivial": 1}


async def run_mix(
    base: str,
    *,
    mix: dict[str, int],
    concurrency: int,
    seconds: float,
    max_requests: int = 1_000_000,
    seed: int = 1,
    ok: tuple[int, ...] = (200,),
    stats: Stats | None = None,
) -> Stats:
    """Run ``concurrency`` clients over ``mix`` until ``seconds`` or ``max_requests``, whichever first.

    A response whose status is not in ``ok``, or a transport failure, is an error; a random tile outside the
    layer's tileMatrixSetLimits is a correct 404 ("has no data"), counted under its status, not an error.
    """
    stats = stats or Stats()
    kinds, weights = list(mix), list(mix.values())
    deadline = time.perf_counter() + seconds
    budget = [max_requests]

    async def client(i: int, http: httpx.AsyncClient) -> None:
        rnd = random.Random(seed * 1000 + i)
        while time.perf_counter() < deadline and budget[0] > 0:
            budget[0] -= 1
            kind = rnd.choices(kinds, weights)[0]
            method, path, body = make_request(kind, rnd)
            t = time.perf_counter()
            try:
                r = await http.request(method, path, json=body)
                status = r.status_code
            except httpx.HTTPError as exc:
                stats.errors.append(f"{kind} {path}: {type(exc).__name__}")
                continue
            stats.latencies[kind].append(time.perf_counter() - t)
            stats.statuses[kind][status] += 1
            outside = kind == "tiles" and status == 404 and "has no data" in r.text  # outside the data's limits
            if status not in ok and not outside:
                stats.errors.append(f"{kind} {path}: {status} {r.text[:200]}")

    started = time.perf_counter()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as http:
        await asyncio.gather(*(client(i, http) for i in range(concurrency)))
    stats.seconds += time.perf_counter() - started
    return stats
