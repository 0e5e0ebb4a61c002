"""Compressed fields through the engine: Collection.search on codes + exact rescoring, against the exact float scan
of the same collection, side by side in one run.

Data as benchmarks/compression.py: SciFact (all-MiniLM-L6-v2 corpus 5,183 x 384, 300 real queries, nDCG@10 from the
BEIR qrels) and GloVe 6B 50-d angular (100k train, the test queries). For each codec a collection with one field
Dense(dim, "cosine", index=None, compression=spec) is filled by upserts of 5,000 points, trained with
Collection.train_compression (codec fit + encoding every row + oversampling calibration, one transaction) and
searched with the whole query batch through Collection.search: the codes path at its calibrated default
(oversampling for recall 0.95, calibrated on stored vectors, as the engine does without queries), at fixed
oversampling factors, and on codes alone (rescore=False); the baseline is SearchParams(exact=True) on the same
collection. Recall@10 is recomputed here from exact distances (tie-tolerant). QPS: best of --repeat, each codes
run timed alternately with the exact run so the ratio is of adjacent measurements on this shared 2-core machine.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import vecdb
from vecdb.compression import LearnedBinary, ProductQuantization, SignBinary
from vecdb.evaluation import recall_at_k
from vecdb.kernels.rescore import gathered_distances

from .common import RESULTS, save, tempdir
from .compression import K, load, ndcg, paired_best

FIXED = (1, 5, 10, 20)
BATCH = 5000


def codecs(dim: int) -> list[tuple[str, object]]:
    code_dim = dim if dim % 64 == 0 else ((dim + 63) // 64) * 64
    m = 48 if dim % 48 == 0 and dim >= 192 else (10 if dim % 10 == 0 else dim // 8)
    return [
        ("sign", SignBinary()),
        ("learned-2bit", LearnedBinary(bits_per_dim=2, code_dim=code_dim)),
        (f"pq{m}", ProductQuantization(m=m)),
    ]


def run_codec(name: str, spec, data: dict, true_d: np.ndarray, repeat: int, workdir: str) -> dict:
    x, q = data["x"], data["q"]
    with vecdb.open(f"{workdir}/{name}") as db:
        col = db.create_collection("c", vectors={"v": vecdb.Dense(x.shape[1], "cosine", index=None, compression=spec)})
        t0 = time.perf_counter()
        for s in range(0, len(x), BATCH):
            col.upsert(list(range(s, min(s + BATCH, len(x)))), x[s : s + BATCH])
        ingest_s = time.perf_counter() - t0
        info = col.compression_info("v")  # trained inside the upsert that reached the train size, if any did
        auto = info is not None
        t0 = time.perf_counter()
        if not auto:
            info = col.train_compression("v", progress=False)
        train_s = time.perf_counter() - t0
        exact_p = vecdb.SearchParams(exact=True)

        def exact():
            return col.search("v", q, K, params=exact_p, with_payload=False)

        def measure(params: vecdb.SearchParams) -> dict:
            hits = col.search("v", q, K, params=params, with_payload=False)
            rows = np.full((len(q), K), -1, np.int64)
            for i, h in enumerate(hits):
                rows[i, : len(h.ids)] = h.ids
            found = np.sort(gathered_distances(q, x, rows, "cosine"), axis=1)
            t, t_exact = paired_best(lambda: col.search("v", q, K, params=params, with_payload=False), exact, repeat)
            out = {
                "recall": recall_at_k(found, true_d, K),
                "qps": len(q) / t,
                "exact_qps": len(q) / t_exact,
                "speedup_vs_exact": t_exact / t,
                "path": hits[0].explain["path"],
                "oversample": hits[0].explain["oversample"],
                "rows_rescored": hits[0].explain["rows_rescored"],
            }
            if "qrels" in data:
                out["ndcg"] = ndcg(data, rows)
            return out

        res = {
            "codec": name,
            "spec": col.schema.vectors["v"].compression.to_dict(),
            "bytes_per_vector": info["bytes_per_vector"],
            "compression": 4.0 * x.shape[1] / info["bytes_per_vector"],
            "ingest_seconds": ingest_s,
            "trained_during_ingest": auto,  # then ingest_seconds includes the training
            "train_seconds": train_s,
            "calibration": info["calibration"],
            "codes_only": measure(vecdb.SearchParams(rescore=False)),
            "calibrated": measure(vecdb.SearchParams()),
            "fixed": {str(f): measure(vecdb.SearchParams(oversample=f)) for f in FIXED},
        }
        if exact()[0].explain["path"] != "exact_scan":
            raise RuntimeError("the baseline did not run the exact float scan")
    return res


def run(name: str, repeat: int, only: list[str] | None) -> dict:
    data = load(name)
    x, q = data["x"], data["q"]
    from vecdb.kernels import dense

    true_d, true_rows = dense.scan_topk(q, [(0, x)], np.ones(len(x), np.uint8), K, "cosine")
    workdir = tempdir("compression-engine")
    rows = []
    for cname, spec in codecs(x.shape[1]):
        if only and cname not in only:
            continue
        t0 = time.perf_counter()
        rows.append(run_codec(cname, spec, data, true_d, repeat, workdir))
        print(f"  {name}: {cname} done in {time.perf_counter() - t0:.0f}s", flush=True)
    exact = {"bytes_per_vector": 4.0 * x.shape[1]}
    if "qrels" in data:
        exact["ndcg"] = ndcg(data, true_rows)
    return {
        "dataset": data["name"],
        "n": x.shape[0],
        "dim": x.shape[1],
        "queries": len(q),
        "exact": exact,
        "rows": rows,
    }


def table(res: dict) -> str:
    nd = "ndcg" in res["exact"]
    head = (
        "| codec | bytes/vec | recall@10 codes only | calibrated: factor -> recall (QPS, vs exact) "
        "| 10x: recall (QPS, vs exact) | 20x: recall (vs exact) |" + (" nDCG@10 calibrated |" if nd else "")
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in res["rows"]:
        c, cal, f10, f20 = r["codes_only"], r["calibrated"], r["fixed"]["10"], r["fixed"]["20"]
        line = (
            f"| {r['codec']} | {r['bytes_per_vector']:g} | {c['recall']:.3f} ({c['speedup_vs_exact']:.1f}x) "
            f"| {cal['oversample']:g}x -> {cal['recall']:.3f} ({cal['qps']:,.0f}, {cal['speedup_vs_exact']:.1f}x) "
            f"| {f10['recall']:.3f} ({f10['qps']:,.0f}, {f10['speedup_vs_exact']:.1f}x) "
            f"| {f20['recall']:.3f} ({f20['speedup_vs_exact']:.1f}x) |"
        )
        if nd:
            line += f" {cal['ndcg']:.4f} (exact {res['exact']['ndcg']:.4f}) |"
        lines.append(line)
    return "\n".join(lines)


def plot(results: list[dict], path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(7 * len(results), 5.5), squeeze=False)
    for ax, res in zip(axes[0], results):
        for r in res["rows"]:
            b = r["bytes_per_vector"]
            ax.scatter(b, r["codes_only"]["recall"], marker="o", facecolors="none", edgecolors="tab:blue")
            ax.scatter(b, r["calibrated"]["recall"], marker="o", color="tab:blue")
            ax.scatter(b, r["fixed"]["20"]["recall"], marker="^", color="tab:green")
            ax.annotate(
                r["codec"], (b, r["codes_only"]["recall"]), fontsize=8, xytext=(3, -8), textcoords="offset points"
            )
        ax.scatter(res["exact"]["bytes_per_vector"], 1.0, marker="*", s=120, color="black", label="exact float32")
        ax.scatter([], [], facecolors="none", edgecolors="tab:blue", label="codes only")
        ax.scatter([], [], color="tab:blue", label="codes + rescore (calibrated)")
        ax.scatter([], [], marker="^", color="tab:green", label="codes + rescore (20x)")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("bytes per vector (log2)")
        ax.set_ylabel("recall@10 vs exact")
        ax.set_title(f"Collection.search: {res['dataset']} ({res['n']:,} x {res['dim']})")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("datasets", nargs="*", default=["scifact", "glove-100k"])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--only", nargs="*", help="run only these codec names")
    a = p.parse_args(argv)
    results = []
    for name in a.datasets:
        res = run(name, a.repeat, a.only)
        results.append(res)
        path = save("compression_engine", {"dataset": name}, res)
        print(f"\n### {res['dataset']} ({res['n']:,} x {res['dim']}, {res['queries']} queries) -> {path}\n")
        print(table(res))
    if not a.only:
        png = RESULTS / f"compression_engine__{'+'.join(a.datasets)}.png"
        plot(results, png)
        print(f"\nplot: {png}")


if __name__ == "__main__":
    main()
