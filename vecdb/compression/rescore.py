"""Two-stage search: candidates from codes, re-ranked with the full-precision vectors; and how many candidates to
take (the oversampling factor), measured on the collection's own vectors for a recall target.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Union

import numpy as np

from ..errors import FailedPrecondition, InvalidArgument
from ..evaluation import recall_at_k
from ..kernels import dense
from ..kernels.rescore import gathered_distances, gathered_into
from .base import Codec, check_metric, check_vectors, sample_rows

VectorSource = Union[np.ndarray, Callable[[np.ndarray], np.ndarray], Sequence[tuple[int, np.ndarray]]]
DEFAULT_FACTORS = (1, 1.5, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 48, 64, 96, 128)


def _lookup(vectors: VectorSource, rows: np.ndarray) -> np.ndarray:
    """Full-precision vectors of the given (sorted, unique) rows from an array, a callable or row blocks."""
    if isinstance(vectors, np.ndarray):
        if rows.size and rows.max() >= vectors.shape[0]:
            raise InvalidArgument(f"candidate row {int(rows.max())} is out of range [0, {vectors.shape[0]})")
        return vectors[rows]
    if callable(vectors):
        out = np.asarray(vectors(rows), dtype=np.float32)
        if out.ndim != 2 or out.shape[0] != rows.shape[0]:
            raise InvalidArgument(f"vector lookup returned shape {out.shape} for {rows.shape[0]} rows")
        return out
    return _take_from_blocks(list(vectors), rows)


def _take_from_blocks(blocks: list[tuple[int, np.ndarray]], rows: np.ndarray) -> np.ndarray:
    if not blocks:
        raise InvalidArgument("no vector blocks to rescore from")
    starts = np.array([b[0] for b in blocks], np.int64)
    order = np.argsort(starts)
    starts = starts[order]
    which = np.searchsorted(starts, rows, side="right") - 1
    dim = blocks[0][1].shape[1]
    out = np.empty((rows.shape[0], dim), np.float32)
    for j in np.unique(which):
        row0, arr = blocks[order[j]] if j >= 0 else (0, np.empty((0, dim), np.float32))
        sel = which == j
        local = rows[sel] - row0
        if j < 0 or local.max() >= arr.shape[0]:
            raise InvalidArgument("a candidate row is not covered by the vector blocks")
        out[sel] = arr[local]
    return out


def rescore(
    queries: np.ndarray,
    candidate_rows: np.ndarray,
    vectors: VectorSource,
    metric: str,
    k: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k among each query's candidates: (dist, rows), each (nq, k), ascending (ties by row), padded
    (+inf, -1). candidate_rows: (nq, c) global rows, -1 = none. vectors: an (n, dim) array indexed by row, a
    callable rows -> (len(rows), dim) (e.g. a read of the engine's vector blocks), or (first_row, array) blocks."""
    metric = check_metric(metric)
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InvalidArgument(f"k must be an integer >= 1, got {k!r}")
    cand = np.asarray(candidate_rows)
    if cand.ndim != 2 or cand.dtype.kind not in "iu":
        raise InvalidArgument(f"candidate rows must be a 2-D integer array, got {cand.dtype} {cand.shape}")
    q = check_vectors(queries, None, "queries")
    if cand.shape[0] != q.shape[0]:
        raise InvalidArgument(f"{cand.shape[0]} candidate lists for {q.shape[0]} queries")
    cand = cand.astype(np.int64)
    if isinstance(vectors, np.ndarray):
        if vectors.ndim != 2:
            raise InvalidArgument(f"vectors must be 2-D, got shape {vectors.shape}")
        dist = gathered_distances(q, vectors, np.where(cand >= 0, cand, -1), metric)
        return _top_k(dist, cand, k)
    return rescore_fetched(q, cand, lambda rows: _lookup(vectors, rows), metric, k)


