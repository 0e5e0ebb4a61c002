"""Quality measures shared by tests, benchmarks and compression reports.

The recall helper is tie-tolerant (as in ann-benchmarks): a returned item counts as a hit when its true distance
is within `eps` of the true k-th distance, so ties and float noise at the boundary are not counted as misses.
"""

from __future__ import annotations

import numpy as np


def recall_at_k(
    found_dist: np.ndarray,
    true_dist: np.ndarray,
    k: int,
    *,
    eps: float = 1e-3,
) -> float:
    """Mean over queries of |{returned items whose true distance <= (1+eps) * kth true distance}| / k.

    found_dist: (nq, >=k) TRUE distances (recomputed exactly by the caller) of the items the method returned,
    smaller is better; padding (+inf) counts as a miss. true_dist: (nq, >=k) exact distances, ascending.
    Distances may be negative (negated similarities); the threshold then uses an additive eps scaled by |kth|.
    """
    found_dist = np.asarray(found_dist, dtype=np.float64)[:, :k]
    kth = np.asarray(true_dist, dtype=np.float64)[:, k - 1 : k]
    threshold = kth + eps * np.maximum(np.abs(kth), 1e-6)
    hits = (found_dist <= threshold).sum(axis=1)
    return float(np.mean(np.minimum(hits, k) / k))


def recall_by_ids(found_ids, true_ids, k: int) -> float:
    """Plain id-overlap recall@k (no tie tolerance): |found[:k] & true[:k]| / k averaged over queries."""
    total = 0.0
    for f, t in zip(found_ids, true_ids):
        total += len(set(list(f)[:k]) & set(list(t)[:k])) / k
    return total / max(len(true_ids), 1)


def ndcg_at_k(ranked_ids: list[list], qrels: list[dict], k: int = 10) -> float:
    """Mean nDCG@k with graded relevance (qrels[i] maps doc id -> grade for query i), as BEIR/pytrec_eval."""
    scores = []
    for ranked, rel in zip(ranked_ids, qrels):
        gains = [rel.get(d, 0) for d in list(ranked)[:k]]
        dcg = sum(g / np.log2(i + 2) for i, g in enumerate(gains))
        ideal = sorted(rel.values(), reverse=True)[:k]
        idcg = sum(g / np.log2(i + 2) for i, g in enumerate(ideal))
        scores.append(dcg / idcg if idcg > 0 else 0.0)
    return float(np.mean(scores)) if scores else 0.0
