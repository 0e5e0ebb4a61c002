"""HNSW graph kernels: layer search, batch queries, and the two phases of a batch insert.

Layout (all int32): level-0 links `links0[node] = [degree, n_1 .. n_M0]`; upper levels live in slots
`links_up[slot, level - 1] = [degree, n_1 .. n_M]`, with `upper_slot[node]` the slot of a node of level >= 1
(-1 otherwise). Distances follow the dense kernels: -dot for dot/cosine (unit vectors), squared L2 for l2.

Readers may run while a writer extends the graph: neighbours >= n_visible (rows of later snapshots) are skipped.
"""

from __future__ import annotations

import numpy as np

from ..jit import inline_helper, kernel
from ._intrinsics import prefetch_row
from .topk import heap_sift_top


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


# ---------------------------------------------------------------------- heaps (arrays + explicit size)
@inline_helper
def _min_push(hd, hi, size, d, i):
    pos = size
    while pos > 0:
        parent = (pos - 1) >> 1
        if hd[parent] <= d:
            break
        hd[pos] = hd[parent]
        hi[pos] = hi[parent]
        pos = parent
    hd[pos] = d
    hi[pos] = i
    return size + 1


@inline_helper
def _min_pop(hd, hi, size):
    # removes the root; caller reads hd[0], hi[0] before calling
    size -= 1
    d = hd[size]
    i = hi[size]
    pos = 0
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        if child + 1 < size and hd[child + 1] < hd[child]:
            child += 1
        if hd[child] >= d:
            break
        hd[pos] = hd[child]
        hi[pos] = hi[child]
        pos = child
    if size > 0:
        hd[pos] = d
        hi[pos] = i
    return size


@inline_helper
def _max_push(hd, hi, size, d, i):
    pos = size
    while pos > 0:
        parent = (pos - 1) >> 1
        if hd[parent] >= d:
            break
        hd[pos] = hd[parent]
        hi[pos] = hi[parent]
        pos = parent
    hd[pos] = d
    hi[pos] = i
    return size + 1


@inline_helper
def _max_pop(hd, hi, size):
    # removing the root of a max-heap = replacing it by the last element
    size -= 1
    if size > 0:
        heap_sift_top(hd, hi, size, hd[size], hi[size])
    return size


@inline_helper
def _max_keep(hd, hi, size, cap, d, i):
    """Add (d, i) to a max-heap holding at most cap entries; when full, (d, i) must beat the root (callers test
    d < root), which it then replaces: one sift-down instead of a push and a pop. Returns the new size."""
    if size < cap:
        return _max_push(hd, hi, size, d, i)
    heap_sift_top(hd, hi, size, d, i)
    return size


@inline_helper
def _emit(res_d, res_i, nr, k, out_d, out_i, qi):
    # the k best of the max-heap res[:nr] into out row qi, ascending: pop worst first, fill from the back
    while nr > k:
        nr = _max_pop(res_d, res_i, nr)
    for pos in range(nr - 1, -1, -1):
        out_d[qi, pos] = res_d[0]
        out_i[qi, pos] = res_i[0]
        nr = _max_pop(res_d, res_i, nr)


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
def _search_layer(
    q,
    X,
    links,
    rowmap,
    use_map,
    level_index,
    entry,
    entry_d,
    ef,
    visited,
    tag,
    allowed,
    n_visible,
    metric,
    cand_d,
    cand_i,
    res_d,
    res_i,
):
    """Beam search of width ef in one layer. Returns (n_results, distances computed); results are the max-heap
    res_d/res_i[:n] of allowed nodes only, while traversal goes through every node (so filters and tombstones
    never disconnect the walk)."""
    nc = 0
    nr = 0
    ndist = 0
    visited[entry] = tag
    nc = _min_push(cand_d, cand_i, nc, entry_d, entry)
    if allowed[entry]:
        nr = _max_push(res_d, res_i, nr, entry_d, entry)
    bound = res_d[0] if nr > 0 else np.inf
    while nc > 0:
        cd = cand_d[0]
        c = cand_i[0]
        if cd > bound and nr >= ef:
            break
        nc = _min_pop(cand_d, cand_i, nc)
        if nc > 0:  # the next node to expand: fetch its links while this one's neighbours are scored
            prefetch_row(links, cand_i[0] if not use_map else rowmap[cand_i[0]])
        nb = _neighbours(links, rowmap, use_map, level_index, c)
        deg = nb[0]
        for t in range(1, deg + 1):  # start loading every unseen neighbour's vector before scoring any
            n = nb[t]
            if n < n_visible and visited[n] != tag:
                prefetch_row(X, n)
        for t in range(1, deg + 1):
            n = nb[t]
            if n >= n_visible or visited[n] == tag:
                continue
            visited[n] = tag
            d = _dist(q, X[n], metric)
            ndist += 1
            if nr < ef or d < bound:
                if nc >= cand_d.shape[0]:
                    continue  # candidate buffer full: drop (bounded memory; buffer is sized generously)
                nc = _min_push(cand_d, cand_i, nc, d, n)
                if allowed[n]:
                    nr = _max_keep(res_d, res_i, nr, ef, d, n)
                if nr > 0:
                    bound = res_d[0]
    return nr, ndist


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


