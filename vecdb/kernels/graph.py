"""HNSW graph kernels: layer search (one sorted pool per walk), batch queries, and the two phases of a batch insert.

Layout (all int32): level-0 links `links0[node] = [degree, n_1 .. n_M0]`; upper levels live in slots
`links_up[slot, level - 1] = [degree, n_1 .. n_M]`, with `upper_slot[node]` the slot of a node of level >= 1
(-1 otherwise). Distances follow the dense kernels: -dot for dot/cosine (unit vectors), squared L2 for l2.

Readers may run while a writer extends the graph: neighbours >= n_visible (rows of later snapshots) are skipped.
"""

from __future__ import annotations

import numpy as np
from numba import carray

from ..jit import inline_helper, kernel
from ._intrinsics import f32_pointer, i32_pointer, prefetch_item, prefetch_row, u8_pointer, u16_pointer, u64_pointer
from .queries import OK, _prepare_row


# ---------------------------------------------------------------------- distances
@inline_helper
def _dist(q, x, metric):
    s = np.float32(0.0)
    if metric == 0:
        for j in range(q.shape[0]):
            s += q[j] * x[j]
        return -s
    for j in range(q.shape[0]):
        t = q[j] - x[j]
        s += t * t
    return s


# ---------------------------------------------------------------------- the beam: one sorted pool
# A walk keeps one pool sorted by distance (DiskANN's linear candidate list) instead of HNSW's two heaps: the
# entries are the nodes reached that can still matter, ascending; expanded ones carry bit 31 in their id. The next
# node to expand is the first unexpanded entry, found by a cursor that only moves back when an insert lands before
# it. Side by side (same graph, same results, kernels called directly, each loop timed back to back with warm
# caches): 1.1-1.25x faster than the two heaps on glove-100k and siftsmall at ef 16-96, because an insert is a short
# shift of a cache-resident array instead of two sift-downs through unpredictable branches.
#
# Allowed rows: only allowed nodes count as results, every node routes. Once the pool holds ef allowed entries it
# ends at the ef-th of them (its distance is the bound: nothing farther can enter a result or is worth
# expanding), so the pool is exactly the heaps' result set plus the candidates still closer than its worst.
_EXPANDED = np.int32(-(2**31))
_NODE = np.int32(2**31 - 1)


@inline_helper
def _pool_admits(pd, size, cap, nal, ef, d):
    # whether (d) can enter: room while fewer than ef results are held, else it must beat the last entry
    return (nal < ef and size < cap) or d < pd[size - 1]


@inline_helper
def _insert_sorted(pd, pi, pos, d, n):
    # (d, n) into the ascending pd/pi[:pos + 1], entries [0, pos) held, slot pos free (ties: after the equal ones);
    # returns where it landed
    while pos > 0 and pd[pos - 1] > d:
        pd[pos] = pd[pos - 1]
        pi[pos] = pi[pos - 1]
        pos -= 1
    pd[pos] = d
    pi[pos] = n
    return pos


@inline_helper
def _pool_add(pd, pi, size, cap, nal, nrt, ef, allowed, d, n):
    """Insert (d, n) (caller checked _pool_admits). nal / nrt: allowed / routing entries held.
    Returns (size, nal, nrt, position inserted at)."""
    ok = allowed[n]
    pos = size
    if ok and nal == ef:  # the ef-th result (the last entry) leaves for it
        pos -= 1
        nal -= 1
    elif size == cap:  # full of routing entries: the last one leaves
        pos -= 1
        if allowed[pi[pos] & _NODE]:
            nal -= 1
        else:
            nrt -= 1
    else:
        size += 1
    pos = _insert_sorted(pd, pi, pos, d, n)
    if ok:
        nal += 1
    else:
        nrt += 1
    if nrt > 0 and nal == ef:  # routing entries behind the ef-th result can no longer matter
        while not allowed[pi[size - 1] & _NODE]:
            size -= 1
            nrt -= 1
    return size, nal, nrt, pos


@inline_helper
def _pool_next(pi, size, cur):
    # the first unexpanded entry at or after cur (size: none left)
    while cur < size and pi[cur] < 0:
        cur += 1
    return cur


@inline_helper
def _pool_take(pd, pi, size, allowed, k, out_d, out_i, sign):
    # the (up to) k best allowed entries into the 1-D out_d (distance times sign) and out_i, ascending distance;
    # returns how many were written
    j = 0
    for t in range(size):
        if j >= k:
            break
        n = pi[t] & _NODE
        if allowed[n]:
            out_d[j] = sign * pd[t]
            out_i[j] = n
            j += 1
    return j


@inline_helper
def _pool_emit(pd, pi, size, allowed, k, out_d, out_i, qi):
    # the k best allowed entries into out row qi, ascending, +inf / -1 padding
    j = _pool_take(pd, pi, size, allowed, k, out_d[qi], out_i[qi], np.float32(1.0))
    for t in range(j, k):
        out_d[qi, t] = np.inf
        out_i[qi, t] = -1


