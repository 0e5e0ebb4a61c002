"""One adapter per system, all with the same small interface (ann-benchmarks style).

    a = make("hnswlib", metric="cosine", M=16, ef_construction=200)
    a.fit(train)                       # build; the harness times it
    a.set_query_params(ef=64)
    ids = a.query(q, k)                # one query -> row ids (the harness recomputes recall itself)
    ids = a.batch_query(Q, k)          # many queries
    a.memory_bytes()                   # index size (method stated per adapter)

Every adapter queries with ONE thread (the figures compare single-threaded query speed).
"""

from __future__ import annotations

import importlib

from .base import Adapter

ADAPTERS = {
    "vecdb": "benchmarks.adapters.vecdb_hnsw:VecDBHNSW",
    "vecdb-exact": "benchmarks.adapters.vecdb_hnsw:VecDBExact",
    "hnswlib": "benchmarks.adapters.peers:HnswLib",
    "faiss-hnsw": "benchmarks.adapters.peers:FaissHNSW",
    "faiss-flat": "benchmarks.adapters.peers:FaissFlat",
    "faiss-ivfpq": "benchmarks.adapters.peers:FaissIVFPQ",
    "usearch": "benchmarks.adapters.peers:USearch",
    "chromadb": "benchmarks.adapters.stores:Chroma",
    "lancedb": "benchmarks.adapters.stores:Lance",
}


def make(name: str, metric: str, **build) -> Adapter:
    module, cls = ADAPTERS[name].split(":")
    return getattr(importlib.import_module(module), cls)(metric, **build)
