"""Float queries against int8 scalar-quantized rows (reconstruction = offset + scale * code), fused top-k.

The codec folds offset and scale into the query so the kernels see only what differs per row:
- dot/cosine: dist = -sum_t qs[t] * code[t] with qs = q * scale (the query's constant <q, offset> is added back by
  the caller when it wants true distances);
- l2: dist = sum_t (qc[t] - scale[t] * code[t])^2 with qc = q - offset: the exact squared L2 distance to the
  reconstruction.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidArgument
from ..jit import kernel
from ._parallel import as_allowed, check_blocks, check_k, fused_topk
from .dense import _scan_dot
from .pq import _check_rows, _float_queries
from .topk import heap_replace_top


@kernel
def _int8_scan_l2(Q, C, scale, row0, allowed, hd, hi):
    nq, d = Q.shape
    nb = C.shape[0]
    q2 = nq - nq % 2
    for qi in range(0, q2, 2):
        a = Q[qi]
        b = Q[qi + 1]
        w0 = hd[qi, 0]
        w1 = hd[qi + 1, 0]
        for r in range(nb):
            if allowed[row0 + r] == 0:
                continue
            x = C[r]
            s0 = np.float32(0.0)
            s1 = np.float32(0.0)
            for j in range(d):
                xj = scale[j] * np.float32(x[j])
                t0 = a[j] - xj
                t1 = b[j] - xj
                s0 += t0 * t0
                s1 += t1 * t1
            if s0 < w0:
                heap_replace_top(hd[qi], hi[qi], s0, row0 + r)
                w0 = hd[qi, 0]
            if s1 < w1:
                heap_replace_top(hd[qi + 1], hi[qi + 1], s1, row0 + r)
                w1 = hd[qi + 1, 0]
    for qi in range(q2, nq):
        q = Q[qi]
        w = hd[qi, 0]
        for r in range(nb):
            if allowed[row0 + r] == 0:
                continue
            x = C[r]
            s = np.float32(0.0)
            for j in range(d):
                t = q[j] - scale[j] * np.float32(x[j])
                s += t * t
            if s < w:
                heap_replace_top(hd[qi], hi[qi], s, row0 + r)
                w = hd[qi, 0]


@kernel
def _int8_distances(Q, C, scale, rows, is_l2, out):
    nq, d = Q.shape
    for u in range(rows.shape[0]):
        x = C[rows[u]]
        for qi in range(nq):
            q = Q[qi]
            s = np.float32(0.0)
            if is_l2:
                for j in range(d):
                    t = q[j] - scale[j] * np.float32(x[j])
                    s += t * t
                out[qi, u] = s
            else:
                for j in range(d):
                    s += q[j] * np.float32(x[j])
                out[qi, u] = -s


def _check_scale(scale: object, d: int) -> np.ndarray:
    s = np.ascontiguousarray(scale, dtype=np.float32)
    if s.shape != (d,) or not np.isfinite(s).all():
        raise InvalidArgument(f"scale must be {d} finite floats, got shape {s.shape}")
    return s


def scan_topk(
    queries: np.ndarray,
    blocks: list[tuple[int, np.ndarray]],
    allowed: np.ndarray,
    k: int,
    metric: str,
    scale: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k over int8 code blocks (first_row, (n, d) int8). dot/cosine: queries are q * scale, dist =
    -<queries, code>; l2: queries are q - offset, `scale` is required, dist = ||queries - scale * code||^2."""
    if metric not in ("dot", "cosine", "l2"):
        raise InvalidArgument(f"unknown metric {metric!r}")
    q = np.asarray(queries)
    if q.ndim != 2:
        raise InvalidArgument(f"queries must be 2-D, got shape {q.shape}")
    q = _float_queries(q, q.shape[1])
    k = check_k(k)
    allowed = as_allowed(allowed)
    blocks = check_blocks(blocks, q.shape[1], np.dtype(np.int8), allowed, "int8 code")
    if metric == "l2":
        if scale is None:
            raise InvalidArgument("l2 scans of int8 codes need the per-dimension scale")
        s = _check_scale(scale, q.shape[1])

        def scan(qs, x, row0, al, hd, hi):
            _int8_scan_l2(qs, x, s, row0, al, hd, hi)

        return fused_topk(scan, q, blocks, allowed, k, q.shape[1])
    return fused_topk(_scan_dot, q, blocks, allowed, k, q.shape[1])  # int8 rows: the float kernel, typed for them


def distances(
    queries: np.ndarray, codes: np.ndarray, rows: np.ndarray | None, metric: str, scale: np.ndarray | None = None
) -> np.ndarray:
    """Distances (nq, len(rows)) float32 of each (folded) query to the selected int8 rows; see scan_topk."""
    if metric not in ("dot", "cosine", "l2"):
        raise InvalidArgument(f"unknown metric {metric!r}")
    q = np.asarray(queries)
    if q.ndim != 2:
        raise InvalidArgument(f"queries must be 2-D, got shape {q.shape}")
    q = _float_queries(q, q.shape[1])
    codes = np.ascontiguousarray(codes)
    if codes.dtype != np.int8 or codes.ndim != 2 or codes.shape[1] != q.shape[1]:
        raise InvalidArgument(f"codes must be (n, {q.shape[1]}) int8, got {codes.dtype} {codes.shape}")
    is_l2 = metric == "l2"
    if is_l2 and scale is None:
        raise InvalidArgument("l2 distances of int8 codes need the per-dimension scale")
    s = _check_scale(scale if scale is not None else np.ones(q.shape[1]), q.shape[1])
    rows = _check_rows(rows, codes.shape[0])
    out = np.empty((q.shape[0], rows.shape[0]), np.float32)
    if out.size:
        _int8_distances(q, codes, s, rows, is_l2, out)
    return out
