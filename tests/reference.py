"""Plain numpy twins of the Numba kernels: slow, obviously correct, and what the kernel tests compare against."""

from __future__ import annotations

import numpy as np


def pairwise_distances(q: np.ndarray, x: np.ndarray, metric: str) -> np.ndarray:
    """Kernel-convention distances (smaller is better): -dot for dot/cosine, squared L2 for l2; float64."""
    q = q.astype(np.float64)
    x = x.astype(np.float64)
    if metric in ("dot", "cosine"):
        return -(q @ x.T)
    return ((q[:, None, :] - x[None, :, :]) ** 2).sum(-1)


def exact_topk(q: np.ndarray, x: np.ndarray, allowed: np.ndarray, k: int, metric: str):
    """(dist, rows) of the k best allowed rows per query, ascending; padded with (+inf, -1)."""
    d = pairwise_distances(q, x, metric)
    d[:, ~allowed.astype(bool)[: x.shape[0]]] = np.inf
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    dist = np.take_along_axis(d, order, axis=1)
    rows = np.where(np.isfinite(dist), order, -1)
    if rows.shape[1] < k:
        pad = k - rows.shape[1]
        dist = np.pad(dist, ((0, 0), (0, pad)), constant_values=np.inf)
        rows = np.pad(rows, ((0, 0), (0, pad)), constant_values=-1)
    return dist, rows


# ---------------------------------------------------------------------- graph (HNSW) twins
def _d(a: np.ndarray, b: np.ndarray, metric: str) -> float:
    a = a.astype(np.float32)
    b = b.astype(np.float32)
    return float(-(a @ b)) if metric in ("dot", "cosine") else float(((a - b) ** 2).sum())


def beam_search(q, x, neighbours, entry: int, ef: int, allowed, metric: str):
    """Plain-Python HNSW layer search: neighbours(node) -> list of ids. Returns [(dist, node)] ascending of the
    ef best allowed nodes reached (traversal goes through disallowed nodes too)."""
    import heapq

    d0 = _d(q, x[entry], metric)
    visited = {entry}
    cand = [(d0, entry)]
    res = [(-d0, entry)] if allowed[entry] else []
    while cand:
        d, c = heapq.heappop(cand)
        if res and d > -res[0][0] and len(res) >= ef:
            break
        for n in neighbours(c):
            if n in visited:
                continue
            visited.add(n)
            dn = _d(q, x[n], metric)
            if len(res) < ef or dn < -res[0][0]:
                heapq.heappush(cand, (dn, n))
                if allowed[n]:
                    heapq.heappush(res, (-dn, n))
                    if len(res) > ef:
                        heapq.heappop(res)
    return sorted((-nd, n) for nd, n in res)


def two_hop_search(q, x, neighbours, entry: int, ef: int, allowed, metric: str, plain_share: float):
    """Plain-Python twin of the filtered walk (kernels/graph.py search_batch_filtered): the plain beam search when
    at least plain_share of the entry's neighbours are allowed, else a walk scoring allowed nodes only and bridging
    over a disallowed neighbour to its allowed neighbours. Returns ([(dist, node)] ascending, took_plain_walk)."""
    import heapq

    nb0 = neighbours(entry)
    if nb0 and sum(1 for n in nb0 if allowed[n]) >= plain_share * len(nb0):
        return beam_search(q, x, neighbours, entry, ef, allowed, metric), True
    d0 = _d(q, x[entry], metric)
    visited = {entry}
    cand = [(d0, entry)]
    res = [(-d0, entry)] if allowed[entry] else []

    def offer(n):
        visited.add(n)
        dn = _d(q, x[n], metric)
        if len(res) < ef or dn < -res[0][0]:
            heapq.heappush(cand, (dn, n))
            heapq.heappush(res, (-dn, n))
            if len(res) > ef:
                heapq.heappop(res)

    while cand:
        d, c = heapq.heappop(cand)
        if res and d > -res[0][0] and len(res) >= ef:
            break
        for n in neighbours(c):
            if n in visited:
                continue
            if allowed[n]:
                offer(n)
                continue
            visited.add(n)
            for n2 in neighbours(n):
                if allowed[n2] and n2 not in visited:
                    offer(n2)
    return sorted((-nd, n) for nd, n in res), False


def greedy_descent(q, x, upper_neighbours, entry: int, top: int, bottom: int, metric: str) -> int:
    """Greedy walk through levels top .. bottom+1: upper_neighbours(node, level) -> ids."""
    cur, cur_d = entry, _d(q, x[entry], metric)
    for level in range(top, bottom, -1):
        changed = True
        while changed:
            changed = False
            for n in upper_neighbours(cur, level):
                dn = _d(q, x[n], metric)
                if dn < cur_d:
                    cur, cur_d, changed = n, dn, True
    return cur


def neighbour_heuristic(x, base: int, cands: list[int], m: int, metric: str) -> list[int]:
    """HNSW's selection: candidates by distance to base; keep c unless a kept s is closer to c than base is."""
    order = sorted(cands, key=lambda c: _d(x[base], x[c], metric))
    kept: list[int] = []
    for c in order:
        if len(kept) >= m:
            break
        dc = _d(x[base], x[c], metric)
        if all(_d(x[c], x[s], metric) >= dc for s in kept):
            kept.append(c)
    return kept


