"""Query-token reduction by ball carving (MUVERA): merge query tokens that point the same way before re-ranking.

Greedy, in token order: the first unassigned token opens a ball, every unassigned token with cosine >= tau to it
joins, and the ball is replaced by the SUM of its members. For tokens that share their best document token the
sum gives exactly their summed MaxSim contribution, so scores keep their scale; elsewhere it is a lower bound on
their contribution. Fewer query tokens make re-ranking proportionally cheaper.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidArgument


def ball_carve(query: np.ndarray, tau: float) -> tuple[np.ndarray, np.ndarray]:
    """(reduced (m, d) float32, assignment (n,) ball index of every original token). tau in [-1, 1]; tau > 1
    keeps every token (only exact duplicates of direction would merge at tau = 1)."""
    if isinstance(tau, bool) or not isinstance(tau, int | float) or not np.isfinite(tau) or tau < -1:
        raise InvalidArgument(f"ball-carving threshold tau must be a number >= -1, got {tau!r}")
    q = np.asarray(query, dtype=np.float32)
    if q.ndim != 2 or q.shape[0] == 0:
        raise InvalidArgument(f"query must be a non-empty (n_tokens, dim) array, got shape {q.shape}")
    if not np.isfinite(q).all():
        raise InvalidArgument("query tokens contain NaN or infinity")
    norms = np.linalg.norm(q, axis=1)
    unit = q / np.where(norms > 0, norms, 1.0)[:, None]
    cos = unit @ unit.T
    n = q.shape[0]
    assign = np.full(n, -1, np.int64)
    centers = []
    for i in range(n):
        if assign[i] >= 0:
            continue
        members = np.flatnonzero((assign < 0) & (cos[i] >= tau))
        members = members[members >= i]
        assign[members] = len(centers)
        assign[i] = len(centers)
        centers.append(i)
    reduced = np.zeros((len(centers), q.shape[1]), np.float32)
    np.add.at(reduced, assign, q)
    return reduced, assign
