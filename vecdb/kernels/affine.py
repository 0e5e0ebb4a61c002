"""Small affine maps out = Q W + b for a few query vectors (drift maps at query time).

For one query, BLAS sgemv is not the fastest path: OpenBLAS splits a 384 x 384 matvec over its threads, which on
a busy server costs more than the arithmetic (measured 30-60 us under load against ~3 us here, see
benchmarks/drift.py). This kernel is single-threaded and nogil, so concurrent searches each map their own query
without contending for BLAS threads. Four queries share each loaded row of W (as in kernels/dense.py); the inner
loop runs over contiguous output columns, which Numba vectorises. Large batches go to BLAS (`affine` decides).
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidArgument
from ..jit import kernel

# Above this many queries one BLAS sgemm call beats the per-query kernel (measured on 384 x 384).
BLAS_MIN_QUERIES = 32


@kernel
def _affine(Q, W, b, out):
    n, d_in = Q.shape
    d_out = W.shape[1]
    n4 = n - n % 4
    for i in range(0, n4, 4):
        o0 = out[i]
        o1 = out[i + 1]
        o2 = out[i + 2]
        o3 = out[i + 3]
        for j in range(d_out):
            o0[j] = b[j]
            o1[j] = b[j]
            o2[j] = b[j]
            o3[j] = b[j]
        for t in range(d_in):
            w = W[t]
            a0 = Q[i, t]
            a1 = Q[i + 1, t]
            a2 = Q[i + 2, t]
            a3 = Q[i + 3, t]
            for j in range(d_out):
                wj = w[j]
                o0[j] += a0 * wj
                o1[j] += a1 * wj
                o2[j] += a2 * wj
                o3[j] += a3 * wj
    for i in range(n4, n):
        o = out[i]
        for j in range(d_out):
            o[j] = b[j]
        for t in range(d_in):
            w = W[t]
            a = Q[i, t]
            for j in range(d_out):
                o[j] += a * w[j]


def affine(queries: np.ndarray, W: np.ndarray, b: np.ndarray | None = None, *, check_finite: bool = True) -> np.ndarray:
    """queries (n, d_in) @ W (d_in, d_out) + b (d_out,): float32 (n, d_out). b=None adds nothing.

    check_finite=False skips the NaN/inf check of the queries for callers that validated them already."""
    Q = np.ascontiguousarray(queries, dtype=np.float32)
    W = np.ascontiguousarray(W, dtype=np.float32)
    if Q.ndim != 2 or W.ndim != 2:
        raise InvalidArgument(f"affine needs 2-D queries and weights, got {Q.shape} and {W.shape}")
    if Q.shape[1] != W.shape[0]:
        raise InvalidArgument(f"queries have dimension {Q.shape[1]}, the map takes {W.shape[0]}")
    if b is None:
        b = np.zeros(W.shape[1], np.float32)
    b = np.ascontiguousarray(b, dtype=np.float32)
    if b.shape != (W.shape[1],):
        raise InvalidArgument(f"bias has shape {b.shape}, expected ({W.shape[1]},)")
    if check_finite and not np.isfinite(Q).all():
        raise InvalidArgument("queries contain NaN or infinite values")
    if Q.shape[0] >= BLAS_MIN_QUERIES:
        out = Q @ W
        out += b
        return out
    out = np.empty((Q.shape[0], W.shape[1]), np.float32)
    if Q.shape[0]:
        _affine(Q, W, b, out)
    return out
