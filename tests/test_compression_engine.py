"""Compression inside the engine: compressed Dense fields (codes beside the floats, training on upsert or on
demand, codes+rescore search, persistence, compaction), Binary fields, the collection's compression report."""

import numpy as np
import pytest
from conftest import data_path
from floors import floor
from reference import pairwise_distances

import vecdb
from vecdb import filters as F
from vecdb.cli import main as cli_main
from vecdb.compression import LearnedBinary, ProductQuantization, ScalarInt8, SignBinary, rescore
from vecdb.compression.engine import CODE_SLOT_BASE, train_rows
from vecdb.errors import InvalidArgument
from vecdb.evaluation import recall_at_k
from vecdb.kernels import binary


def unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def clustered(rng, n, dim, centers=20):
    c = rng.standard_normal((centers, dim)).astype(np.float32) * 3
    return (c[rng.integers(0, centers, n)] + rng.standard_normal((n, dim))).astype(np.float32)


def _codes_of(col, field):
    """The stored codes of a field, read straight from LMDB (a copy)."""
    cf = col._codes[field]
    with col._env.read() as txn:
        st = col._state(txn)
        t = cf.trained(txn, col._t["aux"])
        views = t.column.views(txn, col._t["block"], st.next_row)
        return t.codec, np.concatenate([v for _, v in views]).copy()


# ------------------------------------------------------------------ schema


@pytest.mark.parametrize(
    "given,kind",
    [
        ("sign", "sign"),
        ("pq:8", "pq"),
        ("learned:2", "learned_binary"),
        ({"kind": "int8", "quantile": 0.01}, "int8"),
        (ProductQuantization(m=4, opq=True), "pq"),
        ("matryoshka:16", "matryoshka"),
    ],
)
def test_dense_compression_round_trips(given, kind):
    f = vecdb.Dense(32, "cosine", compression=given)
    assert f.compression.kind == kind
    d = f.to_dict()
    assert d["compression"]["kind"] == kind
    s = vecdb.CollectionSchema({"v": f})
    back = vecdb.CollectionSchema.from_dict(s.to_dict())
    assert back == s and back.vectors["v"].compression == f.compression


def test_dense_without_compression_keeps_its_dict():
    assert "compression" not in vecdb.Dense(8).to_dict()


@pytest.mark.parametrize(
    "given,words",
    [
        ("pq:5", "does not divide"),
        ({"kind": "pq", "m": 3}, "does not divide"),
        ("zstd", "unknown compression kind"),
        ({"kind": "nope"}, "unknown compression kind"),
        ({"kind": "learned_binary", "bits_per_dim": 9}, "bits_per_dim"),
        ({"kind": "sign", "bits": 0}, "bits"),
        ({"kind": "sign", "bits": 16}, "projection"),
        ({"kind": "matryoshka", "dims": 64}, "leading dimensions"),
        ({"kind": "pq", "m": 4, "colour": 1}, "unknown parameters"),
        (3.5, "CompressionSpec"),
    ],
)
def test_bad_compression_specs(given, words):
    with pytest.raises(InvalidArgument, match=words):
        vecdb.Dense(32, compression=given)


def test_schema_with_compression_persists(tmp_path):
    with vecdb.open(tmp_path / "db") as db:
        db.create_collection("c", vectors={"v": vecdb.Dense(16, "l2", index=None, compression="pq:4")})
    with vecdb.open(tmp_path / "db") as db:
        f = db["c"].schema.vectors["v"]
        assert f.compression == ProductQuantization(m=4) and f.index is None


def test_search_params_compression_knobs():
    p = vecdb.SearchParams(rescore=False, oversample=4, use_codes=True, recall_target=0.9)
    assert vecdb.SearchParams.from_dict(p.to_dict()) == p
    for bad in ({"oversample": 0.5}, {"oversample": True}, {"rescore": 1}, {"use_codes": "yes"}):
        with pytest.raises(InvalidArgument):
            vecdb.SearchParams(**bad)


# ------------------------------------------------------------------ ingest, training, search


