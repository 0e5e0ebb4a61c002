"""The dense search path of one snapshot, with its planner: graph + exact tail, or exact scan; per-query explain.

Planner (filtered searches): the payload index gives the exact number of rows the filter allows. The exact top-k
over just those rows costs that many distances; the graph walk that scores allowed nodes only and bridges over the
rest (ACORN-style) costs about WALK_COST_PER_EF distances per beam slot, and its recall plateaus once the filtered
subgraph fragments (below EXACT_SELECTIVITY). The planner takes the cheaper of the two, and widens the beam as
selectivity drops. Measured on glove-100k (benchmarks/filtered.py): the two-hop walk needs 3x fewer distances than
walking every node and keeping the allowed ones, at every selectivity below 100%.
Completeness rule: a query gets min(k, allowed rows) results; a query the graph under-serves is re-run exactly.

Correlated filters (AG News: articles of the query's own class): where at least PLAIN_WALK_SHARE of the level-0
entry's neighbours are allowed, and at least twice the filter's overall selectivity, the filter agrees with the
query's neighbourhood. Bridging over the few disallowed nodes then buys nothing and costs a links read each, so
that query takes the plain walk (every node scored, allowed ones kept). explain["walk"] says which one ran. The
"twice" keeps uncorrelated loose filters (50% of random rows) on the two-hop walk: there a plain walk at the same
beam lost recall (0.954 -> 0.945 at ef 32 on glove-100k). Side by side on AG News same-class queries (kernels
called directly, ef 16): plain walk recall 0.962 in 41 us a query, two-hop walk 0.982 in 89 us. The share was
0.75 until the pool walk; at 0.5, 73% of the same-class queries walk plainly instead of 43%, and the benchmark's
loop went from 61.5 to 52.4 us a query at ef 10 (recall 0.966 -> 0.958, the same-class target is 0.95); the
other-class queries stay on the two-hop walk (6% plain).

Loose filters (at least LOOSE_SELECTIVITY of the rows allowed) walk plainly, whatever the neighbourhood: half or
more of any node's neighbours pass, so the two-hop walk reads a bridge's links for little. Side by side on
glove-100k with a vocabulary-rank range, 200 queries, the fast path (recall@10, us a query):
50%: plain 0.964 @ 155 (ef 48), two-hop 0.955 @ 183 (ef 32); 40%: plain 0.953 @ 174, two-hop 0.960 @ 224 (both
ef 32); 30%: plain 0.965 @ 212, two-hop 0.964 @ 190 (ef 32 / 24), so below 35% the two-hop walk stays.

Rows of deleted and replaced points stay in the graph (as bridges) until compaction, so they act as a filter the
user did not write: once they are more than DEAD_FRACTION of the rows, an unfiltered search is planned like a
filtered one over the live rows (wider beam, two-hop walk, or an exact scan when few rows are live). Found by the
crash harness: after heavy churn (84% dead rows) recall@10 at the default beam had fallen to 0.87.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .index.hnsw import Graph
from .index.maintain import FieldState
from .kernels.dense import rows_topk, scan_topk
from .kernels.graph import graph_ctx
from .kernels.topk import merge_heaps, sort_heaps
from .params import SearchParams
from .storage.keys import State

DEFAULT_EF = 96  # recall@10 >= 0.95 on glove-100k (the hardest of our real sets) with m=16
WALK_COST_PER_EF = 40  # distances a filtered walk computes per beam slot (measured: 2.4k at ef=64, s=0.1)
EXACT_SELECTIVITY = 0.03
DEAD_FRACTION = 0.1
PLAIN_WALK_SHARE = 0.5
LOOSE_SELECTIVITY = 0.35


@dataclass
class Found:
    dist: np.ndarray  # (nq, k) kernel distances, ascending, +inf padding
    rows: np.ndarray  # (nq, k) rows, -1 padding
    explain: list[dict]
    code_distances: bool = False  # dist are a codec's approximate distances (a codes search without rescoring)


def default_ef(fs: FieldState, params: SearchParams, k: int) -> int:
    ef = params.ef or (fs.field.index.ef_search if fs.field.index else None) or DEFAULT_EF
    return max(ef, k)


def filtered_beam(ef: int, n_allowed: int, selectivity: float) -> tuple[int, bool]:
    """(beam of a filtered walk, whether the exact scan of the allowed rows is the cheaper plan). selectivity:
    allowed rows over the rows the graph holds."""
    ef = int(ef * min(4.0, 1.0 + 0.1 / selectivity))  # sparser bridges need a wider beam for the same recall
    return ef, n_allowed <= WALK_COST_PER_EF * ef or selectivity < EXACT_SELECTIVITY


def plain_walk_share(selectivity: float) -> float:
    """The share of the entry's neighbours that must be allowed for a query to walk plainly (see the docstring):
    every query of a loose filter, else those whose neighbourhood is far more allowed than the filter as a whole."""
    if selectivity >= LOOSE_SELECTIVITY:
        return 0.0
    return max(PLAIN_WALK_SHARE, 2.0 * selectivity)


@dataclass(slots=True, frozen=True)
class HotGraph:
    """One committed snapshot of an indexed field, reduced to what an unfiltered single query reads when the
    planner below would take the plain graph walk and nothing else. It stays valid while LMDB's transaction id is
    the one it was read at: every commit, in any process, moves that id, and in-process arrays only ever grow
    (rows past the snapshot are invisible to the walk), so a search of it is a search of that snapshot."""

    txn_id: int
    state: State
    graph: Graph
    x: np.ndarray  # the field's vectors (the process's contiguous cache)
    ids: np.ndarray  # row -> uint64 point id (STR_SENTINEL: a string id, kept in the row -> id table)
    allowed: np.ndarray  # live rows
    live: int
    ep: int
    max_level: int
    n_visible: int
    default_ef: int
    cosine: bool
    ctx: np.ndarray  # graph.search_ctx's context: the addresses of x, ids, allowed and of the graph's arrays below
    keep: tuple  # the graph's and codes' arrays ctx points into (a writer growing them replaces them; these stay alive)


def walk_codes(fs: FieldState, meta, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codes, cq) of the 8-bit walk over the indexed rows of x (what fs.vectors.get returned for this snapshot);
    codes with no rows where the graph has no walk map yet (small, or stored before there was one): the kernels
    then walk the floats."""
    if meta.walk_scale is None:
        return np.zeros((0, fs.field.dim), np.uint8), np.ones(2, np.float32)
    cq = np.array(meta.walk(), np.float32)
    return fs.vectors.walk_codes(x, meta.epoch, cq, meta.n_indexed), cq


