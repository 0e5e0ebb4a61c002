"""Exact distances of each query to its own candidate rows (the rescoring step after a search on codes).

out[q, j] = distance(Q[q], V[idx[q, j]]), +inf where idx[q, j] < 0 (padding). Same conventions as kernels/dense:
-<q, x> for dot / cosine (unit vectors), squared L2 for l2.

rescore_in_blocks is the engine's rescoring: it reads each candidate's row where it lies, in the LMDB blocks of the
float column (their addresses in the memory map, one per block), and keeps the k best per query; no copy of the
candidates, no Python call per block.
"""

from __future__ import annotations

import numpy as np
from numba import carray

from .._threads import fan_out, n_threads
from ..errors import InvalidArgument
from ..jit import inline_helper, kernel
from ._intrinsics import f32_pointer, prefetch_address
from ._parallel import PARALLEL_MIN_WORK
from .dense import METRIC_CODE
from .topk import heap_push_lex, new_heaps, sort_heaps

PREFETCH_AHEAD = 4  # candidates ahead whose rows are requested
PREFETCH_LINES = 8  # cache lines requested of each (the hardware streams the rest of a long row)


@inline_helper
def _neg_dot(q, x, d):
    s = np.float32(0.0)
    for t in range(d):
        s += q[t] * x[t]
    return -s


@inline_helper
def _sq_l2(q, x, d):
    s = np.float32(0.0)
    for t in range(d):
        u = q[t] - x[t]
        s += u * u
    return s


@kernel
def _gathered_dot(Q, V, idx, out):
    nq, d = Q.shape
    for qi in range(nq):
        q = Q[qi]
        for j in range(idx.shape[1]):
            r = idx[qi, j]
            out[qi, j] = np.inf if r < 0 else _neg_dot(q, V[r], d)


@kernel
def _gathered_l2(Q, V, idx, out):
    nq, d = Q.shape
    for qi in range(nq):
        q = Q[qi]
        for j in range(idx.shape[1]):
            r = idx[qi, j]
            out[qi, j] = np.inf if r < 0 else _sq_l2(q, V[r], d)


@inline_helper
def _row_address(addrs, block_rows, row_bytes, r):
    b = r // block_rows
    return addrs[b] + (r - b * block_rows) * row_bytes


@inline_helper
def _prefetch_row(addrs, block_rows, row_bytes, r, lines):
    # ask for the first `lines` cache lines of row r (none for -1)
    if r >= 0:
        a = _row_address(addrs, block_rows, row_bytes, r)
        for u in range(lines):
            prefetch_address(a + 64 * u)


@inline_helper
def rescore_rows(q, addrs, block_rows, cand, m, l2, hd, hi):
    """Offer the exact distances of q to rows cand[:m] (-1 = none) to the (distance, row) heap hd / hi. Row r is
    float32[d] at addrs[r // block_rows] + (r % block_rows) * 4d; the rows PREFETCH_AHEAD places ahead are asked
    for while one is scored (candidate rows are random reads: latency, not arithmetic, is their cost)."""
    d = q.shape[0]
    row_bytes = 4 * d
    lines = min((row_bytes + 63) // 64, PREFETCH_LINES)
    for j in range(min(PREFETCH_AHEAD, m)):
        _prefetch_row(addrs, block_rows, row_bytes, cand[j], lines)
    for j in range(m):
        if j + PREFETCH_AHEAD < m:
            _prefetch_row(addrs, block_rows, row_bytes, cand[j + PREFETCH_AHEAD], lines)
        r = cand[j]
        if r < 0:
            continue
        x = carray(f32_pointer(_row_address(addrs, block_rows, row_bytes, r)), (d,))
        heap_push_lex(hd, hi, _sq_l2(q, x, d) if l2 else _neg_dot(q, x, d), r)


@kernel
def _rescore_in_blocks(Q, addrs, block_rows, cand, l2, hd, hi):
    for qi in range(Q.shape[0]):
        rescore_rows(Q[qi], addrs, block_rows, cand[qi], cand.shape[1], l2, hd[qi], hi[qi])


def rescore_in_blocks(
    q: np.ndarray, cand: np.ndarray, addrs: np.ndarray, block_rows: int, metric: str, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The k best of each query's candidate rows by exact distance: (dist, rows), each (nq, k), ascending, ties by
    row, padded (+inf, -1). The same result as rescore() over the same candidates. Trusted inputs (the engine's
    search path): q checked C-contiguous float32 (nq, d); cand int64 (nq, c), every row >= 0 below the rows the
    blocks hold, or -1; addrs the int64 addresses of the column's blocks of block_rows rows each, valid (the
    snapshot that read them is open) for the whole call."""
    hd, hi = new_heaps(q.shape[0], k)
    if cand.size:
        _rescore_in_blocks(q, addrs, block_rows, cand, METRIC_CODE[metric] == 1, hd, hi)
    return sort_heaps(hd, hi)


def gathered_distances(queries: np.ndarray, vectors: np.ndarray, idx: np.ndarray, metric: str) -> np.ndarray:
    """(nq, c) float32 distances of query q to vectors[idx[q, j]]; idx < 0 gives +inf."""
    q = np.ascontiguousarray(queries, dtype=np.float32)
    v = np.ascontiguousarray(vectors, dtype=np.float32)
    idx = np.ascontiguousarray(idx, dtype=np.int64)
    if q.ndim != 2 or v.ndim != 2 or q.shape[1] != v.shape[1]:
        raise InvalidArgument(f"queries {q.shape} and vectors {v.shape} must be 2-D with the same dimension")
    if idx.ndim != 2 or idx.shape[0] != q.shape[0]:
        raise InvalidArgument(f"candidate rows must be (nq={q.shape[0]}, c), got shape {idx.shape}")
    if idx.size and idx.max() >= v.shape[0]:
        raise InvalidArgument(f"candidate row {int(idx.max())} is out of range [0, {v.shape[0]})")
    if not np.isfinite(q).all():
        raise InvalidArgument("queries contain NaN or infinity")
    try:
        code = METRIC_CODE[metric]
    except KeyError:
        raise InvalidArgument(f"unknown metric {metric!r}") from None
    out = np.empty(idx.shape, np.float32)
    if out.size == 0:
        return out
    return gathered_into(q, v, idx, metric, out, code)


def gathered_into(q: np.ndarray, v: np.ndarray, idx: np.ndarray, metric: str, out: np.ndarray, code=None):
    """gathered_distances without the checks, into out (callers pass checked, C-contiguous float32 q and v,
    int64 idx in range): the rescoring step of a search, where the inputs were validated upstream."""
    code = METRIC_CODE[metric] if code is None else code
    fn = _gathered_l2 if code == 1 else _gathered_dot
    threads = min(n_threads(), q.shape[0])
    if threads <= 1 or out.size * q.shape[1] < PARALLEL_MIN_WORK:
        fn(q, v, idx, out)
    else:  # query chunks write disjoint rows of `out`
        chunks = np.array_split(np.arange(q.shape[0]), threads)
        fan_out(
            lambda c: fn(q[c[0] : c[-1] + 1], v, idx[c[0] : c[-1] + 1], out[c[0] : c[-1] + 1]), [(c,) for c in chunks]
        )
    return out
