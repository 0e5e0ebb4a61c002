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
        self._reset_codes()

    def _reset_codes(self) -> None:
        # (key, codes, rows encoded), replaced in one assignment so that walk_codes reads it without the lock
        self._codes_state: tuple = (None, np.empty((0, self.column.width), np.uint8), 0)

    def walk_codes(self, x: np.ndarray, epoch: int, cq: np.ndarray, n: int) -> np.ndarray:
        """The 8-bit graph walk's codes of rows [0, n) of x, the array get() returned for a snapshot of `epoch`
        (n <= its committed rows): uint8 with x ~ cq[0] + cq[1] * code, clipped to 0..255. Kept per (epoch, cq)
        and grown like the vectors; if the cache has moved to another epoch since (a reader of the other epoch
        came in between), the codes of x are made for this caller alone."""
        key = (epoch, float(cq[0]), float(cq[1]))
        state = self._codes_state
        if state[0] == key and state[2] >= n:
            return state[1][:n]
        with self._lock:
            if epoch != self.epoch:
                out = np.empty((n, self.column.width), np.uint8)
                encode_walk(x, 0, n, cq, out)
                return out
            state = self._codes_state
            if state[0] != key:
                state = (key, np.empty((0, self.column.width), np.uint8), 0)
            _, codes, done = state
            if done < n:
                if codes.shape[0] < n:  # a new array: readers of older snapshots keep theirs
                    grown = np.empty((max(n, int(codes.shape[0] * 1.5)), self.column.width), np.uint8)
                    grown[:done] = codes[:done]
                    codes = grown
                encode_walk(x, done, n, cq, codes)  # committed rows: the same in x and in the cache
                state = (key, codes, n)
            self._codes_state = state
            return codes[:n]

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
            key, codes, done = self._codes_state
            self._codes_state = (key, codes, min(done, n))

    def install(self, arr: np.ndarray, epoch: int) -> None:
        """Adopt rows already in hand (after a compaction renumbered them) instead of re-reading LMDB."""
        with self._lock:
            self.arr, self.n, self.epoch = arr, arr.shape[0], epoch
            self._reset_codes()

    def reset(self) -> None:
        with self._lock:
            self.arr = np.empty((0, self.column.width), self.column.dtype)
            self.n, self.epoch = 0, -1
            self._reset_codes()


WALK_MARGIN = 0.02  # the code range reaches this share of the data's range past its min and max


WALK_MIN_ROWS = 1_000  # a graph's map is fitted once it indexes this many rows (smaller graphs walk the floats)


def walk_quantizer(x: np.ndarray) -> tuple[float, float]:
    """(lo, scale) of the 8-bit walk for vectors like x (the rows a graph is first built on): their min and max,
    widened by WALK_MARGIN for later rows, over 255 steps; float32 values (as the kernels use them), lo rounded
    down and scale up so the range still covers x, scale at least 1e-30 (its inverse stays finite)."""
    lo, hi = float(x.min()), float(x.max())
    pad = WALK_MARGIN * (hi - lo)
    lo, hi = lo - pad, hi + pad
    lo32 = np.float32(lo)
    if float(lo32) > lo:
        lo32 = np.nextafter(lo32, np.float32(-np.inf))
    scale = max((hi - float(lo32)) / 255, 1e-30)
    scale32 = np.float32(scale)
    if float(scale32) < scale:
        scale32 = np.nextafter(scale32, np.float32(np.inf))
    return float(lo32), float(scale32)


def encode_walk(x: np.ndarray, start: int, end: int, cq: np.ndarray, out: np.ndarray, chunk: int = 65_536) -> None:
    """out[start:end] = the codes of x[start:end] under cq = [lo, scale] (float32 arithmetic, round half to even,
    clipped to 0..255)."""
    lo, inv = np.float32(cq[0]), np.float32(1.0) / np.float32(cq[1])
    for a in range(start, end, chunk):
        b = min(a + chunk, end)
        out[a:b] = np.clip(np.rint((x[a:b] - lo) * inv), 0, 255)


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
