"""Closed-form drift maps: mean shift, orthogonal Procrustes, ridge (affine) and reduced-rank (low-rank affine).

Each fitter takes training pairs X (n, d_src) -> Y (n, d_dst), float32, already validated, and returns the arrays
of the fitted map (see maps._ARRAYS) plus the hyper-parameters it chose. Solves run in float64: the normal
equations of 384-d embeddings are ill-conditioned enough for float32 to lose digits that matter.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import InvalidArgument

# Ridge strengths tried when alpha=None, on the scale of sum-of-squares loss over the training pairs.
ALPHA_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)

Arrays = dict[str, np.ndarray]


def _wmean(A: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    return A.mean(axis=0) if w is None else (w[:, None] * A).sum(axis=0) / w.sum()


def fit_mean_shift(X: np.ndarray, Y: np.ndarray, w: np.ndarray | None = None) -> tuple[Arrays, dict]:
    """Query Drift Compensation: new = old + drift, so old ~= new - mean(new - old)."""
    if X.shape[1] != Y.shape[1]:
        raise InvalidArgument(
            f"mean_shift needs the same dimension on both sides, got {X.shape[1]} -> {Y.shape[1]}: "
            "use ridge, low_rank or mlp to map between dimensions"
        )
    shift = _wmean(Y.astype(np.float64) - X.astype(np.float64), w)
    return {"b": shift}, {}


def fit_procrustes(X: np.ndarray, Y: np.ndarray, w: np.ndarray | None = None) -> tuple[Arrays, dict]:
    """The rotation R minimising ||X R - Y||_F: R = U V^T from the SVD of X^T Y (Schoenemann 1966).

    A rotation keeps every angle of the new model's space, which is why it transfers better than a free linear
    map from the pairs it was fitted on (documents) to a different kind of text (queries)."""
    if X.shape[1] != Y.shape[1]:
        raise InvalidArgument(
            f"procrustes needs the same dimension on both sides, got {X.shape[1]} -> {Y.shape[1]}: "
            "use ridge, low_rank or mlp to map between dimensions"
        )
    if X.shape[0] < 2:
        raise InvalidArgument(f"procrustes needs at least 2 training pairs, got {X.shape[0]}")
    Yw = Y.astype(np.float64) if w is None else w[:, None] * Y
    U, _, Vt = np.linalg.svd(X.astype(np.float64).T @ Yw)
    return {"W": U @ Vt}, {}


def _centered(X: np.ndarray, Y: np.ndarray, intercept: bool, w: np.ndarray | None = None):
    """Centred (weighted-mean) pairs, rows scaled by sqrt(weight): weighted least squares as a plain one."""
    X = X.astype(np.float64)
    Y = Y.astype(np.float64)
    if intercept:
        mx, my = _wmean(X, w), _wmean(Y, w)
    else:
        mx, my = np.zeros(X.shape[1]), np.zeros(Y.shape[1])
    Xc, Yc = X - mx, Y - my
    if w is not None:
        r = np.sqrt(w)[:, None]
        Xc, Yc = Xc * r, Yc * r
    return Xc, Yc, mx, my


def _ridge_weights(Xc: np.ndarray, Yc: np.ndarray, alpha: float) -> np.ndarray:
    if alpha == 0.0:
        return np.linalg.lstsq(Xc, Yc, rcond=None)[0]
    d = Xc.shape[1]
    if Xc.shape[0] < d:  # the dual form is cheaper when there are fewer pairs than dimensions
        K = Xc @ Xc.T
        K[np.diag_indices_from(K)] += alpha
        return Xc.T @ np.linalg.solve(K, Yc)
    G = Xc.T @ Xc
    G[np.diag_indices_from(G)] += alpha
    return np.linalg.solve(G, Xc.T @ Yc)


def _n_weighted(X: np.ndarray, w: np.ndarray | None) -> int:
    return X.shape[0] if w is None else int(np.count_nonzero(w))


def _check_unregularised(kind: str, n: int, d: int, intercept: bool) -> None:
    need = d + 1 if intercept else d
    if n < need:
        raise InvalidArgument(
            f"{kind} with alpha=0 needs at least {need} training pairs for {d}-d sources (got {n}): "
            "pass alpha > 0 (or alpha=None to choose it on held-out pairs) or give more pairs"
        )


def select_alpha(
    X: np.ndarray,
    Y: np.ndarray,
    w: np.ndarray | None,
    fit: Callable[[np.ndarray, np.ndarray, float, np.ndarray | None], Arrays],
    apply: Callable[[Arrays, np.ndarray], np.ndarray],
    score: Callable[[np.ndarray, np.ndarray], tuple],
    seed: int,
) -> float:
    """The ridge strength from ALPHA_GRID that scores best on an inner 10% split of the training pairs (so the
    outer held-out pairs stay unseen by every choice made during the fit)."""
    n = X.shape[0]
    n_val = max(2, int(round(0.1 * n)))
    if n - n_val < 2:
        raise InvalidArgument(f"choosing alpha needs at least 4 training pairs, got {n}: pass alpha explicitly")
    perm = np.random.default_rng(seed).permutation(n)
    val, tr = perm[:n_val], perm[n_val:]
    best, best_score = ALPHA_GRID[0], None
    for alpha in ALPHA_GRID:
        s = score(apply(fit(X[tr], Y[tr], alpha, None if w is None else w[tr]), X[val]), Y[val])
        if best_score is None or s > best_score:
            best, best_score = alpha, s
    return best


def fit_ridge(
    X: np.ndarray, Y: np.ndarray, alpha: float, intercept: bool = True, w: np.ndarray | None = None
) -> Arrays:
    """Affine least squares with an L2 penalty on W (not on the intercept): Y ~= X W + b."""
    if alpha == 0.0:
        _check_unregularised("ridge", _n_weighted(X, w), X.shape[1], intercept)
    Xc, Yc, mx, my = _centered(X, Y, intercept, w)
    W = _ridge_weights(Xc, Yc, alpha)
    return {"W": W, "b": my - mx @ W}


def fit_low_rank(X: np.ndarray, Y: np.ndarray, rank: int, alpha: float, w: np.ndarray | None = None) -> Arrays:
    """Reduced-rank ridge regression: the ridge fit projected onto the top-`rank` principal directions of its own
    fitted values (the optimal rank-r affine map for the ridge-regularised loss), stored as two thin factors so
    applying it costs rank * (d_src + d_dst) instead of d_src * d_dst."""
    d_src, d_dst = X.shape[1], Y.shape[1]
    if rank > min(d_src, d_dst):
        raise InvalidArgument(f"low_rank: rank {rank} exceeds min(d_src, d_dst) = {min(d_src, d_dst)}")
    if X.shape[0] <= rank:
        raise InvalidArgument(f"low_rank with rank {rank} needs more than {rank} training pairs, got {X.shape[0]}")
    if alpha == 0.0:
        _check_unregularised("low_rank", _n_weighted(X, w), d_src, True)
    Xc, Yc, mx, my = _centered(X, Y, True, w)
    W = _ridge_weights(Xc, Yc, alpha)
    _, _, Vt = np.linalg.svd(Xc @ W, full_matrices=False)
    V = Vt[:rank].T  # (d_dst, rank)
    A = W @ V
    return {"A": A, "B": V.T, "b": my - (mx @ A) @ V.T}


def apply_arrays(kind: str, arrays: Arrays, X: np.ndarray) -> np.ndarray:
    """Apply closed-form arrays before they are wrapped in a DriftMap (used while choosing hyper-parameters)."""
    if kind == "ridge":
        return X @ arrays["W"] + arrays["b"]
    if kind == "low_rank":
        return (X @ arrays["A"]) @ arrays["B"] + arrays["b"]
    raise InvalidArgument(f"no closed-form apply for {kind!r}")
