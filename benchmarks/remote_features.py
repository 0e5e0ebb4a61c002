"""gRPC vs embedded for multi-vector fields and model versions, side by side in one run, on real data.

Multi-vector (SciFact token vectors of all-MiniLM-L6-v2, the first `--docs` documents, int8 tokens, the MultiVector
default FDE with no graph so every run scans the same candidates), against a server with the default message
limit: ingest of ragged token sets (embedded upsert vs remote upsert of the same batches, and remote upsert_batches:
one stream), best of `rounds`; single-query latency of FDE -> MaxSim search (k=10, 100 candidates) and of exact
MaxSim, best of `rounds` per query; whether both paths return the same ids and scores; calibrate().
Model versions (SciFact 384-d embeddings: corpus indexed with all-MiniLM-L6-v2, queries from paraphrase-MiniLM-L3-v2,
a different model): fit a ridge map on the 5,183 corpus pairs (held-out split, alpha chosen by the engine) embedded
and through a server whose message limit is `--max-message-mb` (default 4 MiB), so the 15 MiB of pairs go in a
stream of parts; then the 300 test queries with model_version: latency per query, nDCG@10 recomputed from the
qrels, identical results. Servers run in their own process (`python -m vecdb_server`), as in production.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager

import numpy as np

import vecdb
from vecdb.evaluation import ndcg_at_k
from vecdb.multivector import TokenCompression
from vecdb.params import SearchParams

from .common import save, tempdir


@contextmanager
def server_process(data: str, *extra: str):
    """A vecdb server in a child process (extra CLI arguments appended); yields its port."""
    cmd = [sys.executable, "-m", "vecdb_server", "--data", data, "--port", "0", "--log-level", "WARN", *extra]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    try:
        line = proc.stdout.readline()
        if "vecdb serving" not in line:
            raise RuntimeError(f"server did not start: {line!r}")
        yield int(line.rsplit(":", 1)[1])
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _stats(t: np.ndarray) -> dict:
    return {"median_ms": float(np.median(t) * 1e3), "p99_ms": float(np.percentile(t, 99) * 1e3)}


def _best_latencies(fns: dict, queries: list, rounds: int) -> dict:
    """Per query, the best of `rounds` times of each path; paths alternate so they see the same machine noise."""
    times = {name: np.full((rounds, len(queries)), np.inf) for name in fns}
    for r in range(rounds):
        for i, q in enumerate(queries):
            for name, fn in fns.items():
                t0 = time.perf_counter()
                fn(q)
                times[name][r, i] = time.perf_counter() - t0
    return {name: t.min(axis=0) for name, t in times.items()}


def _compare(a, b) -> bool:
    return all(x.ids == y.ids and np.array_equal(x.scores, y.scores) for x, y in zip(a, b))


# ---------------------------------------------------------------------------------------------------- multi-vector
def run_multivector(port: int, n_docs: int, n_queries: int, n_exact: int, rounds: int, batch: int) -> dict:
    import vecdb_client

    from . import scifact_tokens

    sf = scifact_tokens.load()
    docs = [sf.corpus.doc(i) for i in range(min(n_docs, len(sf.corpus)))]
    queries = [sf.queries.doc(i) for i in range(min(n_queries, len(sf.queries)))]
    field = vecdb.MultiVector(384, compression=TokenCompression("int8"), index=None)
    out: dict = {"docs": len(docs), "tokens": int(sum(d.shape[0] for d in docs)), "queries": len(queries)}
    emb_dir = tempdir("features-emb")

    def batches():
        for s in range(0, len(docs), batch):
            yield list(range(s, min(s + batch, len(docs)))), {"tok": docs[s : s + batch]}

    try:
        with vecdb.open(emb_dir) as edb, vecdb_client.connect(f"127.0.0.1:{port}", timeout=600) as rdb:
            # Ingest, best of `rounds` into a fresh collection each time, the three ways alternating: embedded
            # upsert per batch, remote upsert per batch (a round trip each), remote upsert_batches (one stream).
            ways = {"embedded": edb, "remote_upsert": rdb, "remote_stream": rdb}
            times: dict = {name: [] for name in ways}
            for _ in range(rounds):
                for name, db in ways.items():
                    db.drop_collection("mv", missing_ok=True)
                    col = db.create_collection("mv", vectors={"tok": field})
                    t0 = time.perf_counter()
                    if name == "remote_stream":
                        col.upsert_batches(batches())
                    else:
                        for ids, vecs in batches():
                            col.upsert(ids, vecs)
                    times[name].append(time.perf_counter() - t0)
                    if col.count() != len(docs):
                        raise RuntimeError(f"{name} ingest lost documents: {col.count()} of {len(docs)}")
            ingest = {name: len(docs) / min(t) for name, t in times.items()}
            cols = {"embedded": edb["mv"], "remote": rdb["mv"]}
            out["ingest_docs_per_s"] = ingest
            out["ingest_remote_over_embedded"] = {
                "upsert": ingest["remote_upsert"] / ingest["embedded"],
                "upsert_batches": ingest["remote_stream"] / ingest["embedded"],
            }
            for label, params, qs in (
                ("fde_maxsim", SearchParams(candidates=100), queries),
                ("exact_maxsim", SearchParams(exact=True), queries[:n_exact]),
            ):
                fns = {n: (lambda q, c=c, p=params: c.search("tok", q, k=10, params=p)) for n, c in cols.items()}
                for fn in fns.values():
                    fn(qs[0])  # warm-up: JIT, page cache, connection
                t = _best_latencies(fns, qs, rounds)
                res = {n: [fn(q) for q in qs] for n, fn in fns.items()}
                out[label] = {
                    "queries": len(qs),
                    "embedded": _stats(t["embedded"]),
                    "remote": _stats(t["remote"]),
                    "overhead_per_query_median_ms": float(np.median(t["remote"] - t["embedded"]) * 1e3),
                    "identical_results": _compare(res["embedded"], res["remote"]),
                }
            for name, col in cols.items():
                t0 = time.perf_counter()
                cal = col.calibrate("tok", n_pseudo=32, pseudo_tokens=32, seed=0)
                out.setdefault("calibrate", {})[name] = {"seconds": time.perf_counter() - t0, **cal}
    finally:
        shutil.rmtree(emb_dir, ignore_errors=True)
    out["calibrate_identical"] = {k: v for k, v in out["calibrate"]["embedded"].items() if k != "seconds"} == {
        k: v for k, v in out["calibrate"]["remote"].items() if k != "seconds"
    }
    return out


# ---------------------------------------------------------------------------------------------------- drift
def run_drift(port: int, rounds: int) -> dict:
    import vecdb_client

    from .drift import L3, L6, load_scifact

    sf = load_scifact()
    corpus6, corpus3, queries3 = sf[("corpus", L6)], sf[("corpus", L3)], sf[("queries", L3)]
    out: dict = {"pairs": len(corpus6), "queries": len(queries3), "pair_bytes": int(corpus6.nbytes + corpus3.nbytes)}
    emb_dir = tempdir("features-drift")
    try:
        with vecdb.open(emb_dir) as edb, vecdb_client.connect(f"127.0.0.1:{port}", timeout=600) as rdb:
            cols, fits = {}, {}
            for name, db in (("embedded", edb), ("remote", rdb)):
                col = db.create_collection("sf", vectors={"emb": vecdb.Dense(384, "cosine", index=None)})
                col.upsert(np.arange(len(corpus6)), corpus6)
                col.set_model_version("emb", L6)
                cols[name] = col
            for _ in range(rounds):  # best of `rounds`, alternating (each fit replaces the stored map)
                for name, col in cols.items():
                    t0 = time.perf_counter()
                    rep = col.fit_query_map("emb", L3, corpus3, corpus6, kind="ridge", seed=0)
                    took = time.perf_counter() - t0
                    if name not in fits or took < fits[name]["seconds"]:
                        fits[name] = {"seconds": took, **rep}
            out["fit"] = fits
            same = ("kind", "n_pairs", "holdout_cosine", "holdout_recall_at_10", "chosen")
            out["fit_identical"] = all(fits["embedded"][k] == fits["remote"][k] for k in same)
            fns = {n: (lambda q, c=c: c.search("emb", q, k=10, model_version=L3)) for n, c in cols.items()}
            for fn in fns.values():
                fn(queries3[0])
            t = _best_latencies(fns, list(queries3), rounds)
            res = {n: [fn(q) for q in queries3] for n, fn in fns.items()}
            raw = [cols["embedded"].search("emb", q, k=10) for q in queries3]  # L3 queries, no map
            native = [cols["embedded"].search("emb", q, k=10) for q in sf[("queries", L6)]]

            def ndcg(hits):
                return ndcg_at_k([[sf["doc_ids"][i] for i in h.ids] for h in hits], sf["qrels"], 10)

            out["search"] = {
                "embedded": _stats(t["embedded"]),
                "remote": _stats(t["remote"]),
                "overhead_per_query_median_ms": float(np.median(t["remote"] - t["embedded"]) * 1e3),
                "identical_results": _compare(res["embedded"], res["remote"]),
                "ndcg10_mapped_embedded": ndcg(res["embedded"]),
                "ndcg10_mapped_remote": ndcg(res["remote"]),
                "ndcg10_unmapped": ndcg(raw),
                "ndcg10_index_model_queries": ndcg(native),
            }
    finally:
        shutil.rmtree(emb_dir, ignore_errors=True)
    return out


def table(res: dict) -> str:
    mv, dr = res.get("multivector"), res.get("drift")
    lines = []
    if mv:
        lines += [
            f"SciFact tokens: {mv['docs']:,} docs, {mv['tokens']:,} tokens (int8), k=10, best of {res['rounds']}",
            "",
            "| path | embedded median / p99 ms | remote median / p99 ms | overhead/query median ms | identical |",
            "|---|---|---|---|---|",
        ]
        for label in ("fde_maxsim", "exact_maxsim"):
            r = mv[label]
            e, m = r["embedded"], r["remote"]
            lines.append(
                f"| {label} ({r['queries']} queries) | {e['median_ms']:.2f} / {e['p99_ms']:.2f} "
                f"| {m['median_ms']:.2f} / {m['p99_ms']:.2f} "
                f"| {r['overhead_per_query_median_ms']:.2f} | {r['identical_results']} |"
            )
        ing = mv["ingest_docs_per_s"]
        cal = mv["calibrate"]
        lines += [
            "",
            f"ingest ({res['batch']} docs per batch, best of {res['rounds']}): embedded {ing['embedded']:,.0f} docs/s, "
            f"remote upsert {ing['remote_upsert']:,.0f} docs/s, remote upsert_batches {ing['remote_stream']:,.0f} "
            f"docs/s (remote/embedded {mv['ingest_remote_over_embedded']['upsert']:.2f} / "
            f"{mv['ingest_remote_over_embedded']['upsert_batches']:.2f})",
            f"calibrate (32 pseudo-queries): embedded {cal['embedded']['seconds']:.2f} s, remote "
            f"{cal['remote']['seconds']:.2f} s, identical {mv['calibrate_identical']}",
            "",
        ]
    if dr:
        f, s = dr["fit"], dr["search"]
        lines += [
            f"SciFact model versions: ridge map L3 -> L6 fitted on {dr['pairs']:,} pairs "
            f"({dr['pair_bytes'] / 2**20:.1f} MiB; server limit {res['max_message_mb']} MiB)",
            "",
            f"fit (best of {res['rounds']}): embedded {f['embedded']['seconds']:.2f} s, remote "
            f"{f['remote']['seconds']:.2f} s, same map "
            f"{dr['fit_identical']}; held-out recall@10 {f['embedded']['holdout_recall_at_10']:.3f}",
            f"search with model_version ({dr['queries']} queries): embedded {s['embedded']['median_ms']:.2f} / "
            f"{s['embedded']['p99_ms']:.2f} ms, remote {s['remote']['median_ms']:.2f} / {s['remote']['p99_ms']:.2f} ms "
            f"(median / p99), overhead {s['overhead_per_query_median_ms']:.2f} ms, identical {s['identical_results']}",
            f"nDCG@10: mapped {s['ndcg10_mapped_embedded']:.4f} (remote {s['ndcg10_mapped_remote']:.4f}), "
            f"unmapped {s['ndcg10_unmapped']:.4f}, index-model queries {s['ndcg10_index_model_queries']:.4f}",
        ]
    lines.append(
        f"machine load average (1 min) before / after: {res['load_avg_before'][0]:.1f} / "
        f"{res['load_avg_after'][0]:.1f} on {os.cpu_count()} cores"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--docs", type=int, default=1000, help="SciFact documents of the multi-vector part")
    p.add_argument("--queries", type=int, default=300, help="queries of the FDE search (the exact one: --exact)")
    p.add_argument("--exact", type=int, default=50, help="queries of the exact MaxSim search")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batch", type=int, default=100, help="documents per upsert")
    p.add_argument("--max-message-mb", type=float, default=4.0, help="the server's message limit")
    p.add_argument("--parts", default="multivector,drift")
    a = p.parse_args(argv)
    parts = set(a.parts.split(","))
    res: dict = {
        "rounds": a.rounds,
        "batch": a.batch,
        "max_message_mb": a.max_message_mb,
        "load_avg_before": os.getloadavg(),
    }
    # The multi-vector part runs against a server with the default message limit (a batch of 100 SciFact documents
    # is 37 MB); the drift part against one whose limit is below the fit's pairs, so they travel as a stream.
    for part, extra in (("multivector", ()), ("drift", ("--max-message-mb", str(a.max_message_mb)))):
        if part not in parts:
            continue
        srv_dir = tempdir("features-srv")
        try:
            with server_process(srv_dir, *extra) as port:
                if part == "multivector":
                    res[part] = run_multivector(port, a.docs, a.queries, a.exact, a.rounds, a.batch)
                else:
                    res[part] = run_drift(port, a.rounds)
        finally:
            shutil.rmtree(srv_dir, ignore_errors=True)
    res["load_avg_after"] = os.getloadavg()
    save("remote_features", {"docs": a.docs, "parts": "+".join(sorted(parts))}, res)
    print(table(res))


if __name__ == "__main__":
    main()
