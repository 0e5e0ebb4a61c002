"""Per-process state derived from LMDB for one field: a contiguous vector cache and the in-memory graph.

Both follow the snapshot a search runs on: the cache grows as rows are appended (rows never change once written)
and starts over after a compaction (new epoch); the graph is reused while its version is at least the snapshot's
(readers then ignore nodes past the snapshot's watermark) and reloaded when another process changed it.
"""

from __future__ import annotations

import threading

import numpy as np

from ..schema import Dense
from ..storage.blocks import BlockArray
from ..storage.keys import State
from .hnsw import Graph
from .store import GraphMeta, GraphStore


class VectorCache:
    """All rows of a block column as one contiguous array: the vectors of a field (random access for graph
    search), or the id column (row -> id for results)."""

    def __init__(self, column: BlockArray) -> None:
        self.column = column
        self.arr = np.empty((0, column.width), column.dtype)
        self.n = 0
        self.epoch = -1
        self._lock = threading.Lock()

    def get(self, txn, blocks, st: State) -> np.ndarray:
        if self.epoch == st.epoch and self.n >= st.next_row:
            return self.arr
        with self._lock:
            if self.epoch != st.epoch:
                self.arr = np.empty((0, self.column.width), self.column.dtype)
                self.n, self.epoch = 0, st.epoch
            if self.n < st.next_row:
                arr = self.arr
                if arr.shape[0] < st.next_row:
                    shape = (max(st.next_row, int(arr.shape[0] * 1.5)), self.column.width)
                    arr = np.empty(shape, self.column.dtype)
                    arr[: self.n] = self.arr[: self.n]
                for first, view in self.column.views(txn, blocks, st.next_row, start=self.n):
                    lo = max(first, self.n)
                    arr[lo : first + view.shape[0]] = view[lo - first :]
                self.arr, self.n = arr, st.next_row
        return self.arr

    def truncate(self, n: int) -> None:
        """Forget rows >= n (a write that added them was rolled back)."""
        with self._lock:
            self.n = min(self.n, n)

    def install(self, arr: np.ndarray, epoch: int) -> None:
        """Adopt rows already in hand (after a compaction renumbered them) instead of re-reading LMDB."""
        with self._lock:
            self.arr, self.n, self.epoch = arr, arr.shape[0], epoch

    def reset(self) -> None:
        with self._lock:
            self.arr = np.empty((0, self.column.width), self.column.dtype)
            self.n, self.epoch = 0, -1


class FieldIndex:
    """The graph of one dense field in this process, kept in step with LMDB."""

    def __init__(self, uid: int, slot: int, field: Dense) -> None:
        from ..kernels.dense import METRIC_CODE

        self.field = field
        self.params = field.index
        self.metric_code = METRIC_CODE[field.metric]
        self.store = GraphStore(uid, slot, field.index)
        self.graph: Graph | None = None
        self.key: tuple[int, int] | None = None  # (epoch, version) the graph reflects
        self.lock = threading.RLock()  # held by the writer from first mutation to commit, and while reloading

    def _load(self, txn, aux, blocks, meta: GraphMeta, capacity: int) -> Graph:
        g, _ = self.store.load(txn, aux, blocks, self.metric_code, capacity)
        self.graph, self.key = g, (meta.epoch, meta.version)
        return g

    def for_read(self, txn, aux, blocks, meta: GraphMeta, capacity: int) -> Graph:
        g, key = self.graph, self.key
        if g is not None and key is not None and key[0] == meta.epoch and key[1] >= meta.version:
            return g
        with self.lock:
            g, key = self.graph, self.key
            if g is not None and key is not None and key[0] == meta.epoch and key[1] >= meta.version:
                return g
            return self._load(txn, aux, blocks, meta, capacity)

    def for_write(self, txn, aux, blocks, meta: GraphMeta, capacity: int) -> Graph:
        """The graph exactly as committed (call with self.lock held); the caller will mutate it."""
        if self.graph is None or self.key != (meta.epoch, meta.version):
            return self._load(txn, aux, blocks, meta, capacity)
        return self.graph

    def committed(self, meta: GraphMeta) -> None:
        self.key = (meta.epoch, meta.version)

    def discard(self) -> None:
        """The transaction that mutated the graph did not commit: drop it, the next user reloads."""
        self.graph, self.key = None, None

    def replace(self, g: Graph, meta: GraphMeta) -> None:
        self.graph, self.key = g, (meta.epoch, meta.version)
