"""Bounded max-heaps for fused top-k: each query keeps its k smallest distances while scores stream by.

A heap row is (dist[k], idx[k]) with the worst (largest) distance at position 0; empty slots hold +inf / -1.
"""

from __future__ import annotations

import numpy as np

from ..jit import inline_helper, kernel


@inline_helper
def heap_replace_top(hd, hi, d, i):
    """Replace the worst entry of a full max-heap by (d, i) and restore the heap property."""
    heap_sift_top(hd, hi, hd.shape[0], d, i)


@inline_helper
def heap_sift_top(hd, hi, n, d, i):
    """Replace the root of the max-heap hd/hi[:n] by (d, i) and sift it down (plain indices: no slicing)."""
    pos = 0
    while True:
        child = 2 * pos + 1
        if child >= n:
            break
        if child + 1 < n and hd[child + 1] > hd[child]:
            child += 1
        if hd[child] <= d:
            break
        hd[pos] = hd[child]
        hi[pos] = hi[child]
        pos = child
    hd[pos] = d
    hi[pos] = i


@inline_helper
def lex_sift(hd, hi, pos, n, d, i):
    """Place (d, i) at pos of the (distance, index) max-heap hd/hi[:n] and sift it down."""
    while True:
        child = 2 * pos + 1
        if child >= n:
            break
        c2 = child + 1
        if c2 < n and (hd[c2] > hd[child] or (hd[c2] == hd[child] and hi[c2] > hi[child])):
            child = c2
        if hd[child] < d or (hd[child] == d and hi[child] < i):
            break
        hd[pos] = hd[child]
        hi[pos] = hi[child]
        pos = child
    hd[pos] = d
    hi[pos] = i


@inline_helper
def heap_push_lex(hd, hi, d, i):
    """Offer (d, i) to a full max-heap ordered by (distance, index): it enters when it is smaller than the root in
    that order, so among equal distances the lower index is kept (what a stable sort of every candidate keeps).
    Empty slots (+inf, -1) are larger than any finite entry."""
    if d > hd[0] or (d == hd[0] and i >= hi[0] and hi[0] >= 0):
        return
    lex_sift(hd, hi, 0, hd.shape[0], d, i)


@inline_helper
def heap_fill_lex(hd, hi, sel_d, sel_i, m):
    """Merge m entries into a (distance, index) max-heap: pushed one by one when the heap holds entries already,
    else copied in and heapified (O(k) instead of O(m log k) for the first block of a scan)."""
    k = hd.shape[0]
    fresh = True
    for t in range(k):
        if hi[t] >= 0:
            fresh = False
            break
    if not fresh or m > k:
        for t in range(m):
            heap_push_lex(hd, hi, sel_d[t], sel_i[t])
        return
    for t in range(m):
        hd[t] = sel_d[t]
        hi[t] = sel_i[t]
    # slots m..k-1 stay (+inf, -1), the largest entries: they belong at the bottom; heapify the whole array
    for pos in range(k // 2 - 1, -1, -1):
        lex_sift(hd, hi, pos, k, hd[pos], hi[pos])


@inline_helper
def _sort_lex(hd, hi):
    """Sort a small heap in place by (distance, index), padding (+inf, -1) last: insertion sort (k is small)."""
    n = hd.shape[0]
    for a in range(1, n):
        d = hd[a]
        i = hi[a]
        b = a - 1
        while b >= 0 and (hd[b] > d or (hd[b] == d and (hi[b] > i or hi[b] < 0) and i >= 0)):
            hd[b + 1] = hd[b]
            hi[b + 1] = hi[b]
            b -= 1
        hd[b + 1] = d
        hi[b + 1] = i


def new_heaps(nq: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    return np.full((nq, k), np.inf, np.float32), np.full((nq, k), -1, np.int64)


@kernel
def _sort_heaps(hd, hi):
    # Ascending by distance; ties broken by index so results are deterministic.
    nq, k = hd.shape
    for q in range(nq):
        order = np.argsort(hd[q], kind="mergesort")
        d2 = hd[q][order]
        i2 = hi[q][order]
        start = 0
        while start < k:
            end = start + 1
            while end < k and d2[end] == d2[start]:
                end += 1
            if end - start > 1:
                sub = np.sort(i2[start:end])
                i2[start:end] = sub
            start = end
        hd[q] = d2
        hi[q] = i2


def sort_heaps(hd: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Turn heaps into rows sorted by ascending distance (in place); empty slots (+inf, -1) end up last."""
    if hd.size:
        _sort_heaps(hd, hi)
    return hd, hi


@kernel
def _merge_heaps(parts_d, parts_i, out_d, out_i):
    # parts: (p, nq, k) partial heaps over disjoint rows -> one heap per query, by (distance, row): ties at the cut
    # go to the lowest rows whichever part holds them, as in one scan (one thread) or a stable sort
    p, nq, k = parts_d.shape
    for q in range(nq):
        for j in range(p):
            for t in range(k):
                i = parts_i[j, q, t]
                if i >= 0:
                    heap_push_lex(out_d[q], out_i[q], parts_d[j, q, t], i)


def merge_heaps(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    if len(parts) == 1:
        return parts[0]
    nq, k = parts[0][0].shape
    out_d, out_i = new_heaps(nq, k)
    _merge_heaps(np.stack([p[0] for p in parts]), np.stack([p[1] for p in parts]), out_d, out_i)
    return out_d, out_i
