"""Shared plumbing for benchmark scripts: timing, result files named by their parameters, machine info."""

from __future__ import annotations

import json
import os
import platform
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    import numpy as np

    return {
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def result_path(kind: str, **params) -> Path:
    parts = [kind] + [f"{k}={v}" for k, v in sorted(params.items())]
    name = re.sub(r"[^A-Za-z0-9_.=+-]", "_", "__".join(parts))
    return RESULTS / f"{name}.json"


def save(kind: str, params: dict, data: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = result_path(kind, **params)
    path.write_text(json.dumps({"kind": kind, "params": params, "machine": machine(), **data}, indent=1, default=float))
    return path


def best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    """Smallest wall time of `repeat` runs (the least disturbed by the noisy 2-core machine)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def tempdir(prefix: str) -> str:
    return tempfile.mkdtemp(prefix=f"vecdb-bench-{prefix}-")


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0