def _pq_collection(db, rng, n=1200, dim=32, metric="l2", index=None, payload=None):
    spec = ProductQuantization(m=8, nbits=6, train_size=1000, iterations=8)
    col = db.create_collection(
        "c", vectors={"v": vecdb.Dense(dim, metric, index=index, compression=spec)}, payload=payload or {}
    )
    x = clustered(rng, n, dim)
    return col, x


def test_trains_on_the_upsert_reaching_train_size(db, rng):
    col, x = _pq_collection(db, rng)
    assert train_rows(col.schema.vectors["v"].compression) == 1000
    col.upsert(list(range(600)), x[:600])
    assert col.compression_info("v") is None
    h = col.search("v", x[0], 5)
    assert h.explain["path"] == "exact_scan" and "not trained" in h.explain["compression"]
    col.upsert(list(range(600, 1200)), x[600:])
    info = col.compression_info("v")
    assert info["trained_on"] == 1000 and info["bytes_per_vector"] == 8
    codec, codes = _codes_of(col, "v")
    assert codes.shape == (1200, 8)
    np.testing.assert_array_equal(codes, codec.encode(x))  # every row encoded, the training batch included
    col.upsert([5000], x[:1] + 1)  # later upserts encode their rows in the same transaction
    codec, codes = _codes_of(col, "v")
    np.testing.assert_array_equal(codes[-1:], codec.encode(x[:1] + 1))


@pytest.mark.parametrize("metric", ["l2", "cosine", "dot"])
def test_codes_search_equals_library_scan_and_rescore(db, rng, metric):
    col, x = _pq_collection(db, rng, metric=metric)
    col.upsert(list(range(len(x))), x)
    codec, codes = _codes_of(col, "v")
    stored = unit(x) if metric == "cosine" else x
    q = clustered(rng, 7, 32)
    qp = unit(q) if metric == "cosine" else q
    allowed = np.ones(len(x), np.uint8)
    # codes only: the same top-k as the library's scan on the same codes
    hits = col.search("v", q, 10, params=vecdb.SearchParams(rescore=False), with_payload=False)
    _, lib_rows = codec.scan_topk(qp, [(0, codes)], allowed, 10)
    for h, r in zip(hits, lib_rows):
        assert h.explain["path"] == "codes" and h.explain["rows_rescored"] == 0
        assert h.ids == r.tolist()
    # codes + rescore with a fixed oversampling: the library's two stages
    hits = col.search("v", q, 10, params=vecdb.SearchParams(oversample=5), with_payload=False)
    _, cand = codec.scan_topk(qp, [(0, codes)], allowed, 50)
    d, rows = rescore(qp, cand, stored, metric, 10)
    for h, r, dd in zip(hits, rows, d):
        assert h.explain["path"] == "codes+rescore" and h.explain["rows_rescored"] == 50
        assert h.explain["codes_scanned"] == len(x)
        assert h.ids == r.tolist()
        want = np.sqrt(dd) if metric == "l2" else -dd
        np.testing.assert_allclose(h.scores, want, rtol=1e-5, atol=1e-5)


def test_oversample_from_the_stored_calibration(db, rng):
    col, x = _pq_collection(db, rng)
    col.upsert(list(range(len(x))), x)
    cal = col.compression_info("v")["calibration"]
    by = {float(f): r for f, r in cal["recall_by_factor"].items()}
    for target in (0.5, 0.9, 0.99):
        h = col.search("v", x[3], 10, params=vecdb.SearchParams(recall_target=target))
        reached = [f for f in sorted(by) if by[f] >= target]
        assert h.explain["oversample"] == (reached[0] if reached else max(by))
    assert col.search("v", x[3], 10).explain["oversample"] == cal["factor"]  # default target 0.95


