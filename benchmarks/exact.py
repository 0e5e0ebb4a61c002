"""Exact search: vecdb's fused Numba scan vs the best numpy/BLAS formulation, same machine, same run.

Both get the same prepared data (unit vectors for cosine). numpy computes the score matrix with a BLAS matmul
in query chunks and selects with argpartition; several chunk sizes are tried and the fastest is reported, so the
baseline is the best numpy can do here. vecdb is timed through Collection.search (the real code path: LMDB
snapshot, zero-copy blocks, kernels, id mapping). Recall is recomputed from exact distances against the shipped
ground truth.
"""

from __future__ import annotations

import argparse
import shutil

import numpy as np

import vecdb
from vecdb.evaluation import recall_at_k

from . import datasets
from .common import best_of, save, tempdir


def numpy_topk(train: np.ndarray, norms: np.ndarray | None, q: np.ndarray, k: int, chunk: int) -> np.ndarray:
    out = np.empty((q.shape[0], k), np.int64)
    for s in range(0, q.shape[0], chunk):
        sims = q[s : s + chunk] @ train.T
        if norms is not None:  # l2: ||x||^2 - 2<q,x> ranks like ||q-x||^2
            sims = 2 * sims - norms
        part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sims, part, 1), axis=1)
        out[s : s + chunk] = np.take_along_axis(part, order, 1)
    return out


def run(name: str, k: int = 10, repeat: int = 3, single: int = 200) -> dict:
    ds = datasets.load(name)
    single = min(single, len(ds.test))
    train, test = ds.train, ds.test
    if ds.metric == "cosine":
        train = train / np.linalg.norm(train, axis=1, keepdims=True)
        test = test / np.linalg.norm(test, axis=1, keepdims=True)
    norms = (train**2).sum(1) if ds.metric == "l2" else None
    path = tempdir("exact")
    try:
        with vecdb.open(path) as db:
            col = db.create_collection("c", vectors={"v": vecdb.Dense(ds.dim, ds.metric)})
            for s in range(0, len(train), 10_000):
                col.upsert(np.arange(s, min(s + 10_000, len(train))), train[s : s + 10_000])

            def vec_batch():
                return col.search("v", test, k=k, with_payload=False)

            def vec_single():
                for i in range(single):
                    col.search("v", test[i], k=k, with_payload=False)

            res = vec_batch()  # warm-up: JIT + page cache
            vec_single()
            rows = np.array([h.ids for h in res])
            recall_vecdb = recall_at_k(
                datasets.true_distances(ds, ds.test, rows), datasets.true_distances(ds, ds.test, ds.neighbors[:, :k]), k
            )
            t_vec = best_of(vec_batch, repeat)
            t_vec1 = best_of(vec_single, repeat) / single

            chunk_times = {}
            for chunk in (8, 16, 32, 64, 128, len(test)):
                chunk_times[chunk] = best_of(lambda c=chunk: numpy_topk(train, norms, test, k, c), repeat)
            best_chunk = min(chunk_times, key=chunk_times.get)
            t_np = chunk_times[best_chunk]
            np_rows = numpy_topk(train, norms, test, k, best_chunk)
            recall_np = recall_at_k(
                datasets.true_distances(ds, ds.test, np_rows),
                datasets.true_distances(ds, ds.test, ds.neighbors[:, :k]),
                k,
            )
            t_np1 = (
                best_of(lambda: [numpy_topk(train, norms, test[i : i + 1], k, 1) for i in range(single)], repeat)
                / single
            )
    finally:
        shutil.rmtree(path, ignore_errors=True)
    out = {
        "dataset": name,
        "n": len(train),
        "dim": ds.dim,
        "queries": len(test),
        "k": k,
        "recall_vecdb": recall_vecdb,
        "recall_numpy": recall_np,
        "batch_qps_vecdb": len(test) / t_vec,
        "batch_qps_numpy": len(test) / t_np,
        "numpy_best_chunk": best_chunk,
        "single_ms_vecdb": t_vec1 * 1e3,
        "single_ms_numpy": t_np1 * 1e3,
    }
    out["batch_time_ratio_vecdb_over_numpy"] = t_vec / t_np
    out["single_time_ratio_vecdb_over_numpy"] = t_vec1 / t_np1
    save("exact", {"dataset": name, "k": k}, out)
    return out


def table(rows: list[dict]) -> str:
    lines = [
        "| dataset | n x dim | recall@10 vecdb / numpy | batch QPS vecdb | batch QPS numpy | time ratio (batch) "
        "| single-query ms vecdb | numpy | time ratio (single) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['n']:,} x {r['dim']} | {r['recall_vecdb']:.3f} / {r['recall_numpy']:.3f} "
            f"| {r['batch_qps_vecdb']:,.0f} | {r['batch_qps_numpy']:,.0f} "
            f"| {r['batch_time_ratio_vecdb_over_numpy']:.2f}x | {r['single_ms_vecdb']:.3f} "
            f"| {r['single_ms_numpy']:.3f} | {r['single_time_ratio_vecdb_over_numpy']:.2f}x |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("datasets", nargs="*", default=["siftsmall", "glove-100k"])
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args(argv)
    rows = [run(d, a.k, a.repeat) for d in a.datasets]
    print(table(rows))


if __name__ == "__main__":
    main()
