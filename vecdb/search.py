"""The dense search path of one snapshot: graph + exact tail, or exact scan; with per-query explain.

Completeness rule: a query gets min(k, allowed rows) results. The graph may return fewer when most of what it
reaches is filtered out or deleted; such queries are re-run exactly, and explain says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .index.maintain import FieldState
from .kernels.dense import scan_topk
from .kernels.topk import merge_heaps, sort_heaps
from .params import SearchParams
from .storage.keys import State

DEFAULT_EF = 64


@dataclass
class Found:
    dist: np.ndarray  # (nq, k) kernel distances, ascending, +inf padding
    rows: np.ndarray  # (nq, k) rows, -1 padding
    explain: list[dict]


def default_ef(fs: FieldState, params: SearchParams, k: int) -> int:
    ef = params.ef or (fs.field.index.ef_search if fs.field.index else None) or DEFAULT_EF
    return max(ef, k)


def dense_search(
    txn,
    tables,
    fs: FieldState,
    st: State,
    q: np.ndarray,
    k: int,
    params: SearchParams,
    allowed: np.ndarray,
    n_allowed: int,
) -> Found:
    metric = fs.field.metric
    blocks = tables["block"]
    meta = None
    if fs.index is not None and not params.exact:
        meta = fs.index.store.meta(txn, tables["aux"])
        if meta.n_indexed == 0 or meta.epoch != st.epoch:
            meta = None
    if meta is None:
        views = fs.column.views(txn, blocks, st.next_row)
        dist, rows = scan_topk(q, views, allowed, k, metric)
        reason = "requested" if params.exact else "no index" if fs.index is None else "nothing indexed yet"
        return Found(
            dist,
            rows,
            [{"path": "exact_scan", "reason": reason, "distances_computed": n_allowed} for _ in range(q.shape[0])],
        )

    g = fs.index.for_read(txn, tables["aux"], blocks, meta, st.next_row)
    x = fs.vectors.get(txn, blocks, st)
    ef = default_ef(fs, params, k)
    dist, rows, ndist = g.search(q, x, k, ef, allowed, meta.n_indexed)
    tail = st.next_row - meta.n_indexed
    if tail > 0:
        tdist, trows = scan_topk(q, [(meta.n_indexed, x[meta.n_indexed : st.next_row])], allowed, k, metric)
        dist, rows = sort_heaps(*merge_heaps([(dist, rows), (tdist, trows)]))
    explain = [
        {
            "path": "hnsw",
            "ef": ef,
            "distances_computed": int(nd) + tail,
            "indexed_rows": meta.n_indexed,
            "exact_tail_rows": tail,
        }
        for nd in ndist
    ]
    want = min(k, n_allowed)
    short = np.flatnonzero(rows[:, want - 1] < 0) if want else np.empty(0, np.int64)
    if short.size:
        views = fs.column.views(txn, blocks, st.next_row)
        edist, erows = scan_topk(q[short], views, allowed, k, metric)
        dist[short], rows[short] = edist, erows
        for i in short.tolist():
            explain[i]["path"] = "hnsw+exact_scan"
            explain[i]["reason"] = "the graph returned fewer than k allowed points"
            explain[i]["distances_computed"] += n_allowed
    return Found(dist, rows, explain)
