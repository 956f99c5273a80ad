"""A short run of the load generator of benchmarks/bench_load.py: every kind of request, no errors.

The minutes-long run with its latency and memory figures is `make bench` (benchmarks/LOAD.md).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.api.app import create_app
from tests.conftest import live_server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.loadgen import MIX, percentile, run_mix  # noqa: E402


@pytest.fixture(scope="module")
def server(qsettings) -> Iterator[str]:
    with live_server(create_app(qsettings)) as url:
        yield url


def test_mixed_load_without_errors(server: str) -> None:
    stats = asyncio.run(run_mix(server, mix=MIX, concurrency=6, seconds=8, max_requests=600))
    assert stats.errors == []
    assert set(stats.latencies) == set(MIX)  # every kind was asked
    assert stats.count >= 100 and percentile(stats.all_latencies(), 99) < 5.0