@inline_helper
def _pool_start(pd, pi, allowed, node, node_d):
    # a pool holding the entry node alone: (size, allowed entries, routing entries)
    pd[0] = node_d
    pi[0] = node
    ok = 1 if allowed[node] else 0
    return 1, ok, 1 - ok


# ---------------------------------------------------------------------- visited tags
@inline_helper
def _next_tag(visited, tag):
    # uint16 tags: a query marks nodes with its tag, so nothing is cleared between queries but every 65,535th.
    tag += 1
    if tag >= 65535:
        visited[:] = 0
        tag = 1
    return tag


# ---------------------------------------------------------------------- layer search
@inline_helper
def _neighbours(links3, rowmap, use_map, level_index, node):
    # links3 is (rows, levels, width): level 0 is passed as a (cap, 1, width) view, upper levels as links_up
    r = rowmap[node] if use_map else node
    return links3[r, level_index]


@inline_helper
def _as3d(links0):
    return links0.reshape((links0.shape[0], 1, links0.shape[1]))


@inline_helper
def _prefetch_links(links3, rowmap, use_map, node):
    prefetch_row(links3, rowmap[node] if use_map else node)


@inline_helper
def _prefetch_vector(X, n):
    # the first 8 cache lines of row n (16 float32 or 64 uint8 codes to a 64-byte line): whole rows up to 128-d
    # floats, where the first line alone left the rest to demand misses (glove-100k, siftsmall: 3-5% slower). Every
    # line of a 384-d float row, for up to 32 neighbours at once, swamped the line fill buffers instead (AG News
    # 384-d: 15-20% slower than one line).
    step = 64 // X.itemsize
    for j in range(0, min(X.shape[1], 8 * step), step):
        prefetch_item(X, n, j)


@inline_helper
def _search_layer(
    q, X, links, rowmap, use_map, level_index, entry, entry_d, ef, visited, tag, allowed, n_visible, metric, pd, pi
):
    """Beam search of width ef in one layer. Afterwards the pool pd/pi[:size] holds the ef best allowed nodes
    reached, ascending, among routing nodes closer than their worst (ids with bit 31 set: mask with _NODE).
    Returns (size, distances computed). Traversal goes through every node, so filters and tombstones never
    disconnect the walk."""
    cap = pd.shape[0]
    visited[entry] = tag
    size, nal, nrt = _pool_start(pd, pi, allowed, entry, entry_d)
    ndist = 0
    cur = 0
    while cur < size:
        c = pi[cur]
        pi[cur] = c | _EXPANDED
        nb = _neighbours(links, rowmap, use_map, level_index, c)
        deg = nb[0]
        for t in range(1, deg + 1):  # start loading every unseen neighbour's vector before scoring any
            n = nb[t]
            if n < n_visible and visited[n] != tag:
                _prefetch_vector(X, n)
        nxt = cur + 1
        for t in range(1, deg + 1):
            n = nb[t]
            if n >= n_visible or visited[n] == tag:
                continue
            visited[n] = tag
            d = _dist(q, X[n], metric)
            ndist += 1
            if _pool_admits(pd, size, cap, nal, ef, d):
                size, nal, nrt, pos = _pool_add(pd, pi, size, cap, nal, nrt, ef, allowed, d, n)
                if pos < nxt:
                    nxt = pos
        cur = _pool_next(pi, size, nxt)
        if cur < size:
            _prefetch_links(links, rowmap, use_map, pi[cur])
    return size, ndist


@inline_helper
def _greedy(q, X, links_up, upper_slot, ep, ep_d, from_level, to_level, n_visible, metric):
    """Greedy descent through upper levels from_level .. to_level + 1; returns (node, dist, distances)."""
    cur = ep
    cur_d = ep_d
    ndist = 0
    for level in range(from_level, to_level, -1):
        changed = True
        while changed:
            changed = False
            nb = links_up[upper_slot[cur], level - 1]
            for t in range(1, nb[0] + 1):
                n = nb[t]
                if n >= n_visible:
                    continue
                d = _dist(q, X[n], metric)
                ndist += 1
                if d < cur_d:
                    cur_d = d
                    cur = n
                    changed = True
    return cur, cur_d, ndist


@inline_helper
def _pool_arrays(width, spare):
    # one pool per kernel call: width results plus room for routing (disallowed) entries
    cap = width * spare + 64
    return np.empty(cap, np.float32), np.empty(cap, np.int32)


@inline_helper
def _walk_one(q, X, links0, links_up, upper_slot, ep, max_level, width, allowed, n_visible, metric, visited, tag,
              pd, pi):  # fmt: skip
    # one query's descent and level-0 walk, its pool left in pd/pi: (size, distances computed, tag)
    tag = _next_tag(visited, tag)
    d0 = _dist(q, X[ep], metric)
    node, node_d, nd = _greedy(q, X, links_up, upper_slot, ep, d0, max_level, 0, n_visible, metric)
    size, nd2 = _search_layer(q, X, _as3d(links0), np.empty(0, np.int32), False, 0, node, node_d, width, visited,
                              tag, allowed, n_visible, metric, pd, pi)  # fmt: skip
    return size, nd + nd2 + 1, tag


