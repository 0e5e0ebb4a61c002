"""The single-query path of sign-compressed fields (compression/fast.py, binary.sign_search_one): the general codes +
rescoring path's results bit for bit, its explain, its plan; a snapshot that follows commits and map growth; the
general path wherever it must run. And the Hamming selection's sampled bound against every-row counting."""

import numpy as np
import pytest
from plans import CountPlans, same_hits
from reference import hamming_matrix, two_stage_one

import vecdb
from vecdb import filters as F
from vecdb.compression import ProductQuantization, SignBinary
from vecdb.kernels import binary
from vecdb.params import SearchParams

DIM = 40


def _col(db, metric="cosine", n=3000, center=True, ids=None, rng=None, spec=None):
    rng = rng or np.random.default_rng(0)
    x = (rng.standard_normal((n, DIM)) + 0.3).astype(np.float32)
    spec = spec or SignBinary(center=center)
    col = db.create_collection(
        "c", vectors={"v": vecdb.Dense(DIM, metric, index=None, compression=spec)}, payload={"g": "integer"}
    )
    col.upsert(list(range(n)) if ids is None else ids, x, [{"g": i % 7} for i in range(n)])
    col.train_compression("v", progress=False)
    return col, x


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("scoring", ["hamming", "asymmetric", "hamming+asymmetric", "asymmetric+lists"])
def test_one_query_matches_the_general_path_bit_for_bit(tmp_path, metric, center, scoring, monkeypatch):
    db = vecdb.open(tmp_path / "db")
    spec = (
        SignBinary(center=center, scoring="asymmetric", lists=16, probe=3)
        if scoring == "asymmetric+lists"
        else SignBinary(center=center, scoring=scoring)
    )
    col, x = _col(db, metric, spec=spec)
    plans = CountPlans(monkeypatch)
    rng = np.random.default_rng(1)
    for i in range(30):
        q = (x[i * 7] + 0.05 * rng.standard_normal(DIM)).astype(np.float32) if i % 2 else x[i].copy()
        params = [None, SearchParams(oversample=3), SearchParams(recall_target=0.9), SearchParams(use_codes=True)][
            i % 4
        ]
        k = [1, 5, 10, 40][i % 4]
        filt = None if i % 3 else F.eq("g", i % 7)
        for with_payload in (True, False):
            before = plans.calls
            one = col.search("v", q, k=k, params=params, with_payload=with_payload, filter=filt)
            assert plans.calls == before, "a single query of a sign field should not need the general planner"
            batch = col.search("v", q[None], k=k, params=params, with_payload=with_payload, filter=filt)[0]
            assert plans.calls == before + 1
            same_hits(one, batch)
            assert one.explain["path"] == "codes+rescore" and len(one.ids) == k
    db.close()


def test_string_ids_new_points_and_deletes_are_seen(tmp_path, monkeypatch):
    db = vecdb.open(tmp_path / "db")
    col, x = _col(db, "cosine", n=1500, ids=[f"doc-{i}" for i in range(1500)])
    q = x[3].copy()
    assert col.search("v", q, k=3).ids[0] == "doc-3"
    col.upsert(["new"], q[None] * 2)  # a commit: the snapshot must follow (same direction: same cosine)
    got = col.search("v", q, k=2)
    assert set(got.ids) == {"doc-3", "new"}
    col.delete(["doc-3"])
    got = col.search("v", q, k=2)
    assert got.ids[0] == "new" and "doc-3" not in got.ids
    same_hits(got, col.search("v", q[None], k=2)[0])
    db.close()


