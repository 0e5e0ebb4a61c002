"""Durable batch ingest: 1,000-vector batches of real 128-d vectors, side by side with chromadb and lancedb.

Data: SIFT10K base + BigANN 10k base (20,000 x 128, real). Each system writes to a fresh directory on the same
disk; vecdb commits every batch with fsync (its default, sync=True). The peers run with their own defaults for a
persistent store: chromadb PersistentClient (SQLite log + HNSW), lancedb table.add (one Lance fragment per batch).
Best of `repeat` runs each. Note what each one does per batch: chromadb also maintains its HNSW graph (compare
with vecdb+hnsw), lancedb appends a fragment and builds no index (compare with vecdb, storage only).
"""

from __future__ import annotations

import argparse
import shutil
import time

import numpy as np

from . import datasets
from .common import save, tempdir


def data() -> np.ndarray:
    return np.concatenate([datasets.siftsmall().train, datasets.bigann10k().train]).astype(np.float32)


def ingest_vecdb(x: np.ndarray, batch: int, index: bool = False) -> float:
    """index=False: storage only (vectors durable and searchable exactly); True: the default HNSW graph is
    maintained too (rows indexed by the upsert that brings the unindexed tail to 10,000, inside its transaction)."""
    import vecdb

    path = tempdir("ingest-vecdb")
    try:
        with vecdb.open(path) as db:  # sync=True: every acknowledged batch is fsync'd
            dense = vecdb.Dense(x.shape[1], "l2") if index else vecdb.Dense(x.shape[1], "l2", index=None)
            col = db.create_collection("c", vectors={"v": dense})
            t0 = time.perf_counter()
            for s in range(0, len(x), batch):
                col.upsert(np.arange(s, s + batch), x[s : s + batch])
            dt = time.perf_counter() - t0
            assert col.count() == len(x)
        return dt
    finally:
        shutil.rmtree(path, ignore_errors=True)


def ingest_chroma(x: np.ndarray, batch: int) -> float:
    import chromadb

    path = tempdir("ingest-chroma")
    try:
        client = chromadb.PersistentClient(path=path)
        col = client.create_collection("bench", metadata={"hnsw:space": "l2"})
        t0 = time.perf_counter()
        for s in range(0, len(x), batch):
            col.add(ids=[str(i) for i in range(s, s + batch)], embeddings=x[s : s + batch])
        dt = time.perf_counter() - t0
        assert col.count() == len(x)
        return dt
    finally:
        shutil.rmtree(path, ignore_errors=True)


def ingest_lancedb(x: np.ndarray, batch: int) -> float:
    import lancedb
    import pyarrow as pa

    path = tempdir("ingest-lance")
    try:
        db = lancedb.connect(path)
        dim = x.shape[1]
        schema = pa.schema([pa.field("id", pa.int64()), pa.field("vector", pa.list_(pa.float32(), dim))])
        tbl = db.create_table("c", schema=schema)

        def table(s: int) -> pa.Table:
            flat = pa.array(x[s : s + batch].ravel(), pa.float32())
            return pa.table(
                {"id": pa.array(np.arange(s, s + batch)), "vector": pa.FixedSizeListArray.from_arrays(flat, dim)}
            )

        t0 = time.perf_counter()
        for s in range(0, len(x), batch):
            tbl.add(table(s))
        dt = time.perf_counter() - t0
        assert tbl.count_rows() == len(x)
        return dt
    finally:
        shutil.rmtree(path, ignore_errors=True)


SYSTEMS = {
    "vecdb": ingest_vecdb,
    "vecdb+hnsw": lambda x, batch: ingest_vecdb(x, batch, index=True),
    "chromadb": ingest_chroma,
    "lancedb": ingest_lancedb,
}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--systems", nargs="*", default=list(SYSTEMS))
    a = p.parse_args(argv)
    x = data()
    rates = {}
    for name in a.systems:
        best = min(SYSTEMS[name](x, a.batch) for _ in range(a.repeat))
        rates[name] = len(x) / best
        print(f"{name:10s} {rates[name]:>12,.0f} vectors/s")
    ratios = {f"vecdb_over_{n}": rates["vecdb"] / r for n, r in rates.items() if n != "vecdb" and "vecdb" in rates}
    save("ingest", {"batch": a.batch, "n": len(x)}, {"vectors_per_s": rates, "ratios": ratios})
    print("| system | vectors/s | vecdb speed-up |\n|---|---|---|")
    for n, r in rates.items():
        print(f"| {n} | {r:,.0f} | {rates.get('vecdb', r) / r:.2f}x |")


if __name__ == "__main__":
    main()
