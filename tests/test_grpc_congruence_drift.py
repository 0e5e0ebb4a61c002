"""Congruence of model versions (query drift maps): set / list versions, fit maps from synthetic pairs, search with
model_version, errors, drop; embedded, blocking client and asyncio client must agree step by step (the fitted maps
bit for bit, through the scores of the searches they serve). Also: fits on more pairs than one message holds."""

import numpy as np
import pytest
from grpc_fixtures import canon, pair, remote, remote_async, server, start  # noqa: F401 - fixtures

import vecdb
import vecdb_client
from vecdb import Dense, MultiVector
from vecdb import filters as F
from vecdb.drift import DriftMapSpec
from vecdb.multivector import FDEParams
from vecdb.params import SearchParams
from vecdb_client import ops

D = 12
RNG = np.random.default_rng(5)
X = RNG.normal(size=(400, D)).astype(np.float32)
ROT = np.linalg.qr(RNG.normal(size=(D, D)))[0].astype(np.float32)  # "new model": a rotation of the old space
WIDE = RNG.normal(size=(D, 20)).astype(np.float32)  # a 20-d "new model" (a linear map of the old space)
NEW = X @ ROT
NEW_NOISY = NEW + 0.05 * RNG.normal(size=NEW.shape).astype(np.float32)


def _timeless(x):
    """A fit report without its timings (fit_seconds differs from run to run), at any depth."""
    if isinstance(x, dict):
        return {k: _timeless(v) for k, v in x.items() if k != "fit_seconds"}
    if isinstance(x, list):
        return [_timeless(v) for v in x]
    return x


def _collection(db):
    c = db.create_collection(
        "c",
        vectors={"v": Dense(D, "cosine"), "t": MultiVector(4, fde=FDEParams(k_sim=1, reps=2, d_proj=4))},
        payload={"g": "keyword"},
    )
    tokens = [np.ones((1, 4), np.float32) + i for i in range(400)]
    c.upsert(list(range(400)), {"v": X, "t": tokens}, [{"g": "ab"[i % 2]} for i in range(400)])
    return c


def test_model_versions_and_query_maps(pair):
    def scenario(db, log):
        c = _collection(db)
        fit = lambda *a, **k: _timeless(c.fit_query_map(*a, **k))  # noqa: E731
        versions = lambda field="v": _timeless(c.model_versions(field))  # noqa: E731
        log("no versions yet", versions)
        log("set index version", c.set_model_version, "v", "old")
        log("versions", versions)
        log("fit procrustes", fit, "v", "new", NEW_NOISY[:300], X[:300], kind="procrustes", seed=1)
        log("search mapped batch", c.search, "v", NEW[350:356], k=3, model_version="new")
        log("search mapped single", c.search, "v", NEW[360], k=2, model_version="new", with_payload=False)
        log("search mapped, filter", c.search, "v", NEW[361], k=3, model_version="new", filter=F.eq("g", "a"))
        log("search mapped, exact", c.search, "v", NEW[362], k=3, model_version="new", params=SearchParams(exact=True))
        log("search index version", c.search, "v", X[5], k=2, model_version="old")
        log("fit ridge, 20 -> 12", fit, "v", "wide", X[:300] @ WIDE, X[:300], kind="ridge", seed=0, alpha=0.5)
        log("search wide", c.search, "v", X[300:303] @ WIDE, k=2, model_version="wide")
        log("fit ridge, alpha chosen", fit, "v", "wide2", X @ WIDE, X, kind="ridge", holdout=0.25, seed=4)
        log(
            "fit with weights and val pairs",
            fit,
            "v",
            "weighted",
            NEW_NOISY[:300],
            X[:300],
            kind="procrustes",
            weights=np.linspace(0.1, 2, 300),
            val=(NEW[300:], X[300:]),
        )
        log("fit auto", fit, "v", "auto", NEW_NOISY, X, kinds=["mean_shift", "procrustes"], seed=2)
        spec = DriftMapSpec("low_rank", {"rank": 6, "alpha": 0.1})
        log("fit DriftMapSpec", fit, "v", "spec", X @ WIDE, X, kind=spec, holdout=0, refit=False)
        log("search low rank", c.search, "v", X[7] @ WIDE, k=1, model_version="spec")
        log("versions after fits", versions)
        log("drop", c.drop_query_map, "v", "wide")
        log("drop again", c.drop_query_map, "v", "wide")
        log("drop never fitted", c.drop_query_map, "v", "zzz")
        log("search dropped", c.search, "v", X[5] @ WIDE, k=1, model_version="wide")
        log("index version may be a dropped one", c.set_model_version, "v", "wide")
        log("versions at the end", versions)

    entries = {e[0]: e for e in pair.run(scenario)}
    assert [label for label, e in entries.items() if e[1] == "raise"] == ["search dropped"]
    assert entries["search dropped"][2] == "NotFound"
    # The maps recover the change of model: a new-model query finds the old vector of the same text first.
    assert [h[1][0] for h in entries["search mapped batch"][2]] == [("int", i) for i in range(350, 356)]
    assert entries["search mapped single"][2][1][0] == ("int", 360)
    assert [h[1][0] for h in entries["search wide"][2]] == [("int", i) for i in range(300, 303)]