def hot_graph(txn, tables, fs: FieldState, st: State, allowed: np.ndarray, ids: np.ndarray, txn_id: int):
    """The snapshot as a HotGraph when dense_search would plan an unfiltered query of it as the plain graph walk:
    a graph built for this epoch, no unindexed tail to scan, dead rows within DEAD_FRACTION. Else None: the general
    path plans it."""
    if fs.index is None or st.next_row - st.live > DEAD_FRACTION * st.next_row:
        return None
    meta = fs.index.store.meta(txn, tables["aux"])
    if meta.n_indexed == 0 or meta.n_indexed != st.next_row or meta.epoch != st.epoch:
        return None
    g = fs.index.for_read(txn, tables["aux"], tables["block"], meta, st.next_row)
    n_visible = min(meta.n_indexed, g.n_indexed)
    if meta.ep >= n_visible:
        return None
    x = fs.vectors.get(txn, tables["block"], st)
    ef = fs.field.index.ef_search or DEFAULT_EF
    cosine = fs.field.metric == "cosine"
    codes, cq = walk_codes(fs, meta, x)
    keep = (g.links0, g.links_up, g.upper_slot, codes, cq)
    ctx = graph_ctx(x, codes, cq, g.links0, g.links_up, g.upper_slot, ids, allowed, meta.ep, meta.max_level,
                    n_visible, g.metric, cosine)  # fmt: skip
    return HotGraph(txn_id, st, g, x, ids, allowed, st.live, meta.ep, meta.max_level, n_visible, ef, cosine, ctx, keep)


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
    filtered: bool = False,
    codes=None,
) -> Found:
    """codes: the field's CompressedField (None: not compressed). Path choice for a compressed field: exact=True
    scans the floats; otherwise the codes (+ rescoring) once the codec is trained, unless the field has an HNSW
    index and params.use_codes is False (the graph stays the default where one exists)."""
    metric = fs.field.metric
    blocks = tables["block"]
    nq = q.shape[0]
    base = {"estimate": n_allowed, "selectivity": round(n_allowed / max(st.live, 1), 6)} if filtered else {}
    dead = st.next_row - st.live
    if not filtered and dead > DEAD_FRACTION * st.next_row:
        filtered = True  # planned as a filter over the live rows (see the module docstring)
        base = {"dead_rows": dead}
    selectivity = n_allowed / max(st.next_row, 1)  # of the rows the graph and the blocks hold
    if n_allowed == 0:
        return Found(
            np.full((nq, k), np.inf, np.float32),
            np.full((nq, k), -1, np.int64),
            [{"path": "empty", "reason": "no point matches the filter", **base} for _ in range(nq)],
        )
    comp_note = None
    if codes is not None and not params.exact and (fs.index is None or params.use_codes):
        trained = codes.trained(txn, tables["aux"])
        if trained is not None:
            dist, rows, ex = codes.search(
                trained,
                txn,
                blocks,
                fs.snap.addresses(txn, blocks, st.next_row),
                fs.column.block_rows,
                st.next_row,
                q,
                k,
                allowed,
                n_allowed,
                do_rescore=params.rescore,
                oversample=params.oversample,
                recall_target=params.recall_target,
            )
            return Found(dist, rows, [{**ex, **base} for _ in range(nq)], code_distances=not params.rescore)
        comp_note = "the codec is not trained yet: float path"
    meta = None
    if fs.index is not None and not params.exact:
        meta = fs.index.store.meta(txn, tables["aux"])
        if meta.n_indexed == 0 or meta.epoch != st.epoch:
            meta = None
    ef = default_ef(fs, params, k)
    small = False
    if filtered:
        ef, small = filtered_beam(ef, n_allowed, selectivity)
    if meta is None or small:
        reason = (
            "requested"
            if params.exact
            else "no index"
            if fs.index is None
            else ("few rows are live" if "dead_rows" in base else "few rows match the filter")
            if small and meta is not None
            else "nothing indexed yet"
        )
        dist, rows = _exact(txn, blocks, fs, st, q, k, allowed, filtered)
        note = {"compression": comp_note} if comp_note else {}
        return Found(
            dist,
            rows,
            [
                {"path": "exact_scan", "reason": reason, "distances_computed": n_allowed, **note, **base}
                for _ in range(nq)
            ],
        )

    g = fs.index.for_read(txn, tables["aux"], blocks, meta, st.next_row)
    x = fs.vectors.get(txn, blocks, st)
    codes, cq = walk_codes(fs, meta, x)
    acorn = filtered and n_allowed < st.next_row
    walk = np.zeros(nq, np.uint8) if acorn else None
    share = plain_walk_share(selectivity)
    entry = (meta.ep, meta.max_level)  # the snapshot's: a writer in this process may have moved the live one
    dist, rows, ndist = g.search(
        q,
        x,
        k,
        ef,
        allowed,
        meta.n_indexed,
        filtered=acorn,
        plain_share=share,
        walk=walk,
        entry=entry,
        codes=codes,
        cq=cq,
    )
    tail = st.next_row - meta.n_indexed
    if tail > 0:
        tdist, trows = scan_topk(q, [(meta.n_indexed, x[meta.n_indexed : st.next_row])], allowed, k, metric)
        dist, rows = sort_heaps(*merge_heaps([(dist, rows), (tdist, trows)]))
    path = "hnsw_filtered" if acorn else "hnsw"
    common = {"path": path, "ef": ef, "distances_computed": 0, "indexed_rows": meta.n_indexed, "exact_tail_rows": tail}
    if base:
        common.update(base)
    if comp_note:
        common["compression"] = comp_note
    explain = []
    for nd in ndist.tolist():
        e = common.copy()
        e["distances_computed"] = nd + tail
        explain.append(e)
    if acorn:  # per query: the two-hop walk, or the plain one where the entry's neighbourhood is mostly allowed
        for e, w in zip(explain, walk.tolist()):
            e["walk"] = "plain" if w else "two_hop"
    want = min(k, n_allowed)
    if nq == 1:  # the common single query: a scalar test instead of an array scan
        short = np.zeros(1 if rows[0, want - 1] < 0 else 0, np.int64)
    else:
        short = np.flatnonzero(rows[:, want - 1] < 0)
    if short.size:
        edist, erows = _exact(txn, blocks, fs, st, q[short], k, allowed, filtered)
        dist[short], rows[short] = edist, erows
        for i in short.tolist():
            explain[i]["path"] = path + "+exact_scan"
            explain[i]["reason"] = "the graph returned fewer than k allowed points"
            explain[i]["distances_computed"] += n_allowed
    return Found(dist, rows, explain)


def _exact(txn, blocks, fs: FieldState, st: State, q, k, allowed, filtered):
    """Exact top-k over the allowed rows: a gather over their row list when the field's vectors are cached and a
    filter made the list short, else a scan of the zero-copy blocks skipping disallowed rows."""
    if filtered and fs.index is not None:
        x = fs.vectors.get(txn, blocks, st)
        return rows_topk(q, x, np.flatnonzero(allowed), k, fs.field.metric)
    return scan_topk(q, fs.snap.views(txn, blocks, st.next_row), allowed, k, fs.field.metric)
