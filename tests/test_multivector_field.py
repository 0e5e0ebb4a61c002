"""MultiVector fields inside a collection: storage in LMDB, FDE candidates -> exact MaxSim, filters, deletes,
compaction, reopen, compression, calibration, errors."""

import numpy as np
import pytest

import vecdb
from vecdb import filters as F
from vecdb.multivector import FDEParams, TokenCompression
from vecdb.params import HNSWParams, SearchParams

DIM = 16


def _docs(rng, n, lo=3, hi=12):
    return [rng.normal(size=(int(rng.integers(lo, hi)), DIM)).astype(np.float32) for _ in range(n)]


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def maxsim_ref(q, docs):
    q = _unit(q)
    return np.array([(q @ _unit(d).T).max(axis=1).sum() for d in docs])


SMALL_INDEX = HNSWParams(index_threshold=50)


def _col(db, compression=None, index=SMALL_INDEX, name="mv"):
    f = vecdb.MultiVector(DIM, compression=compression, fde=FDEParams(k_sim=3, reps=8, d_proj=8), index=index)
    return db.create_collection(name, vectors={"tok": f}, payload={"g": "keyword"})


@pytest.mark.parametrize("index", [None, HNSWParams(index_threshold=50)])
def test_search_matches_reference_maxsim(db, rng, index):
    col = _col(db, index=index)
    docs = _docs(rng, 300)
    col.upsert(list(range(300)), {"tok": docs}, [{"g": "a" if i % 3 else "b"} for i in range(300)])
    q = rng.normal(size=(6, DIM)).astype(np.float32)
    ref = maxsim_ref(q, docs)
    exact = col.search("tok", q, k=10, params=SearchParams(exact=True))
    assert exact.ids == list(np.argsort(-ref, kind="stable")[:10])
    np.testing.assert_allclose(exact.scores, np.sort(ref)[::-1][:10], rtol=1e-4)
    assert exact.explain["path"] == "exact_maxsim"
    found = col.search("tok", q, k=10, params=SearchParams(candidates=150))
    assert found.explain["path"] == "fde+maxsim" and found.explain["candidates"] == 150
    # scores of returned documents are exact MaxSim; with half the collection as candidates recall is high
    np.testing.assert_allclose(found.scores, ref[found.ids], rtol=1e-4)
    assert len(set(found.ids) & set(exact.ids)) >= 8
    # filters: only matching documents, exact top-k among them
    f = F.eq("g", "b")
    fx = col.search("tok", q, k=5, filter=f, params=SearchParams(exact=True))
    bs = [i for i in range(300) if i % 3 == 0]
    assert fx.ids == [bs[j] for j in np.argsort(-ref[bs], kind="stable")[:5]]
    ff = col.search("tok", q, k=5, filter=f, params=SearchParams(candidates=100))
    assert all(i % 3 == 0 for i in ff.ids) and len(ff) == 5


@pytest.mark.parametrize(
    "compression",
    [TokenCompression("int8"), TokenCompression("binary"), TokenCompression("residual", nbits=2, n_centroids=64)],
)
def test_compressed_tokens_match_the_library(db, rng, compression):
    """Stored in LMDB chunks and read back zero-copy, compressed tokens score exactly as the in-memory library
    (vecdb.multivector.TokenStore) scores them; int8 also keeps the float ranking."""
    from vecdb.multivector import TokenStore

    dim = 64
    f = vecdb.MultiVector(dim, compression=compression, fde=FDEParams(k_sim=3, reps=8, d_proj=8))
    col = db.create_collection("mv", vectors={"tok": f})
    docs = [rng.normal(size=(int(rng.integers(3, 12)), dim)).astype(np.float32) for _ in range(200)]
    for s in range(0, 200, 70):  # several chunks
        col.upsert(list(range(s, min(s + 70, 200))), {"tok": docs[s : s + 70]})
    store = TokenStore(dim, compression)
    store.fit(docs[:70])  # the engine trains its codec on the first batch
    store.add(docs)
    q = rng.normal(size=(5, dim)).astype(np.float32)
    ref_scores, ref_docs = store.scan_topk(q, 10)
    exact = col.search("tok", q, k=10, params=SearchParams(exact=True))
    assert exact.ids == ref_docs.tolist()
    np.testing.assert_allclose(exact.scores, ref_scores, rtol=1e-5)
    if compression.kind == "int8":
        assert len(set(exact.ids) & set(np.argsort(-maxsim_ref(q, docs))[:10])) >= 9
    (p,) = col.get([3], with_vectors=True)
    assert p.vectors["tok"].shape == docs[3].shape


