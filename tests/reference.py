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
# Drift maps (vecdb/drift): plain twin of the held-out figures computed by vecdb.drift.fit.evaluate.
# ---------------------------------------------------------------------------------------------------------------


def drift_holdout_figures(mapped: np.ndarray, target: np.ndarray, k: int = 10) -> dict:
    """Mean cosine; recall@k of the own target among all targets (ties in its favour); neighbour recall@k: overlap
    of the k nearest other targets of the mapped vector with those of the true target. Loops, float64."""
    m = mapped.astype(np.float64)
    t = target.astype(np.float64)
    m = m / np.linalg.norm(m, axis=1, keepdims=True)
    t = t / np.linalg.norm(t, axis=1, keepdims=True)
    n = len(t)
    cos = float(np.mean([m[i] @ t[i] for i in range(n)]))
    hits = 0
    overlap = 0.0
    kn = min(k, n - 1)
    for i in range(n):
        s = [float(m[i] @ t[j]) for j in range(n)]
        if sum(1 for j in range(n) if s[j] > s[i]) < min(k, n):
            hits += 1
        mine = sorted((j for j in range(n) if j != i), key=lambda j: -s[j])[:kn]
        st = [float(t[i] @ t[j]) for j in range(n)]
        true = sorted((j for j in range(n) if j != i), key=lambda j: -st[j])[:kn]
        overlap += len(set(mine) & set(true)) / kn
    return {"cosine": cos, "recall_at_10": hits / n, "neighbour_recall_at_10": overlap / n}
