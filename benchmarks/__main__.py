"""python -m benchmarks <name> [args]: run one benchmark; figures are saved under benchmarks/results/."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = {
    "exact": "exact search vs the best numpy/BLAS formulation (siftsmall, glove-100k)",
    "ingest": "durable batch ingest vs chromadb and lancedb",
    "drift": "query-drift maps: new-model queries against an old-model index (SciFact nDCG, AG News, latency)",
    "scale": "open time and resident memory of a 1M x 128 collection",
    "ann": "ANN recall/QPS vs hnswlib, faiss, usearch, chromadb, lancedb (ann-benchmarks style)",
    "ann_breakdown": "one HNSW query's time: hnswlib vs vecdb's graph kernel alone vs Collection.search",
    "filtered": "filtered search at every selectivity vs faiss IDSelector, hnswlib filter, chromadb, lancedb",
    "remote": "gRPC vs embedded: per-query overhead, streaming ingest, 8 vs 1 clients; milvus-lite side by side",
    "multivector": "SciFact token vectors: exhaustive MaxSim vs MUVERA FDE -> re-rank, FDE recall, token codecs",
    "multivector_engine": "the same through Collection.search (tokens in LMDB, FDEs in vecdb's graph)",
    "remote_features": "gRPC vs embedded for multi-vector search/ingest and streamed drift-map fits (SciFact)",
    "compression": "codecs (sign, learned binary, PQ/OPQ, int8, Matryoshka) vs exact and faiss (SciFact, GloVe)",
    "compression_engine": "compressed fields through Collection.search: codes + rescore vs exact (SciFact, GloVe)",
    "sign_rescore": "1-bit sign codes + rescoring, one query at a time, vs the exact scan (SciFact, GloVe)",
}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in BENCHMARKS:
        print("usage: python -m benchmarks <name> [args]\n")
        for name, what in BENCHMARKS.items():
            print(f"  {name:12s} {what}")
        sys.exit(2)
    importlib.import_module(f"benchmarks.{sys.argv[1]}").main(sys.argv[2:])


if __name__ == "__main__":
    main()
