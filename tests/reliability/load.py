"""Bounded load on the gRPC server over loopback: many clients, mixed searches and writes, for a fixed time.

The server runs as its own process (`vecdb serve`), preloaded with real vectors (GloVe-100k, 50-d, cosine, from
../shared/data; synthetic vectors of the same shape when that folder is absent). Clients are threads spread over a
few processes, each thread with its own channel, each looping until the deadline: 89% searches (k=10, one query,
a fifth of them filtered on a payload field), 10% upserts of 1-16 existing ids (new vectors), 1% deletes.

Reported: completed operations and QPS, latency percentiles per operation, every error, and the server's memory
sampled once a second (VmRSS, and RssAnon = the heap, without LMDB's file-backed pages).

Memory bound (asserted): after the warm-up, the server's anonymous memory grows by at most
    BOUND_BASE + BOUND_FACTOR * rows_appended * bytes_per_row,
bytes_per_row = 4*dim (vector cache) + 8 (id cache) + 4*(2m+1) (graph level 0) + 16 (payload index caches and
tombstones): upserts append rows (LMDB is append-only until compact()), and the engine keeps one cached copy of
each row; a leak per request would exceed the bound after a few thousand requests.

    python tests/reliability/load.py --clients 16 --seconds 600      # the on-demand run; prints JSON
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

N_POINTS = 20_000
POOL = N_POINTS  # upserts and deletes pick ids in [0, POOL): replacements, as in an update workload
BUCKETS = 10
M = 16
BOUND_BASE = 96 << 20
BOUND_FACTOR = 2.0  # cache arrays grow by 1.5x steps: up to 1.5x of the rows, plus slack
OP_MIX = (("search", 0.89), ("upsert", 0.10), ("delete", 0.01))


def load_vectors(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    """(base vectors, query vectors, name): GloVe when available, else synthetic of the same shape."""
    glove = Path(os.environ.get("VECDB_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
    glove = glove / "glove-6b-50d-angular"
    if (glove / "train_100k.npy").exists():
        x = np.load(glove / "train_100k.npy", mmap_mode="r")[:n].astype(np.float32)
        q = np.load(glove / "test.npy").astype(np.float32)
        return x, q, "glove-100k"
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 50)).astype(np.float32), rng.normal(size=(1000, 50)).astype(np.float32), "synthetic"


# ---------------------------------------------------------------------- client process
def client_process(target: str, threads: int, seconds: float, seed: int, token: str | None) -> dict:
    import vecdb_client
    from vecdb import filters as F

    x, q, _ = load_vectors(N_POINTS)
    deadline = time.monotonic() + seconds
    results: list[dict] = [None] * threads  # type: ignore[list-item]

    def client(slot: int) -> None:
        rng = np.random.default_rng(seed * 1000 + slot)
        lat: dict[str, list[float]] = {name: [] for name, _ in OP_MIX}
        errors: dict[str, int] = {}
        samples: dict[str, str] = {}
        names = [name for name, _ in OP_MIX]
        probs = [p for _, p in OP_MIX]
        db = vecdb_client.connect(target, timeout=60, retries=1, token=token)
        col = db["load"]
        try:
            while time.monotonic() < deadline:
                op = names[rng.choice(len(names), p=probs)]
                t0 = time.perf_counter()
                try:
                    if op == "search":
                        kw = {"filter": F.eq("bucket", int(rng.integers(BUCKETS)))} if rng.random() < 0.2 else {}
                        col.search("v", q[rng.integers(len(q))], k=10, with_payload=False, **kw)
                    elif op == "upsert":
                        ids = np.unique(rng.integers(0, POOL, rng.integers(1, 17)))
                        vecs = x[ids] + 0.05 * rng.normal(size=(ids.size, x.shape[1])).astype(np.float32)
                        col.upsert(ids, vecs, [{"bucket": int(i) % BUCKETS} for i in ids])
                    else:
                        col.delete(rng.integers(0, POOL, rng.integers(1, 5)))
                except Exception as e:  # noqa: BLE001 - every error is counted and reported
                    key = f"{op}: {type(e).__name__}"
                    errors[key] = errors.get(key, 0) + 1
                    samples.setdefault(key, str(e)[:300])
                    continue
                lat[op].append(time.perf_counter() - t0)
        finally:
            db.close()
        results[slot] = {"latencies": lat, "errors": errors, "samples": samples}

    workers = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(seconds + 300)
    hung = sum(w.is_alive() for w in workers)
    merged: dict = {"latencies": {name: [] for name, _ in OP_MIX}, "errors": {}, "samples": {}, "hung_clients": hung}
    for r in results:
        if r is None:
            continue
        for name, v in r["latencies"].items():
            merged["latencies"][name] += v
        for k, v in r["errors"].items():
            merged["errors"][k] = merged["errors"].get(k, 0) + v
        merged["samples"].update(r["samples"])
    return merged


# ---------------------------------------------------------------------- driver
def memory(pid: int) -> dict[str, int]:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key = line.split(":", 1)[0]
            if key in ("VmRSS", "RssAnon", "RssFile"):
                out[key] = int(line.split()[1]) * 1024
    return out


def _preload(db_path: str, x: np.ndarray, log) -> None:
    import vecdb
    from vecdb.params import HNSWParams

    t0 = time.time()
    with vecdb.open(db_path) as db:
        col = db.create_collection(
            "load",
            vectors={"v": vecdb.Dense(x.shape[1], "cosine", index=HNSWParams(m=M, ef_construction=100))},
            payload={"bucket": "integer"},
        )
        for s in range(0, len(x), 5000):
            ids = np.arange(s, min(s + 5000, len(x)))
            col.upsert(ids, x[ids], [{"bucket": int(i) % BUCKETS} for i in ids])
        col.build_index(progress=False)
    log(f"preloaded {len(x):,} points in {time.time() - t0:.1f}s")


def _rows(db_path: str) -> int:
    import vecdb

    with vecdb.open(db_path, read_only=True) as db:
        return db["load"].info()["rows"]


def percentiles(v: list[float]) -> dict:
    if not v:
        return {"count": 0}
    a = np.asarray(v) * 1e3
    return {
        "count": len(v),
        "p50_ms": round(float(np.percentile(a, 50)), 2),
        "p90_ms": round(float(np.percentile(a, 90)), 2),
        "p99_ms": round(float(np.percentile(a, 99)), 2),
        "max_ms": round(float(a.max()), 1),
    }


def run(
    clients: int, seconds: float, workdir: str, procs: int | None = None, warmup: float | None = None, log=print
) -> dict:
    x, _, data_name = load_vectors(N_POINTS)
    db_path = os.path.join(workdir, "db")
    _preload(db_path, x, log)
    rows_before = _rows(db_path)
    procs = procs or min(4, clients)
    warmup = min(60.0, max(5.0, 0.1 * seconds)) if warmup is None else warmup
    stderr = open(os.path.join(workdir, "server.log"), "w")  # noqa: SIM115 - closed below
    cmd = [sys.executable, "-m", "vecdb_server", "--data", db_path, "--port", "0", "--log-level", "WARNING"]
    server = subprocess.Popen(cmd + ["--workers", "16"], stdout=subprocess.PIPE, stderr=stderr, text=True)
    client_procs: list[subprocess.Popen] = []
    try:
        line = server.stdout.readline()
        if "vecdb serving" not in line:
            raise RuntimeError(f"the server did not start: {line!r}")
        target = f"127.0.0.1:{line.rsplit(':', 1)[1].strip()}"
        mem_start_load = memory(server.pid)
        per = [clients // procs + (i < clients % procs) for i in range(procs)]
        t_start = time.monotonic()
        # results go to files: latencies of a long run overflow a pipe, which would block the client at exit
        result_files = [os.path.join(workdir, f"client{i}.json") for i in range(procs)]
        for i, n in enumerate(per):
            cmd = [sys.executable, __file__, "--client-proc", target, str(n), str(seconds), str(i), result_files[i]]
            client_procs.append(subprocess.Popen(cmd))
        timeline: list[tuple[float, dict]] = []
        while any(p.poll() is None for p in client_procs):
            now = time.monotonic() - t_start
            if server.poll() is not None:
                raise RuntimeError(f"the server died under load (exit code {server.returncode})")
            timeline.append((round(now, 1), memory(server.pid)))
            if now > seconds + 600:
                raise RuntimeError("the clients did not finish in time (hang)")
            time.sleep(1.0)
        wall = time.monotonic() - t_start
        bad = [p.returncode for p in client_procs if p.returncode != 0]
        if bad:
            raise RuntimeError(f"client processes failed with exit codes {bad}")
        outs = [json.loads(Path(f).read_text()) for f in result_files]
        server.send_signal(signal.SIGTERM)  # graceful stop: it must still shut down cleanly after the load
        server_rc = server.wait(timeout=120)
    finally:
        for p in [*client_procs, server]:
            if p.poll() is None:
                p.kill()
                p.wait()
        stderr.close()
    rows_appended = _rows(db_path) - rows_before
    lat: dict[str, list[float]] = {name: [] for name, _ in OP_MIX}
    errors: dict[str, int] = {}
    samples: dict[str, str] = {}
    for o in outs:
        for name, v in o["latencies"].items():
            lat[name] += v
        for k, v in o["errors"].items():
            errors[k] = errors.get(k, 0) + v
        samples.update(o["samples"])
    after_warmup = [m for t, m in timeline if t >= warmup] or [timeline[-1][1]]
    mem_warm, mem_end = after_warmup[0], after_warmup[-1]
    bytes_per_row = 4 * x.shape[1] + 8 + 4 * (2 * M + 1) + 16
    bound = BOUND_BASE + BOUND_FACTOR * rows_appended * bytes_per_row
    growth = mem_end["RssAnon"] - mem_warm["RssAnon"]
    total = sum(len(v) for v in lat.values())
    return {
        "data": data_name,
        "points": N_POINTS,
        "clients": clients,
        "client_processes": procs,
        "seconds": round(wall, 1),
        "ops": total,
        "qps": round(total / wall, 1),
        "by_op": {name: {**percentiles(v), "qps": round(len(v) / wall, 1)} for name, v in lat.items()},
        "all_ops": percentiles([t for v in lat.values() for t in v]),
        "errors": errors,
        "error_samples": samples,
        "hung_clients": sum(o["hung_clients"] for o in outs),
        "server_exit_code": server_rc,
        "memory": {
            "before_load": mem_start_load,
            "after_warmup": mem_warm,
            "end": mem_end,
            "max_rss": max(m["VmRSS"] for _, m in timeline),
            "anon_growth": growth,
            "anon_growth_bound": int(bound),
            "rows_appended": rows_appended,
            "bytes_per_row": bytes_per_row,
            "warmup_seconds": warmup,
        },
        "timeline_mib": [(t, round(m["VmRSS"] / 2**20, 1), round(m["RssAnon"] / 2**20, 1)) for t, m in timeline[::10]],
    }


def verdict(res: dict) -> list[str]:
    """What is wrong with a load run (empty: it held)."""
    problems = []
    if res["errors"]:
        problems.append(f"errors: {res['errors']} e.g. {res['error_samples']}")
    if res["hung_clients"]:
        problems.append(f"{res['hung_clients']} clients hung")
    if res["server_exit_code"] != 0:
        problems.append(f"the server exited with {res['server_exit_code']} on SIGTERM")
    mem = res["memory"]
    if mem["anon_growth"] > mem["anon_growth_bound"]:
        problems.append(
            f"server heap grew {mem['anon_growth'] / 2**20:.1f} MiB > bound {mem['anon_growth_bound'] / 2**20:.1f}"
        )
    if res["by_op"]["search"]["count"] == 0 or res["by_op"]["upsert"]["count"] == 0:
        problems.append("no searches or no upserts completed")
    return problems


def main(argv: list[str] | None = None) -> dict | None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--client-proc":
        target, threads, seconds, seed, out = argv[1], int(argv[2]), float(argv[3]), int(argv[4]), argv[5]
        Path(out).write_text(json.dumps(client_process(target, threads, seconds, seed, os.environ.get("VECDB_TOKEN"))))
        return None
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--seconds", type=float, default=600)
    p.add_argument("--procs", type=int, default=None, help="client processes (default: min(4, clients))")
    p.add_argument("--save", action="store_true", help="also save the figures under benchmarks/results/")
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="vecdb-load-") as workdir:
        res = run(a.clients, a.seconds, workdir, a.procs, log=lambda m: print(m, file=sys.stderr))
    res["problems"] = verdict(res)
    print(json.dumps(res))
    if a.save:
        from benchmarks.common import save

        print(save("reliability_load", {"clients": a.clients, "seconds": int(a.seconds)}, res))
    return res


if __name__ == "__main__":
    main()