def test_the_general_path_runs_where_the_plan_differs(tmp_path, monkeypatch):
    db = vecdb.open(tmp_path / "db")
    col, x = _col(db, "dot", n=1000)
    plans = CountPlans(monkeypatch)
    q = x[0].copy()
    for p in (SearchParams(exact=True), SearchParams(rescore=False)):
        before = plans.calls
        col.search("v", q, k=5, params=p)
        assert plans.calls == before + 1
    before = plans.calls
    assert col.search("v", q, k=5, filter=F.eq("g", 99)).ids == []  # no match: the general path's "empty" plan
    assert plans.calls == before + 1
    col.delete(list(range(200)))  # 20% dead rows: planned as a filter over the live rows, explained as such
    before = plans.calls
    h = col.search("v", q, k=5)
    assert plans.calls == before + 1 and h.explain["dead_rows"] == 200
    with pytest.raises(vecdb.errors.InvalidArgument):
        col.search("v", np.full(DIM, np.nan, np.float32), k=5)
    db.close()


def test_other_codecs_take_the_general_path(tmp_path, monkeypatch):
    db = vecdb.open(tmp_path / "db")
    col, x = _col(db, "l2", n=1000, spec=ProductQuantization(m=8))
    plans = CountPlans(monkeypatch)
    h = col.search("v", x[2].copy(), k=3)
    assert plans.calls == 1 and h.ids[0] == 2
    db.close()


def test_snapshot_survives_map_growth(tmp_path):
    with vecdb.open(tmp_path / "db", map_size=1 << 20) as db:
        col, x = _col(db, "cosine", n=400)
        q = x[5].copy()
        first = col.search("v", q, k=4)
        gen = db._env.map_generation
        rng = np.random.default_rng(3)
        for b in range(8):  # grow the map several times over
            col.upsert(list(range(10_000 + b * 1000, 10_000 + (b + 1) * 1000)), rng.standard_normal((1000, DIM)))
        assert db._env.map_generation > gen
        again = col.search("v", q, k=4)
        same_hits(again, col.search("v", q[None], k=4)[0])
        assert again.ids[0] == first.ids[0] == 5


@pytest.mark.parametrize("words", [1, 3])
@pytest.mark.parametrize("k", [1, 10, 200, 700])
@pytest.mark.parametrize("mask", ["all", "half", "rare"])
def test_hamming_selection_with_the_sampled_bound_matches_counting_every_row(words, k, mask):
    """Blocks large enough for the sampled bound (>= 256 rows, k <= rows / 8); the 'rare' mask leaves fewer allowed
    rows than the sample assumes, so the bound keeps too few and every row is counted."""
    rng = np.random.default_rng(k + words)
    n = 6000

    # clustered codes: many exact ties, as real sign codes have
    def words_of(rows):
        return rng.integers(0, 2**63, size=(rows, words), dtype=np.uint64)

    centres = words_of(20)
    x = centres[rng.integers(0, 20, n)] ^ (words_of(n) & words_of(n) & words_of(n))  # few flipped bits
    q = centres[:2] ^ (words_of(2) & words_of(2))
    allowed = {
        "all": np.ones(n, np.uint8),
        "half": (rng.random(n) < 0.5).astype(np.uint8),
        "rare": (rng.random(n) < 0.02).astype(np.uint8),
    }[mask]
    dist, rows = binary.scan_topk(q, [(0, x)], allowed, k)
    full = hamming_matrix(q, x).astype(np.float64)
    full[:, allowed == 0] = np.inf
    for qi in range(2):
        order = np.lexsort((np.arange(n), full[qi]))[:k]  # by (distance, row): the exact answer, ties included
        order = order[np.isfinite(full[qi, order])]
        assert rows[qi, : order.size].tolist() == order.tolist()
        assert np.array_equal(dist[qi, : order.size], full[qi, order].astype(np.float32))
        assert (rows[qi, order.size :] == -1).all()


def test_hamming_selection_when_the_sample_misleads():
    """Every SAMPLE_STEP-th row equals the query and the rest are far: the sampled bound keeps only those rows,
    fewer than k, and the selection must count every row instead."""
    n, k = 6000, 700
    x = np.full((n, 1), np.uint64(2**40 - 1))
    x[:: binary.SAMPLE_STEP] = 0
    x[1::7] = 1  # distance 1: the best after the sampled copies
    q = np.zeros((1, 1), np.uint64)
    dist, rows = binary.scan_topk(q, [(0, x)], np.ones(n, np.uint8), k)
    full = hamming_matrix(q, x)[0]
    want = np.lexsort((np.arange(n), full))[:k]
    assert rows[0].tolist() == want.tolist() and (dist[0] <= 1).all()


