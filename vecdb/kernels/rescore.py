"""Exact distances of each query to its own candidate rows (the rescoring step after a search on codes).

out[q, j] = distance(Q[q], V[idx[q, j]]), +inf where idx[q, j] < 0 (padding). Same conventions as kernels/dense:
-<q, x> for dot / cosine (unit vectors), squared L2 for l2.
"""

from __future__ import annotations

import numpy as np

from .._threads import fan_out, n_threads
from ..errors import InvalidArgument
from ..jit import kernel
from ._parallel import PARALLEL_MIN_WORK
from .dense import METRIC_CODE


@kernel
def _gathered_dot(Q, V, idx, out):
    nq, d = Q.shape
    for qi in range(nq):
        q = Q[qi]
        for j in range(idx.shape[1]):
            r = idx[qi, j]
            if r < 0:
                out[qi, j] = np.inf
                continue
            x = V[r]
            s = np.float32(0.0)
            for t in range(d):
                s += q[t] * x[t]
            out[qi, j] = -s


@kernel
def _gathered_l2(Q, V, idx, out):
    nq, d = Q.shape
    for qi in range(nq):
        q = Q[qi]
        for j in range(idx.shape[1]):
            r = idx[qi, j]
            if r < 0:
                out[qi, j] = np.inf
                continue
            x = V[r]
            s = np.float32(0.0)
            for t in range(d):
                u = q[t] - x[t]
                s += u * u
            out[qi, j] = s


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
