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
