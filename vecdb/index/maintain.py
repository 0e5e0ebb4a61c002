"""Graph maintenance inside write transactions: indexing pending rows, and repair at compaction.

The in-memory graph is mutated while the transaction is open; `IndexTxn` makes that safe: the field lock is held
until commit, a failed or retried transaction throws the mutated graph away (the next user reloads it from LMDB),
and the vector cache forgets rows the failed transaction had added.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field

import numpy as np

from ..schema import Dense
from ..storage import tombstones
from ..storage.blocks import BlockArray, SnapshotBlocks
from ..storage.keys import State
from .hnsw import Graph
from .runtime import WALK_MIN_ROWS, FieldIndex, VectorCache, walk_quantizer
from .store import GraphMeta


@dataclass
class FieldState:
    """Everything a collection keeps per vector field in this process."""

    name: str
    field: Dense
    column: BlockArray
    vectors: VectorCache
    index: FieldIndex | None
    snap: SnapshotBlocks  # the float blocks' views and addresses in the current snapshot


@dataclass
class IndexTxn:
    """Bookkeeping for one write transaction that may mutate graphs (use as a context manager around
    Env.write)."""

    fields: list[FieldState]
    extra_caches: list[VectorCache] = field(default_factory=list)  # other row caches the write may extend
    mutated: list[FieldState] = field(default_factory=list)  # graphs changed in memory by this attempt
    on_commit: list = field(default_factory=list)  # callables run after a successful commit
    rows_before: int | None = None
    _stack: ExitStack | None = None

    def __enter__(self) -> IndexTxn:
        self._stack = ExitStack()
        for fs in self.fields:
            if fs.index is not None:
                self._stack.enter_context(fs.index.lock)
        return self

    def begin_attempt(self, st: State) -> None:
        """Called at the start of every (re)try of the transaction function: undo what a failed try left."""
        self._rollback()
        self.on_commit.clear()
        self.rows_before = st.next_row

    def _rollback(self) -> None:
        for fs in self.mutated:
            fs.index.discard()
        self.mutated.clear()
        if self.rows_before is not None:
            for cache in [fs.vectors for fs in self.fields] + self.extra_caches:
                cache.truncate(self.rows_before)

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                for fn in self.on_commit:
                    fn()
            else:
                self._rollback()
        finally:
            self._stack.close()


def index_rows(txn, tables, fs: FieldState, st: State, upto: int, itx: IndexTxn, progress=None) -> GraphMeta:
    """Link rows [watermark, upto) of field fs into its graph, in transaction txn; returns the new meta."""
    idx = fs.index
    aux, blocks = tables["aux"], tables["block"]
    meta = idx.store.meta(txn, aux)
    g = idx.for_write(txn, aux, blocks, meta, capacity=st.next_row)
    x = fs.vectors.get(txn, blocks, st)
    live = tombstones.live_mask(txn, tables["tomb"], fs.column.uid, upto)
    rows = np.flatnonzero(live[meta.n_indexed : upto]) + meta.n_indexed
    itx.mutated.append(fs)  # from here on the in-memory graph differs from LMDB until commit
    walk = meta.walk()
    if walk[1] is None and upto >= WALK_MIN_ROWS:  # the first build this large fixes the 8-bit walk's map
        walk = walk_quantizer(x[:upto])  # (a view: deleted rows count too, as they may have been live)
    changes = g.insert(rows, x, epoch=st.epoch, progress=progress)
    g.n_indexed = max(g.n_indexed, upto)
    new_meta = idx.store.save(txn, aux, blocks, g, changes, meta, walk)
    itx.on_commit.append(lambda: idx.committed(new_meta))
    return new_meta


def pending_rows(txn, tables, fs: FieldState, st: State) -> int:
    return st.next_row - fs.index.store.meta(txn, tables["aux"]).n_indexed


def compact_field(txn, tables, fs: FieldState, old: State, keep: np.ndarray, new: State, itx: IndexTxn) -> None:
    """Renumber the rows of one field to `keep` (ascending old rows): rewrite its vector blocks and, for an indexed
    field, store the graph repaired around deleted nodes. After commit the caches hold the new epoch."""
    blocks = tables["block"]
    x_old = fs.vectors.get(txn, blocks, old)
    kept = np.ascontiguousarray(x_old[keep])
    fs.column.write_rows(txn, blocks, 0, kept)
    fs.column.truncate(txn, blocks, kept.shape[0])
    itx.on_commit.append(lambda: fs.vectors.install(kept, new.epoch))
    if fs.index is None:
        return
    idx = fs.index
    aux = tables["aux"]
    meta = idx.store.meta(txn, aux)
    g = idx.for_write(txn, aux, blocks, meta, capacity=old.next_row)
    new_g = g.remapped(keep, x_old)
    removed = g.n_indexed - new_g.n_indexed
    if removed >= REBUILD_FRACTION * max(g.n_indexed, 1) or _weakly_linked(new_g):
        # Repairs around deleted nodes prune links and add none back: over churn + compaction cycles nodes lose
        # in-links and searches stop reaching them (the crash harness measured self-recall 0.977 vs 0.999 for a
        # fresh graph of the same rows). A large deletion, or a graph already weakly linked, is rebuilt instead.
        n = new_g.n_indexed
        new_g = Graph(g.params, g.metric, capacity=max(len(keep), 1))
        new_g.insert(np.arange(n), kept, epoch=new.epoch)
    walk = walk_quantizer(kept) if len(kept) >= WALK_MIN_ROWS else (None, None)  # refitted: every code is new
    new_meta = idx.store.rewrite(txn, aux, blocks, new_g, version=meta.version + 1, epoch=new.epoch, walk=walk)
    itx.on_commit.append(lambda: idx.replace(new_g, new_meta))


REBUILD_FRACTION = 0.2  # compactions removing this share of the indexed nodes rebuild the graph
WEAK_LINK_FRACTION = 0.01  # a fresh graph has ~0.25% of its nodes with <= 1 level-0 in-link (measured, m=8)


def _weakly_linked(g: Graph) -> bool:
    """More than WEAK_LINK_FRACTION of the nodes reachable through at most one level-0 link."""
    n = g.n_indexed
    if n < 100:
        return False
    deg = g.links0[:n, 0]
    lists = g.links0[:n, 1:]
    used = np.arange(lists.shape[1])[None, :] < deg[:, None]
    indeg = np.bincount(lists[used], minlength=n)
    return int((indeg[:n] <= 1).sum()) > WEAK_LINK_FRACTION * n