# ---------------------------------------------------------------------- the 8-bit walk
# A graph walk reads one vector per distance from all over memory: it is bound by memory, not arithmetic (a hot
# query's walk is ~2x faster than a cold one's). Searches therefore walk a uint8 copy of the vectors (a quarter of
# the bytes; one affine map for the whole field: x ~ lo + scale * code, fixed when the graph is first built) and
# rescore the walk's pool exactly with the float vectors: the pool's order is the floats', so results and scores
# are exact for the rows found; only which rows are found follows the codes. Inserts still link by float distance.
@inline_helper
def _uses_codes(C, n_visible):
    # the codes walk runs when the caller hands codes for every visible node (else the float walk: never past C)
    return n_visible > 0 and C.shape[0] >= n_visible


@inline_helper
def _code_query(qp, cq, metric):
    # the query in code space: l2 distances to codes are then proportional to the float ones; dot / cosine need
    # no map (-q.(lo + s c) orders nodes as -q.c does)
    qs = np.empty(qp.shape[0], np.float32)
    if metric == 1:
        inv = np.float32(1.0) / cq[1]
        for j in range(qp.shape[0]):
            qs[j] = (qp[j] - cq[0]) * inv
    else:
        for j in range(qp.shape[0]):
            qs[j] = qp[j]
    return qs


@inline_helper
def _rescore_pool(q, X, pd, pi, size, allowed, metric):
    """The allowed entries of a walked pool with their float distances, ascending (ties keep the walk's order),
    packed at the front; the routing entries are dropped. Returns how many."""
    for t in range(size):
        n = pi[t] & _NODE
        if allowed[n]:
            _prefetch_vector(X, n)
    m = 0
    for t in range(size):
        n = pi[t] & _NODE  # read before any write: the writes below only touch entries [0, m], m <= t
        if allowed[n]:
            _insert_sorted(pd, pi, m, _dist(q, X[n], metric), n)
            m += 1
    return m


@inline_helper
def _walk_space(q, S, links0, links_up, upper_slot, ep, max_level, width, allowed, n_visible, metric, visited, tag,
                filtered, plain_share, pd, pi):  # fmt: skip
    # one query's plain or filtered walk over the rows S (floats or codes): (size, distances, tag, plain walk)
    if filtered:
        return _walk_filtered_one(q, S, links0, links_up, upper_slot, ep, max_level, width, allowed, n_visible,
                                  metric, visited, tag, plain_share, pd, pi)  # fmt: skip
    size, nd, tag = _walk_one(q, S, links0, links_up, upper_slot, ep, max_level, width, allowed, n_visible, metric,
                              visited, tag, pd, pi)  # fmt: skip
    return size, nd, tag, 0


@inline_helper
def _walk_any(qp, X, C, cq, links0, links_up, upper_slot, ep, max_level, width, allowed, n_visible, metric, visited,
              tag, filtered, plain_share, pd, pi):  # fmt: skip
    # one query's walk, plain or filtered, on the codes where given (then rescored) else on the floats: its pool
    # left in pd/pi, (size, distances computed, tag, 1 if a filtered walk went plain)
    if _uses_codes(C, n_visible):
        size, nd, tag, plain = _walk_space(_code_query(qp, cq, metric), C, links0, links_up, upper_slot, ep,
                                           max_level, width, allowed, n_visible, metric, visited, tag, filtered,
                                           plain_share, pd, pi)  # fmt: skip
        size = _rescore_pool(qp, X, pd, pi, size, allowed, metric)
        return size, nd + size, tag, plain
    return _walk_space(qp, X, links0, links_up, upper_slot, ep, max_level, width, allowed, n_visible, metric, visited,
                       tag, filtered, plain_share, pd, pi)  # fmt: skip


@kernel
def search_batch(
    Q,
    X,
    C,
    cq,
    links0,
    links_up,
    upper_slot,
    ep,
    max_level,
    ef,
    allowed,
    n_visible,
    metric,
    visited,
    tag,
    out_d,
    out_i,
    ndist_out,
):
    """k-NN of each query (k = out_d.shape[1]); fills out_d/out_i ascending (+inf/-1 padding). C, cq: the 8-bit
    walk's codes and [lo, scale] (C with fewer rows than n_visible, e.g. none: the float walk).
    Returns the last visited tag (the caller keeps it with the visited array)."""
    nq = Q.shape[0]
    k = out_d.shape[1]
    width = max(ef, k)
    pd, pi = _pool_arrays(width, 4)
    for qi in range(nq):
        if ep < 0:
            out_d[qi, :] = np.inf
            out_i[qi, :] = -1
            ndist_out[qi] = 0
            continue
        size, ndist_out[qi], tag, _ = _walk_any(Q[qi], X, C, cq, links0, links_up, upper_slot, ep, max_level, width,
                                                allowed, n_visible, metric, visited, tag, False, 2.0, pd,
                                                pi)  # fmt: skip
        _pool_emit(pd, pi, size, allowed, k, out_d, out_i, qi)
    return tag


