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
