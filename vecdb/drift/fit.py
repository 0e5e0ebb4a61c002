"""Fitting drift maps from paired embeddings, with a held-out evaluation recorded in the map's FitInfo.

    m = fit_map("procrustes", new_model_vectors, index_model_vectors)   # same texts, same order
    m.info.holdout_cosine, m.info.holdout_recall_at_10                  # how well it did on unseen pairs
    mapped = m.apply(new_model_queries)                                  # then search the index as usual

Pairs may be documents, queries or both: any texts embedded by both model versions. A random `holdout` share of
the pairs is kept out of the fit and scores it; then (refit=True) the map is fitted again on all pairs with the
hyper-parameters it chose. Pass `val=(src, dst)` to score on pairs of your own instead (e.g. query pairs when
fitting on documents): then every pair is used for fitting and the figures come from `val`.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..errors import InvalidArgument
from . import closed_form as cf
from .maps import FITTED_KINDS, SAME_DIM_KINDS, DriftMap, DriftMapSpec, FitInfo

# Retrieval figures compare every held-out source with every held-out target; above this many held-out pairs a
# seeded random subset is used for them (cosine still uses all), so a fit on millions of pairs stays quick.
MAX_RETRIEVAL_PAIRS = 10_000
_K = 10


def _as_pairs(src: Any, dst: Any, what: str = "pairs") -> tuple[np.ndarray, np.ndarray]:
    out = []
    for name, a in (("src", src), ("dst", dst)):
        try:
            arr = np.asarray(a)
        except (TypeError, ValueError) as e:
            raise InvalidArgument(f"{what}: {name} is not an array: {e}") from None
        if arr.ndim != 2:
            raise InvalidArgument(f"{what}: {name} must be a 2-D array (n, d), got shape {arr.shape}")
        if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
            raise InvalidArgument(f"{what}: {name} must hold real numbers, got dtype {arr.dtype}")
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        if arr.shape[1] == 0:
            raise InvalidArgument(f"{what}: {name} has dimension 0")
        if not np.isfinite(arr).all():
            bad = int((~np.isfinite(arr).all(axis=1)).sum())
            raise InvalidArgument(f"{what}: {name} has NaN or infinite values in {bad} row(s)")
        out.append(arr)
    if out[0].shape[0] != out[1].shape[0]:
        raise InvalidArgument(
            f"{what}: src has {out[0].shape[0]} rows but dst has {out[1].shape[0]}: "
            "row i of both must embed the same text"
        )
    if out[0].shape[0] == 0:
        raise InvalidArgument(f"{what}: no pairs given")
    return out[0], out[1]


def _as_weights(weights: Any, n: int) -> np.ndarray | None:
    if weights is None:
        return None
    try:
        w = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise InvalidArgument(f"weights must be numbers: {e}") from None
    if w.shape != (n,):
        raise InvalidArgument(f"weights must have shape ({n},) (one per pair), got {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any():
        raise InvalidArgument("weights must be finite and >= 0")
    if not w.any():
        raise InvalidArgument("weights are all 0")
    return w


def _unit(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float32)
    n = np.linalg.norm(a, axis=1, keepdims=True)
    return a / np.where(n > 0, n, 1.0)


def _topk(scores: np.ndarray, k: int) -> np.ndarray:
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return part


def evaluate(mapped: np.ndarray, target: np.ndarray, seed: int = 0) -> dict[str, float | None]:
    """Held-out figures of a map: mean cosine to target, recall@10 of the own target among the held-out targets,
    and neighbour recall@10 (overlap with what the true target retrieves among the other held-out targets)."""
    m, t = _unit(mapped), _unit(target)
    out: dict[str, float | None] = {
        "cosine": float(np.mean(np.sum(m * t, axis=1))),
        "recall_at_10": None,
        "neighbour_recall_at_10": None,
    }
    n = m.shape[0]
    if n > MAX_RETRIEVAL_PAIRS:
        keep = np.sort(np.random.default_rng(seed).choice(n, MAX_RETRIEVAL_PAIRS, replace=False))
        m, t, n = m[keep], t[keep], MAX_RETRIEVAL_PAIRS
    if n < 2:
        return out
    k = min(_K, n)
    k_nb = min(_K, n - 1)
    hits = 0.0
    overlap = 0.0
    for s in range(0, n, 1024):  # chunks bound the (chunk, n) score matrices
        rows = np.arange(s, min(s + 1024, n))
        sm = m[rows] @ t.T
        own = sm[np.arange(rows.size), rows]
        # Rank of the own target = number of targets scoring strictly higher (ties count in its favour).
        hits += float(np.sum((sm > own[:, None]).sum(axis=1) < k))
        st = t[rows] @ t.T
        sm[np.arange(rows.size), rows] = -np.inf  # neighbours exclude the pair's own target
        st[np.arange(rows.size), rows] = -np.inf
        a, b = _topk(sm, k_nb), _topk(st, k_nb)
        overlap += sum(len(set(x.tolist()) & set(y.tolist())) for x, y in zip(a, b)) / k_nb
    out["recall_at_10"] = hits / n
    out["neighbour_recall_at_10"] = overlap / n
    return out


def selection_score(mapped: np.ndarray, target: np.ndarray) -> tuple:
    """Higher is better. Recall@10 first (the figure a search sees), then neighbour recall, then cosine; recalls
    rounded to 3 decimals so float noise does not decide between maps that retrieve the same."""
    e = evaluate(mapped, target)
    r = e["recall_at_10"]
    nr = e["neighbour_recall_at_10"]
    return (round(r, 3) if r is not None else -1.0, round(nr, 3) if nr is not None else -1.0, e["cosine"])


def _fit_concrete(spec: DriftMapSpec, X: np.ndarray, Y: np.ndarray, w, seed: int, progress: bool | None):
    """(arrays, chosen hyper-parameters) of one concrete kind fitted on X -> Y (w: pair weights or None)."""
    kind, p = spec.kind, spec.params
    if kind == "mean_shift":
        return cf.fit_mean_shift(X, Y, w)
    if kind == "procrustes":
        return cf.fit_procrustes(X, Y, w)
    if kind == "ridge":
        alpha = p["alpha"]
        chosen = {}
        if alpha is None:
            alpha = cf.select_alpha(
                X,
                Y,
                w,
                lambda a, b, al, ww: cf.fit_ridge(a, b, al, p["intercept"], ww),
                lambda arr, a: cf.apply_arrays("ridge", arr, a),
                selection_score,
                seed,
            )
            chosen = {"alpha": alpha}
        return cf.fit_ridge(X, Y, alpha, p["intercept"], w), chosen
    if kind == "low_rank":
        alpha, rank = p["alpha"], p["rank"]
        chosen = {}
        if rank > min(X.shape[1], Y.shape[1]):
            raise InvalidArgument(f"low_rank: rank {rank} exceeds min(d_src, d_dst) = {min(X.shape[1], Y.shape[1])}")
        if alpha is None:
            alpha = cf.select_alpha(
                X,
                Y,
                w,
                lambda a, b, al, ww: cf.fit_low_rank(a, b, rank, al, ww),
                lambda arr, a: cf.apply_arrays("low_rank", arr, a),
                selection_score,
                seed,
            )
            chosen = {"alpha": alpha}
        return cf.fit_low_rank(X, Y, rank, alpha, w), chosen
    if kind == "mlp":
        from .mlp import train_mlp

        if X.shape[0] < 2:
            raise InvalidArgument(f"mlp needs at least 2 training pairs, got {X.shape[0]}")
        return train_mlp(X, Y, spec, w=w, seed=seed, progress=progress, score=selection_score)
    raise InvalidArgument(f"unknown drift map kind {kind!r}")


def _split(n: int, holdout: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    n_hold = int(round(holdout * n))
    if holdout > 0 and n_hold < 2:
        raise InvalidArgument(
            f"holdout={holdout} of {n} pairs leaves {n_hold} held-out pair(s); at least 2 are needed to evaluate: "
            "give more pairs, a larger holdout, or holdout=0"
        )
    if n - n_hold < 1:
        raise InvalidArgument(f"holdout={holdout} of {n} pairs leaves no pair to fit on")
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[n_hold:]), np.sort(perm[:n_hold])


def _finite_params(chosen: dict, spec: DriftMapSpec) -> DriftMapSpec:
    """The spec with the hyper-parameters chosen during the fit written in, so a refit reproduces them."""
    concrete = {k: v for k, v in chosen.items() if k in spec.params}
    return spec.replace(**concrete) if concrete else spec


def fit_map(
    kind: str | DriftMapSpec,
    src: Any,
    dst: Any,
    *,
    holdout: float = 0.1,
    seed: int = 0,
    progress: bool | None = None,
    val: tuple[Any, Any] | None = None,
    weights: Any | None = None,
    refit: bool = True,
    **params: Any,
) -> DriftMap:
    """Fit a map taking `src` (new model version, (n, d_src)) to `dst` (index model version, (n, d_dst)).

    kind: a map kind name (params given as keyword arguments) or a DriftMapSpec. holdout: share of the pairs kept
    out of the fit to evaluate it (0 to skip). val: explicit (src, dst) evaluation pairs instead of a split.
    weights: optional (n,) non-negative weight per pair, e.g. to balance a few query pairs against many document
    pairs (a weight of k counts a pair k times; the held-out figures stay unweighted).
    refit: after evaluating, fit again on all pairs with the chosen hyper-parameters. progress: tqdm bars (None:
    only when stderr is a terminal). Raises InvalidArgument for malformed pairs, unknown kinds or parameters, and
    too few pairs for the kind (saying what is needed).
    """
    t0 = time.perf_counter()
    if isinstance(kind, DriftMapSpec):
        if params:
            raise InvalidArgument("pass parameters either in the DriftMapSpec or as keyword arguments, not both")
        spec = kind
    elif isinstance(kind, str):
        spec = DriftMapSpec(kind, params)
    else:
        raise InvalidArgument(f"kind must be a map kind name or a DriftMapSpec, got {type(kind).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**63:
        raise InvalidArgument(f"seed must be a non-negative integer, got {seed!r}")
    if isinstance(holdout, bool) or not isinstance(holdout, (int, float)) or not 0.0 <= holdout < 1.0:
        raise InvalidArgument(f"holdout must be a fraction in [0, 1), got {holdout!r}")
    X, Y = _as_pairs(src, dst)
    w = _as_weights(weights, X.shape[0])
    d_src, d_dst = X.shape[1], Y.shape[1]
    if spec.kind in SAME_DIM_KINDS and d_src != d_dst:
        raise InvalidArgument(
            f"{spec.kind} needs the same dimension on both sides, got {d_src} -> {d_dst}: "
            "use ridge, low_rank or mlp to map between dimensions"
        )
    if val is not None:
        if not isinstance(val, (tuple, list)) or len(val) != 2:
            raise InvalidArgument(f"val must be a pair (src, dst) of arrays, got {type(val).__name__}")
        Xv, Yv = _as_pairs(val[0], val[1], "val pairs")
        if Xv.shape[1] != d_src or Yv.shape[1] != d_dst:
            raise InvalidArgument(f"val pairs are {Xv.shape[1]} -> {Yv.shape[1]}, the fit pairs {d_src} -> {d_dst}")
        tr, Xh, Yh, source = np.arange(X.shape[0]), Xv, Yv, "given"
    elif holdout > 0:
        tr, ho = _split(X.shape[0], holdout, seed)
        Xh, Yh, source = X[ho], Y[ho], "split"
    else:
        tr, Xh, Yh, source = np.arange(X.shape[0]), None, None, "none"
    Xt, Yt = X[tr], Y[tr]
    wt = None if w is None else w[tr]
    if wt is not None and not wt.any():
        raise InvalidArgument("every training pair has weight 0")

    candidates: list[dict] = []
    if spec.kind == "auto":
        if Xh is None:
            raise InvalidArgument("auto chooses a map on held-out pairs: use holdout > 0 or pass val pairs")
        spec, arrays, chosen, figures, candidates = _fit_auto(spec, Xt, Yt, wt, Xh, Yh, seed, progress)
    else:
        arrays, chosen = _fit_concrete(spec, Xt, Yt, wt, seed, progress)
        spec = _finite_params(chosen, spec)
        figures = None
        if Xh is not None:
            figures = evaluate(DriftMap(spec, d_src, d_dst, arrays, _blank_info()).apply(Xh), Yh, seed)

    did_refit = bool(refit and source == "split")
    if did_refit:
        arrays, _ = _fit_concrete(spec, X, Y, w, seed, progress)
    no_map = None
    if Xh is not None and d_src == d_dst:
        no_map = float(np.mean(np.sum(_unit(Xh) * _unit(Yh), axis=1)))
    info = FitInfo(
        n_pairs=int(X.shape[0]),
        n_train=int(X.shape[0] if did_refit else Xt.shape[0]),
        n_holdout=int(0 if Xh is None else Xh.shape[0]),
        seed=int(seed),
        fit_seconds=time.perf_counter() - t0,
        holdout_cosine=None if figures is None else figures["cosine"],
        holdout_cosine_no_map=no_map,
        holdout_recall_at_10=None if figures is None else figures["recall_at_10"],
        holdout_neighbour_recall_at_10=None if figures is None else figures["neighbour_recall_at_10"],
        holdout_source=source,
        refit=did_refit,
        chosen=chosen,
        candidates=tuple(candidates),
    )
    return DriftMap(spec, d_src, d_dst, arrays, info)


def _blank_info() -> FitInfo:
    return FitInfo(n_pairs=0, n_train=0, n_holdout=0, seed=0, fit_seconds=0.0)


def _fit_auto(spec: DriftMapSpec, Xt, Yt, wt, Xh, Yh, seed: int, progress: bool | None):
    """Fit every kind that applies, keep the one with the best held-out selection_score."""
    from tqdm.auto import tqdm

    d_src, d_dst = Xt.shape[1], Yt.shape[1]
    best = None
    candidates = []
    kinds = spec.params["kinds"]
    for kind in tqdm(kinds, desc="drift auto", unit="map", disable=None if progress is None else not progress):
        if kind in SAME_DIM_KINDS and d_src != d_dst:
            candidates.append({"kind": kind, "skipped": f"needs equal dimensions, got {d_src} -> {d_dst}"})
            continue
        sub = DriftMapSpec(kind, {"rank": min(64, d_src, d_dst)} if kind == "low_rank" else {})
        t0 = time.perf_counter()
        try:
            arrays, chosen = _fit_concrete(sub, Xt, Yt, wt, seed, progress)
        except InvalidArgument as e:  # e.g. too few pairs for this kind: the others may still fit
            candidates.append({"kind": kind, "skipped": str(e)})
            continue
        sub = _finite_params(chosen, sub)
        mapped = DriftMap(sub, d_src, d_dst, arrays, _blank_info()).apply(Xh)
        figures = evaluate(mapped, Yh, seed)
        score = selection_score(mapped, Yh)
        candidates.append(
            {
                "kind": kind,
                "spec": sub.to_dict(),
                "fit_seconds": time.perf_counter() - t0,
                **{f"holdout_{k}": v for k, v in figures.items()},
            }
        )
        if best is None or score > best[0]:
            best = (score, sub, arrays, chosen, figures)
    if best is None:
        reasons = "; ".join(f"{c['kind']}: {c['skipped']}" for c in candidates)
        raise InvalidArgument(f"auto could not fit any map kind: {reasons}")
    _, sub, arrays, chosen, figures = best
    for c in candidates:
        c["chosen"] = c["kind"] == sub.kind
    return sub, arrays, chosen, figures, candidates


__all__ = ["FITTED_KINDS", "evaluate", "fit_map", "selection_score"]