def test_compression_info_is_a_copy(db, rng):
    """The header behind compression_info is parsed once and cached for searches: what a caller gets back is a
    copy, so editing it cannot change the oversampling later searches take."""
    col, x = _pq_collection(db, rng)
    col.upsert(list(range(len(x))), x)
    before = col.search("v", x[3], 10).explain["oversample"]
    info = col.compression_info("v")
    info["calibration"]["recall_by_factor"] = {"1": 1.0}
    info["calibration"]["factor"] = 1.0
    assert col.compression_info("v")["calibration"]["factor"] == before
    assert col.search("v", x[3], 10).explain["oversample"] == before


def test_exact_and_graph_paths_stay_available(db, rng):
    col, x = _pq_collection(db, rng, index=vecdb.HNSWParams(m=8, ef_construction=40, index_threshold=0))
    col.upsert(list(range(len(x))), x)
    assert col.search("v", x[0], 5).explain["path"] == "hnsw"  # the graph stays the default where one exists
    assert col.search("v", x[0], 5, params=vecdb.SearchParams(use_codes=True)).explain["path"] == "codes+rescore"
    ex = col.search("v", x[0], 5, params=vecdb.SearchParams(exact=True, use_codes=True))
    assert ex.explain["path"] == "exact_scan"
    d = pairwise_distances(x[:1], x, "l2")[0]
    assert ex.ids == np.argsort(d, kind="stable")[:5].tolist()


def test_uncompressed_fields_reject_compression_knobs(db, rng):
    col = db.create_collection("plain", vectors={"v": vecdb.Dense(8, index=None)})
    col.upsert([1, 2], rng.standard_normal((2, 8)))
    for p in (vecdb.SearchParams(use_codes=True), vecdb.SearchParams(oversample=2), vecdb.SearchParams(rescore=False)):
        with pytest.raises(InvalidArgument, match="no compression"):
            col.search("v", np.ones(8), 1, params=p)
    with pytest.raises(InvalidArgument, match="no compression"):
        col.train_compression("v")


@pytest.mark.parametrize("threshold", [50, 300, 900])
def test_filters_on_the_codes_path(db, rng, threshold):
    col, x = _pq_collection(db, rng, payload={"g": "integer"})
    col.upsert(list(range(len(x))), x, [{"g": i} for i in range(len(x))])
    q = clustered(rng, 5, 32)
    flt = F.range_("g", lt=threshold)
    d = pairwise_distances(q, x[:threshold], "l2")
    truth = np.argsort(d, axis=1, kind="stable")[:, :10]
    # oversampling that covers every allowed row: the rescoring makes it exact over the filtered rows
    full = col.search("v", q, 10, filter=flt, params=vecdb.SearchParams(oversample=1000))
    for h, t in zip(full, truth):
        assert h.explain["path"] == "codes+rescore" and h.explain["codes_scanned"] == threshold
        assert h.ids == t.tolist()
    # the calibrated default: only allowed rows, k of them, recall close to the brute force
    hits = col.search("v", q, 10, filter=flt)
    got = np.array([np.sort(d[i, h.ids]) for i, h in enumerate(hits)])
    assert all(len(h.ids) == 10 and max(h.ids) < threshold for h in hits)
    assert recall_at_k(got, np.sort(d, axis=1)[:, :10], 10) >= 0.9


def test_persistence_across_reopen_needs_no_retraining(tmp_path, rng):
    x = clustered(rng, 1200, 32)
    spec = ProductQuantization(m=8, nbits=6, train_size=1000, iterations=8)
    with vecdb.open(tmp_path / "db") as db:
        col = db.create_collection("c", vectors={"v": vecdb.Dense(32, "l2", index=None, compression=spec)})
        col.upsert(list(range(len(x))), x)
        before = col.search("v", x[:5], 10)
        info = col.compression_info("v")
        _, codes = _codes_of(col, "v")
    with vecdb.open(tmp_path / "db") as db:
        col = db["c"]
        assert col.compression_info("v") == info
        after = col.search("v", x[:5], 10)
        assert [h.ids for h in after] == [h.ids for h in before]
        assert after[0].explain["path"] == "codes+rescore"
        np.testing.assert_array_equal(_codes_of(col, "v")[1], codes)


