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
