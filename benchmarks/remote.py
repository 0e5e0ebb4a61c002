"""Remote (gRPC) vs embedded, side by side in one run, and milvus-lite (also gRPC on localhost) on the same data.

Figures (glove-100k: 100,000 x 50 real GloVe vectors, cosine, k=10, exact search on both paths):
- per-query latency of single searches (with_payload=False), embedded vs remote: median and p99 of each query's
  best-of-`rounds` time, and the overhead remote - embedded (goal: < 1 ms median);
- bulk ingest: embedded Collection.upsert per batch vs remote upsert_batches (ONE client stream, each batch its own
  fsync'd transaction, as embedded), as a throughput ratio (goal >= 0.5);
- throughput (QPS) of 8 concurrent clients (threads, one channel each) vs 1 client, with the server's kernel pool
  at its default (VECDB_THREADS = cores: one query already uses every core) and at 1 thread (parallelism only from
  concurrent requests: shows whether the GIL serialises searches);
- milvus-lite through pymilvus (its gRPC server runs in-process; FLAT index = exact), same data, same queries:
  ingest rate, single-query latency, 8-vs-1 client throughput, recall.
The vecdb server runs in its own process (`python -m vecdb_server`), as in production; clients run here.
Recall@10 is recomputed from exact distances for every system (vecdb.evaluation.recall_at_k).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

import numpy as np

import vecdb
from vecdb.evaluation import recall_at_k

from . import datasets
from .common import RESULTS, save, tempdir


@contextmanager
def vecdb_server(data: str, kernel_threads: int | None = None):
    """A vecdb server in a child process; yields its port."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if kernel_threads:
        env["VECDB_THREADS"] = str(kernel_threads)
    cmd = [sys.executable, "-m", "vecdb_server", "--data", data, "--port", "0", "--workers", "16"]
    cmd += ["--log-level", "WARN"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        line = proc.stdout.readline()
        if "vecdb serving" not in line:
            raise RuntimeError(f"server did not start: {line!r}")
        yield int(line.rsplit(":", 1)[1]), proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _timed(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def ingest(col, x: np.ndarray, batch: int, remote: bool) -> float:
    def batches():
        for s in range(0, len(x), batch):
            yield np.arange(s, min(s + batch, len(x)), dtype=np.uint64), x[s : s + batch]

    t0 = time.perf_counter()
    if remote:
        col.upsert_batches(batches())
    else:
        for ids, v in batches():
            col.upsert(ids, v)
    dt = time.perf_counter() - t0
    if col.count() != len(x):
        raise RuntimeError(f"ingest lost points: {col.count()} of {len(x)}")
    return dt


def latencies(search_one, queries: np.ndarray) -> np.ndarray:
    return np.array([_timed(search_one, q) for q in queries])


def throughput(make_search, queries: np.ndarray, clients: int, per_client: int, pid: int | None = None) -> tuple:
    """(queries per second, server cores busy) of `clients` threads, each with its own connection, each running
    per_client queries. Cores busy = server CPU seconds / wall seconds (> 1 means searches ran in parallel)."""
    searches = [make_search() for _ in range(clients)]
    barrier = threading.Barrier(clients + 1)

    def worker(w: int) -> None:
        fn = searches[w]
        barrier.wait()
        for i in range(per_client):
            fn(queries[(w * per_client + i) % len(queries)])

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    t0, cpu0 = time.perf_counter(), cpu_seconds(pid) if pid else 0.0
    for t in threads:
        t.join(600)
    wall = time.perf_counter() - t0
    cores = (cpu_seconds(pid) - cpu0) / wall if pid else float("nan")
    return clients * per_client / wall, cores


def best_of_alternating(make_search, queries: np.ndarray, per_client: int, rounds: int, pid: int) -> tuple:
    """Best (highest QPS) of `rounds` runs with 1 client and with 8 clients, alternating so both see the same
    machine noise; 8 clients run 4x as many queries in total."""
    one, eight = (0.0, 0.0), (0.0, 0.0)
    for _ in range(rounds):
        one = max(one, throughput(make_search, queries, 1, per_client, pid))
        eight = max(eight, throughput(make_search, queries, 8, per_client // 2, pid))
    return one, eight


def _recall(ds, rows: np.ndarray, k: int) -> float:
    nq = rows.shape[0]
    return recall_at_k(
        datasets.true_distances(ds, ds.test[:nq], rows), datasets.true_distances(ds, ds.test[:nq], ds.neighbors[:nq]), k
    )


def exact_field(dim: int) -> vecdb.Dense:
    """A cosine field searched exactly (no graph index, where the engine has one): the same work as milvus-lite's
    FLAT index, and the transport overhead is what is measured."""
    if "index" in getattr(vecdb.Dense, "__dataclass_fields__", {}):
        return vecdb.Dense(dim, "cosine", index=None)
    return vecdb.Dense(dim, "cosine")


def _stats(t: np.ndarray) -> dict:
    return {"median_ms": float(np.median(t) * 1e3), "p99_ms": float(np.percentile(t, 99) * 1e3)}


# ---------------------------------------------------------------------------------------------------- vecdb
def run_vecdb(ds, k: int, nq: int, rounds: int, batch: int, per_client: int) -> dict:
    import vecdb_client

    q = ds.test[:nq]
    emb_dir, srv_dir = tempdir("remote-emb"), tempdir("remote-srv")
    out: dict = {}
    try:
        with vecdb.open(emb_dir) as db, vecdb_server(srv_dir) as (port, _):
            target = f"127.0.0.1:{port}"
            rdb = vecdb_client.connect(target)
            emb_ingest, rem_ingest = [], []
            for _ in range(rounds):  # alternate, so both see the same machine noise
                for d, remote, acc in ((db, False, emb_ingest), (rdb, True, rem_ingest)):
                    d.drop_collection("g", missing_ok=True)
                    col = d.create_collection("g", vectors={"v": exact_field(ds.dim)})
                    acc.append(ingest(col, ds.train, batch, remote))
            emb, rem = db["g"], rdb["g"]
            n = len(ds.train)
            out["ingest"] = {
                "batch": batch,
                "embedded_vectors_per_s": n / min(emb_ingest),
                "remote_vectors_per_s": n / min(rem_ingest),
            }
            out["ingest"]["remote_over_embedded"] = min(emb_ingest) / min(rem_ingest)

            def emb_one(v):
                return emb.search("v", v, k=k, with_payload=False)

            def rem_one(v):
                return rem.search("v", v, k=k, with_payload=False)

            emb_one(q[0]), rem_one(q[0])  # warm-up (JIT, page cache, connection)
            te, tr = [], []
            for _ in range(rounds):
                te.append(latencies(emb_one, q))
                tr.append(latencies(rem_one, q))
            te, tr = np.min(te, axis=0), np.min(tr, axis=0)
            out["latency"] = {
                "queries": nq,
                "rounds": rounds,
                "embedded": _stats(te),
                "remote": _stats(tr),
                "overhead_median_ms": float((np.median(tr) - np.median(te)) * 1e3),
                "overhead_p99_ms": float((np.percentile(tr, 99) - np.percentile(te, 99)) * 1e3),
                "overhead_per_query_median_ms": float(np.median(tr - te) * 1e3),
            }
            rows_e = np.array([emb_one(v).ids for v in q])
            rows_r = np.array([rem_one(v).ids for v in q])
            out["recall"] = {"embedded": _recall(ds, rows_e, k), "remote": _recall(ds, rows_r, k)}
            out["identical_results"] = bool(np.array_equal(rows_e, rows_r))
            rdb.close()

        # Concurrency: a fresh server process per kernel-pool setting, on the collection ingested above; and the
        # same threads on the embedded engine in this process, as the reference of what the machine allows now.
        out["concurrency"] = {}
        out["concurrency_embedded"] = {}
        for label, kthreads in (("default_kernel_threads", None), ("one_kernel_thread", 1)):
            saved = os.environ.get("VECDB_THREADS")
            if kthreads:
                os.environ["VECDB_THREADS"] = str(kthreads)  # read per call by the kernels' fan-out
            try:
                with vecdb.open(emb_dir) as db:
                    col = db["g"]

                    def make_emb(col=col):
                        return lambda v: col.search("v", v, k=k, with_payload=False)

                    e1, e8 = best_of_alternating(make_emb, q, per_client, rounds, os.getpid())
            finally:
                if saved is None:
                    os.environ.pop("VECDB_THREADS", None)
                else:
                    os.environ["VECDB_THREADS"] = saved
            out["concurrency_embedded"][label] = {
                "qps_1_thread": e1[0],
                "qps_8_threads": e8[0],
                "ratio_8_over_1": e8[0] / e1[0],
                "cores_busy_1_thread": e1[1],
                "cores_busy_8_threads": e8[1],
            }
            with vecdb_server(srv_dir, kthreads) as (port, pid):
                conns = []

                def make(conns=conns, port=port):
                    c = vecdb_client.connect(f"127.0.0.1:{port}")
                    conns.append(c)
                    col = c["g"]
                    col.search("v", q[0], k=k, with_payload=False)
                    return lambda v, col=col: col.search("v", v, k=k, with_payload=False)

                one, eight = best_of_alternating(make, q, per_client, rounds, pid)
                for c in conns:
                    c.close()
            out["concurrency"][label] = {
                "qps_1_client": one[0],
                "qps_8_clients": eight[0],
                "ratio_8_over_1": eight[0] / one[0],
                "server_cores_busy_1_client": one[1],
                "server_cores_busy_8_clients": eight[1],
            }
    finally:
        shutil.rmtree(emb_dir, ignore_errors=True)
        shutil.rmtree(srv_dir, ignore_errors=True)
    return out


# ---------------------------------------------------------------------------------------------------- milvus
def run_milvus(ds, k: int, nq: int, batch: int, per_client: int) -> dict:
    from pymilvus import DataType, MilvusClient

    path = tempdir("remote-milvus")
    out: dict = {}
    try:
        uri = os.path.join(path, "bench.db")
        client = MilvusClient(uri)  # starts milvus-lite's gRPC server on 127.0.0.1 and connects to it
        schema = MilvusClient.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("v", DataType.FLOAT_VECTOR, dim=ds.dim)
        index = client.prepare_index_params()
        index.add_index(field_name="v", index_type="FLAT", metric_type="COSINE")
        client.create_collection("g", schema=schema, index_params=index)
        x = ds.train
        t0 = time.perf_counter()
        for s in range(0, len(x), batch):
            client.insert("g", [{"id": i, "v": x[i]} for i in range(s, min(s + batch, len(x)))])
        client.flush("g")
        out["ingest"] = {"batch": batch, "vectors_per_s": len(x) / (time.perf_counter() - t0)}
        client.load_collection("g")
        q = ds.test[:nq]

        def one(v, c=client):
            return c.search("g", data=[v], limit=k, anns_field="v", output_fields=["id"])

        one(q[0])
        t = latencies(one, q)
        out["latency"] = {"queries": nq, **_stats(t)}
        rows = np.array([[h["id"] for h in one(v)[0]] for v in q])
        out["recall"] = _recall(ds, rows, k)

        def make():
            c = MilvusClient(uri)
            return lambda v, c=c: one(v, c)

        q1, _ = throughput(make, q, 1, per_client)
        q8, _ = throughput(make, q, 8, per_client)
        out["concurrency"] = {"qps_1_client": q1, "qps_8_clients": q8, "ratio_8_over_1": q8 / q1}
        client.close()
    finally:
        shutil.rmtree(path, ignore_errors=True)
    return out


# ---------------------------------------------------------------------------------------------------- report
def table(res: dict) -> str:
    v, m = res["vecdb"], res.get("milvus_lite")
    lat = v["latency"]
    lines = [
        f"glove-100k ({res['n']:,} x {res['dim']}, cosine), k={res['k']}, {lat['queries']} single queries, "
        f"best of {lat['rounds']} per query",
        "",
        "| system | median ms | p99 ms | recall@10 | ingest vectors/s | QPS 1 client | QPS 8 clients | 8/1 "
        "| server cores busy 1 / 8 clients |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| vecdb embedded | {lat['embedded']['median_ms']:.3f} | {lat['embedded']['p99_ms']:.3f} "
        f"| {v['recall']['embedded']:.3f} | {v['ingest']['embedded_vectors_per_s']:,.0f} | | | | |",
    ]
    for label, c in v["concurrency"].items():
        conc = (
            f"| {c['qps_1_client']:,.0f} | {c['qps_8_clients']:,.0f} | {c['ratio_8_over_1']:.2f}x "
            f"| {c['server_cores_busy_1_client']:.2f} / {c['server_cores_busy_8_clients']:.2f} |"
        )
        if label == "default_kernel_threads":
            lines.append(
                f"| vecdb remote (gRPC) | {lat['remote']['median_ms']:.3f} | {lat['remote']['p99_ms']:.3f} "
                f"| {v['recall']['remote']:.3f} | {v['ingest']['remote_vectors_per_s']:,.0f} " + conc
            )
        else:
            lines.append("| vecdb remote, 1 kernel thread | | | | " + conc)
    for label, c in v["concurrency_embedded"].items():
        name = "vecdb embedded, 8 threads vs 1" + (", 1 kernel thread" if label == "one_kernel_thread" else "")
        lines.append(
            f"| {name} | | | | | {c['qps_1_thread']:,.0f} | {c['qps_8_threads']:,.0f} | {c['ratio_8_over_1']:.2f}x "
            f"| {c['cores_busy_1_thread']:.2f} / {c['cores_busy_8_threads']:.2f} (process) |"
        )
    if m:
        lines.append(
            f"| milvus-lite (pymilvus, gRPC) | {m['latency']['median_ms']:.3f} | {m['latency']['p99_ms']:.3f} "
            f"| {m['recall']:.3f} | {m['ingest']['vectors_per_s']:,.0f} | {m['concurrency']['qps_1_client']:,.1f} "
            f"| {m['concurrency']['qps_8_clients']:,.1f} | {m['concurrency']['ratio_8_over_1']:.2f}x | |"
        )
    lines += [
        "",
        f"remote overhead: median {lat['overhead_median_ms']:.3f} ms (goal < 1 ms), "
        f"p99 {lat['overhead_p99_ms']:.3f} ms;"
        f" remote/embedded ingest {v['ingest']['remote_over_embedded']:.2f} (goal >= 0.5);"
        f" identical results: {v['identical_results']}",
        f"machine load average (1 min) before / after: {res['load_avg_before'][0]:.1f} / "
        f"{res['load_avg_after'][0]:.1f} on {os.cpu_count()} cores",
    ]
    return "\n".join(lines)


def plot(res: dict, path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    v, m = res["vecdb"], res.get("milvus_lite")
    names = ["vecdb embedded", "vecdb remote"] + (["milvus-lite"] if m else [])
    med = [v["latency"]["embedded"]["median_ms"], v["latency"]["remote"]["median_ms"]]
    p99 = [v["latency"]["embedded"]["p99_ms"], v["latency"]["remote"]["p99_ms"]]
    if m:
        med.append(m["latency"]["median_ms"])
        p99.append(m["latency"]["p99_ms"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    xs = np.arange(len(names))
    axes[0].bar(xs - 0.2, med, 0.4, label="median")
    axes[0].bar(xs + 0.2, p99, 0.4, label="p99")
    axes[0].set_xticks(xs, names)
    axes[0].set_yscale("log")
    axes[0].set_ylabel("single-query latency (ms, log)")
    axes[0].legend()
    axes[0].set_title(f"glove-100k, k={res['k']}")
    vc = v["concurrency"]
    conc = [("vecdb", vc["default_kernel_threads"]), ("vecdb 1 kthread", vc["one_kernel_thread"])]
    if m:
        conc.append(("milvus-lite", m["concurrency"]))
    xs = np.arange(len(conc))
    axes[1].bar(xs - 0.2, [c["qps_1_client"] for _, c in conc], 0.4, label="1 client")
    axes[1].bar(xs + 0.2, [c["qps_8_clients"] for _, c in conc], 0.4, label="8 clients")
    axes[1].set_xticks(xs, [n for n, _ in conc])
    axes[1].set_yscale("log")
    axes[1].set_ylabel("queries/s (log)")
    axes[1].legend()
    axes[1].set_title("concurrent clients over gRPC")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="glove-100k")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--queries", type=int, default=500)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batch", type=int, default=5000)
    p.add_argument("--per-client", type=int, default=100, help="queries per client in the concurrency runs")
    p.add_argument("--milvus-queries", type=int, default=30, help="milvus-lite is ~1 s/query here: fewer queries")
    p.add_argument("--no-milvus", action="store_true")
    a = p.parse_args(argv)
    ds = datasets.load(a.dataset)
    res = {"dataset": a.dataset, "n": len(ds.train), "dim": ds.dim, "k": a.k, "load_avg_before": os.getloadavg()}
    res["vecdb"] = run_vecdb(ds, a.k, a.queries, a.rounds, a.batch, a.per_client)
    if not a.no_milvus:
        try:
            res["milvus_lite"] = run_milvus(ds, a.k, a.milvus_queries, a.batch, max(2, a.per_client // 20))
        except ImportError as e:
            print(f"milvus-lite skipped: {e} (pip install milvus-lite pymilvus)")
    res["load_avg_after"] = os.getloadavg()  # the machine is shared: a load above its 2 cores inflates latencies
    params = {"dataset": a.dataset, "k": a.k}
    path = save("remote", params, res)
    plot(res, RESULTS / path.name.replace(".json", ".png"))
    print(table(res))


if __name__ == "__main__":
    main()