@kernel
def search_one(q, cosine, X, C, cq, links0, links_up, upper_slot, ep, max_level, ef, allowed, n_visible, metric,
               visited, tag, ids, filtered, plain_share, out_d, out_id, out_row, info):  # fmt: skip
    """One raw query end to end, for the single-query fast path: prepared (queries._prepare_row, so it matches the
    matrix path bit for bit), walked (filtered: the walk of search_batch_filtered, else the plain one; C, cq as in
    search_batch), and its k = out_d.shape[0] best allowed rows written with their ids (ids[row]); out_d holds the
    user's scores (-distance for dot / cosine, the Euclidean distance for l2). info: [distances computed, results
    written, preparation status, 1 if a filtered query took the plain walk]; a status other than OK means nothing
    was searched (the caller takes the general path, which reports the error). Returns the last visited tag."""
    k = out_d.shape[0]
    qp = np.empty(q.shape[0], np.float32)
    info[2] = _prepare_row(q, qp, cosine)
    info[1] = 0
    info[3] = 0
    if info[2] != OK or ep < 0:
        return tag
    width = max(ef, k)
    pd, pi = _pool_arrays(width, 8 if filtered else 4)
    size, info[0], tag, info[3] = _walk_any(qp, X, C, cq, links0, links_up, upper_slot, ep, max_level, width, allowed,
                                            n_visible, metric, visited, tag, filtered, plain_share, pd,
                                            pi)  # fmt: skip
    j = _pool_take(pd, pi, size, allowed, k, out_d, out_row, np.float32(1.0 if metric == 1 else -1.0))
    for t in range(j):
        out_id[t] = ids[out_row[t]]
        if metric == 1:  # l2: the distance, as the general path's numpy sqrt gives it (IEEE sqrt: bit for bit)
            out_d[t] = np.sqrt(out_d[t])
    info[1] = j
    return tag


# The single-query entry for the API's fast path. Numba's dispatcher types and unboxes every argument of every
# call: search_one's 21 arguments cost ~1.3 us a call, a tenth of a siftsmall walk, and each array ~0.1 us.
# search_ctx takes the snapshot's arrays and scalars (live rows included) as one int64 array built once per snapshot
# (graph_ctx), the thread's visited array through its work array, and the few values that change per call. The
# arrays whose addresses they hold must stay alive while they are used (HotGraph keeps the snapshot's; the work
# array's owner keeps its visited array).
CTX_X, CTX_ROWS, CTX_DIM, CTX_L0, CTX_L0N, CTX_L0W, CTX_LU, CTX_LUN, CTX_LUL, CTX_LUW = range(10)
CTX_US, CTX_USN, CTX_IDS, CTX_IDSN, CTX_AL, CTX_ALN, CTX_EP, CTX_MAXL, CTX_NVIS, CTX_METRIC, CTX_COS = range(10, 21)
CTX_C, CTX_CN, CTX_CQ = 21, 22, 23  # the codes (address, rows) and the address of cq (float32 [lo, scale])
CTX_SIZE = 24
# The work array (int64, one per thread): info (see search_one), the visited tag, the visited array's address and
# length, then kmax ids (uint64 ids as their int64 bits), then kmax rows.
WORK_INFO, WORK_TAG, WORK_VIS, WORK_VISN, WORK_IDS = 4, 4, 5, 6, 7
# search_ctx's result: NOT_SEARCHED (info[2] says why), SMALL_VISITED (the work array's visited array holds fewer
# rows than the snapshot: attach a larger one and call again), or the results written (bits 0-15), FLAG_BIG (an id
# is >= 2**63, e.g. ids.STR_SENTINEL: read the ids as uint64), FLAG_PLAIN (a filtered query took the plain walk),
# and the distances computed (from bit ND_SHIFT).
NOT_SEARCHED, SMALL_VISITED = -1, -2
FOUND_MASK, FLAG_BIG, FLAG_PLAIN, ND_SHIFT = 0xFFFF, 1 << 16, 1 << 17, 18


def graph_ctx(x, codes, cq, links0, links_up, upper_slot, ids, allowed, ep, max_level, n_visible, metric,
              cosine) -> np.ndarray:  # fmt: skip
    """search_ctx's context of one snapshot: the arrays' addresses and shapes (allowed: the live rows, uint8; codes,
    cq: as search_batch's C, cq), and the walk's scalars."""
    arrays = ((x, np.float32), (links0, np.int32), (links_up, np.int32), (upper_slot, np.int32), (ids, np.uint64),
              (allowed, np.uint8), (codes, np.uint8), (cq, np.float32))  # fmt: skip
    for a, dt in arrays:
        if a.dtype != dt or not a.flags.c_contiguous:
            raise ValueError(f"graph_ctx needs C-contiguous {np.dtype(dt)} arrays, got {a.dtype}")
    if codes.ndim != 2 or codes.shape[1] != x.shape[1] or cq.shape != (2,):
        raise ValueError("graph_ctx needs codes as wide as the vectors and cq = [lo, scale]")
    ctx = np.zeros(CTX_SIZE, np.int64)
    ctx[CTX_X], (ctx[CTX_ROWS], ctx[CTX_DIM]) = x.ctypes.data, x.shape
    ctx[CTX_L0], (ctx[CTX_L0N], ctx[CTX_L0W]) = links0.ctypes.data, links0.shape
    ctx[CTX_LU], (ctx[CTX_LUN], ctx[CTX_LUL], ctx[CTX_LUW]) = links_up.ctypes.data, links_up.shape
    ctx[CTX_US], ctx[CTX_USN] = upper_slot.ctypes.data, upper_slot.shape[0]
    ctx[CTX_IDS], ctx[CTX_IDSN] = ids.ctypes.data, ids.shape[0]
    ctx[CTX_AL], ctx[CTX_ALN] = allowed.ctypes.data, allowed.shape[0]
    ctx[CTX_C], ctx[CTX_CN], ctx[CTX_CQ] = codes.ctypes.data, codes.shape[0], cq.ctypes.data
    ctx[CTX_EP], ctx[CTX_MAXL], ctx[CTX_NVIS] = ep, max_level, n_visible
    ctx[CTX_METRIC], ctx[CTX_COS] = metric, int(cosine)
    return ctx