def _signed(seed, n, d, metric):
    """Random vectors (unit length for cosine) and their centred sign codes: (rng, x, mean, scale, codes)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    if metric == "cosine":
        x /= np.linalg.norm(x, axis=1, keepdims=True)
    mean = x.mean(0).astype(np.float32)
    scale = np.abs(x - mean).mean(0).astype(np.float32)
    return rng, x, mean, scale, binary.pack_signs(x - mean)


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
@pytest.mark.parametrize("d", [70, 1100])
@pytest.mark.parametrize("unrolled", [True, False])
def test_sign_search_one_against_numpy(metric, d, unrolled):
    """The fused kernel against a plain numpy twin: binarize, take the n_cand best by (Hamming, row), rescore them
    exactly, keep the k best by (distance, row). Both Hamming loops: the one compiled for the code width and the
    generic one (codes wider than UNROLL_WORDS words, or words=())."""
    rng = np.random.default_rng(7)
    n, k, n_cand = 2500, 10, 90
    x = rng.standard_normal((n, d)).astype(np.float32)
    if metric == "cosine":
        x /= np.linalg.norm(x, axis=1, keepdims=True)
    mean = x.mean(0).astype(np.float32)
    codes = binary.pack_signs(x - mean)
    allowed = (rng.random(n) < 0.8).astype(np.uint8)
    ids = np.arange(n, dtype=np.uint64) * 3 + 1
    words = binary.word_count(codes.shape[1]) if unrolled else ()
    assert len(words) == (codes.shape[1] if unrolled and d < 1024 else 0)
    for _ in range(5):
        q = rng.standard_normal(d).astype(np.float32)
        out_d, out_r, out_id = np.empty(k, np.float32), np.empty(k, np.int64), np.empty(k, np.uint64)
        addrs = np.array([x.__array_interface__["data"][0]], np.int64)
        found = binary.sign_search_one(
            q, metric == "cosine", mean, mean, codes, _addr(codes), allowed, 0, n_cand, addrs, n, metric == "l2", ids,
            out_d, out_r, out_id, words,
        )  # fmt: skip
        assert found == k
        qp = q / np.linalg.norm(q) if metric == "cosine" else q
        ham = hamming_matrix(binary.pack_signs((qp - mean)[None]), codes)[0]
        rows, dist = two_stage_one(qp, x, ham, allowed, n_cand, k, metric)
        assert out_r.tolist() == rows.tolist()
        assert out_id.tolist() == (rows * 3 + 1).tolist()
        np.testing.assert_allclose(out_d, np.sqrt(dist) if metric == "l2" else -dist, rtol=1e-5, atol=1e-5)


def _addr(a):
    return np.array([a.__array_interface__["data"][0]], np.int64)


@pytest.mark.parametrize("metric", ["cosine", "l2"])
@pytest.mark.parametrize("d", [50, 130])
def test_sign_search_one_with_the_hamming_prefilter_against_numpy(metric, d):
    """Three stages (scoring "hamming+asymmetric"): the n_pre best by (Hamming, row), of those the n_cand best by
    (asymmetric score, row), rescored exactly; against numpy doing the same."""
    from reference import asymmetric_matrix

    n, k, n_cand, n_pre = 3000, 10, 60, 480
    rng, x, mean, scale, codes = _signed(9, n, d, metric)
    allowed = (rng.random(n) < 0.85).astype(np.uint8)
    for _ in range(5):
        q = rng.standard_normal(d).astype(np.float32)
        out_d, out_r, out_id = np.empty(k, np.float32), np.empty(k, np.int64), np.empty(k, np.uint64)
        found = binary.sign_search_one(
            q, metric == "cosine", mean, scale, codes, _addr(codes), allowed, n_pre, n_cand, _addr(x), n,
            metric == "l2", np.arange(n, dtype=np.uint64), out_d, out_r, out_id, binary.word_count(codes.shape[1]),
        )  # fmt: skip
        assert found == k
        qp = q / np.linalg.norm(q) if metric == "cosine" else q
        ham = hamming_matrix(binary.pack_signs((qp - mean)[None]), codes)[0].astype(np.float64)
        ham[allowed == 0] = np.inf
        pre = np.lexsort((np.arange(n), ham))[:n_pre]
        approx = np.full(n, np.inf)
        approx[pre] = asymmetric_matrix(((qp - mean) * scale)[None], codes[pre], np.ones(1, np.float32))[0]
        rows, dist = two_stage_one(qp, x, approx, allowed, n_cand, k, metric)
        # the candidate set may differ from the twin's only at float near-ties of the asymmetric score
        assert len(set(out_r.tolist()) & set(rows.tolist())) >= k - 1
        got = out_d**2 if metric == "l2" else -out_d  # the kernel gives l2 scores rooted
        np.testing.assert_allclose(np.sort(got)[: k - 1], np.sort(dist)[: k - 1], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("blocks", [[3000], [1024, 1024, 952], [1000, 1500, 500], [4, 2996]])
def test_asymmetric_rerank_against_numpy(blocks):
    """The general path's rerank over code blocks read in place (even blocks) or joined (uneven), against numpy."""
    from reference import asymmetric_matrix

    rng = np.random.default_rng(10)
    n, d, c, k = sum(blocks), 70, 200, 25
    codes = binary.pack_signs(rng.standard_normal((n, d)).astype(np.float32))
    starts = np.cumsum([0, *blocks[:-1]])
    parts = [(int(s), codes[s : s + b]) for s, b in zip(starts, blocks)]
    q = rng.standard_normal((3, d)).astype(np.float32)
    cand = np.stack([rng.choice(n, c, replace=False) for _ in range(3)])
    cand[1, -20:] = -1  # padding
    dist, rows = binary.asymmetric_rerank(q, parts, cand, k)
    full = asymmetric_matrix(q, codes, np.ones(1, np.float32))
    for qi in range(3):
        cq = cand[qi][cand[qi] >= 0]
        want = cq[np.lexsort((cq, full[qi, cq]))[:k]]
        assert len(set(rows[qi].tolist()) & set(want.tolist())) >= k - 1
        np.testing.assert_allclose(dist[qi], np.sort(full[qi, want]), rtol=1e-4, atol=1e-4)
    with pytest.raises(vecdb.errors.InvalidArgument):
        binary.asymmetric_rerank(q, parts, np.full((3, 4), n), k)
    with pytest.raises(vecdb.errors.InvalidArgument, match="follow each other"):
        binary.asymmetric_rerank(q, [(0, codes[:100]), (150, codes[150:])], cand, k)


