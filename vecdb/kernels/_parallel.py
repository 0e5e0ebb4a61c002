"""Fused top-k over row blocks on our own thread pool, shared by the code-scanning kernel families.

The same split as kernels/dense.scan_topk: by blocks when there are enough of them (partial heaps merged), else by
queries. `per_query` is anything whose first axis is the query (query codes, float queries, ADC tables).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .._threads import fan_out, n_threads
from ..errors import InvalidArgument
from .topk import merge_heaps, new_heaps, sort_heaps

# Below this much work (query x row x inner-loop units), threads cost more than they save.
PARALLEL_MIN_WORK = 2_000_000

ScanFn = Callable[[np.ndarray, np.ndarray, int, np.ndarray, np.ndarray, np.ndarray], None]


def check_k(k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise InvalidArgument(f"k must be an integer >= 1, got {k!r}")
    return int(k)


def check_blocks(blocks: list[tuple[int, np.ndarray]], width: int, dtype: np.dtype, allowed: np.ndarray, what: str):
    """Validate (first_row, codes) blocks: 2-D, right width and dtype, covered by the allowed mask."""
    out = []
    for row0, x in blocks:
        if not isinstance(x, np.ndarray) or x.ndim != 2 or x.shape[1] != width:
            shape = getattr(x, "shape", None)
            raise InvalidArgument(f"{what} block at row {row0} has shape {shape}, expected (n, {width})")
        if x.dtype != dtype:
            raise InvalidArgument(f"{what} block at row {row0} has dtype {x.dtype}, expected {np.dtype(dtype)}")
        if row0 < 0 or row0 + x.shape[0] > allowed.shape[0]:
            raise InvalidArgument("allowed mask is shorter than the rows it must cover")
        out.append((int(row0), x if x.flags.c_contiguous else np.ascontiguousarray(x)))
    return out


def as_allowed(allowed: object) -> np.ndarray:
    a = np.asarray(allowed)
    if a.ndim != 1:
        raise InvalidArgument(f"allowed must be a 1-D mask, got shape {a.shape}")
    return np.ascontiguousarray(a, dtype=np.uint8)


def fused_topk(
    scan: ScanFn,
    per_query: np.ndarray,
    blocks: list[tuple[int, np.ndarray]],
    allowed: np.ndarray,
    k: int,
    work_per_row: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Run scan(per_query, codes, row0, allowed, heap_d, heap_i) over every block; (dist, rows) ascending."""
    nq = per_query.shape[0]
    total_rows = sum(x.shape[0] for _, x in blocks)
    threads = n_threads()

    def run(qs: np.ndarray, part: list[tuple[int, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        hd, hi = new_heaps(qs.shape[0], k)
        for row0, x in part:
            if x.shape[0] and qs.shape[0]:
                scan(qs, x, row0, allowed, hd, hi)
        return hd, hi

    if threads <= 1 or nq == 0 or nq * total_rows * work_per_row < PARALLEL_MIN_WORK:
        hd, hi = run(per_query, blocks)
    elif len(blocks) >= threads:
        hd, hi = merge_heaps(fan_out(run, [(per_query, g) for g in _balanced_groups(blocks, threads)]))
    elif nq >= 2:
        bounds = np.linspace(0, nq, min(threads, nq) + 1).astype(int)
        # Slices, not index arrays: per-query data can be large (ADC tables are 48 KiB a query) and must not be copied.
        parts = fan_out(run, [(per_query[a:b], blocks) for a, b in zip(bounds[:-1], bounds[1:])])
        hd = np.concatenate([p[0] for p in parts])
        hi = np.concatenate([p[1] for p in parts])
    else:  # one query, one big block: split the block's rows
        pieces = [(row0 + s, x[s : s + _step(len(x), threads)]) for row0, x in blocks for s in _starts(len(x), threads)]
        hd, hi = merge_heaps(fan_out(run, [(per_query, [p]) for p in pieces]))
    return sort_heaps(hd, hi)


def _step(n: int, parts: int) -> int:
    # rows per piece, a multiple of 8: the scans score rows in groups of 8 from a piece's start (pq._sum8), and a
    # row must be summed the same way whichever piece holds it (the single-query kernels see one whole block)
    return (n // parts + 8) // 8 * 8


def _starts(n: int, parts: int) -> list[int]:
    return list(range(0, n, _step(n, parts)))


def _balanced_groups(blocks: list, n: int) -> list[list]:
    total = sum(x.shape[0] for _, x in blocks)
    groups: list[list] = [[] for _ in range(n)]
    acc, g = 0, 0
    for b in blocks:
        if g < n - 1 and acc >= (g + 1) * total / n:
            g += 1
        groups[g].append(b)
        acc += b[1].shape[0]
    return [grp for grp in groups if grp]