def new_work(kmax: int, visited: np.ndarray) -> np.ndarray:
    """A work array for up to kmax results, walking with `visited` (uint16; tag 0: it must be all zeros). The
    caller keeps visited alive as long as the work array is used."""
    if visited.dtype != np.uint16 or not visited.flags.c_contiguous or not visited.flags.writeable:
        raise ValueError("the visited array must be a writable C-contiguous uint16 array")
    work = np.zeros(WORK_IDS + 2 * kmax, np.int64)
    work[WORK_VIS], work[WORK_VISN] = visited.ctypes.data, visited.shape[0]
    return work


@inline_helper
def _ctx_search(q, ctx, allowed, out_d, work, ef, share):
    X = carray(f32_pointer(ctx[CTX_X]), (ctx[CTX_ROWS], ctx[CTX_DIM]))
    links0 = carray(i32_pointer(ctx[CTX_L0]), (ctx[CTX_L0N], ctx[CTX_L0W]))
    links_up = carray(i32_pointer(ctx[CTX_LU]), (ctx[CTX_LUN], ctx[CTX_LUL], ctx[CTX_LUW]))
    upper_slot = carray(i32_pointer(ctx[CTX_US]), (ctx[CTX_USN],))
    ids = carray(u64_pointer(ctx[CTX_IDS]), (ctx[CTX_IDSN],))
    C = carray(u8_pointer(ctx[CTX_C]), (ctx[CTX_CN], ctx[CTX_DIM]))
    cq = carray(f32_pointer(ctx[CTX_CQ]), (2,))
    if work[WORK_VISN] < ctx[CTX_NVIS]:
        return SMALL_VISITED
    visited = carray(u16_pointer(work[WORK_VIS]), (work[WORK_VISN],))
    k = out_d.shape[0]
    kmax = (work.shape[0] - WORK_IDS) // 2
    wu = work.view(np.uint64)
    info = work[:WORK_INFO]
    work[WORK_TAG] = search_one(q, ctx[CTX_COS] != 0, X, C, cq, links0, links_up, upper_slot, ctx[CTX_EP],
                                ctx[CTX_MAXL], ef, allowed, ctx[CTX_NVIS], ctx[CTX_METRIC], visited, work[WORK_TAG],
                                ids, share >= 0, share, out_d, wu[WORK_IDS : WORK_IDS + k],
                                work[WORK_IDS + kmax : WORK_IDS + kmax + k], info)  # fmt: skip
    if info[2] != OK:
        return NOT_SEARCHED
    found = info[1]
    out = found | (info[0] << ND_SHIFT)
    if info[3]:
        out |= FLAG_PLAIN
    for t in range(found):
        if work[WORK_IDS + t] < 0:
            out |= FLAG_BIG
            break
    return out


@kernel
def search_ctx(q, ctx, out_d, work, ef):
    """search_one, unfiltered (the snapshot's live rows), on the snapshot of ctx (graph_ctx) for k = out_d.shape[0]
    results: scores into out_d, info into work[:WORK_INFO], the ids into work[WORK_IDS:WORK_IDS + k] (as int64
    bits), the rows into work[WORK_IDS + kmax:] (kmax = (len(work) - WORK_IDS) // 2). The visited array and its tag
    live in work (new_work), so one visited array serves every graph a thread searches (tags only ever grow on it).
    Returns NOT_SEARCHED, SMALL_VISITED or the results written with flags and distances (see FOUND_MASK)."""
    allowed = carray(u8_pointer(ctx[CTX_AL]), (ctx[CTX_ALN],))
    return _ctx_search(q, ctx, allowed, out_d, work, ef, -1.0)


@kernel
def search_ctx_filtered(q, ctx, allowed, out_d, work, ef, share):
    """search_ctx over the rows allowed (uint8) by the filtered walk with that plain-walk share."""
    return _ctx_search(q, ctx, allowed, out_d, work, ef, share)