# ---------------------------------------------------------------------------------------------------------------
# Drift maps (vecdb/drift): plain twin of the held-out figures computed by vecdb.drift.fit.evaluate.
# ---------------------------------------------------------------------------------------------------------------


def drift_holdout_figures(mapped: np.ndarray, target: np.ndarray, k: int = 10) -> dict:
    """Mean cosine; recall@k of the own target among all targets (ties in its favour); neighbour recall@k: overlap
    of the k nearest other targets of the mapped vector with those of the true target. Loops, float64."""
    m = mapped.astype(np.float64)
    t = target.astype(np.float64)
    m = m / np.linalg.norm(m, axis=1, keepdims=True)
    t = t / np.linalg.norm(t, axis=1, keepdims=True)
    n = len(t)
    cos = float(np.mean([m[i] @ t[i] for i in range(n)]))
    hits = 0
    overlap = 0.0
    kn = min(k, n - 1)
    for i in range(n):
        s = [float(m[i] @ t[j]) for j in range(n)]
        if sum(1 for j in range(n) if s[j] > s[i]) < min(k, n):
            hits += 1
        mine = sorted((j for j in range(n) if j != i), key=lambda j: -s[j])[:kn]
        st = [float(t[i] @ t[j]) for j in range(n)]
        true = sorted((j for j in range(n) if j != i), key=lambda j: -st[j])[:kn]
        overlap += len(set(mine) & set(true)) / kn
    return {"cosine": cos, "recall_at_10": hits / n, "neighbour_recall_at_10": overlap / n}


# ---------------------------------------------------------------------------------------------------------------
# Multi-vector (vecdb/kernels/maxsim.py, vecdb/multivector/fde.py): MaxSim, token decoders, MUVERA FDE


