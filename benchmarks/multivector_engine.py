"""Multi-vector search through the engine: SciFact token vectors in a vecdb collection (MultiVector field,
tokens in LMDB, FDEs in vecdb's own HNSW graph), searched with Collection.search — the real code path.

Measured side by side in one run, single query at a time, one kernel thread per query:
- exhaustive exact MaxSim (params exact=True) vs FDE candidates (graph) -> exact MaxSim re-rank, with the
  candidate count calibrated on pseudo-queries for recall@10 = 0.9 (Collection.calibrate);
- nDCG@10 on the 300 SciFact test queries (BEIR qrels) for both; per-query latency (median of best-of-N);
- memory per document (token bytes + FDE) for each token compression.
Token vectors: all-MiniLM-L6-v2 per token, from benchmarks/scifact_tokens.py (cached after the first run).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time

import numpy as np
from tqdm.auto import tqdm

import vecdb
from vecdb.evaluation import ndcg_at_k
from vecdb.multivector import FDEParams, TokenCompression
from vecdb.params import HNSWParams, SearchParams

from . import scifact_tokens
from .common import save, tempdir

COMPRESSIONS = {
    "none": TokenCompression("none"),
    "int8": TokenCompression("int8"),
    "binary": TokenCompression("binary"),
}


def build(data, compression: TokenCompression, path: str, batch: int = 250):
    db = vecdb.open(path, sync=False)  # a benchmark load: durability is measured elsewhere
    field = vecdb.MultiVector(
        384,
        compression=compression,
        fde=FDEParams(k_sim=4, reps=20, d_proj=16),
        index=HNSWParams(m=16, ef_construction=200, index_threshold=10**7),
    )
    col = db.create_collection("scifact", vectors={"tok": field})
    n = len(data.corpus)
    for s in tqdm(range(0, n, batch), desc=f"load ({compression.kind})", disable=not sys.stderr.isatty()):
        e = min(s + batch, n)
        col.upsert(list(range(s, e)), {"tok": [data.corpus.doc(i) for i in range(s, e)]})
    col.build_index(progress=False)
    return db, col


def run(latency_queries: int, repeat: int, recall_target: float, pseudo: int, compressions: list[str]) -> dict:
    data = scifact_tokens.load()
    queries = [data.queries.doc(i) for i in range(len(data.queries))]
    out: dict = {"queries": len(queries), "docs": len(data.corpus), "tokens": int(data.corpus.tokens.shape[0])}
    os.environ["VECDB_THREADS"] = "1"
    for name in compressions:
        path = tempdir(f"mv-{name}")
        try:
            t0 = time.perf_counter()
            db, col = build(data, COMPRESSIONS[name], path)
            load_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            cal = col.calibrate("tok", k=10, recall_target=recall_target, n_pseudo=pseudo)
            cal_s = time.perf_counter() - t0
            exact_p, fde_p = SearchParams(exact=True), SearchParams()

            def ranked(params, col=col):
                return [col.search("tok", q, k=10, params=params, with_payload=False).ids for q in queries]

            ndcg_exact = ndcg_at_k([[data.doc_ids[j] for j in r] for r in ranked(exact_p)], data.qrels, 10)
            fde_ranked = ranked(fde_p)
            ndcg_fde = ndcg_at_k([[data.doc_ids[j] for j in r] for r in fde_ranked], data.qrels, 10)
            lat = {}
            for label, params in (("exact", exact_p), ("fde", fde_p)):
                per = []
                for q in queries[:latency_queries]:
                    best = float("inf")
                    for _ in range(repeat):
                        t = time.perf_counter()
                        col.search("tok", q, k=10, params=params, with_payload=False)
                        best = min(best, time.perf_counter() - t)
                    per.append(best)
                lat[label] = float(np.median(per) * 1e3)
            with col._env.read() as txn:
                m = col._mv["tok"][0].memory(txn, col._t["aux"], col.count())
            explain = col.search("tok", queries[0], k=10, params=fde_p).explain
            out[name] = {
                "load_s": load_s,
                "calibrate_s": cal_s,
                "calibration": cal,
                "ndcg_exact": ndcg_exact,
                "ndcg_fde": ndcg_fde,
                "ms_exact": lat["exact"],
                "ms_fde": lat["fde"],
                "speedup": lat["exact"] / lat["fde"],
                "token_kib_per_doc": m["token_bytes"] / len(data.corpus) / 1024,
                "fde_kib_per_doc": m["fde_bytes_per_doc"] / 1024,
                "explain": explain,
            }
            db.close()
        finally:
            shutil.rmtree(path, ignore_errors=True)
    return out


def table(out: dict) -> str:
    lines = [
        "| token codec | nDCG@10 exact MaxSim | nDCG@10 FDE -> re-rank | ms/query exact | ms/query FDE | speed-up "
        "| tokens KiB/doc | + FDE KiB/doc | candidates |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in COMPRESSIONS:
        r = out.get(name)
        if not r:
            continue
        lines.append(
            f"| {name} | {r['ndcg_exact']:.4f} | {r['ndcg_fde']:.4f} | {r['ms_exact']:.1f} | {r['ms_fde']:.1f} "
            f"| {r['speedup']:.1f}x | {r['token_kib_per_doc']:.1f} | {r['fde_kib_per_doc']:.1f} "
            f"| {r['calibration']['default_candidates']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--latency-queries", type=int, default=60)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--recall-target", type=float, default=0.9)
    p.add_argument("--pseudo", type=int, default=100)
    p.add_argument("--compressions", nargs="*", default=list(COMPRESSIONS), choices=list(COMPRESSIONS))
    a = p.parse_args(argv)
    out = run(a.latency_queries, a.repeat, a.recall_target, a.pseudo, a.compressions)
    save("multivector_engine", {"dataset": "scifact", "target": a.recall_target}, out)
    print(table(out))


if __name__ == "__main__":
    main()