@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_sign_asym_search_one_against_numpy(metric):
    """The asymmetric kernel against numpy: candidates by -<(q - mean) * scale, 2b - 1> (ties by row), rescored."""
    from reference import asymmetric_matrix

    n, d, k, n_cand = 2000, 50, 10, 120
    rng, x, mean, scale, codes = _signed(8, n, d, metric)
    code_bytes = codes.astype("<u8").view(np.uint8)
    allowed = (rng.random(n) < 0.9).astype(np.uint8)
    addrs = np.array([x.__array_interface__["data"][0]], np.int64)
    for _ in range(5):
        q = rng.standard_normal(d).astype(np.float32)
        out_d, out_r, out_id = np.empty(k, np.float32), np.empty(k, np.int64), np.empty(k, np.uint64)
        found = binary.sign_asym_search_one(
            q, metric == "cosine", mean, scale, code_bytes, allowed, n_cand, addrs, n, metric == "l2",
            np.arange(n, dtype=np.uint64), out_d, out_r, out_id, np.zeros((0, d), np.float32), 0,
            np.zeros(0, np.int64), np.zeros(1, np.int64),
        )  # fmt: skip
        assert found == k and out_id.tolist() == out_r.tolist()
        out_d = out_d**2 if metric == "l2" else -out_d  # the kernel gives l2 scores rooted
        qp = q / np.linalg.norm(q) if metric == "cosine" else q
        approx = asymmetric_matrix(((qp - mean) * scale)[None], codes, np.ones(1, np.float32))[0]
        rows, dist = two_stage_one(qp, x, approx, allowed, n_cand, k, metric)
        # the candidate set may differ from the twin's only at float near-ties of the approximate score
        assert len(set(out_r.tolist()) & set(rows.tolist())) >= k - 1
        np.testing.assert_allclose(np.sort(out_d)[: k - 1], np.sort(dist)[: k - 1], rtol=1e-4, atol=1e-4)


