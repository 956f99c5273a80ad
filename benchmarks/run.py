"""Runs every benchmark of benchmarks/ in one go; each prints side-by-side ratios measured in one run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = [
    "bench_driver.py",
    "bench_questions.py",
    "bench_viewer.py",
    "bench_tipg.py",
    "bench_load.py",
    "bench_batch.py",
    "bench_scale.py",
]

if __name__ == "__main__":
    status = 0
    for name in BENCHMARKS:
        print(f"== {name}", flush=True)
        status |= subprocess.call([sys.executable, str(HERE / name)])
    raise SystemExit(status)