def test_train_compression_is_idempotent_and_retrains(db, rng):
    spec = LearnedBinary(bits_per_dim=2, epochs=1, train_size=5000, validation=50)
    col = db.create_collection("c", vectors={"v": vecdb.Dense(16, "cosine", index=None, compression=spec)})
    x = clustered(rng, 600, 16)
    col.upsert(list(range(600)), x)
    assert col.compression_info("v") is None  # below the train size
    first = col.train_compression("v", seed=3)
    _, c1 = _codes_of(col, "v")
    second = col.train_compression("v", seed=3)
    _, c2 = _codes_of(col, "v")
    np.testing.assert_array_equal(c1, c2)
    assert first == second
    col.train_compression("v", sample=300, seed=4)
    assert col.compression_info("v")["trained_on"] == 300
    h = col.search("v", x[7], 5)
    assert h.explain["path"] == "codes+rescore" and h.ids[0] == 7
    with pytest.raises(InvalidArgument):
        col.train_compression("v", sample=1)


def test_bad_input_writes_nothing(db, rng):
    col, x = _pq_collection(db, rng)
    bad = x.copy()
    bad[1100] = np.nan
    with pytest.raises(InvalidArgument, match="NaN"):
        col.upsert(list(range(len(x))), bad)
    assert col.count() == 0 and col.compression_info("v") is None
    col.upsert(list(range(len(x))), x)
    with pytest.raises(InvalidArgument):
        col.upsert([1, 2], x[:2, :16])
    assert col.count() == len(x)
    _, codes = _codes_of(col, "v")
    assert codes.shape[0] == len(x)


def test_deletes_and_compaction_keep_codes_consistent(db, rng):
    col, x = _pq_collection(db, rng)
    col.upsert(list(range(len(x))), x)
    col.delete(list(range(0, len(x), 3)))
    col.upsert([1, 2], x[1:3] + 0.5)  # replaced: new rows, old ones tombstoned
    h = col.search("v", x[0], 10, params=vecdb.SearchParams(oversample=1000))
    assert 0 not in h.ids and all(i % 3 for i in h.ids)
    col.compact()
    codec, codes = _codes_of(col, "v")
    pts = col.scroll(limit=10_000, with_vectors=True).points
    assert codes.shape[0] == len(pts) == col.count()
    with col._env.read() as txn:  # codes follow their rows through the renumbering
        rows = [col._rows_of(txn, [vecdb.ids.encode_id(p.id)])[0][1] for p in pts]
    np.testing.assert_array_equal(codes[rows], codec.encode(np.stack([p.vectors["v"] for p in pts])))
    after = col.search("v", x[4], 10, params=vecdb.SearchParams(oversample=1000))
    live = np.array(sorted(set(range(len(x))) - set(range(0, len(x), 3)) - {1, 2}))
    d = pairwise_distances(x[4:5], x[live], "l2")[0]
    assert set(after.ids) - {1, 2} >= set(live[np.argsort(d)[:8]].tolist())
    assert after.explain["path"] == "codes+rescore"


def test_code_blocks_live_in_their_own_slot(db, rng):
    col, x = _pq_collection(db, rng)
    col.upsert(list(range(len(x))), x)
    t = col._codes["v"].trained
    with col._env.read() as txn:
        assert t(txn, col._t["aux"]).column.slot == CODE_SLOT_BASE + 0
    db.drop_collection("c")
    with db._env.read() as txn, txn.cursor(db=db._env.db["block"]) as cur:
        assert not cur.first() or bytes(cur.key()[:4]) != col._prefix


def test_compression_report_and_pick(db, rng, tmp_path):
    col = db.create_collection("c", vectors={"v": vecdb.Dense(32, "cosine", index=None)})
    x = clustered(rng, 2000, 32)
    col.upsert(list(range(len(x))), x)
    rows = col.compression_report("v", ["sign", ScalarInt8(), "pq:8"], sample=200, seed=1)
    assert [r.codec for r in rows][0] == "float32 (exact)" and len(rows) == 4
    by = {r.codec: r for r in rows}
    assert by["sign"].bytes_per_vector == 8 and by["int8"].bytes_per_vector == 32
    assert by["int8"].recall > by["sign"].recall  # int8 keeps far more than one bit per dimension
    pick = col.pick_compression("v", budget_bytes=10, rows=rows)
    assert pick.codec in ("sign", "pq(m=8)")
    assert col.pick_compression("v", recall_target=0.999, budget_bytes=8, rows=rows) in (None, by["sign"])
    with pytest.raises(InvalidArgument):
        col.pick_compression("v")
    with pytest.raises(InvalidArgument):
        col.compression_report("v", sample=0)


