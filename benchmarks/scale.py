"""Open time and resident memory of a 1M x 128 collection (generated data), measured in a fresh process.

Ingest: 1,000,000 random 128-d float32 vectors in 10,000-vector durable batches. Then a new process opens the
database and reports: time to open and reach the collection, RSS after open, first (cold-process) exact query
latency, warm exact query latency, and RSS after searching (the LMDB pages it touched count as resident).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

from .common import save, tempdir

PROBE = r"""
import json, sys, time
from benchmarks.common import rss_bytes
rss0 = rss_bytes()
t0 = time.perf_counter()
import vecdb
t_import = time.perf_counter() - t0
t0 = time.perf_counter()
db = vecdb.open(sys.argv[1], read_only=True)
col = db["c"]
n = col.count()
t_open = time.perf_counter() - t0
rss_open = rss_bytes()
import numpy as np
q = np.random.default_rng(1).normal(size=128).astype(np.float32)
t0 = time.perf_counter(); col.search("v", q, k=10); t_first = time.perf_counter() - t0
times = []
for i in range(20):
    t0 = time.perf_counter(); col.search("v", q + i, k=10); times.append(time.perf_counter() - t0)
print(json.dumps({"points": n, "import_s": t_import, "open_s": t_open, "rss_before_import": rss0,
                  "rss_after_open": rss_open, "first_query_s": t_first, "warm_query_ms": 1e3 * sorted(times)[10],
                  "rss_after_search": rss_bytes()}))
"""


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--batch", type=int, default=10_000)
    a = p.parse_args(argv)
    import vecdb

    path = tempdir("scale")
    try:
        rng = np.random.default_rng(0)
        t0 = time.perf_counter()
        with vecdb.open(path) as db:
            # storage figures: exact search only (the graph of 1M vectors is a separate, much longer build)
            col = db.create_collection("c", vectors={"v": vecdb.Dense(128, "l2", index=None)})
            for s in range(0, a.n, a.batch):
                col.upsert(np.arange(s, s + a.batch), rng.normal(size=(a.batch, 128)).astype(np.float32))
        t_ingest = time.perf_counter() - t0
        disk = sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path))
        env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}
        out = subprocess.run([sys.executable, "-c", PROBE, path], capture_output=True, text=True, env=env, check=True)
        probe = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(path, ignore_errors=True)
    res = {
        "n": a.n,
        "dim": 128,
        "ingest_s": t_ingest,
        "ingest_vectors_per_s": a.n / t_ingest,
        "disk_bytes": disk,
        "raw_vector_bytes": a.n * 128 * 4,
        **probe,
    }
    save("scale", {"n": a.n, "dim": 128}, res)
    mib = 1 << 20
    print("| points | ingest | disk | open (to count) | RSS after open | first query | warm query | RSS after search |")
    print("|---|---|---|---|---|---|---|---|")
    print(
        f"| {a.n:,} x 128 | {res['ingest_vectors_per_s']:,.0f} vec/s | {disk / mib:,.0f} MiB "
        f"| {1e3 * res['open_s']:.1f} ms | {res['rss_after_open'] / mib:.0f} MiB | {1e3 * res['first_query_s']:.0f} ms "
        f"| {res['warm_query_ms']:.1f} ms | {res['rss_after_search'] / mib:.0f} MiB |"
    )


if __name__ == "__main__":
    main()