@kernel
def search_batch(
    Q,
    X,
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
    """k-NN of each query (k = out_d.shape[1]); fills out_d/out_i ascending (+inf/-1 padding).
    Returns the last visited tag (the caller keeps it with the visited array)."""
    nq = Q.shape[0]
    k = out_d.shape[1]
    width = max(ef, k)
    cap = width * 4 + 64
    cand_d = np.empty(cap, np.float32)
    cand_i = np.empty(cap, np.int32)
    res_d = np.empty(width + 1, np.float32)
    res_i = np.empty(width + 1, np.int32)
    dummy_map = np.empty(0, np.int32)
    l0 = _as3d(links0)
    for qi in range(nq):
        q = Q[qi]
        out_d[qi, :] = np.inf
        out_i[qi, :] = -1
        if ep < 0:
            ndist_out[qi] = 0
            continue
        tag = _next_tag(visited, tag)
        d0 = _dist(q, X[ep], metric)
        node, node_d, nd = _greedy(q, X, links_up, upper_slot, ep, d0, max_level, 0, n_visible, metric)
        nr, nd2 = _search_layer(
            q,
            X,
            l0,
            dummy_map,
            False,
            0,
            node,
            node_d,
            width,
            visited,
            tag,
            allowed,
            n_visible,
            metric,
            cand_d,
            cand_i,
            res_d,
            res_i,
        )
        ndist_out[qi] = nd + nd2 + 1
        _emit(res_d, res_i, nr, k, out_d, out_i, qi)
    return tag


# ---------------------------------------------------------------------- filtered search (ACORN-style)
@inline_helper
def _try_node(q, X, n, metric, visited, tag, allowed, ef, nc, nr, bound, cand_d, cand_i, res_d, res_i, ndist):
    visited[n] = tag
    d = _dist(q, X[n], metric)
    ndist += 1
    if nr < ef or d < bound:
        if nc < cand_d.shape[0]:
            nc = _min_push(cand_d, cand_i, nc, d, n)
        nr = _max_keep(res_d, res_i, nr, ef, d, n)
        bound = res_d[0]
    return nc, nr, bound, ndist


@kernel
def search_batch_filtered(
    Q,
    X,
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
    walk_out[qi] = 1 (0: two-hop walk). plain_share > 1 turns this off."""
    nq = Q.shape[0]
    k = out_d.shape[1]
    width = max(ef, k)
    cap = width * 8 + 256
    cand_d = np.empty(cap, np.float32)
    cand_i = np.empty(cap, np.int32)
    res_d = np.empty(width + 1, np.float32)
    res_i = np.empty(width + 1, np.int32)
    dummy_map = np.empty(0, np.int32)
    l0 = _as3d(links0)
    for qi in range(nq):
        q = Q[qi]
        out_d[qi, :] = np.inf
        out_i[qi, :] = -1
        ndist_out[qi] = 0
        if ep < 0:
            continue
        tag = _next_tag(visited, tag)
        d0 = _dist(q, X[ep], metric)
        node, node_d, nd = _greedy(q, X, links_up, upper_slot, ep, d0, max_level, 0, n_visible, metric)
        nd += 1
        walk_out[qi] = 0
        nb0 = links0[node]
        local = 0
        for t in range(1, nb0[0] + 1):
            if nb0[t] < n_visible and allowed[nb0[t]]:
                local += 1
        if nb0[0] > 0 and local >= plain_share * nb0[0]:
            walk_out[qi] = 1
            nr, nd2 = _search_layer(q, X, l0, dummy_map, False, 0, node, node_d, width, visited, tag, allowed,
                                    n_visible, metric, cand_d, cand_i, res_d, res_i)  # fmt: skip
            ndist_out[qi] = nd + nd2
            _emit(res_d, res_i, nr, k, out_d, out_i, qi)
            continue
        nc = 0
        nr = 0
        visited[node] = tag
        nc = _min_push(cand_d, cand_i, nc, node_d, node)  # the entry seeds the walk even if filtered out
        if allowed[node]:
            nr = _max_push(res_d, res_i, nr, node_d, node)
        bound = res_d[0] if nr > 0 else np.inf
        while nc > 0:
            cd = cand_d[0]
            c = cand_i[0]
            if cd > bound and nr >= width:
                break
            nc = _min_pop(cand_d, cand_i, nc)
            if nc > 0:  # the next node to expand: fetch its links while this one's neighbours are scored
                prefetch_row(links0, cand_i[0])
            nb = links0[c]
            for t in range(1, nb[0] + 1):  # start loading what this expansion will read: vectors or bridges' links
                n = nb[t]
                if n < n_visible and visited[n] != tag:
                    if allowed[n]:
                        prefetch_row(X, n)
                    else:
                        prefetch_row(links0, n)
            for t in range(1, nb[0] + 1):
                n = nb[t]
                if n >= n_visible or visited[n] == tag:
                    continue
                if allowed[n]:
                    nc, nr, bound, nd = _try_node(
                        q, X, n, metric, visited, tag, allowed, width, nc, nr, bound, cand_d, cand_i, res_d, res_i, nd
                    )
                else:
                    visited[n] = tag  # bridge through it once, never score it
                    nb2 = links0[n]
                    for t2 in range(1, nb2[0] + 1):
                        n2 = nb2[t2]
                        if n2 < n_visible and allowed[n2] and visited[n2] != tag:
                            nc, nr, bound, nd = _try_node(
                                q,
                                X,
                                n2,
                                metric,
                                visited,
                                tag,
                                allowed,
                                width,
                                nc,
                                nr,
                                bound,
                                cand_d,
                                cand_i,
                                res_d,
                                res_i,
                                nd,
                            )
        ndist_out[qi] = nd
        _emit(res_d, res_i, nr, k, out_d, out_i, qi)
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
    cap = efc * 4 + 64
    cand_d = np.empty(cap, np.float32)
    cand_i = np.empty(cap, np.int32)
    res_d = np.empty(efc + 1, np.float32)
    res_i = np.empty(efc + 1, np.int32)
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
                nr, _ = _search_layer(
                    q,
                    X,
                    l0,
                    dummy_map,
                    False,
                    0,
                    cur,
                    cur_d,
                    efc,
                    visited,
                    tag,
                    everyone,
                    n_visible,
                    metric,
                    cand_d,
                    cand_i,
                    res_d,
                    res_i,
                )
            else:
                nr, _ = _search_layer(
                    q,
                    X,
                    links_up,
                    upper_slot,
                    True,
                    level - 1,
                    cur,
                    cur_d,
                    efc,
                    visited,
                    tag,
                    everyone,
                    n_visible,
                    metric,
                    cand_d,
                    cand_i,
                    res_d,
                    res_i,
                )
            cand_n_out[j, level] = nr
            for pos in range(nr - 1, -1, -1):  # max-heap pops worst first: fill from the back
                cand_d_out[j, level, pos] = res_d[0]
                cand_i_out[j, level, pos] = res_i[0]
                nr = _max_pop(res_d, res_i, nr)
            if cand_n_out[j, level] > 0:  # the nearest found is the entry of the level below
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
    fwd: (B, n_levels, m + 1); threads write disjoint [lo, hi) rows."""
    b = nodes.shape[0]
    n_levels = cand_n.shape[1]
    buf_d = np.empty(efc + b, np.float32)
    buf_i = np.empty(efc + b, np.int32)
    for j in range(lo, hi):
        u = nodes[j]
        fwd[j, :, 0] = 0
        for level in range(min(levels[j], n_levels - 1) + 1):
            cnt = cand_n[j, level]
            buf_d[:cnt] = cand_d[j, level, :cnt]
            buf_i[:cnt] = cand_i[j, level, :cnt]
            for w in range(b):
                if w != j and levels[w] >= level:
                    buf_d[cnt] = _dist(X[u], X[nodes[w]], metric)
                    buf_i[cnt] = nodes[w]
                    cnt += 1
            order = np.argsort(buf_d[:cnt], kind="mergesort")[:efc]
            _heuristic(X, buf_i[order], buf_d[order], order.shape[0], m, metric, fwd[j, level])
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