BAD_DRIFT_CALLS = [
    ("unknown version", lambda c: c.search("v", X[0], k=1, model_version="v9")),
    ("empty version", lambda c: c.search("v", X[0], k=1, model_version="")),
    ("invalid version", lambda c: c.search("v", X[0], k=1, model_version="bad version!")),
    ("non-string version", lambda c: c.search("v", X[0], k=1, model_version=5)),
    ("mapped query of the wrong dim", lambda c: c.search("v", np.ones(5), k=1, model_version="new")),
    ("mapped NaN query", lambda c: c.search("v", [np.nan] * D, k=1, model_version="new")),
    ("mapped version as index version", lambda c: c.set_model_version("v", "new")),
    ("set invalid version", lambda c: c.set_model_version("v", "a b")),
    ("set non-string version", lambda c: c.set_model_version("v", 3.5)),
    ("set unknown field", lambda c: c.set_model_version("w", "x")),
    ("set non-string field", lambda c: c.set_model_version(None, "x")),
    ("versions of multi-vector", lambda c: c.model_versions("t")),
    ("drop invalid version", lambda c: c.drop_query_map("v", "")),
    ("fit index version", lambda c: c.fit_query_map("v", "old", NEW, X)),
    ("fit old of wrong dim", lambda c: c.fit_query_map("v", "x", NEW, X[:, :5])),
    ("fit rows mismatch", lambda c: c.fit_query_map("v", "x", NEW[:10], X[:11], kind="procrustes")),
    ("fit NaN", lambda c: c.fit_query_map("v", "x", np.full((20, D), np.nan), X[:20], kind="procrustes")),
    ("fit 1-D new", lambda c: c.fit_query_map("v", "x", NEW[0], X[:1], kind="procrustes")),
    ("fit unknown kind", lambda c: c.fit_query_map("v", "x", NEW, X, kind="magic")),
    ("fit kind not a name", lambda c: c.fit_query_map("v", "x", NEW, X, kind=5)),
    ("fit unknown parameter", lambda c: c.fit_query_map("v", "x", NEW, X, kind="ridge", rank=3)),
    ("fit spec and parameters", lambda c: c.fit_query_map("v", "x", NEW, X, kind=DriftMapSpec("ridge"), alpha=1.0)),
    ("fit bad holdout", lambda c: c.fit_query_map("v", "x", NEW, X, kind="procrustes", holdout=1.5)),
    ("fit bad seed", lambda c: c.fit_query_map("v", "x", NEW, X, kind="procrustes", seed=-3)),
    ("fit too few pairs", lambda c: c.fit_query_map("v", "x", NEW[:5], X[:5], kind="procrustes")),
    ("fit dims differ (procrustes)", lambda c: c.fit_query_map("v", "x", X @ WIDE, X, kind="procrustes")),
    ("fit bad weights", lambda c: c.fit_query_map("v", "x", NEW, X, kind="procrustes", weights=-np.ones(400))),
    ("fit weights shape", lambda c: c.fit_query_map("v", "x", NEW, X, kind="procrustes", weights=np.ones(3))),
    ("fit val of other dims", lambda c: c.fit_query_map("v", "x", NEW, X, kind="procrustes", val=(X[:, :3], X))),
    ("fit auto without held-out pairs", lambda c: c.fit_query_map("v", "x", NEW, X, holdout=0)),
    ("fit multi-vector field", lambda c: c.fit_query_map("t", "x", NEW, X)),
]