def test_compression_report_cli(tmp_path, rng, capsys):
    with vecdb.open(tmp_path / "db") as db:
        col = db.create_collection("c", vectors={"v": vecdb.Dense(16, "l2", index=None)})
        col.upsert(list(range(500)), clustered(rng, 500, 16))
    rc = cli_main(["compression-report", str(tmp_path / "db"), "c", "v", "--codec", "sign", "--codec", "int8",
                   "--sample", "50", "--budget", "20"])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0 and "| sign |" in out and "| int8 |" in out and "pick: int8" in out
    assert cli_main(["compression-report", str(tmp_path / "db"), "c", "nope"]) == 1


# ------------------------------------------------------------------ Binary fields


def test_binary_field_inputs_and_hamming_search(db, rng):
    bits = 100
    col = db.create_collection("b", vectors={"b": vecdb.Binary(bits)}, payload={"g": "integer"})
    b = rng.integers(0, 2, (500, bits)).astype(np.uint8)
    col.upsert(list(range(500)), {"b": b}, [{"g": i % 4} for i in range(500)])
    q01 = rng.integers(0, 2, (3, bits)).astype(np.uint8)
    ham = (q01[:, None, :] != b[None, :, :]).sum(-1)
    as_bytes = np.packbits(q01, axis=1)
    as_words = binary.pack_bits(q01)
    for q in (q01, q01.astype(bool), as_bytes, as_words):
        hits = col.search("b", q, 5)
        for h, hr in zip(hits, ham):
            assert h.explain["path"] == "hamming_scan"
            np.testing.assert_array_equal(-np.asarray(h.scores), np.sort(hr)[:5])
            assert h.ids == np.argsort(hr, kind="stable")[:5].tolist()
    one = col.search("b", as_bytes[0], 3, filter=F.eq("g", 1))
    allowed = np.flatnonzero(np.arange(500) % 4 == 1)
    assert one.ids == allowed[np.argsort(ham[0, allowed], kind="stable")[:3]].tolist()
    pts = col.get([7], with_vectors=True)
    np.testing.assert_array_equal(binary.unpack_bits(pts[0].vectors["b"][None], bits)[0], b[7])


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((2, 99), np.uint8),  # wrong bit count
        np.zeros((2, 12), np.uint8),  # 96 bits of packed bytes for a 100-bit field
        np.zeros((2, 1), np.uint64),  # 64 bits of words
        np.full((2, 2), np.uint64(1) << np.uint64(50)),  # sets a bit beyond 100 in the last word
        np.full((2, 100), 2, np.int64),  # not 0/1
        np.zeros((2, 100), np.complex64),
    ],
)
def test_binary_field_rejects_wrong_widths(db, bad):
    col = db.create_collection("b", vectors={"b": vecdb.Binary(100)})
    with pytest.raises(InvalidArgument):
        col.upsert([1, 2], bad)
    assert col.count() == 0
    with pytest.raises(InvalidArgument):
        vecdb.Binary(0)
    with pytest.raises(InvalidArgument):
        vecdb.Binary(64, metric="cosine")


