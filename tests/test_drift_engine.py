"""Model versions in collections: query maps stored with the field, searches by version, migration with an
atomic alias flip, served through a map while it runs."""

import threading

import numpy as np
import pytest

import vecdb
from vecdb.drift.migrate import Migration


def _rotation(rng, d):
    return np.linalg.qr(rng.normal(size=(d, d)))[0].astype(np.float32)


def test_query_maps_by_version(tmp_path, rng):
    x = rng.normal(size=(400, 12)).astype(np.float32)
    r = _rotation(rng, 12)
    with vecdb.open(tmp_path / "db") as db:
        col = db.create_collection("c", vectors={"v": vecdb.Dense(12, "cosine")})
        col.upsert(np.arange(400), x)
        col.set_model_version("v", "old")
        fit = col.fit_query_map("v", "new", x[:300] @ r, x[:300], kind="procrustes", seed=1)
        assert fit["kind"] == "procrustes" and fit["holdout_cosine"] > 0.999
        hits = col.search("v", x[350:360] @ r, k=1, model_version="new")
        assert [h.ids[0] for h in hits] == list(range(350, 360))
        assert col.search("v", x[5], k=1, model_version="old").ids == [5]
        with pytest.raises(vecdb.NotFound, match="fit one with fit_query_map"):
            col.search("v", x[5], k=1, model_version="v3")
        with pytest.raises(vecdb.InvalidArgument, match="dim|shape"):
            col.search("v", np.ones(5), k=1, model_version="new")
        with pytest.raises(vecdb.InvalidArgument, match="model version"):
            col.search("v", x[5], k=1, model_version="bad version!")
        with pytest.raises(vecdb.InvalidArgument, match="index version"):
            col.fit_query_map("v", "old", x @ r, x)
    with vecdb.open(tmp_path / "db") as db:  # maps persist
        col = db["c"]
        assert col.model_versions("v")["index_version"] == "old"
        assert col.search("v", x[7] @ r, k=1, model_version="new").ids == [7]
        assert col.drop_query_map("v", "new") and not col.drop_query_map("v", "new")
        with pytest.raises(vecdb.NotFound):
            col.search("v", x[7] @ r, k=1, model_version="new")


def test_dimension_changing_map(db, rng):
    x = rng.normal(size=(500, 8)).astype(np.float32)
    w = rng.normal(size=(8, 16)).astype(np.float32)
    col = db.create_collection("c", vectors={"v": vecdb.Dense(8, "l2")})
    col.upsert(np.arange(500), x)
    col.fit_query_map("v", "wide", x @ w, x, kind="ridge", seed=0)
    assert col.search("v", x[42] @ w, k=1, model_version="wide").ids == [42]


def test_migration_serves_through_map_then_flips(tmp_path, rng):
    n, d_old, d_new = 1200, 10, 14
    x = rng.normal(size=(n, d_old)).astype(np.float32)
    w = rng.normal(size=(d_old, d_new)).astype(np.float32)  # the "new model": a linear change of space

    def new_model(ids, payloads):
        return np.stack([x[p["row"]] @ w for p in payloads])

    with vecdb.open(tmp_path / "db") as db:
        src = db.create_collection("docs_v1", vectors={"emb": vecdb.Dense(d_old, "l2")}, payload={"row": "integer"})
        src.upsert(list(range(n)), x, [{"row": i} for i in range(n)])
        db.set_alias("docs", "docs_v1")
        mig = Migration(
            db,
            "docs_v1",
            "emb",
            vecdb.Dense(d_new, "l2"),
            new_model,
            version="m2",
            alias="docs",
            batch_size=100,
            map_after=300,
        )
        # a write during the migration must reach the new collection before the flip
        writer = threading.Thread(target=lambda: src.upsert([n], x[:1] * 2, [{"row": 0}]))
        writer.start()
        result = mig.run(progress=False)
        writer.join()
        assert result.state == "done" and result.pairs_sampled >= 300
        # while it ran, a map from m2 into the old space was fitted and registered on the source
        assert "m2" in src.model_versions("emb")["maps"]
        assert src.search("emb", x[10] @ w, k=1, model_version="m2").ids == [10]
        live = db["docs"]  # the alias now points at the migrated collection
        assert live.name == "docs_v1__m2" and live.count() == n + 1
        assert live.model_versions("emb")["index_version"] == "m2"
        assert live.search("emb", x[10] @ w, k=1, model_version="m2").ids == [10]
        assert n in [p.id for p in live.get([n])]


def test_migration_resumes_after_cancel_and_syncs_deletes(db, rng):
    x = rng.normal(size=(600, 6)).astype(np.float32)
    src = db.create_collection("a", vectors={"emb": vecdb.Dense(6, "l2")}, payload={"row": "integer"})
    src.upsert(list(range(600)), x, [{"row": i} for i in range(600)])
    calls = []

    def embed(ids, payloads):
        calls.append(len(ids))
        if len(calls) == 3:
            mig.cancel()
        return np.stack([x[p["row"]] * 2 for p in payloads])

    mig = Migration(db, "a", "emb", vecdb.Dense(6, "l2"), embed, version="v2", batch_size=100, map_after=10_000)
    assert mig.run(progress=False).state == "cancelled"
    done_first = sum(calls)
    src.delete([599, 598])
    mig2 = Migration(db, "a", "emb", vecdb.Dense(6, "l2"), embed, version="v2", batch_size=100, map_after=10_000)
    assert mig2.run(progress=False).state == "done"
    assert done_first == 300 and sum(calls) == 598  # resumed after the cancel: every live point embedded once
    tgt = db["a__v2"]
    assert tgt.count() == 598 and not tgt.get([598, 599])
    with pytest.raises(vecdb.InvalidArgument, match="embed returned shape"):
        Migration(db, "a", "emb", vecdb.Dense(6, "l2"), lambda i, p: np.zeros((1, 6)), version="v3").run(progress=False)


def test_model_version_on_unknown_or_multivector_field_is_a_clear_error(db):
    """Found by the gRPC fuzzer: a model version on a field that does not exist was a KeyError (INTERNAL)."""
    from vecdb.multivector import FDEParams

    col = db.create_collection(
        "mixed",
        vectors={"v": vecdb.Dense(4, "cosine"), "t": vecdb.MultiVector(4, fde=FDEParams(k_sim=2, reps=2, d_proj=4))},
    )
    col.upsert([1], {"v": np.ones((1, 4), np.float32), "t": [np.ones((2, 4), np.float32)]})
    with pytest.raises(vecdb.errors.InvalidArgument, match="unknown vector field .w."):
        col.search("w", np.ones(4, np.float32), k=1, model_version="m2")
    with pytest.raises(vecdb.errors.InvalidArgument, match="applies to dense fields"):
        col.search("t", np.ones((2, 4), np.float32), k=1, model_version="m2")
