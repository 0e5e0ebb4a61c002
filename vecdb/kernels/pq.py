"""Asymmetric distance computation (ADC) over product-quantization codes, with fused top-k.

A code row is M uint8 sub-codes. Per query, a lookup table T[m, c] holds the distance contribution of sub-code c
in subspace m (smaller is better), so a row's distance is sum_m T[m, code[m]]: M table reads instead of dim
multiply-adds. Tables always have 256 columns; columns beyond the codebook size hold +inf, so a corrupt code can
never read outside the table. The same scan scores float queries against bit codes (kernels/binary.py builds
byte tables for that).
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidArgument
from ..jit import inline_helper, kernel
from ._parallel import as_allowed, check_blocks, check_k, fused_topk
from .topk import lex_sift

TABLE_COLUMNS = 256


@inline_helper
def _sum4(t, C, r, m):
    # rows r..r+3 at once: four independent sums hide the latency of the table reads
    a = C[r]
    b = C[r + 1]
    c = C[r + 2]
    e = C[r + 3]
    s0 = np.float32(0.0)
    s1 = np.float32(0.0)
    s2 = np.float32(0.0)
    s3 = np.float32(0.0)
    for j in range(m):
        base = j * 256
        s0 += t[base + np.int64(a[j])]
        s1 += t[base + np.int64(b[j])]
        s2 += t[base + np.int64(c[j])]
        s3 += t[base + np.int64(e[j])]
    return s0, s1, s2, s3


@inline_helper
def _sum1(t, c, m):
    s = np.float32(0.0)
    for j in range(m):
        s += t[j * 256 + np.int64(c[j])]
    return s


@inline_helper
def adc_scan_rows(t, C, row0, allowed, hd, hi):
    """Offer every allowed row of C to the (distance, row) heap hd / hi of one query with flat table t (M * 256).
    Four rows at a time, so four independent sums hide the latency of the table reads (measured 10-25% faster than
    one row at a time, whose reduction LLVM turns into gathers: 11.4 -> 10.1 ns a 48-byte row, faiss IndexPQ 9.8
    with its top-k). Rows come in ascending order, so a row tying the heap's worst stays out, and the heap keeps
    the smallest (distance, row) pairs: ties go to the lowest rows, as in a stable sort."""
    m = C.shape[1]
    nb = C.shape[0]
    k = hd.shape[0]
    n4 = nb - nb % 4
    w = hd[0]
    for r in range(0, n4, 4):
        s0, s1, s2, s3 = _sum4(t, C, r, m)
        if s0 < w and allowed[row0 + r] != 0:
            lex_sift(hd, hi, 0, k, s0, row0 + r)
            w = hd[0]
        if s1 < w and allowed[row0 + r + 1] != 0:
            lex_sift(hd, hi, 0, k, s1, row0 + r + 1)
            w = hd[0]
        if s2 < w and allowed[row0 + r + 2] != 0:
            lex_sift(hd, hi, 0, k, s2, row0 + r + 2)
            w = hd[0]
        if s3 < w and allowed[row0 + r + 3] != 0:
            lex_sift(hd, hi, 0, k, s3, row0 + r + 3)
            w = hd[0]
    for r in range(n4, nb):
        s = _sum1(t, C[r], m)
        if s < w and allowed[row0 + r] != 0:
            lex_sift(hd, hi, 0, k, s, row0 + r)
            w = hd[0]


@inline_helper
def adc_scores(t, C, out):
    """out[r] = sum_m t[m * 256 + C[r, m]] for every row, in adc_scan_rows' arithmetic (four rows at a time, the
    same order of additions), so a selection over out picks what adc_scan_rows would."""
    m = C.shape[1]
    nb = C.shape[0]
    n4 = nb - nb % 4
    for r in range(0, n4, 4):
        s0, s1, s2, s3 = _sum4(t, C, r, m)
        out[r] = s0
        out[r + 1] = s1
        out[r + 2] = s2
        out[r + 3] = s3
    for r in range(n4, nb):
        s = _sum1(t, C[r], m)
        out[r] = s


@kernel
def _adc_scan(T, C, row0, allowed, hd, hi):
    # T: (nq, M * 256) flat tables; one query at a time, so its table stays in L1
    for qi in range(T.shape[0]):
        adc_scan_rows(T[qi], C, row0, allowed, hd[qi], hi[qi])


@kernel
def _adc_distances(T, C, rows, out):
    nq = T.shape[0]
    m = C.shape[1]
    for u in range(rows.shape[0]):
        c = C[rows[u]]
        for qi in range(nq):
            t = T[qi]
            s = np.float32(0.0)
            for j in range(m):
                s += t[j * 256 + np.int64(c[j])]
            out[qi, u] = s


@kernel
def _tables(Q, CBT, is_l2, out):
    # CBT: (M, dsub, ksub) codebooks, transposed so the innermost loop runs over centroids (contiguous, SIMD).
    # out[q, m, c] = ||q_m - c||^2 (l2) or -<q_m, c> (dot); columns >= ksub are left as they are.
    nq = Q.shape[0]
    m, dsub, ksub = CBT.shape
    acc = np.empty(ksub, np.float32)
    for qi in range(nq):
        q = Q[qi]
        for j in range(m):
            off = j * dsub
            for c in range(ksub):
                acc[c] = 0.0
            for t in range(dsub):
                qt = q[off + t]
                row = CBT[j, t]
                if is_l2:
                    for c in range(ksub):
                        u = qt - row[c]
                        acc[c] += u * u
                else:
                    for c in range(ksub):
                        acc[c] += qt * row[c]
            o = out[qi, j]
            if is_l2:
                for c in range(ksub):
                    o[c] = acc[c]
            else:
                for c in range(ksub):
                    o[c] = -acc[c]


def adc_tables(queries: np.ndarray, codebooks: np.ndarray, metric: str) -> np.ndarray:
    """Per-query lookup tables (nq, M, 256) float32 for codebooks (M, ksub, dsub) with ksub <= 256.

    l2: T[m, c] = ||q_m - c||^2 (sum = squared L2 to the reconstruction); dot/cosine: T[m, c] = -<q_m, c>.
    """
    codebooks = np.ascontiguousarray(codebooks, dtype=np.float32)
    if codebooks.ndim != 3 or not 1 <= codebooks.shape[1] <= TABLE_COLUMNS or 0 in codebooks.shape:
        raise InvalidArgument(f"codebooks must be (M, ksub <= 256, dsub), got shape {codebooks.shape}")
    m, ksub, dsub = codebooks.shape
    queries = _float_queries(queries, m * dsub)
    if metric not in ("l2", "dot", "cosine"):
        raise InvalidArgument(f"unknown metric {metric!r}")
    tables = np.full((queries.shape[0], m, TABLE_COLUMNS), np.inf, np.float32)
    if queries.shape[0]:
        _tables(queries, np.ascontiguousarray(codebooks.transpose(0, 2, 1)), metric == "l2", tables)
    return tables


def _float_queries(queries: object, dim: int) -> np.ndarray:
    q = np.ascontiguousarray(queries, dtype=np.float32)
    if q.ndim != 2 or q.shape[1] != dim:
        raise InvalidArgument(f"queries must be (nq, {dim}), got shape {q.shape}")
    if not np.isfinite(q).all():
        raise InvalidArgument("queries contain NaN or infinity")
    return q


def _check_tables(tables: object) -> np.ndarray:
    t = np.ascontiguousarray(tables, dtype=np.float32)
    if t.ndim != 3 or t.shape[2] != TABLE_COLUMNS:
        raise InvalidArgument(f"ADC tables must be (nq, M, {TABLE_COLUMNS}) float32, got shape {t.shape}")
    if t.size and np.isnan(t.sum(dtype=np.float64)):  # one pass, no mask: NaN (or -inf) anywhere shows up
        raise InvalidArgument("ADC tables contain NaN")
    return t


def scan_topk(
    tables: np.ndarray,
    blocks: list[tuple[int, np.ndarray]],
    allowed: np.ndarray,
    k: int,
    *,
    trusted: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k rows by ADC distance: tables (nq, M, 256) from adc_tables, blocks of (first_row, (n, M) uint8 codes).

    Returns (dist, rows), each (nq, k), ascending; padded with (+inf, -1) where fewer than k rows are allowed.
    trusted: the tables were built here from checked queries and codebooks (adc_tables, binary's byte tables), so
    the NaN pass over them is skipped (it cost 5 of 54 us a SciFact query).
    """
    tables = np.ascontiguousarray(tables, np.float32) if trusted else _check_tables(tables)
    k = check_k(k)
    allowed = as_allowed(allowed)
    blocks = check_blocks(blocks, tables.shape[1], np.dtype(np.uint8), allowed, "PQ code")
    flat = tables.reshape(tables.shape[0], -1)
    return fused_topk(_adc_scan, flat, blocks, allowed, k, tables.shape[1])


def distances(tables: np.ndarray, codes: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """ADC distances (nq, len(rows)) of each query to the selected code rows (all rows when rows is None)."""
    tables = _check_tables(tables)
    codes = np.ascontiguousarray(codes)
    if codes.dtype != np.uint8 or codes.ndim != 2 or codes.shape[1] != tables.shape[1]:
        raise InvalidArgument(f"codes must be (n, {tables.shape[1]}) uint8, got {codes.dtype} {codes.shape}")
    rows = _check_rows(rows, codes.shape[0])
    out = np.empty((tables.shape[0], rows.shape[0]), np.float32)
    if out.size:
        _adc_distances(tables.reshape(tables.shape[0], -1), codes, rows, out)
    return out


def _check_rows(rows: object, n: int) -> np.ndarray:
    if rows is None:
        return np.arange(n, dtype=np.int64)
    r = np.ascontiguousarray(rows, dtype=np.int64)
    if r.ndim != 1:
        raise InvalidArgument(f"rows must be 1-D, got shape {r.shape}")
    if r.size and (r.min() < 0 or r.max() >= n):
        raise InvalidArgument(f"row index out of range [0, {n})")
    return r