def maxsim_scores(q: np.ndarray, tokens: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """MaxSim of query tokens q against every document (float64); an empty document scores -inf."""
    q = q.astype(np.float64)
    out = np.full(len(offsets) - 1, -np.inf)
    for i in range(len(offsets) - 1):
        x = tokens[offsets[i] : offsets[i + 1]].astype(np.float64)
        if len(x):
            out[i] = (q @ x.T).max(axis=1).sum()
    return out


def maxsim_topk(q, tokens, offsets, allowed, k):
    """(dist = -MaxSim, docs) of the k best allowed, non-empty documents, ascending; padded with (+inf, -1)."""
    d = -maxsim_scores(q, tokens, offsets)
    d[~allowed.astype(bool)[: len(d)]] = np.inf
    order = np.argsort(d, kind="stable")[:k]
    dist = d[order]
    docs = np.where(np.isfinite(dist), order, -1)
    pad = k - len(order)
    return np.pad(dist, (0, pad), constant_values=np.inf), np.pad(docs, (0, pad), constant_values=-1)


def decode_int8(codes: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return codes.astype(np.float64) * scale


def decode_binary(bits: np.ndarray, alpha: np.ndarray, dim: int) -> np.ndarray:
    signs = np.unpackbits(bits, axis=1)[:, :dim].astype(np.float64) * 2 - 1
    return signs * alpha[:, None]


def decode_residual(codes, ids, centroids, weights, nbits: int, dim: int) -> np.ndarray:
    """Each byte holds 8 / nbits bucket numbers, the first dimension in the top bits."""
    out = np.empty((codes.shape[0], dim))
    per = 8 // nbits
    for t in range(codes.shape[0]):
        vals = []
        for byte in codes[t]:
            for u in range(per):
                vals.append((int(byte) >> (8 - nbits * (u + 1))) & ((1 << nbits) - 1))
        out[t] = centroids[ids[t]] + weights[np.array(vals[:dim])]
    return out


def fde_one(tokens: np.ndarray, simhash, projection, k_sim: int, document: bool, fill_empty: bool) -> np.ndarray:
    """MUVERA FDE of one token set, written plainly from the paper: per repetition, partition by SimHash bits,
    sum (query) or average (document) projected tokens; empty document partitions take the token whose sign
    pattern is nearest in Hamming distance (first on ties). simhash (reps, d, k_sim), projection (reps, d, p)."""
    reps = simhash.shape[0]
    p = projection.shape[2]
    nb = 2**k_sim
    x = tokens.astype(np.float64)
    out = np.zeros((reps, nb, p))
    for r in range(reps):
        bits = (x @ simhash[r].astype(np.float64)) > 0
        part = np.array([int("".join("1" if b else "0" for b in row), 2) if k_sim else 0 for row in bits])
        proj = x @ projection[r].astype(np.float64)
        for b in range(nb):
            members = np.flatnonzero(part == b)
            if len(members):
                out[r, b] = proj[members].sum(0) / (len(members) if document else 1)
            elif document and fill_empty:
                pattern = np.array([(b >> (k_sim - 1 - j)) & 1 for j in range(k_sim)], bool)
                ham = (bits != pattern).sum(1)
                out[r, b] = proj[int(np.argmin(ham))]
    return out.reshape(-1)


def chamfer(q: np.ndarray, x: np.ndarray) -> float:
    """Chamfer similarity = MaxSim: sum over q of the best dot product with x."""
    return float((q.astype(np.float64) @ x.astype(np.float64).T).max(1).sum())


# ---------------------------------------------------------------------------------------------------------------
# Compression twins (kernels/binary.py, kernels/pq.py, kernels/scalar.py): bit codes are unpacked to 0/1 arrays
# and every distance is computed from its definition, in float64.
# ---------------------------------------------------------------------------------------------------------------


def unpack_words(codes: np.ndarray) -> np.ndarray:
    """(n, W) uint64 -> (n, 64 W) 0/1 uint8, bit t of word w at column 64 w + t."""
    codes = np.asarray(codes, dtype=np.uint64)
    shifts = np.arange(64, dtype=np.uint64)
    bits = (codes[:, :, None] >> shifts[None, None, :]) & np.uint64(1)
    return bits.reshape(codes.shape[0], -1).astype(np.uint8)


def hamming_matrix(q_codes: np.ndarray, x_codes: np.ndarray) -> np.ndarray:
    """Number of differing bits between every query code and every row code: (nq, n) float64."""
    qb = unpack_words(q_codes).astype(np.int64)
    xb = unpack_words(x_codes).astype(np.int64)
    return (qb[:, None, :] != xb[None, :, :]).sum(-1).astype(np.float64)


def weighted_hamming_matrix(q_codes: np.ndarray, x_codes: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """sum_ij weights[i, j] * hamming(query plane i, row plane j), planes of equal word count laid end to end."""
    pq_, px = weights.shape
    nw = q_codes.shape[1] // pq_
    out = np.zeros((q_codes.shape[0], x_codes.shape[0]))
    for i in range(pq_):
        for j in range(px):
            h = hamming_matrix(q_codes[:, i * nw : (i + 1) * nw], x_codes[:, j * nw : (j + 1) * nw])
            out += float(weights[i, j]) * h
    return out


def asymmetric_matrix(q: np.ndarray, x_codes: np.ndarray, plane_weights: np.ndarray) -> np.ndarray:
    """-sum_j a_j <q, 2 b_j - 1> with b_j the row's plane j bits (first q.shape[1] bits of the plane)."""
    d = q.shape[1]
    p = len(plane_weights)
    nw = x_codes.shape[1] // p
    out = np.zeros((q.shape[0], x_codes.shape[0]))
    for j in range(p):
        signs = 2.0 * unpack_words(x_codes[:, j * nw : (j + 1) * nw])[:, :d] - 1.0
        out -= float(plane_weights[j]) * (q.astype(np.float64) @ signs.T)
    return out


def adc_matrix(q: np.ndarray, codebooks: np.ndarray, codes: np.ndarray, metric: str) -> np.ndarray:
    """Distance of each query to each PQ reconstruction (codebooks (M, K, dsub), codes (n, M))."""
    m, _, dsub = codebooks.shape
    recon = np.concatenate([codebooks[j][codes[:, j]] for j in range(m)], axis=1).astype(np.float64)
    return pairwise_distances(q, recon, metric)


def int8_matrix(q: np.ndarray, codes: np.ndarray, offset: np.ndarray, scale: np.ndarray, metric: str) -> np.ndarray:
    """Distance of each query to each int8 reconstruction offset + scale * code."""
    recon = offset.astype(np.float64) + scale.astype(np.float64) * codes.astype(np.float64)
    return pairwise_distances(q, recon, metric)


def topk_from_matrix(d: np.ndarray, allowed: np.ndarray, k: int):
    """(dist, rows) of the k smallest allowed entries per row of a distance matrix, padded (+inf, -1)."""
    d = np.array(d, dtype=np.float64)
    d[:, ~allowed.astype(bool)[: d.shape[1]]] = np.inf
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    dist = np.take_along_axis(d, order, axis=1)
    rows = np.where(np.isfinite(dist), order, -1)
    if rows.shape[1] < k:
        pad = k - rows.shape[1]
        dist = np.pad(dist, ((0, 0), (0, pad)), constant_values=np.inf)
        rows = np.pad(rows, ((0, 0), (0, pad)), constant_values=-1)
    return dist, rows


def two_stage_one(
    q: np.ndarray, x: np.ndarray, approx: np.ndarray, allowed: np.ndarray, n_cand: int, k: int, metric: str
):
    """Twin of the sign single-query kernels: the n_cand allowed rows with the smallest approximate distance
    (approx: one per row; ties by row), rescored exactly; the k best by (exact distance, row). q: prepared (unit
    length for cosine). Returns (rows, distances) of up to k."""
    a = np.where(allowed != 0, approx.astype(np.float64), np.inf)
    cand = np.lexsort((np.arange(x.shape[0]), a))[:n_cand]
    cand = cand[np.isfinite(a[cand])]
    exact = ((x[cand] - q) ** 2).sum(1) if metric == "l2" else -(x[cand] @ q)
    best = np.lexsort((cand, exact))[:k]
    return cand[best], exact[best]