# ---------------------------------------------------------------------- filtered search (ACORN-style)
@inline_helper
def _try_node(q, X, n, metric, visited, tag, allowed, ef, pd, pi, size, nal, nrt, nxt, ndist):
    # score an allowed node of the two-hop walk and offer it to the pool
    visited[n] = tag
    d = _dist(q, X[n], metric)
    ndist += 1
    if _pool_admits(pd, size, pd.shape[0], nal, ef, d):
        size, nal, nrt, pos = _pool_add(pd, pi, size, pd.shape[0], nal, nrt, ef, allowed, d, n)
        if pos < nxt:
            nxt = pos
    return size, nal, nrt, nxt, ndist


@inline_helper
def _walk_filtered_one(q, X, links0, links_up, upper_slot, ep, max_level, width, allowed, n_visible, metric,
                       visited, tag, plain_share, pd, pi):  # fmt: skip
    # one query's descent and filtered level-0 walk (see search_batch_filtered), its pool left in pd/pi:
    # (size, distances computed, tag, 1 if it took the plain walk else 0)
    tag = _next_tag(visited, tag)
    d0 = _dist(q, X[ep], metric)
    node, node_d, nd = _greedy(q, X, links_up, upper_slot, ep, d0, max_level, 0, n_visible, metric)
    nd += 1
    nb0 = links0[node]
    local = 0
    for t in range(1, nb0[0] + 1):
        if nb0[t] < n_visible and allowed[nb0[t]]:
            local += 1
    if nb0[0] > 0 and local >= plain_share * nb0[0]:
        size, nd2 = _search_layer(q, X, _as3d(links0), np.empty(0, np.int32), False, 0, node, node_d, width, visited,
                                  tag, allowed, n_visible, metric, pd, pi)  # fmt: skip
        return size, nd + nd2, tag, 1
    visited[node] = tag
    size, nal, nrt = _pool_start(pd, pi, allowed, node, node_d)  # the entry seeds the walk even if filtered out
    cur = 0
    while cur < size:
        c = pi[cur]
        pi[cur] = c | _EXPANDED
        guess = _pool_next(pi, size, cur + 1)
        if guess < size:
            prefetch_row(links0, pi[guess])
        nb = links0[c]
        for t in range(1, nb[0] + 1):  # start loading what this expansion will read: vectors or bridges' links
            n = nb[t]
            if n < n_visible and visited[n] != tag:
                if allowed[n]:
                    _prefetch_vector(X, n)
                else:
                    prefetch_row(links0, n)
        nxt = cur + 1
        for t in range(1, nb[0] + 1):
            n = nb[t]
            if n >= n_visible or visited[n] == tag:
                continue
            if allowed[n]:
                size, nal, nrt, nxt, nd = _try_node(q, X, n, metric, visited, tag, allowed, width, pd, pi, size,
                                                    nal, nrt, nxt, nd)  # fmt: skip
            else:
                visited[n] = tag  # bridge through it once, never score it
                nb2 = links0[n]
                for t2 in range(1, nb2[0] + 1):
                    n2 = nb2[t2]
                    if n2 < n_visible and allowed[n2] and visited[n2] != tag:
                        size, nal, nrt, nxt, nd = _try_node(q, X, n2, metric, visited, tag, allowed, width, pd,
                                                            pi, size, nal, nrt, nxt, nd)  # fmt: skip
        cur = _pool_next(pi, size, nxt)
    return size, nd, tag, 0


@kernel
def search_batch_filtered(
    Q,
    X,
    C,
    cq,
    links0,
    links_up,
    upper_slot,
    ep,
    max_level,
    ef,
    allowed,
    n_visible,
    metric,
    visited,
    tag,
    out_d,
    out_i,
    ndist_out,
    plain_share,
    walk_out,
):
    """k-NN among allowed rows only. The walk scores allowed nodes only; a neighbour that fails the filter is
    not scored but bridged: its own allowed neighbours are tried (two hops, as in ACORN), so a selective filter
    does not strand the search and no distance is spent on rows that cannot be returned.

    Where the filter agrees with the query's neighbourhood (at least plain_share of the level-0 entry's neighbours
    are allowed: a filter correlated with the query), bridging buys nothing and costs a links read per disallowed
    neighbour: that query takes the plain walk instead (every node scored, only allowed ones kept),
    walk_out[qi] = 1 (0: two-hop walk). plain_share > 1 turns this off. C, cq as in search_batch."""
    nq = Q.shape[0]
    k = out_d.shape[1]
    width = max(ef, k)
    pd, pi = _pool_arrays(width, 8)
    for qi in range(nq):
        ndist_out[qi] = 0
        walk_out[qi] = 0
        if ep < 0:
            out_d[qi, :] = np.inf
            out_i[qi, :] = -1
            continue
        size, ndist_out[qi], tag, walk_out[qi] = _walk_any(Q[qi], X, C, cq, links0, links_up, upper_slot, ep,
                                                           max_level, width, allowed, n_visible, metric, visited, tag,
                                                           True, plain_share, pd, pi)  # fmt: skip
        _pool_emit(pd, pi, size, allowed, k, out_d, out_i, qi)
    return tag