def rescore_fetched(
    q: np.ndarray, cand: np.ndarray, fetch: Callable[[np.ndarray], np.ndarray], metric: str, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """rescore() for inputs already checked (the engine's search path: prepared float32 queries, int64 candidate
    rows in range, a known metric): fetch(sorted unique rows) -> their float32 vectors."""
    valid = cand >= 0
    uniq, inv = np.unique(cand[valid], return_inverse=True)
    v = np.ascontiguousarray(fetch(uniq), dtype=np.float32)
    if v.ndim != 2 or v.shape[0] != uniq.shape[0] or v.shape[1] != q.shape[1]:
        raise InvalidArgument(f"vector lookup returned shape {v.shape} for {uniq.shape[0]} rows of dim {q.shape[1]}")
    idx = np.full(cand.shape, -1, np.int64)
    idx[valid] = inv
    dist = np.empty(cand.shape, np.float32)
    if dist.size:
        gathered_into(q, v, idx, metric, dist)
    return _top_k(dist, cand, k)


def _top_k(dist: np.ndarray, cand: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best of each row of dist (ties by candidate row; -1 rows last), padded with (+inf, -1)."""
    order = np.lexsort((np.where(cand >= 0, cand, np.iinfo(np.int64).max), dist), axis=-1)[:, :k]
    dist = np.take_along_axis(dist, order, 1)
    rows = np.where(np.isfinite(dist), np.take_along_axis(cand, order, 1), -1)
    if rows.shape[1] < k:
        pad = k - rows.shape[1]
        dist = np.pad(dist, ((0, 0), (0, pad)), constant_values=np.inf)
        rows = np.pad(rows, ((0, 0), (0, pad)), constant_values=-1)
    return dist.astype(np.float32, copy=False), rows


def candidates_for(k: int, oversampling: float) -> int:
    """How many code-search candidates feed the rescoring of a top-k."""
    if not (isinstance(oversampling, int | float) and math.isfinite(oversampling) and oversampling >= 1):
        raise InvalidArgument(f"oversampling must be a number >= 1, got {oversampling!r}")
    return max(k, int(math.ceil(k * oversampling)))


def two_stage_search(
    codec: Codec,
    queries: np.ndarray,
    code_blocks: list[tuple[int, np.ndarray]],
    allowed: np.ndarray,
    k: int,
    vectors: VectorSource | None,
    oversampling: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Search on codes for k * oversampling candidates, then rescore them exactly (vectors None: no rescoring,
    the code distances are returned)."""
    n_cand = candidates_for(k, oversampling) if vectors is not None else k
    prepared = codec.prepare(queries)
    cdist, crows = codec.scan_topk(prepared, code_blocks, allowed, n_cand)
    if vectors is None:
        return cdist, crows
    return rescore(queries, crows, vectors, codec.metric, k)


@dataclass(frozen=True)
class OversamplingCalibration:
    """The smallest measured factor whose recall@k after rescoring reaches the target (or the largest tried)."""

    factor: float
    target_recall: float
    reached: bool
    k: int
    queries: int
    recall_without_rescoring: float
    recall_by_factor: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def oversampling_for(
    target_recall: float,
    codec: Codec,
    vectors: np.ndarray,
    *,
    codes: np.ndarray | None = None,
    queries: np.ndarray | None = None,
    k: int = 10,
    sample: int = 200,
    factors: Sequence[float] = DEFAULT_FACTORS,
    seed: int = 0,
) -> OversamplingCalibration:
    """Measure recall@k after rescoring for each oversampling factor on a held-out sample of the collection's own
    vectors (each sampled vector queries all the others), and return the smallest factor reaching the target.

    vectors: the collection's (n, dim) vectors as stored (unit length for cosine); codes: their codes (encoded
    here when None). queries: a sample of real queries (prepared like the vectors) to calibrate on; without
    them, `sample` stored vectors stand in for queries. Real queries are better when they differ from the stored
    vectors (questions vs passages): stored-vector calibration then tends to pick too small a factor."""
    if not (isinstance(target_recall, int | float) and 0 < target_recall <= 1):
        raise InvalidArgument(f"target recall must be in (0, 1], got {target_recall!r}")
    if not codec.fitted:
        raise FailedPrecondition("calibrate oversampling after fitting the codec")
    x = check_vectors(vectors, codec.dim, "vectors")
    n = x.shape[0]
    if n < 2:
        raise InvalidArgument("calibration needs at least 2 vectors")
    factors = sorted({float(f) for f in factors})
    if not factors or factors[0] < 1:
        raise InvalidArgument("oversampling factors must be >= 1")
    codes = codec.encode(x) if codes is None else codec.check_codes(codes)
    if codes.shape[0] != n:
        raise InvalidArgument(f"{codes.shape[0]} codes for {n} vectors")
    if queries is not None:
        queries = check_vectors(queries, codec.dim, "queries")
        if queries.shape[0] == 0:
            raise InvalidArgument("no calibration queries given")
        allowed = np.ones(n, np.uint8)
        n_held = 0
    else:
        n_held = min(sample, n // 2)
        if n_held < 1:
            raise InvalidArgument("calibration needs at least 2 vectors")
        qrows = sample_rows(n, n_held, seed)
        queries = x[qrows]
        # The sampled vectors query the others: masked out of the collection, as fresh queries are not stored.
        allowed = np.ones(n, np.uint8)
        allowed[qrows] = 0
    k_eff = min(k, n - n_held)
    n_max = min(candidates_for(k_eff, factors[-1]), n - n_held)
    true_d, _ = dense.scan_topk(queries, [(0, x)], allowed, k_eff, codec.metric)
    _, crows = codec.scan_topk(queries, [(0, codes)], allowed, n_max)
    by_factor: dict[str, float] = {}
    chosen, reached = factors[-1], False
    for f in factors:
        c = min(candidates_for(k_eff, f), n_max)
        cand = crows[:, :c] if codec.nested_candidates else codec.scan_topk(queries, [(0, codes)], allowed, c)[1]
        d, _ = rescore(queries, cand, x, codec.metric, k_eff)
        by_factor[f"{f:g}"] = recall_at_k(d, true_d, k_eff)
        if not reached and by_factor[f"{f:g}"] >= target_recall:
            chosen, reached = f, True
    # Recall before rescoring: the code ranking's own top-k, judged by true distances.
    first = crows[:, :k_eff] if codec.nested_candidates else codec.scan_topk(queries, [(0, codes)], allowed, k_eff)[1]
    d1, _ = rescore(queries, first, x, codec.metric, k_eff)
    return OversamplingCalibration(
        factor=chosen,
        target_recall=float(target_recall),
        reached=reached,
        k=k_eff,
        queries=int(queries.shape[0]),
        recall_without_rescoring=recall_at_k(d1, true_d, k_eff),
        recall_by_factor=by_factor,
    )
