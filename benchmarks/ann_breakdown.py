"""Where a single HNSW query's time goes: hnswlib vs vecdb's graph kernel alone (walking the 8-bit codes as searches
do, and walking the float vectors) vs vecdb through Collection.search.

Same graph parameters (M=16, efConstruction=200), same ef, same queries, one thread, timed in one process (best
of --repeat rounds, the loops taking turns in each round). The kernel column calls the Numba beam search
directly on the prepared query (what a C-level entry point could reach); the API column is the public search call
with its checks, LMDB snapshot, explain and result object. Recall@10 of each is printed so they do the same work.

    python -m benchmarks ann_breakdown glove-100k siftsmall --ef 16 96
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

import numpy as np

from . import datasets
from .common import save


def _interleaved_best_us(fns, n: int, repeat: int) -> list[float]:
    """Best per-query time of each loop over `repeat` rounds, the loops taking turns within a round (a slow
    stretch of this shared machine then hits all of them, not one)."""
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return [b / n * 1e6 for b in best]


def run(name: str, efs: list[int], repeat: int) -> list[dict]:
    import hnswlib

    import vecdb
    from vecdb.kernels import graph as gk
    from vecdb.params import HNSWParams, SearchParams

    ds = datasets.load(name)
    cos = ds.metric in ("cosine", "angular")
    x = ds.train.astype(np.float32)
    q = ds.test.astype(np.float32)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True) if cos else q
    hn = hnswlib.Index(space="ip" if cos else "l2", dim=x.shape[1])
    hn.init_index(max_elements=len(x), M=16, ef_construction=200, random_seed=0)
    hn.add_items(x / np.linalg.norm(x, axis=1, keepdims=True) if cos else x, np.arange(len(x)))
    path = tempfile.mkdtemp(prefix="vecdb-breakdown-")
    rows = []
    try:
        db = vecdb.open(path)
        index = HNSWParams(m=16, ef_construction=200, index_threshold=10_000_000)
        col = db.create_collection("c", vectors={"v": vecdb.Dense(x.shape[1], ds.metric, index=index)})
        col.upsert(np.arange(len(x)), x)
        col.build_index(progress=False)
        os.environ["VECDB_THREADS"] = "1"
        col.search("v", q[0], k=10)
        fs = col._fields["v"]
        g, xs = fs.index.graph, fs.vectors.arr
        codes, cq = col._hot["v"].keep[3:5]  # the 8-bit walk's codes, as the API's search walks them
        no_codes = np.zeros((0, x.shape[1]), np.uint8)
        allowed = np.ones(xs.shape[0], np.uint8)
        out_d, out_i, nd = np.empty((1, 10), np.float32), np.empty((1, 10), np.int32), np.zeros(1, np.int64)
        vis = g.visited()
        truth = ds.neighbors[:, :10]

        def recall(found) -> float:
            return float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)]))

        for ef in efs:
            sp = SearchParams(ef=ef)
            hn.set_ef(ef)
            found: dict[str, list] = {"hnswlib": [], "kernel": [], "kernel_float": [], "api": []}

            def h(keep=None):
                for v in qn:
                    r = hn.knn_query(v, k=10, num_threads=1)[0][0]
                    if keep is not None:
                        keep.append(r)

            def kern(keep=None, ef=ef, codes=codes):
                for v in qn:
                    vis[1] = gk.search_batch(v[None], xs, codes, cq, g.links0, g.links_up, g.upper_slot, g.ep,
                                             g.max_level, ef, allowed, g.n_indexed, g.metric, vis[0], vis[1], out_d,
                                             out_i, nd)  # fmt: skip
                    if keep is not None:
                        keep.append(out_i[0].copy())

            def kern_float(keep=None):  # the same kernel walking the float vectors (no codes)
                kern(keep, codes=no_codes)

            def api(keep=None, sp=sp):
                for v in q:
                    r = col.search("v", v, k=10, params=sp, with_payload=False).ids
                    if keep is not None:
                        keep.append(r)

            h(found["hnswlib"]), kern(found["kernel"]), kern_float(found["kernel_float"]), api(found["api"])
            th, tk, tf, ta = _interleaved_best_us((h, kern, kern_float, api), len(q), repeat)
            row = {
                "dataset": name,
                "ef": ef,
                "hnswlib_us": th,
                "kernel_us": tk,
                "kernel_float_us": tf,
                "api_us": ta,
                "kernel_vs_hnswlib": th / tk,
                "kernel_codes_vs_float": tf / tk,
                "api_vs_hnswlib": th / ta,
                "recall": {k: recall(v) for k, v in found.items()},
            }
            rows.append(row)
            print(
                f"{name} ef={ef}: hnswlib {th:.1f} us, vecdb kernel {tk:.1f} us ({th / tk:.2f}x; walking the floats "
                f"{tf:.1f} us, codes {tf / tk:.2f}x faster), vecdb search() {ta:.1f} us ({th / ta:.2f}x); "
                f"recall {row['recall']}",
                flush=True,
            )
        db.close()
    finally:
        os.environ.pop("VECDB_THREADS", None)
        shutil.rmtree(path, ignore_errors=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("datasets", nargs="*", default=["glove-100k", "siftsmall"])
    p.add_argument("--ef", type=int, nargs="*", default=[16, 96])
    p.add_argument("--repeat", type=int, default=9)
    a = p.parse_args(argv)
    rows = [r for name in a.datasets for r in run(name, a.ef, a.repeat)]
    print(f"saved {save('ann_breakdown', {'datasets': '+'.join(a.datasets)}, {'rows': rows})}")


if __name__ == "__main__":
    main()
