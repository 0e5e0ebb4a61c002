"""Seeded Lloyd k-means on CPU (faiss exact assignment), with a tqdm progress bar: the residual codec's trainer.

Deterministic under the seed: initial centroids are a seeded sample of the points, assignment is exact (flat
index), and an empty cluster is re-seeded from a point drawn by the same generator.
"""

from __future__ import annotations

import sys

import numpy as np


def kmeans(x: np.ndarray, k: int, iters: int, seed: int) -> np.ndarray:
    """(k, d) float32 centroids of the rows of x (n >= k)."""
    import faiss
    from tqdm.auto import tqdm

    x = np.ascontiguousarray(x, dtype=np.float32)
    n, d = x.shape
    rng = np.random.default_rng(seed)
    centroids = x[np.sort(rng.choice(n, k, replace=False))].copy()
    for _ in tqdm(range(iters), desc="k-means", disable=not sys.stderr.isatty(), leave=False):
        index = faiss.IndexFlatL2(d)
        index.add(centroids)
        _, assign = index.search(x, 1)
        assign = assign[:, 0]
        counts = np.bincount(assign, minlength=k)
        sums = np.zeros((k, d), np.float64)
        _scatter_sum(sums, assign, x)
        nonempty = counts > 0
        centroids[nonempty] = (sums[nonempty] / counts[nonempty, None]).astype(np.float32)
        empty = np.flatnonzero(~nonempty)
        if empty.size:
            centroids[empty] = x[rng.choice(n, empty.size, replace=False)]
    return centroids


def _scatter_sum(sums: np.ndarray, assign: np.ndarray, x: np.ndarray) -> None:
    order = np.argsort(assign, kind="stable")
    sorted_assign = assign[order]
    starts = np.flatnonzero(np.r_[True, sorted_assign[1:] != sorted_assign[:-1]])
    sums[sorted_assign[starts]] = np.add.reduceat(x[order].astype(np.float64), starts, axis=0)
