"""Exact dense scoring with fused top-k: dot / cosine (on normalised vectors) / squared L2.

Kernels work on distances where smaller is better: dot and cosine use -<q, x>, l2 uses ||q - x||^2.
Four queries share each loaded row (register blocking), which is what lets a plain loop keep up with BLAS when
the top-k selection is counted too (see benchmarks/exact.py).
"""

from __future__ import annotations

import numpy as np

from .._threads import fan_out, n_threads
from ..errors import InvalidArgument
from ..jit import kernel
from ._parallel import PARALLEL_MIN_WORK, _balanced_groups
from .topk import heap_replace_top, merge_heaps, new_heaps, sort_heaps

METRIC_CODE = {"dot": 0, "cosine": 0, "l2": 1}


@kernel
def _scan_dot(Q, X, row0, allowed, hd, hi):
    nq, d = Q.shape
    nb = X.shape[0]
    q4 = nq - nq % 4
    for qi in range(0, q4, 4):
        a = Q[qi]
        b = Q[qi + 1]
        c = Q[qi + 2]
        e = Q[qi + 3]
        w0 = hd[qi, 0]
        w1 = hd[qi + 1, 0]
        w2 = hd[qi + 2, 0]
        w3 = hd[qi + 3, 0]
        for r in range(nb):
            if allowed[row0 + r] == 0:
                continue
            x = X[r]
            s0 = np.float32(0.0)
            s1 = np.float32(0.0)
            s2 = np.float32(0.0)
            s3 = np.float32(0.0)
            for j in range(d):
                xj = x[j]
                s0 += a[j] * xj
                s1 += b[j] * xj
                s2 += c[j] * xj
                s3 += e[j] * xj
            if -s0 < w0:
                heap_replace_top(hd[qi], hi[qi], -s0, row0 + r)
                w0 = hd[qi, 0]
            if -s1 < w1:
                heap_replace_top(hd[qi + 1], hi[qi + 1], -s1, row0 + r)
                w1 = hd[qi + 1, 0]
            if -s2 < w2:
                heap_replace_top(hd[qi + 2], hi[qi + 2], -s2, row0 + r)
                w2 = hd[qi + 2, 0]
            if -s3 < w3:
                heap_replace_top(hd[qi + 3], hi[qi + 3], -s3, row0 + r)
                w3 = hd[qi + 3, 0]
    for qi in range(q4, nq):
        q = Q[qi]
        w = hd[qi, 0]
        for r in range(nb):
            if allowed[row0 + r] == 0:
                continue
            x = X[r]
            s = np.float32(0.0)
            for j in range(d):
                s += q[j] * x[j]
            if -s < w:
                heap_replace_top(hd[qi], hi[qi], -s, row0 + r)
                w = hd[qi, 0]


@kernel
def _scan_l2(Q, X, row0, allowed, hd, hi):
    nq, d = Q.shape
    nb = X.shape[0]
    q4 = nq - nq % 4
    for qi in range(0, q4, 4):
        a = Q[qi]
        b = Q[qi + 1]
        c = Q[qi + 2]
        e = Q[qi + 3]
        w0 = hd[qi, 0]
        w1 = hd[qi + 1, 0]
        w2 = hd[qi + 2, 0]
        w3 = hd[qi + 3, 0]
        for r in range(nb):
            if allowed[row0 + r] == 0:
                continue
            x = X[r]
            s0 = np.float32(0.0)
            s1 = np.float32(0.0)
            s2 = np.float32(0.0)
            s3 = np.float32(0.0)
            for j in range(d):
                xj = x[j]
                t0 = a[j] - xj
                t1 = b[j] - xj
                t2 = c[j] - xj
                t3 = e[j] - xj
                s0 += t0 * t0
                s1 += t1 * t1
                s2 += t2 * t2
                s3 += t3 * t3
            if s0 < w0:
                heap_replace_top(hd[qi], hi[qi], s0, row0 + r)
                w0 = hd[qi, 0]
            if s1 < w1:
                heap_replace_top(hd[qi + 1], hi[qi + 1], s1, row0 + r)
                w1 = hd[qi + 1, 0]
            if s2 < w2:
                heap_replace_top(hd[qi + 2], hi[qi + 2], s2, row0 + r)
                w2 = hd[qi + 2, 0]
            if s3 < w3:
                heap_replace_top(hd[qi + 3], hi[qi + 3], s3, row0 + r)
                w3 = hd[qi + 3, 0]
    for qi in range(q4, nq):
        q = Q[qi]
        w = hd[qi, 0]
        for r in range(nb):
            if allowed[row0 + r] == 0:
                continue
            x = X[r]
            s = np.float32(0.0)
            for j in range(d):
                t = q[j] - x[j]
                s += t * t
            if s < w:
                heap_replace_top(hd[qi], hi[qi], s, row0 + r)
                w = hd[qi, 0]


@kernel
def _distances_dot(Q, X, rows, out):
    # Scores of selected rows only (rescoring, graph search, rows of a filter): out[q, j] = -<Q[q], X[rows[j]]>.
    nq, d = Q.shape
    for qi in range(nq):
        for j in range(rows.shape[0]):
            x = X[rows[j]]
            s = np.float32(0.0)
            for t in range(d):
                s += Q[qi, t] * x[t]
            out[qi, j] = -s


