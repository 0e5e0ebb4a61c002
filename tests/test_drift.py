"""Drift maps on synthetic pairs with a known transform: each kind must recover it; persistence, determinism and
input validation. The real-data floors live in tests/test_drift_scifact.py."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import reference

from vecdb.drift import DriftMap, DriftMapSpec, evaluate, fit_map
from vecdb.errors import CorruptDatabase, InvalidArgument


def _unit(a):
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def _rotation(rng, d):
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


@pytest.fixture
def pairs32(rng):
    return _unit(rng.standard_normal((600, 32))).astype(np.float32)


# ---------------------------------------------------------------- each kind recovers its transform


def test_procrustes_recovers_a_rotation(rng, pairs32):
    R = _rotation(rng, 32)
    Y = pairs32 @ R + 0.001 * rng.standard_normal(pairs32.shape)
    m = fit_map("procrustes", pairs32, Y)
    assert np.abs(m.arrays["W"] - R).max() < 0.01
    assert m.info.holdout_cosine > 0.999
    assert m.info.holdout_recall_at_10 == 1.0
    assert m.info.holdout_cosine_no_map < 0.5  # the rotation really moves things: no map would be wrong
    W = m.arrays["W"].astype(np.float64)
    assert np.allclose(W.T @ W, np.eye(32), atol=1e-5)  # orthogonal, not merely close to R


def test_ridge_recovers_an_affine_map(rng, pairs32):
    A = rng.standard_normal((32, 32)) / np.sqrt(32)
    c = rng.standard_normal(32)
    Y = pairs32 @ A + c
    m = fit_map("ridge", pairs32, Y, alpha=0.0)
    assert np.abs(m.arrays["W"] - A).max() < 1e-3
    assert np.abs(m.arrays["b"] - c).max() < 1e-3
    auto_alpha = fit_map("ridge", pairs32, Y)  # alpha chosen on an inner split: the smallest wins on exact data
    assert auto_alpha.info.chosen == {"alpha": 1e-3}
    assert auto_alpha.spec["alpha"] == 1e-3
    assert auto_alpha.info.holdout_cosine > 0.999


def test_low_rank_recovers_a_low_rank_affine_map_between_dimensions(rng, pairs32):
    U = rng.standard_normal((32, 4))
    V = rng.standard_normal((4, 48))
    c = rng.standard_normal(48)
    Y = pairs32 @ U @ V + c
    m = fit_map("low_rank", pairs32, Y, rank=4, alpha=0.0)
    assert m.d_src == 32 and m.d_dst == 48
    assert m.arrays["A"].shape == (32, 4) and m.arrays["B"].shape == (4, 48)
    X_new = _unit(rng.standard_normal((50, 32))).astype(np.float32)
    assert np.allclose(m.apply(X_new), X_new @ U @ V + c, atol=1e-3)
    too_small = fit_map("low_rank", pairs32, Y, rank=2, alpha=0.0)  # cannot express a rank-4 map
    assert too_small.info.holdout_cosine < m.info.holdout_cosine - 0.01


@pytest.mark.parametrize("kind", ["ridge", "low_rank", "mlp"])
def test_non_orthogonal_maps_change_dimension_32_to_48(rng, pairs32, kind):
    A = rng.standard_normal((32, 48)) / np.sqrt(32)
    c = 0.1 * rng.standard_normal(48)
    Y = pairs32 @ A + c
    params = {"rank": 32} if kind == "low_rank" else {"epochs": 3, "loss": "mse", "hidden": 16} if kind == "mlp" else {}
    m = fit_map(kind, pairs32, Y, progress=False, **params)
    assert m.apply(pairs32[:3]).shape == (3, 48)
    assert m.info.holdout_cosine > 0.995
    assert m.info.holdout_recall_at_10 == 1.0


def test_mean_shift_recovers_a_shift(rng, pairs32):
    delta = 0.3 * rng.standard_normal(32)
    Y = pairs32 - delta  # the new model drifted by +delta
    m = fit_map("mean_shift", pairs32, Y)
    assert np.allclose(m.arrays["b"], -delta, atol=1e-5)
    assert np.allclose(m.apply(pairs32), Y, atol=1e-5)
    assert m.info.holdout_cosine > 0.9999 > m.info.holdout_cosine_no_map


def test_mlp_learns_a_nonlinear_transform_the_linear_maps_cannot(rng):
    X = _unit(rng.standard_normal((1500, 16))).astype(np.float32)
    A = rng.standard_normal((16, 16)) / 4
    U = rng.standard_normal((16, 2)) * 2
    V = rng.standard_normal((2, 16)) / 2
    Y = X @ A + np.abs(X @ U) @ V  # a fold along two directions: no linear map can express it
    ridge = fit_map("ridge", X, Y)
    mlp = fit_map("mlp", X, Y, loss="mse", epochs=40, hidden=64, lr=1e-2, batch_size=128, progress=False)
    assert mlp.info.chosen["init"] == "procrustes"
    assert ridge.info.holdout_cosine < 0.96
    assert mlp.info.holdout_cosine > ridge.info.holdout_cosine + 0.03


def test_mlp_numpy_forward_matches_torch(rng):
    import torch
    import torch.nn.functional as F

    X = _unit(rng.standard_normal((300, 12))).astype(np.float32)
    Y = np.tanh(X @ rng.standard_normal((12, 20))).astype(np.float32)
    m = fit_map("mlp", X, Y, epochs=2, hidden=8, progress=False)
    a = {k: torch.from_numpy(v) for k, v in m.arrays.items()}
    x = torch.from_numpy(X[:20])
    want = x @ a["W"] + a["b"] + F.gelu(x @ a["W1"] + a["b1"], approximate="tanh") @ a["W2"] + a["b2"]
    assert np.abs(m.arrays["W2"]).max() > 0  # the residual branch was trained, so this compares real work
    assert np.allclose(m.apply(X[:20]), want.numpy(), atol=1e-5)


def test_auto_keeps_the_best_and_skips_equal_dimension_kinds_across_dimensions(rng, pairs32):
    Y = pairs32 @ (rng.standard_normal((32, 48)) / np.sqrt(32))
    m = fit_map("auto", pairs32, Y, kinds=["mean_shift", "procrustes", "ridge", "low_rank"])
    by_kind = {c["kind"]: c for c in m.info.candidates}
    assert "equal dimensions" in by_kind["procrustes"]["skipped"]
    assert "equal dimensions" in by_kind["mean_shift"]["skipped"]
    assert m.kind == "ridge" and by_kind["ridge"]["chosen"]  # the exact linear map beats the rank-32 one
    R = _rotation(rng, 32)
    rot = fit_map("auto", pairs32, pairs32 @ R, kinds=["mean_shift", "procrustes"])
    assert rot.kind == "procrustes"


# ---------------------------------------------------------------- evaluation figures


def test_evaluate_matches_a_plain_reference(rng):
    T = _unit(rng.standard_normal((60, 8)))
    M = T + 0.6 * rng.standard_normal(T.shape)
    got = evaluate(M, T)
    want = reference.drift_holdout_figures(M, T, 10)
    assert got["cosine"] == pytest.approx(want["cosine"], abs=1e-6)
    assert got["recall_at_10"] == pytest.approx(want["recall_at_10"])
    assert got["neighbour_recall_at_10"] == pytest.approx(want["neighbour_recall_at_10"])
    assert 0 < got["recall_at_10"] < 1 and 0 < got["neighbour_recall_at_10"] < 1  # a case that can fail


def test_evaluate_edge_cases():
    one = evaluate(np.ones((1, 4)), np.ones((1, 4)))
    assert one["cosine"] == pytest.approx(1.0) and one["recall_at_10"] is None
    zeros = evaluate(np.zeros((3, 4)), np.eye(4)[:3])  # a zero mapped vector has cosine 0, not NaN
    assert zeros["cosine"] == 0.0


# ---------------------------------------------------------------- persistence and determinism


@pytest.mark.parametrize(
    "kind,params",
    [("mean_shift", {}), ("procrustes", {}), ("ridge", {}), ("low_rank", {"rank": 8}), ("mlp", {"epochs": 2})],
)
def test_state_round_trip_through_lmdb(tmp_path, rng, pairs32, kind, params):
    import io

    import lmdb

    Y = pairs32 @ _rotation(rng, 32) + 0.05
    m = fit_map(kind, pairs32, Y, progress=False, **params)
    meta, arrays = m.state()
    env = lmdb.open(str(tmp_path / "env"), map_size=1 << 26)
    with env.begin(write=True) as txn:
        txn.put(b"meta", json.dumps(meta).encode())
        for name, a in arrays.items():
            buf = io.BytesIO()
            np.save(buf, a, allow_pickle=False)
            txn.put(b"arr/" + name.encode(), buf.getvalue())
    env.close()
    env = lmdb.open(str(tmp_path / "env"), readonly=True)
    with env.begin() as txn:
        meta2 = json.loads(txn.get(b"meta"))
        arrays2 = {
            k[4:].decode(): np.load(io.BytesIO(v), allow_pickle=False) for k, v in txn.cursor() if k.startswith(b"arr/")
        }
    env.close()
    m2 = DriftMap.from_state(meta2, arrays2)
    assert m2.spec == m.spec and m2.info == m.info
    q = pairs32[:7]
    assert np.array_equal(m2.apply(q), m.apply(q))
    assert m2.apply(q).dtype == np.float32


def test_from_state_rejects_damage(rng, pairs32):
    m = fit_map("ridge", pairs32, pairs32 @ _rotation(rng, 32))
    meta, arrays = m.state()
    with pytest.raises(CorruptDatabase, match="arrays"):
        DriftMap.from_state(meta, {"W": arrays["W"]})
    with pytest.raises(CorruptDatabase, match="shape"):
        DriftMap.from_state(meta, {**arrays, "W": arrays["W"][:, :5]})
    with pytest.raises(CorruptDatabase, match="version"):
        DriftMap.from_state({**meta, "version": 99}, arrays)
    with pytest.raises(CorruptDatabase):
        DriftMap.from_state({k: v for k, v in meta.items() if k != "spec"}, arrays)


@pytest.mark.parametrize("kind", ["ridge", "mlp", "auto"])
def test_same_seed_same_map_other_seed_other_split(rng, pairs32, kind):
    Y = np.tanh(pairs32 @ _rotation(rng, 32) * 2)
    params = {"epochs": 2, "hidden": 16} if kind == "mlp" else {}
    if kind == "auto":
        params = {"kinds": ["procrustes", "ridge", "mlp"]}
    a = fit_map(kind, pairs32, Y, seed=7, progress=False, **params)
    b = fit_map(kind, pairs32, Y, seed=7, progress=False, **params)
    c = fit_map(kind, pairs32, Y, seed=8, progress=False, **params)
    assert a.kind == b.kind
    for name in a.arrays:
        assert np.array_equal(a.arrays[name], b.arrays[name])
    assert a.info.holdout_cosine == b.info.holdout_cosine
    assert a.info.holdout_cosine != c.info.holdout_cosine  # another seed holds out other pairs


def test_spec_round_trip_and_defaults():
    s = DriftMapSpec("mlp", {"hidden": 64, "loss": "cosine"})
    assert s["epochs"] == 20 and s["tau"] == 0.05
    assert DriftMapSpec.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    a = DriftMapSpec("auto", {"kinds": ["ridge", "procrustes"]})
    assert DriftMapSpec.from_dict(json.loads(json.dumps(a.to_dict()))) == a
    assert hash(DriftMapSpec("ridge")) == hash(DriftMapSpec("ridge", {"alpha": None}))
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.kind = "ridge"


# ---------------------------------------------------------------- bad inputs -> clear errors


@pytest.mark.parametrize(
    "kind,params,match",
    [
        ("nope", {}, "unknown drift map kind"),
        ("ridge", {"rank": 3}, r"unknown parameter.*\['rank'\]"),
        ("ridge", {"alpha": -1.0}, "alpha must be in"),
        ("ridge", {"alpha": float("nan")}, "alpha must be a finite number"),
        ("ridge", {"intercept": 1}, "intercept must be a boolean"),
        ("low_rank", {"rank": 0}, "rank must be an integer"),
        ("mlp", {"loss": "hinge"}, "loss must be one of"),
        ("mlp", {"tau": 0.0}, "tau must be in"),
        ("mlp", {"epochs": 2.5}, "epochs must be an integer"),
        ("auto", {"kinds": ["ridge", "auto"]}, "kinds"),
        ("auto", {"kinds": []}, "kinds"),
    ],
)
def test_bad_specs(kind, params, match):
    with pytest.raises(InvalidArgument, match=match):
        DriftMapSpec(kind, params)


def test_bad_pairs(rng, pairs32):
    Y = pairs32.copy()
    with pytest.raises(InvalidArgument, match="600 rows but dst has 599"):
        fit_map("ridge", pairs32, Y[:-1])
    bad = Y.copy()
    bad[3, 2] = np.nan
    with pytest.raises(InvalidArgument, match="NaN or infinite values in 1 row"):
        fit_map("ridge", pairs32, bad)
    bad[3, 2] = np.inf
    with pytest.raises(InvalidArgument, match="NaN or infinite"):
        fit_map("procrustes", bad, Y)
    with pytest.raises(InvalidArgument, match="2-D"):
        fit_map("ridge", pairs32[0], Y[0])
    with pytest.raises(InvalidArgument, match="no pairs"):
        fit_map("ridge", pairs32[:0], Y[:0])
    with pytest.raises(InvalidArgument, match="real numbers"):
        fit_map("ridge", pairs32.astype(str), Y)
    with pytest.raises(InvalidArgument, match="same dimension"):
        fit_map("procrustes", pairs32, np.hstack([Y, Y]))
    with pytest.raises(InvalidArgument, match="same dimension"):
        fit_map("mean_shift", pairs32, Y[:, :16])
    with pytest.raises(InvalidArgument, match="holdout"):
        fit_map("ridge", pairs32, Y, holdout=1.0)
    with pytest.raises(InvalidArgument, match="at least 2 are needed"):
        fit_map("ridge", pairs32[:10], Y[:10], holdout=0.1)
    with pytest.raises(InvalidArgument, match="seed"):
        fit_map("ridge", pairs32, Y, seed=-1)
    with pytest.raises(InvalidArgument, match="not both"):
        fit_map(DriftMapSpec("ridge"), pairs32, Y, alpha=1.0)
    with pytest.raises(InvalidArgument, match="auto chooses"):
        fit_map("auto", pairs32, Y, holdout=0)


def test_too_few_pairs_for_the_dimension_says_what_is_needed(rng):
    X = rng.standard_normal((300, 384)).astype(np.float32)
    Y = rng.standard_normal((300, 384)).astype(np.float32)
    with pytest.raises(InvalidArgument, match=r"at least 385 training pairs.*\(got 270\).*alpha > 0"):
        fit_map("ridge", X, Y, alpha=0.0)
    with pytest.raises(InvalidArgument, match="rank 400 exceeds"):
        fit_map("low_rank", X, Y, rank=400)
    ok = fit_map("ridge", X, Y, alpha=1.0)  # regularised: fine with n < d
    assert ok.info.n_train == 300
    few = fit_map("auto", X[:30], Y[:30], kinds=["ridge", "low_rank"])
    assert {c["kind"]: "skipped" in c for c in few.info.candidates} == {"ridge": False, "low_rank": True}


def test_val_pairs_replace_the_split(rng, pairs32):
    R = _rotation(rng, 32)
    Xv = _unit(rng.standard_normal((40, 32))).astype(np.float32)
    m = fit_map("procrustes", pairs32, pairs32 @ R, val=(Xv, Xv @ R))
    assert m.info.holdout_source == "given" and m.info.n_holdout == 40 and m.info.n_train == 600
    assert not m.info.refit
    with pytest.raises(InvalidArgument, match="val pairs"):
        fit_map("procrustes", pairs32, pairs32 @ R, val=(Xv[:, :8], Xv))
    none = fit_map("procrustes", pairs32, pairs32 @ R, holdout=0)
    assert none.info.holdout_cosine is None and none.info.holdout_source == "none"


def test_apply_validates_queries(rng, pairs32):
    m = fit_map("ridge", pairs32, pairs32[:, ::-1].copy())
    assert m.apply(pairs32[0]).shape == (32,)
    assert m.apply(pairs32[:0]).shape == (0, 32)
    assert m.apply(pairs32[:2].astype(np.float64)).dtype == np.float32
    with pytest.raises(InvalidArgument, match="dimension 32"):
        m.apply(np.zeros((2, 31), np.float32))
    q = pairs32[:2].copy()
    q[1, 0] = np.nan
    with pytest.raises(InvalidArgument, match="NaN"):
        m.apply(q)
    with pytest.raises(InvalidArgument, match="real numbers"):
        m.apply(np.array([["a"] * 32]))


@pytest.mark.parametrize("kind", ["mean_shift", "procrustes", "ridge", "low_rank"])
def test_integer_weights_equal_repeating_pairs(rng, pairs32, kind):
    Y = np.tanh(pairs32 @ _rotation(rng, 32) + 0.1)
    w = rng.integers(0, 4, len(pairs32)).astype(float)
    params = {"rank": 8, "alpha": 0.1} if kind == "low_rank" else {"alpha": 0.1} if kind == "ridge" else {}
    weighted = fit_map(kind, pairs32, Y, weights=w, holdout=0, **params)
    rep = np.repeat(np.arange(len(w)), w.astype(int))
    repeated = fit_map(kind, pairs32[rep], Y[rep], holdout=0, **params)
    # Compared through apply: low-rank factors are only defined up to the signs of their singular vectors.
    assert np.allclose(weighted.apply(pairs32), repeated.apply(pairs32), atol=1e-4)
    unweighted = fit_map(kind, pairs32, Y, holdout=0, **params)
    assert not np.allclose(weighted.apply(pairs32), unweighted.apply(pairs32), atol=1e-4)


def test_weights_reach_the_mlp_and_bad_weights_are_rejected(rng, pairs32):
    Y = np.tanh(pairs32 @ _rotation(rng, 32))
    w = np.ones(len(pairs32))
    w[:300] = 5.0
    a = fit_map("mlp", pairs32, Y, epochs=2, hidden=8, progress=False)
    b = fit_map("mlp", pairs32, Y, epochs=2, hidden=8, progress=False, weights=w)
    assert not np.array_equal(a.arrays["W2"], b.arrays["W2"])
    with pytest.raises(InvalidArgument, match=r"shape \(600,\)"):
        fit_map("ridge", pairs32, Y, weights=w[:5])
    with pytest.raises(InvalidArgument, match=">= 0"):
        fit_map("ridge", pairs32, Y, weights=-w)
    with pytest.raises(InvalidArgument, match="all 0"):
        fit_map("ridge", pairs32, Y, weights=0 * w)
    with pytest.raises(InvalidArgument, match=r"at least 385 training pairs.*\(got 2\)"):
        X = rng.standard_normal((400, 384)).astype(np.float32)
        few = np.zeros(400)
        few[:2] = 1.0
        fit_map("ridge", X, X, weights=few, alpha=0.0, holdout=0)
