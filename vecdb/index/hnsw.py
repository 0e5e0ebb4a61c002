"""An HNSW graph over the rows of one dense field: in-memory arrays for the kernels, batch-parallel inserts.

Inserts run in batches: phase A searches candidates for every new node in parallel against the graph as it was
(read-only), phase B1 picks forward links (merging in the other nodes of the batch by brute force, so batching
costs no quality), B2 merges reverse links grouped by target (parallel, no two threads touch one list), B3 writes
them. The result does not depend on thread timing: the same rows in the same order give the same graph.
Persistence lives in index/store.py; this module only knows arrays.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

import numpy as np

from .._threads import fan_out, n_threads
from ..kernels import graph as gk
from ..params import HNSWParams

MAX_LEVEL = 15
NO_CODES = np.zeros((0, 1), np.uint8)  # search kernels' codes argument for the float walk
NO_CQ = np.ones(2, np.float32)
_GOLDEN = 0x9E3779B97F4A7C15


def node_levels(rows: np.ndarray, seed: int, epoch: int, m: int) -> np.ndarray:
    """Deterministic HNSW levels: a splitmix64 hash of (seed, epoch, row) -> uniform -> floor(-ln(u) / ln(m))."""
    with np.errstate(over="ignore"):
        # splitmix64 adds its constant before mixing; without it (seed 0, epoch 0, row 0) hashes to 0 -> top level
        base = np.uint64((seed * 1_000_003 + epoch + 1) & 0xFFFFFFFFFFFF) * np.uint64(_GOLDEN)
        z = rows.astype(np.uint64) * np.uint64(_GOLDEN) + base
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    u = ((z >> np.uint64(11)).astype(np.float64) + 1.0) / float(1 << 53)
    return np.minimum(np.floor(-np.log(u) / math.log(m)), MAX_LEVEL).astype(np.int8)


@dataclass
class Changes:
    """What an insert or repair touched, for the store to persist: rows whose level-0 list changed and rows whose
    upper lists changed (new nodes included)."""

    level0: set = field(default_factory=set)
    upper: set = field(default_factory=set)


class Graph:
    def __init__(self, params: HNSWParams, metric_code: int, capacity: int = 1024) -> None:
        self.params = params
        self.metric = metric_code
        self.m = params.m
        self.m0 = 2 * params.m
        self.links0 = np.zeros((capacity, self.m0 + 1), np.int32)
        self.levels = np.full(capacity, -1, np.int8)
        self.upper_slot = np.full(capacity, -1, np.int32)
        self.links_up = np.zeros((16, MAX_LEVEL, self.m + 1), np.int32)
        self.n_slots = 0
        self.ep = -1
        self.max_level = -1
        self.n_indexed = 0  # rows [0, n_indexed) have been through insert (dead rows included, unlinked)
        self.n_linked = 0  # nodes actually linked (sizes insert batches: at most 1/8 of the graph at a time)
        # Readers take no lock. A writer (one at a time) only ever stores valid node ids into lists and replaces
        # arrays wholesale when growing them, so a concurrent reader sees old or new lists, never garbage, and it
        # ignores nodes >= its snapshot's watermark.
        self._tls = threading.local()

    # ------------------------------------------------------------------ capacity and scratch
    @property
    def capacity(self) -> int:
        return self.links0.shape[0]

    def reserve(self, n: int) -> None:
        if n <= self.capacity:
            return
        cap = max(n, int(self.capacity * 1.5) + 1)
        links0 = np.zeros((cap, self.m0 + 1), np.int32)
        links0[: self.capacity] = self.links0
        levels = np.full(cap, -1, np.int8)
        levels[: self.capacity] = self.levels
        slots = np.full(cap, -1, np.int32)
        slots[: self.capacity] = self.upper_slot
        self.links0, self.levels, self.upper_slot = links0, levels, slots

    def _new_slots(self, nodes: np.ndarray, levels: np.ndarray) -> None:
        need = self.n_slots + len(nodes)
        if need > self.links_up.shape[0]:
            grown = np.zeros((max(need, int(self.links_up.shape[0] * 1.5) + 1), MAX_LEVEL, self.m + 1), np.int32)
            grown[: self.n_slots] = self.links_up[: self.n_slots]
            self.links_up = grown
        self.upper_slot[nodes] = np.arange(self.n_slots, need, dtype=np.int32)
        self.n_slots = need

    def visited(self) -> list:
        """This thread's visited-tag scratch [uint16 array, last tag] (grown with the graph)."""
        box = getattr(self._tls, "box", None)
        if box is None or box[0].shape[0] < self.capacity:
            box = self._tls.box = [np.zeros(self.capacity, np.uint16), 0]
        return box

    # ------------------------------------------------------------------ search
    def search(
        self,
        q: np.ndarray,
        x: np.ndarray,
        k: int,
        ef: int,
        allowed: np.ndarray,
        n_visible: int,
        *,
        filtered: bool = False,
        plain_share: float = 2.0,
        walk: np.ndarray | None = None,
        entry: tuple[int, int] | None = None,
        codes: np.ndarray | None = None,
        cq: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(dist, rows, distances computed per query) for a matrix of prepared queries; rows -1 past the end.
        filtered: walk the allowed rows only (two-hop bridges over the rest) instead of walking every node and
        keeping the allowed ones; the planner picks it for selective filters. Per query the kernel still takes the
        plain walk where at least plain_share of the entry's neighbours are allowed (> 1: never); walk (uint8, one
        per query), when given, receives 1 for those queries and 0 for two-hop walks. entry: (node, level) to start
        from, the committed graph meta's: a writer in this process may already have moved self.ep to a node its
        transaction is still linking (>= n_visible), which a reader of the older snapshot must never touch.
        codes, cq: walk the 8-bit codes of the visible rows (x ~ cq[0] + cq[1] * code) and rescore the walk's pool
        with x (see kernels/graph.py); None: walk x."""
        nq = q.shape[0]
        out_d = np.empty((nq, k), np.float32)
        out_i = np.empty((nq, k), np.int32)
        ndist = np.zeros(nq, np.int64)
        n_visible = min(n_visible, self.n_indexed)
        ep, max_level = (self.ep, self.max_level) if entry is None else entry
        if ep >= n_visible:  # an entry past the snapshot: not linked yet for this reader
            raise ValueError(f"graph entry {ep} is not among the {n_visible} visible nodes")

        if filtered and walk is None:
            walk = np.zeros(nq, np.uint8)
        if codes is None:
            codes, cq = NO_CODES, NO_CQ
        if nq == 1:  # one query: no thread split, no slicing
            vis = self.visited()
            args = (q, x, codes, cq, self.links0, self.links_up, self.upper_slot, ep, max_level, ef, allowed,
                    n_visible, self.metric, vis[0], vis[1], out_d, out_i, ndist)  # fmt: skip
            vis[1] = gk.search_batch_filtered(*args, plain_share, walk) if filtered else gk.search_batch(*args)
            return out_d, out_i, ndist

        def run(lo: int, hi: int) -> None:
            vis = self.visited()
            args = (q[lo:hi], x, codes, cq, self.links0, self.links_up, self.upper_slot, ep, max_level, ef,
                    allowed, n_visible, self.metric, vis[0], vis[1], out_d[lo:hi], out_i[lo:hi],
                    ndist[lo:hi])  # fmt: skip
            vis[1] = gk.search_batch_filtered(*args, plain_share, walk[lo:hi]) if filtered else gk.search_batch(*args)

        threads = min(n_threads(), nq)
        if threads <= 1:
            run(0, nq)
        else:
            bounds = np.linspace(0, nq, threads + 1).astype(int)
            fan_out(run, [(int(bounds[t]), int(bounds[t + 1])) for t in range(threads)])
        return out_d, out_i, ndist

    # ------------------------------------------------------------------ insert
    def insert(self, rows: np.ndarray, x: np.ndarray, *, epoch: int, progress=None) -> Changes:
        """Link rows (ascending, all >= n_indexed, all present in x) into the graph. x: every vector so far."""
        changes = Changes()
        rows = np.asarray(rows, np.int64)
        if rows.size == 0:
            return changes
        end = int(rows[-1]) + 1
        self.reserve(end)
        levels = node_levels(rows, self.params.seed, epoch, self.m)
        pos = 0
        while pos < rows.size:
            size = int(min(1024, max(1, self.n_linked // 8), rows.size - pos))
            self._insert_batch(rows[pos : pos + size], levels[pos : pos + size], x, changes)
            self.n_linked += size
            pos += size
            if progress is not None:
                progress.update(size)
        self.n_indexed = max(self.n_indexed, end)
        return changes

    def _insert_batch(self, nodes: np.ndarray, levels: np.ndarray, x: np.ndarray, changes: Changes) -> None:
        nodes32 = nodes.astype(np.int32)
        b = nodes.size
        n_levels = int(max(levels.max(), 0)) + 1
        efc = max(self.params.ef_construction, self.m)
        cand_d = np.full((b, n_levels, efc), np.inf, np.float32)
        cand_i = np.full((b, n_levels, efc), -1, np.int32)
        cand_n = np.zeros((b, n_levels), np.int32)
        n_visible = int(nodes[0])  # the graph as it was before this batch
        ep, max_level = self.ep, self.max_level

        def phase_a(lo: int, hi: int) -> None:
            vis = self.visited()
            vis[1] = gk.insert_candidates(nodes32[lo:hi], levels[lo:hi], x, self.links0, self.links_up,
                                          self.upper_slot, ep, max_level, efc, n_visible, self.metric, vis[0],
                                          vis[1], cand_d[lo:hi], cand_i[lo:hi], cand_n[lo:hi])  # fmt: skip

        self._parallel(phase_a, b)
        fwd = np.zeros((b, n_levels, self.m + 1), np.int32)

        def phase_b1(lo: int, hi: int) -> None:
            gk.select_forward(nodes32, levels, x, cand_d, cand_i, cand_n, efc, self.m, self.metric, lo, hi, fwd)

        self._parallel(phase_b1, b)

        # reverse edges (target <- new node), grouped by (level, target)
        tgt, src, lev = [], [], []
        for level in range(n_levels):
            deg = fwd[:, level, 0]
            for j in np.flatnonzero(deg > 0):
                t = fwd[j, level, 1 : deg[j] + 1]
                tgt.append(t)
                src.append(np.full(t.size, nodes32[j], np.int32))
                lev.append(np.full(t.size, level, np.int32))
        # new top levels: slots first, so reverse links into them can be read and written
        upper_nodes = nodes[levels >= 1]
        if upper_nodes.size:
            self._new_slots(upper_nodes, levels[levels >= 1])
        self.levels[nodes] = levels
        if tgt:
            tgt_a, src_a, lev_a = np.concatenate(tgt), np.concatenate(src), np.concatenate(lev)
            order = np.lexsort((src_a, tgt_a, lev_a))
            tgt_a, src_a, lev_a = tgt_a[order], src_a[order], lev_a[order]
            brk = np.flatnonzero((np.diff(tgt_a) != 0) | (np.diff(lev_a) != 0)) + 1
            starts = np.concatenate([[0], brk, [tgt_a.size]]).astype(np.int64)
            glevel = lev_a[starts[:-1]]
        else:
            tgt_a = src_a = np.empty(0, np.int32)
            starts = np.zeros(1, np.int64)
            glevel = np.empty(0, np.int32)
        first = int(nodes[0])
        batch_pos = np.full(int(nodes[-1]) - first + 1, -1, np.int32)
        batch_pos[nodes - first] = np.arange(b, dtype=np.int32)
        n_groups = starts.size - 1
        out = np.zeros((n_groups, self.m0 + 1), np.int32)

        def phase_b2(lo: int, hi: int) -> None:
            if hi > lo:
                gk.link_reverse(
                    tgt_a,
                    src_a,
                    starts[lo : hi + 1],
                    glevel[lo:hi],
                    first,
                    batch_pos,
                    x,
                    self.links0,
                    self.links_up,
                    self.upper_slot,
                    fwd,
                    self.m0,
                    self.m,
                    self.metric,
                    out[lo:hi],
                )

        self._parallel(phase_b2, n_groups)
        gk.apply_links(nodes32, levels, fwd, self.links0, self.links_up, self.upper_slot, tgt_a, starts, glevel, out)
        top = int(levels.max())
        if top > self.max_level:
            self.max_level = top
            self.ep = int(nodes[int(np.argmax(levels))])
        if self.ep < 0:
            self.ep = int(nodes[0])
        changes.level0.update(nodes.tolist())
        changes.upper.update(upper_nodes.tolist())
        if n_groups:
            targets = tgt_a[starts[:-1]]
            changes.level0.update(targets[glevel == 0].tolist())
            changes.upper.update(targets[glevel > 0].tolist())

    # ------------------------------------------------------------------ repair
    def remapped(self, keep: np.ndarray, x: np.ndarray) -> Graph:
        """The graph over the kept rows only (ascending old row ids), renumbered 0..len(keep)-1, with the links
        of deleted nodes repaired. x: vectors by OLD row."""
        keep = np.asarray(keep, np.int64)
        live = np.zeros(max(self.capacity, 1), np.uint8)
        indexed = keep[keep < self.n_indexed]
        live[indexed] = 1
        new_id = np.full(max(self.capacity, 1), -1, np.int32)
        new_id[keep[keep < self.capacity]] = np.arange((keep < self.capacity).sum(), dtype=np.int32)
        g = Graph(self.params, self.metric, capacity=max(len(keep), 1))
        g.n_indexed = g.n_linked = int(indexed.size)
        if not indexed.size:
            return g
        lv = self.levels[indexed]
        g.levels[: indexed.size] = np.maximum(lv, 0)
        up = np.flatnonzero(lv >= 1)
        if up.size:
            g._new_slots(up, lv[up])
        visited = np.zeros(self.capacity, np.uint16)
        empty = np.empty(0, np.int32)
        for level in range(0, max(int(lv.max()), 0) + 1):
            at = indexed[lv >= level].astype(np.int32)
            mmax = self.m0 if level == 0 else self.m
            out = np.zeros((at.size, mmax + 1), np.int32)
            if level == 0:
                l0 = self.links0.reshape(self.capacity, 1, self.m0 + 1)
                gk.repair_level(l0, empty, False, 0, at, live, new_id, x, mmax, self.metric, visited, out)
                g.links0[new_id[at]] = out
            else:
                gk.repair_level(
                    self.links_up,
                    self.upper_slot,
                    True,
                    level - 1,
                    at,
                    live,
                    new_id,
                    x,
                    mmax,
                    self.metric,
                    visited,
                    out,
                )
                g.links_up[g.upper_slot[new_id[at]], level - 1, : mmax + 1] = out
        if self.ep >= 0 and live[self.ep]:
            g.ep, g.max_level = int(new_id[self.ep]), int(self.levels[self.ep])
        else:
            best = int(np.argmax(lv))  # first kept node of the highest level
            g.ep, g.max_level = int(new_id[indexed[best]]), int(max(lv[best], 0))
        return g

    @staticmethod
    def _parallel(fn, n: int) -> None:
        threads = min(n_threads(), max(n, 1))
        if threads <= 1 or n < 64:
            fn(0, n)
            return
        bounds = np.linspace(0, n, threads + 1).astype(int)
        fan_out(fn, [(int(bounds[t]), int(bounds[t + 1])) for t in range(threads)])
