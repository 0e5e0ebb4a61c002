"""Candidate generators for benchmarks/compression.py: vecdb codecs and faiss peers behind one small interface.

A method is fitted on the collection's vectors, reports its bytes per vector, and returns candidate rows (nq, c)
ranked by its own approximate score; the harness rescores and measures recall itself.
"""

from __future__ import annotations

import time

import numpy as np

from vecdb.compression import make_codec
from vecdb.compression.report import label
from vecdb.storage.blocks import block_rows_for


def blocks_of(x: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """Row blocks of the size the engine stores (about 1 MiB each)."""
    step = block_rows_for(x.shape[1] * x.dtype.itemsize)
    return [(s, x[s : s + step]) for s in range(0, x.shape[0], step)]


class VecdbMethod:
    def __init__(self, name: str, spec, note: str = "") -> None:
        self.name, self.spec, self.note = name, spec, note
        self.system = "vecdb"

    def fit(self, x: np.ndarray, metric: str, seed: int = 0) -> None:
        t0 = time.perf_counter()
        self.codec = make_codec(self.spec)
        self.codec.fit(x, metric=metric, seed=seed, progress=None)
        self.codes = self.codec.encode(x)
        self.fit_seconds = time.perf_counter() - t0
        self.blocks = blocks_of(self.codes)
        self.allowed = np.ones(x.shape[0], np.uint8)
        self.bytes_per_vector = self.codec.bytes_per_vector
        self.spec_label = label(self.spec)

    def search(self, q: np.ndarray, n: int) -> np.ndarray:
        return self.codec.scan_topk(q, self.blocks, self.allowed, n)[1]


class FaissMethod:
    """faiss index as a peer: IndexPQ, IndexIVFPQ, IndexLSH, or ITQ codes in an IndexBinaryFlat."""

    system = "faiss"

    def __init__(self, name: str, kind: str, note: str = "", **params) -> None:
        self.name, self.kind, self.note, self.params = name, kind, note, params
        self.spec_label = f"faiss {kind} " + ", ".join(f"{k}={v}" for k, v in params.items())

    def fit(self, x: np.ndarray, metric: str, seed: int = 0) -> None:
        import faiss

        d = x.shape[1]
        ip = metric in ("cosine", "dot")
        t0 = time.perf_counter()
        self.transform = None
        p = self.params
        if self.kind == "pq":
            index = faiss.IndexPQ(d, p["m"], 8, faiss.METRIC_INNER_PRODUCT if ip else faiss.METRIC_L2)
            index.pq.cp.seed = seed
            index.pq.cp.min_points_per_centroid = 1  # as vecdb's PQ: train on small sets (and stay quiet)
            self.bytes_per_vector = float(p["m"])
        elif self.kind == "ivfpq":
            quantizer = faiss.IndexFlatIP(d) if ip else faiss.IndexFlatL2(d)
            index = faiss.IndexIVFPQ(
                quantizer, d, p["nlist"], p["m"], 8, faiss.METRIC_INNER_PRODUCT if ip else faiss.METRIC_L2
            )
            index.cp.seed = seed
            index.pq.cp.seed = seed
            index.cp.min_points_per_centroid = 1
            index.pq.cp.min_points_per_centroid = 1
            index.nprobe = p["nprobe"]
            # PQ code + the 8-byte id IVF lists store per vector (list assignment is implicit in the list).
            self.bytes_per_vector = float(p["m"] + 8)
        elif self.kind == "lsh":
            index = faiss.IndexLSH(d, p["nbits"], True, False)
            self.bytes_per_vector = float(index.code_size)
        elif self.kind == "itq":
            # ITQ (PCA + learned rotation) needs bits <= dim; more bits go through a fixed Gaussian expansion.
            nbits = p["nbits"]
            expand = None
            if nbits > d:
                expand = np.random.default_rng(seed).standard_normal((d, nbits)).astype(np.float32)
            tr = faiss.ITQTransform(nbits if expand is not None else d, nbits, True)
            tr.train(x @ expand if expand is not None else x)
            self.transform = (expand, tr)
            index = faiss.IndexBinaryFlat(nbits)
            self.bytes_per_vector = float(index.code_size)
        else:
            raise ValueError(self.kind)
        if self.kind == "itq":
            index.add(self._itq_codes(x))
        else:
            index.train(x)
            index.add(x)
        self.index = index
        self.fit_seconds = time.perf_counter() - t0

    def _itq_codes(self, x: np.ndarray) -> np.ndarray:
        expand, tr = self.transform
        z = tr.apply(np.ascontiguousarray(x @ expand if expand is not None else x, dtype=np.float32))
        return np.packbits(z > 0, axis=1)

    def search(self, q: np.ndarray, n: int) -> np.ndarray:
        if self.kind == "itq":
            _, rows = self.index.search(self._itq_codes(q), n)
        else:
            _, rows = self.index.search(q, n)
        return rows.astype(np.int64)
