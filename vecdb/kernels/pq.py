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
def _sum8(t, C, r, m):
    # rows r..r+7 at once: eight independent sums hide the latency of the table reads (a 48 KiB table of 48
    # sub-codes does not fit L1): 1.23x faster than four at a time, measured side by side on SciFact-sized PQ48 codes
    return sum8_of(t, C[r], C[r + 1], C[r + 2], C[r + 3], C[r + 4], C[r + 5], C[r + 6], C[r + 7], m)


@inline_helper
def sum8_of(t, a0, a1, a2, a3, a4, a5, a6, a7, m):
    """The table sums of eight code rows at once, each in _sum1's order of additions (bit for bit with it)."""
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = np.float32(0.0)
    for j in range(m):
        base = j * 256
        s0 += t[base + np.int64(a0[j])]
        s1 += t[base + np.int64(a1[j])]
        s2 += t[base + np.int64(a2[j])]
        s3 += t[base + np.int64(a3[j])]
        s4 += t[base + np.int64(a4[j])]
        s5 += t[base + np.int64(a5[j])]
        s6 += t[base + np.int64(a6[j])]
        s7 += t[base + np.int64(a7[j])]
    return s0, s1, s2, s3, s4, s5, s6, s7


@inline_helper
def _offer(hd, hi, k, w, s, row, ok):
    # offer (s, row) to the lex heap when it beats the worst w and the row is allowed; returns the new worst
    if s < w and ok:
        lex_sift(hd, hi, 0, k, s, row)
        return hd[0]
    return w


@inline_helper
def _sum1(t, c, m):
    s = np.float32(0.0)
    for j in range(m):
        s += t[j * 256 + np.int64(c[j])]
    return s


@inline_helper
def adc_scan_rows(t, C, row0, allowed, hd, hi):
    """Offer every allowed row of C to the (distance, row) heap hd / hi of one query with flat table t (M * 256).
    Eight rows at a time (_sum8), so independent sums hide the latency of the table reads (four at a time measured
    10-25% faster than one row at a time, whose reduction LLVM turns into gathers; eight 1.23x faster than four).
    Rows come in ascending order, so a row tying the heap's worst stays out, and the heap keeps the smallest
    (distance, row) pairs: ties go to the lowest rows, as in a stable sort."""
    m = C.shape[1]
    nb = C.shape[0]
    k = hd.shape[0]
    n8 = nb - nb % 8
    w = hd[0]
    for r in range(0, n8, 8):
        s0, s1, s2, s3, s4, s5, s6, s7 = _sum8(t, C, r, m)
        g = row0 + r
        w = _offer(hd, hi, k, w, s0, g, allowed[g] != 0)
        w = _offer(hd, hi, k, w, s1, g + 1, allowed[g + 1] != 0)
        w = _offer(hd, hi, k, w, s2, g + 2, allowed[g + 2] != 0)
        w = _offer(hd, hi, k, w, s3, g + 3, allowed[g + 3] != 0)
        w = _offer(hd, hi, k, w, s4, g + 4, allowed[g + 4] != 0)
        w = _offer(hd, hi, k, w, s5, g + 5, allowed[g + 5] != 0)
        w = _offer(hd, hi, k, w, s6, g + 6, allowed[g + 6] != 0)
        w = _offer(hd, hi, k, w, s7, g + 7, allowed[g + 7] != 0)
    for r in range(n8, nb):
        w = _offer(hd, hi, k, w, _sum1(t, C[r], m), row0 + r, allowed[row0 + r] != 0)


@inline_helper
def adc_scores(t, C, out):
    """out[r] = sum_m t[m * 256 + C[r, m]] for every row, in adc_scan_rows' arithmetic (eight rows at a time, the
    same order of additions), so a selection over out picks what adc_scan_rows would."""
    m = C.shape[1]
    nb = C.shape[0]
    n8 = nb - nb % 8
    for r in range(0, n8, 8):
        out[r], out[r + 1], out[r + 2], out[r + 3], out[r + 4], out[r + 5], out[r + 6], out[r + 7] = _sum8(t, C, r, m)
    for r in range(n8, nb):
        out[r] = _sum1(t, C[r], m)


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