def test_binary_field_schema_round_trip_and_compaction(tmp_path, rng):
    b = rng.integers(0, 2, (300, 70)).astype(np.uint8)
    with vecdb.open(tmp_path / "db") as db:
        col = db.create_collection("b", vectors={"b": vecdb.Binary(70), "v": vecdb.Dense(4, index=None)})
        col.upsert(list(range(300)), {"b": b, "v": rng.standard_normal((300, 4))})
        col.delete(list(range(100)))
        col.compact()
    with vecdb.open(tmp_path / "db") as db:
        col = db["b"]
        assert col.schema.vectors["b"] == vecdb.Binary(70)
        h = col.search("b", b[150], 1)
        assert h.ids == [150] and h.scores[0] == 0
        with pytest.raises(InvalidArgument):
            col.search("b", b[150], 1, params=vecdb.SearchParams(use_codes=True))


# ------------------------------------------------------------------ recall floors on real data


def _real(dataset):
    if dataset == "scifact":
        x = np.load(data_path("embeddings", "scifact", "corpus_all-MiniLM-L6-v2.npy"))
        q = np.load(data_path("embeddings", "scifact", "queries_all-MiniLM-L6-v2.npy"))[:200]
    else:
        x = np.load(data_path("glove-6b-50d-angular", "train_100k.npy"))[:20_000]
        q = np.load(data_path("glove-6b-50d-angular", "test.npy"))[:200]
    return np.asarray(x, np.float32), np.asarray(q, np.float32)


ENGINE_SPECS = {
    "sign": SignBinary(),
    "sign-lists": SignBinary(center=True, scoring="asymmetric", lists=128, probe=16),
    "pq": None,  # m = dim / 2 bytes (below): 8x smaller for float32
}


@pytest.mark.data
@pytest.mark.parametrize("dataset", ["scifact", "glove-20k"])
@pytest.mark.parametrize("codec", sorted(ENGINE_SPECS))
def test_engine_recall_floors_on_real_data(tmp_path, dataset, codec):
    x, q = _real(dataset)
    spec = ENGINE_SPECS[codec] or ProductQuantization(m=x.shape[1] // 2, iterations=10, train_size=20_000)
    with vecdb.open(tmp_path / "db") as db:
        col = db.create_collection("c", vectors={"v": vecdb.Dense(x.shape[1], "cosine", index=None, compression=spec)})
        for s in range(0, len(x), 5000):
            col.upsert(list(range(s, min(s + 5000, len(x)))), x[s : s + 5000])
        if len(x) >= train_rows(spec):
            assert col.compression_info("v") is not None  # trained on the upsert that reached the train size
        else:  # a collection smaller than the train size is trained on demand
            assert col.compression_info("v") is None
            col.train_compression("v")
        hits = col.search("v", q, 10, with_payload=False)
        assert hits[0].explain["path"] == "codes+rescore"
        d = pairwise_distances(unit(q), unit(x), "cosine")
        got = np.array([np.sort(d[i, h.ids]) for i, h in enumerate(hits)])
        rec = recall_at_k(got, np.sort(d, axis=1)[:, :10], 10)
    want = floor("codes+rescore", codec, dataset)
    assert rec >= want, f"{codec} on {dataset}: engine recall@10 {rec:.3f} < floor {want}"


@pytest.mark.data
def test_calibrating_on_real_queries_reaches_the_target(tmp_path):
    x, _ = _real("scifact")
    q_all = np.load(data_path("embeddings", "scifact", "queries_all-MiniLM-L6-v2.npy")).astype(np.float32)
    q, q_cal = q_all[:200], q_all[200:300]
    with vecdb.open(tmp_path / "db") as db:
        field = vecdb.Dense(x.shape[1], "cosine", index=None, compression="sign")
        col = db.create_collection("c", vectors={"v": field})
        col.upsert(list(range(len(x))), x)
        info = col.train_compression("v", queries=q_cal)
        assert info["calibrated_on"] == "queries"
        hits = col.search("v", q, 10, with_payload=False)
        d = pairwise_distances(unit(q), unit(x), "cosine")
        got = np.array([np.sort(d[i, h.ids]) for i, h in enumerate(hits)])
        rec = recall_at_k(got, np.sort(d, axis=1)[:, :10], 10)
    want = floor("codes+rescore-calibrated-on-queries", "sign", "scifact")
    assert rec >= want, f"sign on scifact, calibrated on queries: recall@10 {rec:.3f} < floor {want}"
