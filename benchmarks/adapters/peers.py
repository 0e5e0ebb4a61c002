"""In-memory ANN libraries: hnswlib, faiss (HNSW, Flat, IVF-PQ), usearch. Cosine runs as inner product on
unit vectors for every system (the harness normalises once, outside the timings)."""

from __future__ import annotations

import os
import tempfile

import numpy as np

from .base import EF_GRID, Adapter


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


class HnswLib(Adapter):
    name = "hnswlib"
    query_param_grid = EF_GRID

    def fit(self, x: np.ndarray) -> None:
        import hnswlib

        space = "l2" if self.metric == "l2" else "ip"
        self.cos = self.metric == "cosine"
        self.index = hnswlib.Index(space=space, dim=x.shape[1])
        self.index.init_index(
            max_elements=len(x),
            M=self.build.get("M", 16),
            ef_construction=self.build.get("ef_construction", 200),
            random_seed=0,
        )
        self.index.set_num_threads(os.cpu_count() or 1)
        self.index.add_items(_unit(x) if self.cos else x, np.arange(len(x)))
        self.index.set_num_threads(1)

    def set_query_params(self, **params) -> None:
        self.query_params = params
        self.index.set_ef(params["ef"])

    def query(self, q, k):
        labels, _ = self.index.knn_query(_unit(q) if self.cos else q, k=k, num_threads=1)
        return labels[0]

    def batch_query(self, q, k):
        labels, _ = self.index.knn_query(_unit(q) if self.cos else q, k=k, num_threads=1)
        return list(labels)

    def memory_bytes(self) -> int:
        with tempfile.NamedTemporaryFile() as f:
            self.index.save_index(f.name)
            return os.path.getsize(f.name)


class _Faiss(Adapter):
    def _prep(self, x):
        return _unit(x) if self.metric == "cosine" else np.ascontiguousarray(x, np.float32)

    def _metric(self):
        import faiss

        return faiss.METRIC_L2 if self.metric == "l2" else faiss.METRIC_INNER_PRODUCT

    def query(self, q, k):
        _, i = self.index.search(self._prep(q.reshape(1, -1)), k)
        return i[0]

    def batch_query(self, q, k):
        _, i = self.index.search(self._prep(q), k)
        return list(i)

    def memory_bytes(self) -> int:
        import faiss

        return int(faiss.serialize_index(self.index).size)


class FaissHNSW(_Faiss):
    name = "faiss-hnsw"
    query_param_grid = EF_GRID

    def fit(self, x):
        import faiss

        faiss.omp_set_num_threads(os.cpu_count() or 1)
        self.index = faiss.IndexHNSWFlat(x.shape[1], self.build.get("M", 16), self._metric())
        self.index.hnsw.efConstruction = self.build.get("ef_construction", 200)
        self.index.add(self._prep(x))
        faiss.omp_set_num_threads(1)

    def set_query_params(self, **params):
        self.query_params = params
        self.index.hnsw.efSearch = params["ef"]


class FaissFlat(_Faiss):
    name = "faiss-flat"

    def fit(self, x):
        import faiss

        faiss.omp_set_num_threads(1)
        self.index = faiss.IndexFlat(x.shape[1], self._metric())
        self.index.add(self._prep(x))


class FaissIVFPQ(_Faiss):
    name = "faiss-ivfpq"
    query_param_grid = [{"nprobe": p} for p in (1, 2, 4, 8, 16, 32, 64)]

    def fit(self, x):
        import faiss

        faiss.omp_set_num_threads(os.cpu_count() or 1)
        d = x.shape[1]
        nlist = self.build.get("nlist", int(4 * np.sqrt(len(x))))
        m = self.build.get("m", d // 2 if d % 2 == 0 else d)
        quant = faiss.IndexFlat(d, self._metric())
        self.index = faiss.IndexIVFPQ(quant, d, nlist, m, 8, self._metric())
        xs = self._prep(x)
        self.index.train(xs)
        self.index.add(xs)
        faiss.omp_set_num_threads(1)

    def set_query_params(self, **params):
        self.query_params = params
        self.index.nprobe = params["nprobe"]


class USearch(Adapter):
    name = "usearch"
    query_param_grid = EF_GRID

    def fit(self, x):
        from usearch.index import Index

        self.index = Index(
            ndim=x.shape[1],
            metric="l2sq" if self.metric == "l2" else "cos",
            dtype="f32",
            connectivity=self.build.get("M", 16),
            expansion_add=self.build.get("ef_construction", 200),
        )
        self.index.add(np.arange(len(x)), np.ascontiguousarray(x, np.float32), threads=os.cpu_count() or 1)

    def set_query_params(self, **params):
        self.query_params = params
        self.index.expansion_search = params["ef"]

    def query(self, q, k):
        return np.asarray(self.index.search(q, k, threads=1).keys)

    def batch_query(self, q, k):
        return list(self.index.search(q, k, threads=1).keys)

    def memory_bytes(self) -> int:
        return int(self.index.memory_usage)