# ---------------------------------------------------------------------- insert, phase A: candidates (read-only)
@kernel
def insert_candidates(
    nodes,
    levels,
    X,
    links0,
    links_up,
    upper_slot,
    ep,
    max_level,
    efc,
    n_visible,
    metric,
    visited,
    tag,
    cand_d_out,
    cand_i_out,
    cand_n_out,
):
    """For each new (not yet linked) node, the efc nearest linked nodes at each of its levels <= max_level.
    cand_*_out: (len(nodes), n_levels, efc) ascending / (len(nodes), n_levels) counts. Read-only on the graph, so
    threads run it side by side on disjoint slices of a batch. Returns the last visited tag."""
    pd, pi = _pool_arrays(efc, 1)
    everyone = np.ones(n_visible, np.uint8)  # construction links to dead rows too: they route, never returned
    dummy_map = np.empty(0, np.int32)
    l0 = _as3d(links0)
    n_levels = cand_n_out.shape[1]
    for j in range(nodes.shape[0]):
        cand_n_out[j, :] = 0
        if ep < 0:
            continue
        q = X[nodes[j]]
        lu = levels[j]
        cur = ep
        cur_d = _dist(q, X[ep], metric)
        if max_level > lu:
            cur, cur_d, _ = _greedy(q, X, links_up, upper_slot, cur, cur_d, max_level, lu, n_visible, metric)
        for level in range(min(lu, max_level, n_levels - 1), -1, -1):
            tag = _next_tag(visited, tag)
            if level == 0:
                size, _ = _search_layer(q, X, l0, dummy_map, False, 0, cur, cur_d, efc, visited, tag, everyone,
                                        n_visible, metric, pd, pi)  # fmt: skip
            else:
                size, _ = _search_layer(q, X, links_up, upper_slot, True, level - 1, cur, cur_d, efc, visited, tag,
                                        everyone, n_visible, metric, pd, pi)  # fmt: skip
            cand_n_out[j, level] = size  # everyone is allowed: the pool is the efc nearest, ascending
            for pos in range(size):
                cand_d_out[j, level, pos] = pd[pos]
                cand_i_out[j, level, pos] = pi[pos] & _NODE
            if size > 0:  # the nearest found is the entry of the level below
                cur = cand_i_out[j, level, 0]
                cur_d = cand_d_out[j, level, 0]
    return tag


# ---------------------------------------------------------------------- neighbour selection
@inline_helper
def _heuristic(X, ids, ds, n, mmax, metric, out):
    """HNSW's neighbour heuristic over candidates sorted by distance to the base node: keep c unless an already
    kept s is closer to c than the base is (diverse directions instead of a clump). Writes [count, ids...]."""
    sel = 0
    for a in range(n):
        if sel >= mmax:
            break
        c = ids[a]
        good = True
        for b in range(sel):
            if _dist(X[c], X[out[1 + b]], metric) < ds[a]:
                good = False
                break
        if good:
            out[1 + sel] = c
            sel += 1
    out[0] = sel
    return sel


@kernel
def select_forward(nodes, levels, X, cand_d, cand_i, cand_n, efc, m, metric, lo, hi, fwd):
    """Phase B1: the forward links of new nodes [lo, hi) of the batch at each of their levels: candidates merged
    with the other nodes of the batch (which phase A could not see), then the heuristic keeps m.
    fwd: (B, n_levels, m + 1); threads write disjoint [lo, hi) rows.

    The merge keeps the efc nearest of both, ties to the candidates, as a stable sort of the two lists one after
    the other would: batch nodes no nearer than the efc-th candidate cannot enter, and only the few that can are
    sorted (sorting all efc + batch entries per node had been a third of a glove-100k build)."""
    b = nodes.shape[0]
    n_levels = cand_n.shape[1]
    ext_d = np.empty(b, np.float32)
    ext_i = np.empty(b, np.int32)
    buf_d = np.empty(efc, np.float32)
    buf_i = np.empty(efc, np.int32)
    for j in range(lo, hi):
        u = nodes[j]
        fwd[j, :, 0] = 0
        for level in range(min(levels[j], n_levels - 1) + 1):
            cnt = cand_n[j, level]
            cd = cand_d[j, level]
            ci = cand_i[j, level]
            bound = cd[efc - 1] if cnt >= efc else np.inf
            ne = 0
            for w in range(b):
                if w != j and levels[w] >= level:
                    d = _dist(X[u], X[nodes[w]], metric)
                    if d < bound:
                        ext_d[ne] = d
                        ext_i[ne] = nodes[w]
                        ne += 1
            order = np.argsort(ext_d[:ne], kind="mergesort")
            total = min(efc, cnt + ne)
            a = 0
            e = 0
            for t in range(total):
                if e >= ne or (a < cnt and cd[a] <= ext_d[order[e]]):
                    buf_d[t] = cd[a]
                    buf_i[t] = ci[a]
                    a += 1
                else:
                    buf_d[t] = ext_d[order[e]]
                    buf_i[t] = ext_i[order[e]]
                    e += 1
            _heuristic(X, buf_i, buf_d, total, m, metric, fwd[j, level])
    return 0