def test_deletes_compaction_reopen(tmp_path, rng):
    docs = _docs(rng, 240)
    q = rng.normal(size=(4, DIM)).astype(np.float32)
    with vecdb.open(tmp_path / "db") as db:
        col = _col(db)
        for s in range(0, 240, 80):
            col.upsert(list(range(s, s + 80)), {"tok": docs[s : s + 80]})
        col.delete(list(range(0, 240, 2)))
        col.upsert([1], {"tok": [docs[7]]})  # replaced: new row, old one tombstoned
        hits = col.search("tok", q, k=10, params=SearchParams(exact=True))
        assert all(i % 2 == 1 for i in hits.ids)
        col.compact()
        after = col.search("tok", q, k=10, params=SearchParams(exact=True))
        assert after.ids == hits.ids
        np.testing.assert_allclose(after.scores, hits.scores, rtol=1e-5)
    with vecdb.open(tmp_path / "db") as db:
        col = db["mv"]
        again = col.search("tok", q, k=10, params=SearchParams(exact=True))
        assert again.ids == hits.ids
        (p,) = col.get([1], with_vectors=True)
        np.testing.assert_allclose(p.vectors["tok"], _unit(docs[7]), rtol=1e-5)
        fde = col.search("tok", q, k=10, params=SearchParams(candidates=120))
        assert len(set(fde.ids) & set(hits.ids)) >= 8


def test_calibration_sets_candidate_count(db, rng):
    col = _col(db)
    col.upsert(list(range(300)), {"tok": _docs(rng, 300, 8, 20)})
    cal = col.calibrate("tok", k=10, recall_target=0.9, n_pseudo=20)
    assert 10 <= cal["default_candidates"] <= 300 and cal["candidates_for"][0.99] >= cal["candidates_for"][0.8]
    hits = col.search("tok", rng.normal(size=(5, DIM)), k=10)
    assert hits.explain["candidates"] == cal["default_candidates"]
    hits = col.search("tok", rng.normal(size=(5, DIM)), k=10, params=SearchParams(recall_target=0.99))
    assert hits.explain["candidates"] == max(cal["candidates_for"][0.99], 10)


def test_multivector_errors(db, rng):
    col = _col(db)
    good = _docs(rng, 2)
    cases = [
        ({"tok": [np.zeros((0, DIM))] + good[:1]}, "no token vectors"),
        ({"tok": [rng.normal(size=(3, DIM + 1))] * 2}, "expected \\(n_tokens, 16\\)"),
        ({"tok": [np.full((2, DIM), np.nan)] + good[:1]}, "NaN"),
        ({"tok": good[:1]}, "1 token sets for 2 ids"),
        ({"tok": rng.normal(size=(2, DIM))}, "list of"),
    ]
    for vectors, msg in cases:
        with pytest.raises(vecdb.InvalidArgument, match=msg):
            col.upsert([1, 2], vectors)
    assert col.count() == 0
    col.upsert([1, 2], {"tok": good})
    with pytest.raises(vecdb.InvalidArgument):
        col.search("tok", rng.normal(size=(3, DIM + 2)), k=1)
    with pytest.raises(vecdb.InvalidArgument, match="apply to multi-vector"):
        db.create_collection("d", vectors={"v": vecdb.Dense(4)}).search(
            "v", np.ones(4), k=1, params=SearchParams(candidates=5)
        )
    with pytest.raises(vecdb.FailedPrecondition, match="calibration"):
        col.search("tok", good[0], k=1, params=SearchParams(recall_target=0.9))
    with pytest.raises(vecdb.InvalidArgument, match="maxsim"):
        vecdb.MultiVector(8, metric="cosine")


def test_rerank_and_get_read_only_the_chunks_they_need(db, rng, monkeypatch):
    """With tiny chunks (a few documents each), re-ranking seeks to the chunk of every candidate: scores equal
    the reference for candidates spread over many chunks (first, last, chunk boundaries), get() decodes the
    right documents, and the exact scan still sees every chunk."""
    from vecdb.multivector import field as mv_field

    monkeypatch.setattr(mv_field, "CHUNK_BYTES", 4 * 12 * DIM)  # ~4 tokens' worth: 1-2 documents a chunk
    col = _col(db, index=None)
    docs = _docs(rng, 120)
    for s in range(0, 120, 40):
        col.upsert(list(range(s, s + 40)), {"tok": docs[s : s + 40]})
    q = rng.normal(size=(5, DIM)).astype(np.float32)
    ref = maxsim_ref(q, docs)
    exact = col.search("tok", q, k=10, params=SearchParams(exact=True))
    assert exact.ids == list(np.argsort(-ref, kind="stable")[:10])
    everything = col.search("tok", q, k=120, params=SearchParams(candidates=120))
    assert sorted(everything.ids) == list(range(120))
    np.testing.assert_allclose(everything.scores, ref[everything.ids], rtol=1e-4)
    for i, p in zip([0, 39, 40, 77, 119], col.get([0, 39, 40, 77, 119], with_vectors=True)):
        np.testing.assert_allclose(p.vectors["tok"], _unit(docs[i]), rtol=1e-5)