def test_retraining_replaces_the_codes_the_fast_path_reads(tmp_path):
    db = vecdb.open(tmp_path / "db")
    col, x = _col(db, "cosine", n=1200, center=True)
    q = (x[9] + 0.3).astype(np.float32)
    p = SearchParams(oversample=2)
    col.search("v", q, k=5, params=p)
    old_codes = col._hot_codes["v"].codes.copy()
    col.train_compression("v", sample=50, seed=5, progress=False)  # another sample: another mean, other codes
    after = col.search("v", q, k=5, params=p)
    assert not np.array_equal(col._hot_codes["v"].codes, old_codes)
    same_hits(after, col.search("v", q[None], k=5, params=p)[0])
    assert after.explain["path"] == "codes+rescore"
    db.close()


def test_searches_during_upserts_deletes_and_map_growth_stay_whole(tmp_path):
    """Search threads on the sign fast path while a writer in the same process commits one point at a time, deletes,
    and grows the map (which moves every block's address): every result holds k distinct ids of points a write
    made, and each score is the query's true distance to the point it names (read through the addresses)."""
    from procs import run_threads

    db = vecdb.open(tmp_path / "db", map_size=1 << 21)
    col, x = _col(db, "cosine", n=1500)
    rng = np.random.default_rng(6)
    new = rng.standard_normal((250, DIM)).astype(np.float32)
    new /= np.linalg.norm(new, axis=1, keepdims=True)
    vec = {i: x[i] / np.linalg.norm(x[i]) for i in range(1500)}
    started = set(range(1500))  # ids some upsert has been asked for (a commit lands before upsert returns)
    gen0 = db._env.map_generation
    rngs = [np.random.default_rng(seed) for seed in range(3)]

    def write():
        for i in range(250):
            vec[10_000 + i] = new[i]
            started.add(10_000 + i)
            col.upsert([10_000 + i], new[i : i + 1])
            if i % 50 == 0:  # bulk writes grow the map
                col.upsert(list(range(20_000 + i * 100, 20_100 + i * 100)), rng.standard_normal((100, DIM)))
            if i % 25 == 0:
                col.delete([i])

    def read(i):
        q = new[rngs[i].integers(250)].copy()
        hits = col.search("v", q, k=10, with_payload=False)
        assert len(hits.ids) == 10 and len(set(hits.ids)) == 10, hits.ids
        assert hits.explain["path"] == "codes+rescore"
        for pid, score in zip(hits.ids, hits.scores.tolist()):
            assert pid >= 20_000 or pid in started, pid
            if pid in vec:
                assert abs(score - float(vec[pid] @ q)) < 1e-4, (pid, score)

    run_threads(write, read, 3)
    assert db._env.map_generation > gen0, "the map never grew: the test did not move the blocks"
    assert col.search("v", new[-1], k=1).ids == [10_249]
    db.close()