@pytest.mark.parametrize("call", [c for _, c in BAD_DRIFT_CALLS], ids=[n for n, _ in BAD_DRIFT_CALLS])
def test_bad_drift_calls(pair, call):
    def scenario(db, log):
        c = _collection(db)
        c.set_model_version("v", "old")
        c.fit_query_map("v", "new", NEW[:300], X[:300], kind="procrustes", holdout=0)
        log("bad call", call, c)
        log("versions unchanged", lambda: _timeless(c.model_versions("v")))

    (entry, _) = pair.run(scenario)
    assert entry[1] == "raise" and entry[2] in ("InvalidArgument", "NotFound"), entry


@pytest.mark.parametrize("kwargs", [{"old": [["a"] * D] * 3}, {"val": 5}])
def test_fit_query_map_argument_errors(db, kwargs):
    """A non-numeric `old` or a `val` that is not a pair is InvalidArgument (was a raw ValueError / TypeError)."""
    c = _collection(db)
    args = {"new": NEW[:3], "old": X[:3], **kwargs}
    with pytest.raises(vecdb.InvalidArgument):
        c.fit_query_map("v", "x", args.pop("new"), args.pop("old"), kind="procrustes", **args)


@pytest.fixture(scope="module")
def small_server(tmp_path_factory):
    """A server whose message limit (1 MiB) is far below the fit below (3000 pairs of 384-d vectors, 9 MB)."""
    srv, port = start(tmp_path_factory.mktemp("small"), max_message_bytes=1 << 20)
    db = vecdb_client.connect(f"127.0.0.1:{port}", timeout=60)
    yield db
    db.close()
    srv.stop(0)


def test_fit_on_more_pairs_than_a_message_holds(small_server, tmp_path, monkeypatch):
    n, d = 3000, 384
    rng = np.random.default_rng(9)
    old = rng.normal(size=(n, d)).astype(np.float32)
    rot = np.linalg.qr(rng.normal(size=(d, d)))[0].astype(np.float32)
    new = old @ rot + 0.01 * rng.normal(size=(n, d)).astype(np.float32)
    weights = rng.random(n)
    chunks = []
    pair_chunks = ops._pair_chunks

    def counting(*args):
        out = pair_chunks(*args)
        chunks.append(len(out))
        return out

    monkeypatch.setattr(ops, "_pair_chunks", counting)
    args = dict(kind="procrustes", seed=3, weights=weights, val=(new[:600], old[:600]))
    results = []
    with vecdb.open(tmp_path / "db") as emb:
        for db in (emb, small_server):
            c = db.create_collection("big", vectors={"v": Dense(d, "cosine", index=None)})
            c.upsert(np.arange(n), old)  # split into atomic parts on the small server too
            c.set_model_version("v", "m1")
            report = _timeless(c.fit_query_map("v", "m2", new, old, **args))
            hits = c.search("v", new[:20], k=5, model_version="m2")
            results.append((report, canon(hits), _timeless(c.model_versions("v"))))
    assert results[0] == results[1]  # the same map, bit for bit (the scores of the searches it serves)
    assert chunks[0] >= 10 and chunks[1] >= 2  # pairs (9 MB + weights) and val pairs each went in several parts
    report = results[0][0]
    assert report["n_pairs"] == n and report["holdout_source"] == "given" and report["holdout_cosine"] > 0.99
    assert all(h[1][0] == ("int", i) for i, h in enumerate(results[0][1]))  # each mapped query finds its text


def test_drift_service_is_served(remote):
    assert "model_versions" in remote.server_info()["features"]
    assert remote.health("vecdb.v1.Drift") == "SERVING"
