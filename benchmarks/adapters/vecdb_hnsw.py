"""vecdb through its public embedded API (Collection.upsert / build_index / search): the real code path,
LMDB snapshot, graph kernels and id mapping included."""

from __future__ import annotations

import os
import shutil
import tempfile

import numpy as np

import vecdb
from vecdb.params import HNSWParams, SearchParams

from .base import EF_GRID, Adapter


class VecDBHNSW(Adapter):
    name = "vecdb"
    query_param_grid = EF_GRID

    def fit(self, x: np.ndarray) -> None:
        os.environ["VECDB_THREADS"] = str(self.build.get("threads", os.cpu_count() or 1))  # build: all cores
        self.dir = tempfile.mkdtemp(prefix="vecdb-ann-")
        self.db = vecdb.open(self.dir)
        index = HNSWParams(
            m=self.build.get("M", 16),
            ef_construction=self.build.get("ef_construction", 200),
            index_threshold=10_000_000,
        )
        self.col = self.db.create_collection("c", vectors={"v": vecdb.Dense(x.shape[1], self.metric, index=index)})
        for s in range(0, len(x), 50_000):
            self.col.upsert(np.arange(s, min(s + 50_000, len(x))), x[s : s + 50_000])
        self.col.build_index(progress=False)
        os.environ["VECDB_THREADS"] = "1"  # queries: one thread, like every peer

    def warm(self, x: np.ndarray) -> None:
        path = tempfile.mkdtemp(prefix="vecdb-warm-")
        try:
            db = vecdb.open(path)
            col = db.create_collection("w", vectors={"v": vecdb.Dense(x.shape[1], self.metric, index=HNSWParams())})
            col.upsert(np.arange(len(x)), x)
            col.build_index(progress=False)
            col.search("v", x[0], k=1)
            col.search("v", x[:2], k=1)
            db.close()
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def set_query_params(self, **params) -> None:
        self.query_params = params
        self._sp = SearchParams(ef=params.get("ef"))

    def query(self, q: np.ndarray, k: int) -> list:
        # the API's id list: the harness converts every system's answer to an array after the timed loop
        return self.col.search("v", q, k=k, params=self._sp, with_payload=False).ids

    def batch_query(self, q: np.ndarray, k: int) -> list[np.ndarray]:
        return [np.asarray(h.ids) for h in self.col.search("v", q, k=k, params=self._sp, with_payload=False)]

    def memory_bytes(self) -> int:
        fs = self.col._fields["v"]
        g = fs.index.graph
        n = g.n_indexed
        links = g.links0[:n].nbytes + g.links_up[: g.n_slots].nbytes + g.upper_slot[:n].nbytes
        return n * fs.field.dim * (4 + 1) + links  # float vectors and the 8-bit walk's codes

    def close(self) -> None:
        self.db.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        os.environ.pop("VECDB_THREADS", None)


class VecDBExact(VecDBHNSW):
    name = "vecdb-exact"
    query_param_grid = [{}]

    def fit(self, x: np.ndarray) -> None:
        self.dir = tempfile.mkdtemp(prefix="vecdb-ann-")
        self.db = vecdb.open(self.dir)
        self.col = self.db.create_collection("c", vectors={"v": vecdb.Dense(x.shape[1], self.metric, index=None)})
        for s in range(0, len(x), 50_000):
            self.col.upsert(np.arange(s, min(s + 50_000, len(x))), x[s : s + 50_000])
        os.environ["VECDB_THREADS"] = "1"

    def set_query_params(self, **params) -> None:
        self._sp = SearchParams(exact=True)

    def memory_bytes(self) -> int:
        return self.col.count() * self.col.schema.vectors["v"].dim * 4