@kernel
def link_reverse(tgt, src, starts, glevel, first, batch_pos, X, links0, links_up, upper_slot, fwd, m0, m, metric, out):
    """Phase B2: each target node v gets the new nodes that chose it. Groups [starts[g], starts[g+1]) share one
    target and level, so threads can run disjoint group ranges. The new list (the old one plus the newcomers,
    pruned by the heuristic when over capacity) goes to out[g] = [count, ids...]."""
    width = out.shape[1]
    comb_i = np.empty(width + 64, np.int32)
    comb_d = np.empty(width + 64, np.float32)
    for g in range(starts.shape[0] - 1):
        s0 = starts[g]
        s1 = starts[g + 1]
        v = tgt[s0]
        level = glevel[g]
        mmax = m0 if level == 0 else m
        # the current list of v: a node of this batch has its forward list, an older node its stored links
        pos = v - first
        if 0 <= pos < batch_pos.shape[0] and batch_pos[pos] >= 0:
            cur = fwd[batch_pos[pos], level]
        elif level == 0:
            cur = links0[v]
        else:
            cur = links_up[upper_slot[v], level - 1]
        cnt = 0
        need = cur[0] + (s1 - s0)
        if need > comb_i.shape[0]:
            comb_i = np.empty(need + 64, np.int32)
            comb_d = np.empty(need + 64, np.float32)
        for t in range(1, cur[0] + 1):
            comb_i[cnt] = cur[t]
            cnt += 1
        for e in range(s0, s1):
            u = src[e]
            dup = False
            for t in range(cnt):
                if comb_i[t] == u:
                    dup = True
                    break
            if not dup:
                comb_i[cnt] = u
                cnt += 1
        if cnt <= mmax:
            out[g, 0] = cnt
            out[g, 1 : cnt + 1] = comb_i[:cnt]
            continue
        for t in range(cnt):
            comb_d[t] = _dist(X[v], X[comb_i[t]], metric)
        order = np.argsort(comb_d[:cnt], kind="mergesort")
        _heuristic(X, comb_i[:cnt][order], comb_d[:cnt][order], cnt, mmax, metric, out[g])
    return 0


@kernel
def apply_links(nodes, levels, fwd, links0, links_up, upper_slot, tgt, starts, glevel, out):
    """Phase B3 (serial, fast): write the forward lists of the new nodes, then the merged lists of every target."""
    for j in range(nodes.shape[0]):
        u = nodes[j]
        for level in range(min(levels[j], fwd.shape[1] - 1) + 1):
            row = fwd[j, level]
            if level == 0:
                links0[u, :] = 0
                links0[u, : row[0] + 1] = row[: row[0] + 1]
            else:
                dst = links_up[upper_slot[u], level - 1]
                dst[:] = 0
                dst[: row[0] + 1] = row[: row[0] + 1]
    for g in range(starts.shape[0] - 1):
        v = tgt[starts[g]]
        level = glevel[g]
        row = out[g]
        if level == 0:
            links0[v, :] = 0
            links0[v, : row[0] + 1] = row[: row[0] + 1]
        else:
            dst = links_up[upper_slot[v], level - 1]
            dst[:] = 0
            dst[: row[0] + 1] = row[: row[0] + 1]
    return 0


# ---------------------------------------------------------------------- repair (compaction)
@kernel
def repair_level(links, rowmap, use_map, level_index, nodes, live, new_id, X, mmax, metric, visited, out):
    """For each kept node v (old id) of one level: its live neighbours, plus the live neighbours of each dead
    neighbour (so deletes do not cut paths), pruned by the heuristic to mmax, renumbered by new_id.
    links: (rows, levels, width) — level 0 as a (cap, 1, width) view. out[j] = [count, new ids...].
    visited: uint16 scratch over old rows."""
    width = mmax * (mmax + 1) + 8
    buf_i = np.empty(width, np.int32)
    buf_d = np.empty(width, np.float32)
    tmp = np.empty(mmax + 1, np.int32)
    tag = 0
    for j in range(nodes.shape[0]):
        v = nodes[j]
        tag = _next_tag(visited, tag)
        visited[v] = tag
        cnt = 0
        nb = _neighbours(links, rowmap, use_map, level_index, v)
        for t in range(1, nb[0] + 1):
            n = nb[t]
            if live[n]:
                if visited[n] != tag and cnt < width:
                    visited[n] = tag
                    buf_i[cnt] = n
                    cnt += 1
            else:
                nb2 = _neighbours(links, rowmap, use_map, level_index, n)
                for t2 in range(1, nb2[0] + 1):
                    n2 = nb2[t2]
                    if live[n2] and visited[n2] != tag and cnt < width:
                        visited[n2] = tag
                        buf_i[cnt] = n2
                        cnt += 1
        if cnt > mmax:
            for t in range(cnt):
                buf_d[t] = _dist(X[v], X[buf_i[t]], metric)
            order = np.argsort(buf_d[:cnt], kind="mergesort")
            _heuristic(X, buf_i[:cnt][order], buf_d[:cnt][order], cnt, mmax, metric, tmp)
            cnt = tmp[0]
            for t in range(cnt):
                buf_i[t] = tmp[1 + t]
        out[j, 0] = cnt
        for t in range(cnt):
            out[j, 1 + t] = new_id[buf_i[t]]
    return 0