@kernel
def _distances_l2(Q, X, rows, out):
    nq, d = Q.shape
    for qi in range(nq):
        for j in range(rows.shape[0]):
            x = X[rows[j]]
            s = np.float32(0.0)
            for t in range(d):
                u = Q[qi, t] - x[t]
                s += u * u
            out[qi, j] = s


_SCANS = {0: _scan_dot, 1: _scan_l2}
_DISTANCES = {0: _distances_dot, 1: _distances_l2}


def _metric_code(metric: str) -> int:
    try:
        return METRIC_CODE[metric]
    except KeyError:
        raise InvalidArgument(f"unknown metric {metric!r}") from None


def scan_topk(
    queries: np.ndarray,
    blocks: list[tuple[int, np.ndarray]],
    allowed: np.ndarray,
    k: int,
    metric: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k of each query over row blocks.

    queries: (nq, d) float32, already normalised for cosine. blocks: (first_row, (n, d) float32 view) pairs, e.g.
    zero-copy views of LMDB pages. allowed: uint8 per global row (0 = tombstoned or filtered out).
    Returns (dist, rows), each (nq, k), ascending by distance; rows are -1 (dist +inf) where fewer than k allowed.
    """
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if queries.ndim != 2:
        raise InvalidArgument(f"queries must be a 2-D array, got shape {queries.shape}")
    if k < 1:
        raise InvalidArgument(f"k must be >= 1, got {k}")
    allowed = np.ascontiguousarray(allowed, dtype=np.uint8)
    for row0, x in blocks:
        if x.ndim != 2 or x.shape[1] != queries.shape[1]:
            raise InvalidArgument(f"block at row {row0} has shape {x.shape}, queries have dim {queries.shape[1]}")
        if row0 + x.shape[0] > allowed.shape[0]:
            raise InvalidArgument("allowed mask is shorter than the rows it must cover")
    scan = _SCANS[_metric_code(metric)]
    nq = queries.shape[0]
    total_rows = sum(x.shape[0] for _, x in blocks)
    threads = n_threads()
    work = nq * total_rows * queries.shape[1]

    def run(qs: np.ndarray, part: list[tuple[int, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        hd, hi = new_heaps(qs.shape[0], k)
        for row0, x in part:
            if x.shape[0]:
                scan(qs, x, row0, allowed, hd, hi)
        return hd, hi

    if threads <= 1 or work < PARALLEL_MIN_WORK or nq == 0:
        hd, hi = run(queries, blocks)
    elif len(blocks) >= threads:
        hd, hi = merge_heaps(fan_out(run, [(queries, g) for g in _balanced_groups(blocks, threads)]))
    else:
        chunks = np.array_split(np.arange(nq), min(threads, nq))
        parts = fan_out(run, [(queries[c], blocks) for c in chunks])
        hd = np.concatenate([p[0] for p in parts])
        hi = np.concatenate([p[1] for p in parts])
    return sort_heaps(hd, hi)


def distances(queries: np.ndarray, x: np.ndarray, rows: np.ndarray, metric: str) -> np.ndarray:
    """Distances (smaller is better) of each query to the selected rows of x: (nq, len(rows)) float32."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    if rows.size and (rows.min() < 0 or rows.max() >= x.shape[0]):
        raise InvalidArgument("row index out of range")
    out = np.empty((queries.shape[0], rows.shape[0]), np.float32)
    _DISTANCES[_metric_code(metric)](queries, x, rows, out)
    return out


def to_scores(dist: np.ndarray, metric: str) -> np.ndarray:
    """Kernel distances -> user-facing scores: similarity for dot/cosine (higher is better), Euclidean distance
    for l2 (lower is better)."""
    if metric == "l2":  # sums of squares: never negative, +inf padding stays +inf
        return np.sqrt(dist)
    return -dist


@kernel
def _rows_topk(Q, X, rows, metric, hd, hi):
    # fused top-k over a given list of rows (a selective filter's matches): distances only where needed
    nq, d = Q.shape
    for qi in range(nq):
        q = Q[qi]
        w = hd[qi, 0]
        for j in range(rows.shape[0]):
            r = rows[j]
            x = X[r]
            s = np.float32(0.0)
            if metric == 0:
                for t in range(d):
                    s += q[t] * x[t]
                s = -s
            else:
                for t in range(d):
                    u = q[t] - x[t]
                    s += u * u
            if s < w:
                heap_replace_top(hd[qi], hi[qi], s, r)
                w = hd[qi, 0]


def rows_topk(
    queries: np.ndarray, x: np.ndarray, rows: np.ndarray, k: int, metric: str
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k of each query among the given rows of x (ascending; -1/+inf padding)."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    if k < 1:
        raise InvalidArgument(f"k must be >= 1, got {k}")
    if rows.size and (rows.min() < 0 or rows.max() >= x.shape[0]):
        raise InvalidArgument("row index out of range")
    hd, hi = new_heaps(queries.shape[0], k)
    if rows.size and queries.shape[0]:
        threads = n_threads()
        if threads > 1 and queries.shape[0] * rows.size * queries.shape[1] >= PARALLEL_MIN_WORK:
            parts = fan_out(_rows_part, [(queries, x, part, metric, k) for part in np.array_split(rows, threads)])
            hd, hi = merge_heaps(parts)
        else:
            _rows_topk(queries, x, rows, _metric_code(metric), hd, hi)
    return sort_heaps(hd, hi)


def _rows_part(queries, x, rows, metric, k):
    hd, hi = new_heaps(queries.shape[0], k)
    _rows_topk(queries, x, rows, _metric_code(metric), hd, hi)
    return hd, hi
