"""Vector databases used embedded: chromadb (PersistentClient, HNSW) and lancedb (IVF-PQ index + refine)."""

from __future__ import annotations

import os
import shutil
import tempfile

import numpy as np

from .base import Adapter


def _dir_bytes(path: str) -> int:
    return sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(path) for f in fs)


class Chroma(Adapter):
    name = "chromadb"
    query_param_grid = [{"ef": e} for e in (16, 32, 64, 128, 256)]

    def fit(self, x):
        import chromadb

        self.dir = tempfile.mkdtemp(prefix="chroma-ann-")
        self.client = chromadb.PersistentClient(path=self.dir)
        space = {"l2": "l2", "cosine": "cosine", "dot": "ip"}[self.metric]
        self.col = self.client.create_collection(
            "bench",
            configuration={
                "hnsw": {
                    "space": space,
                    "max_neighbors": self.build.get("M", 16),
                    "ef_construction": self.build.get("ef_construction", 200),
                }
            },
        )
        for s in range(0, len(x), 5000):
            self.col.add(ids=[str(i) for i in range(s, min(s + 5000, len(x)))], embeddings=x[s : s + 5000])

    def set_query_params(self, **params):
        self.query_params = params
        self.col.modify(configuration={"hnsw": {"ef_search": params["ef"]}})

    def query(self, q, k):
        r = self.col.query(query_embeddings=[q], n_results=k, include=[])
        return np.array([int(i) for i in r["ids"][0]])

    def memory_bytes(self) -> int:
        return _dir_bytes(self.dir)

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class Lance(Adapter):
    name = "lancedb"
    query_param_grid = [{"nprobes": p, "refine": r} for p in (5, 10, 20, 40, 80) for r in (1, 5)]

    def fit(self, x):
        import lancedb
        import pyarrow as pa

        self.dir = tempfile.mkdtemp(prefix="lance-ann-")
        db = lancedb.connect(self.dir)
        d = x.shape[1]
        flat = pa.array(np.ascontiguousarray(x, np.float32).ravel(), pa.float32())
        table = pa.table({"id": pa.array(np.arange(len(x))), "vector": pa.FixedSizeListArray.from_arrays(flat, d)})
        self.tbl = db.create_table("c", table)
        metric = {"l2": "l2", "cosine": "cosine", "dot": "dot"}[self.metric]
        self.tbl.create_index(
            metric=metric,
            vector_column_name="vector",
            index_type="IVF_PQ",
            num_partitions=self.build.get("partitions", int(np.sqrt(len(x)))),
            num_sub_vectors=self.build.get("m", d // 2 if d % 2 == 0 else d),
        )

    def query(self, q, k):
        p = self.query_params
        r = (
            self.tbl.search(q)
            .limit(k)
            .nprobes(p.get("nprobes", 20))
            .refine_factor(p.get("refine", 1))
            .select(["id"])
            .to_arrow()
        )
        return r["id"].to_numpy()

    def memory_bytes(self) -> int:
        return _dir_bytes(self.dir)

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)