@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_list_kernels_against_numpy(metric):
    """The inverted-file kernels against numpy: ivf_lists groups rows by the list number in their codes (rows
    ascending in a list), ivf_probe takes each query's nearest lists (ties to the lower list), and the scan and the
    single-query kernel take the best rows of those lists by (asymmetric score, row), every allowed row where the
    lists hold fewer than asked, and rescore them."""
    from reference import asymmetric_matrix

    n, d, nl, probe, n_cand, k = 3000, 50, 24, 5, 60, 10
    rng, x, mean, scale, codes = _signed(9, n, d, metric)
    cent = x[rng.choice(n, nl, replace=False)].copy()
    cent[7] = cent[3]  # two equal centroids: a tie the lower list must win
    lists = rng.integers(0, nl, n)
    words = codes.copy()
    words[:, 0] |= lists.astype(np.uint64) << np.uint64(59)  # 50 signs, the list number in bits 59..63
    order, starts = binary.ivf_lists(words, 0, np.uint64(59), np.uint64(31))
    assert starts[-1] == n and np.diff(starts)[nl:].sum() == 0
    for li in range(nl):
        np.testing.assert_array_equal(order[starts[li] : starts[li + 1]], np.flatnonzero(lists == li))
    ivf_l2 = metric == "l2"
    for q in rng.standard_normal((6, d)).astype(np.float32):
        qp = q / np.linalg.norm(q) if metric == "cosine" else q
        if metric == "cosine":
            qp = qp.astype(np.float32)
        s = ((cent - qp) ** 2).sum(1) if ivf_l2 else -(cent @ qp)
        want_lists = np.sort(np.lexsort((np.arange(nl), s))[:probe])
        got_lists = np.zeros((1, probe), np.int64)
        binary.ivf_probe(qp[None], cent, ivf_l2, probe, got_lists)
        np.testing.assert_array_equal(got_lists[0], want_lists)
        approx = asymmetric_matrix(((qp - mean) * scale)[None], codes, np.ones(1, np.float32))[0]
        for share in (0.9, 0.02):  # 2% allowed: the probed lists hold fewer than n_cand -> every allowed row
            allowed = (rng.random(n) < share).astype(np.uint8)
            inside = np.isin(lists, want_lists) & (allowed != 0)
            pool = inside if inside.sum() >= n_cand else allowed != 0
            cand = np.flatnonzero(pool)[np.lexsort((np.flatnonzero(pool), approx[pool]))[:n_cand]]
            dist, rows = binary.ivf_asymmetric_scan_topk(
                ((qp - mean) * scale)[None], [(0, words[:1000]), (1000, words[1000:])], allowed, n_cand,
                got_lists, 0, 59, 31,
            )  # fmt: skip
            # the same set (float near-ties of the approximate score aside), each with its score
            got = rows[0][rows[0] >= 0]
            assert len(got) == len(cand) and len(set(got.tolist()) & set(cand.tolist())) >= len(cand) - 1
            np.testing.assert_allclose(dist[0][: len(got)], approx[got], rtol=1e-4, atol=1e-4)
            out_d, out_r, out_id = np.empty(k, np.float32), np.empty(k, np.int64), np.empty(k, np.uint64)
            addrs = np.array([x.__array_interface__["data"][0]], np.int64)
            found = binary.sign_asym_search_one(
                q, metric == "cosine", mean, scale, binary.list_order_bytes(words, order), allowed, n_cand, addrs, n,
                ivf_l2, np.arange(n, dtype=np.uint64), out_d, out_r, out_id, cent, probe, order, starts,
            )  # fmt: skip
            assert found == min(k, int(allowed.sum()))
            assert set(out_r[:found].tolist()) <= set(got.tolist())  # rescored from those candidates
            exact = ((x[got] - qp) ** 2).sum(1) if ivf_l2 else -(x[got] @ qp)
            want = got[np.lexsort((got, exact))[:k]]
            assert out_r[:found].tolist() == want[:found].tolist()
