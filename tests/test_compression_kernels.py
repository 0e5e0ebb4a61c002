"""Code-scoring kernels (binary, pq, scalar, rescore) against their numpy twins in tests/reference.py."""

import numpy as np
import pytest
from reference import (
    adc_matrix,
    asymmetric_matrix,
    hamming_matrix,
    int8_matrix,
    pairwise_distances,
    topk_from_matrix,
    unpack_words,
    weighted_hamming_matrix,
)

from vecdb.errors import InvalidArgument
from vecdb.kernels import _parallel, binary, pq, scalar
from vecdb.kernels.rescore import gathered_distances


def _blocks(x, size):
    return [(i, x[i : i + size]) for i in range(0, x.shape[0], size)]


def _check_topk(dist, rows, full, allowed, k, tol=1e-4):
    """The kernel's top-k must equal the twin's up to ties: same distances, and every returned row's true
    distance equals the distance reported for it."""
    rdist, rrows = topk_from_matrix(full, allowed, k)
    np.testing.assert_allclose(dist, rdist, rtol=tol, atol=tol)
    for qi in range(dist.shape[0]):
        ok = rows[qi] >= 0
        assert (ok == (rrows[qi] >= 0)).all()
        np.testing.assert_allclose(full[qi, rows[qi][ok]], dist[qi][ok], rtol=tol, atol=tol)
        assert len(set(rows[qi][ok].tolist())) == ok.sum(), "a row returned twice"
        assert allowed[rows[qi][ok]].all(), "a masked row was returned"


def _random_codes(rng, n, words):
    return rng.integers(0, 2**63, size=(n, words), dtype=np.uint64) | (
        rng.integers(0, 2, size=(n, words), dtype=np.uint64) << np.uint64(63)
    )


# ------------------------------------------------------------------ Hamming


@pytest.mark.parametrize("nq", [1, 3, 4, 9])
@pytest.mark.parametrize("words", [1, 2, 6, 20])  # 20: wider than binary.UNROLL_WORDS, the generic loop
@pytest.mark.parametrize("k", [10, 40, 250])
def test_hamming_scan_matches_numpy(nq, words, k, rng):
    x = _random_codes(rng, 300, words)
    q = _random_codes(rng, nq, words)
    allowed = (rng.random(300) > 0.3).astype(np.uint8)
    dist, rows = binary.scan_topk(q, _blocks(x, 64), allowed, k)
    _check_topk(dist, rows, hamming_matrix(q, x), allowed, k)


def test_hamming_selection_keeps_lowest_rows_on_ties(rng):
    x = np.zeros((200, 1), np.uint64)
    x[150:] = 1  # distance 1 from the query; rows 0..149 tie at 0
    dist, rows = binary.scan_topk(np.zeros((1, 1), np.uint64), _blocks(x, 64), np.ones(200, np.uint8), 40)
    assert rows[0].tolist() == list(range(40)) and (dist == 0).all()
    # ties at the cut across blocks: rows 0..63 at distance 1, 64..199 at 0; the 70 best are 64..133
    x = np.ones((200, 1), np.uint64)
    x[64:] = 0
    dist, rows = binary.scan_topk(np.zeros((1, 1), np.uint64), _blocks(x, 64), np.ones(200, np.uint8), 140)
    assert sorted(rows[0].tolist()) == [0, 1, 2, 3] + list(range(64, 200))


def test_hamming_ties_broken_by_row(rng):
    x = np.zeros((10, 2), np.uint64)
    q = np.zeros((1, 2), np.uint64)
    dist, rows = binary.scan_topk(q, _blocks(x, 4), np.ones(10, np.uint8), 4)
    assert (dist == 0).all() and rows[0].tolist() == [0, 1, 2, 3]


def test_hamming_k_larger_than_allowed_pads(rng):
    x = _random_codes(rng, 20, 1)
    q = _random_codes(rng, 2, 1)
    allowed = np.zeros(20, np.uint8)
    allowed[[3, 7, 11]] = 1
    dist, rows = binary.scan_topk(q, _blocks(x, 8), allowed, 5)
    assert (rows[:, 3:] == -1).all() and np.isinf(dist[:, 3:]).all()
    assert set(rows[0, :3].tolist()) == {3, 7, 11}


def test_empty_inputs(rng):
    q = _random_codes(rng, 2, 1)
    dist, rows = binary.scan_topk(q, [], np.zeros(0, np.uint8), 3)
    assert (rows == -1).all() and np.isinf(dist).all()
    x = _random_codes(rng, 5, 1)
    dist, rows = binary.scan_topk(q[:0], _blocks(x, 2), np.ones(5, np.uint8), 3)
    assert dist.shape == (0, 3)
    assert binary.distances(q, x, np.array([], np.int64)).shape == (2, 0)


def test_hamming_distances_of_selected_rows(rng):
    x = _random_codes(rng, 50, 3)
    q = _random_codes(rng, 4, 3)
    rows = np.array([4, 0, 49, 4])
    np.testing.assert_array_equal(binary.distances(q, x, rows), hamming_matrix(q, x[rows]))
    with pytest.raises(InvalidArgument):
        binary.distances(q, x, np.array([50]))


# ------------------------------------------------------------------ weighted multi-plane


@pytest.mark.parametrize("planes_q,planes_x", [(1, 1), (2, 2), (3, 3), (1, 2), (2, 1)])
@pytest.mark.parametrize("nq", [1, 2, 5])
def test_weighted_scan_matches_numpy(planes_q, planes_x, nq, rng):
    words = 2
    a = 0.5 ** np.arange(max(planes_q, planes_x))
    w = np.outer(a[:planes_q], a[:planes_x]).astype(np.float32)
    x = _random_codes(rng, 200, planes_x * words)
    q = _random_codes(rng, nq, planes_q * words)
    allowed = (rng.random(200) > 0.2).astype(np.uint8)
    full = weighted_hamming_matrix(q, x, w)
    dist, rows = binary.weighted_scan_topk(q, _blocks(x, 50), allowed, 7, w)
    _check_topk(dist, rows, full, allowed, 7)
    sel = np.array([0, 199, 17])
    np.testing.assert_allclose(binary.weighted_distances(q, x, sel, w), full[:, sel], rtol=1e-6)


def test_weighted_distance_is_code_inner_product(rng):
    # With +-1 planes and B = sum a_i b_i, to_similarity(weighted distance) == <Bq, Bx>.
    bits, planes = 100, 2
    a = np.array([1.0, 0.5], np.float32)
    sq = rng.random((3, planes, bits)) > 0.5
    sx = rng.random((20, planes, bits)) > 0.5
    q = np.concatenate([binary.pack_bits(sq[:, i]) for i in range(planes)], 1)
    x = np.concatenate([binary.pack_bits(sx[:, i]) for i in range(planes)], 1)
    w = np.outer(a, a)
    sim = binary.to_similarity(binary.weighted_distances(q, x, None, w), bits, w)
    bq = ((2.0 * sq - 1) * a[None, :, None]).sum(1)
    bx = ((2.0 * sx - 1) * a[None, :, None]).sum(1)
    np.testing.assert_allclose(sim, bq @ bx.T, rtol=1e-5)


def test_weighted_rejects_bad_weights_and_widths(rng):
    x = _random_codes(rng, 10, 4)
    q = _random_codes(rng, 2, 4)
    allowed = np.ones(10, np.uint8)
    with pytest.raises(InvalidArgument):
        binary.weighted_scan_topk(q, [(0, x)], allowed, 3, np.array([[1.0, np.nan], [1, 1]]))
    with pytest.raises(InvalidArgument):
        binary.weighted_scan_topk(q, [(0, x)], allowed, 3, np.ones((3, 2)))  # 4 words do not split in 3
    with pytest.raises(InvalidArgument):
        binary.weighted_scan_topk(q, [(0, x[:, :3])], allowed, 3, np.ones((2, 2)))
    with pytest.raises(InvalidArgument):
        binary.weighted_scan_topk(q, [(0, x)], allowed, 3, -np.ones((2, 2)))


# ------------------------------------------------------------------ float query x bit codes


@pytest.mark.parametrize("d", [5, 50, 64, 100])
@pytest.mark.parametrize("planes", [1, 2, 3])
def test_asymmetric_matches_numpy(d, planes, rng):
    a = (0.5 ** np.arange(planes)).astype(np.float32)
    x = np.concatenate([binary.pack_signs(rng.normal(size=(150, d))) for _ in range(planes)], 1)
    q = rng.normal(size=(6, d)).astype(np.float32)
    allowed = (rng.random(150) > 0.25).astype(np.uint8)
    full = asymmetric_matrix(q, x, a)
    dist, rows = binary.asymmetric_scan_topk(q, _blocks(x, 40), allowed, 8, a)
    _check_topk(dist, rows, full, allowed, 8, tol=1e-3)
    sel = np.array([3, 1, 149])
    np.testing.assert_allclose(binary.asymmetric_distances(q, x, sel, a), full[:, sel], rtol=1e-4, atol=1e-4)


def test_asymmetric_rejects_nan_and_mismatch(rng):
    x = binary.pack_signs(rng.normal(size=(10, 20)))
    q = rng.normal(size=(2, 20)).astype(np.float32)
    q[1, 3] = np.nan
    with pytest.raises(InvalidArgument, match="NaN"):
        binary.asymmetric_scan_topk(q, [(0, x)], np.ones(10, np.uint8), 3)
    with pytest.raises(InvalidArgument):
        binary.asymmetric_scan_topk(rng.normal(size=(2, 20)), [(0, x)], np.ones(10, np.uint8), 3, [1, 0.5])


# ------------------------------------------------------------------ packing and user-supplied bits


def test_pack_unpack_round_trip(rng):
    bits = rng.random((7, 130)) > 0.5
    codes = binary.pack_bits(bits)
    assert codes.shape == (7, 3) and codes.dtype == np.uint64
    np.testing.assert_array_equal(binary.unpack_bits(codes, 130).astype(bool), bits)
    np.testing.assert_array_equal(unpack_words(codes)[:, :130].astype(bool), bits)
    assert (unpack_words(codes)[:, 130:] == 0).all(), "padding bits must be zero"


def test_zero_vectors_pack_to_zero_bits():
    assert (binary.pack_signs(np.zeros((3, 70))) == 0).all()


@pytest.mark.parametrize("bitorder", ["big", "little"])
def test_user_supplied_packed_bits(bitorder, rng):
    # e.g. sentence-transformers "ubinary" embeddings = np.packbits(emb > 0) (big bit order).
    bits = rng.random((40, 100)) > 0.5
    packed = np.packbits(bits, axis=1, bitorder=bitorder)
    codes = binary.from_packed_bytes(packed, 100, bitorder)
    np.testing.assert_array_equal(codes, binary.pack_bits(bits))
    q = codes[:3]
    dist, rows = binary.scan_topk(q, _blocks(codes, 16), np.ones(40, np.uint8), 5)
    _check_topk(dist, rows, hamming_matrix(q, codes), np.ones(40, np.uint8), 5)
    assert (dist[:, 0] == 0).all() and (rows[:, 0] == [0, 1, 2]).all()


def test_user_bits_with_dirty_padding_are_cleaned():
    packed = np.full((2, 2), 0xFF, np.uint8)  # 10 bits used, 6 padding bits set
    codes = binary.from_packed_bytes(packed, 10)
    assert binary.distances(codes[:1], np.zeros((1, 1), np.uint64))[0, 0] == 10


def test_binary_bad_input_rejected(rng):
    x = _random_codes(rng, 10, 2)
    allowed = np.ones(10, np.uint8)
    with pytest.raises(InvalidArgument, match="from_packed_bytes"):
        binary.scan_topk(np.zeros((1, 16), np.uint8), [(0, x)], allowed, 3)
    with pytest.raises(InvalidArgument):
        binary.scan_topk(x[:1, :1], [(0, x)], allowed, 3)  # width mismatch
    with pytest.raises(InvalidArgument):
        binary.scan_topk(x[:1], [(0, x)], allowed, 0)
    with pytest.raises(InvalidArgument):
        binary.scan_topk(x[:1], [(0, x)], allowed[:5], 3)
    with pytest.raises(InvalidArgument):
        binary.from_packed_bytes(np.zeros((2, 3), np.uint8), 10)  # 10 bits need 2 bytes
    with pytest.raises(InvalidArgument):
        binary.from_packed_bytes(np.zeros((2, 2), np.uint8), 10, "middle")


# ------------------------------------------------------------------ PQ ADC


@pytest.mark.parametrize("metric", ["dot", "l2"])
@pytest.mark.parametrize("ksub", [16, 256])
@pytest.mark.parametrize("nq", [1, 4, 6])
def test_adc_matches_numpy(metric, ksub, nq, rng):
    m, dsub = 4, 3
    cb = rng.normal(size=(m, ksub, dsub)).astype(np.float32)
    codes = rng.integers(0, ksub, size=(250, m)).astype(np.uint8)
    q = rng.normal(size=(nq, m * dsub)).astype(np.float32)
    tables = pq.adc_tables(q, cb, metric)
    assert tables.shape == (nq, m, 256) and np.isinf(tables[:, :, ksub:]).all()
    allowed = (rng.random(250) > 0.3).astype(np.uint8)
    full = adc_matrix(q, cb, codes, metric)
    dist, rows = pq.scan_topk(tables, _blocks(codes, 64), allowed, 9)
    _check_topk(dist, rows, full, allowed, 9, tol=1e-3)
    # blocks of 64 leave a 58-row block: the four-row loop and its tail both run; trusted skips only the NaN pass
    dist_t, rows_t = pq.scan_topk(tables, _blocks(codes, 64), allowed, 9, trusted=True)
    np.testing.assert_array_equal(rows_t, rows)
    np.testing.assert_array_equal(dist_t, dist)
    sel = np.array([5, 0, 249])
    np.testing.assert_allclose(pq.distances(tables, codes, sel), full[:, sel], rtol=1e-4, atol=1e-4)


def test_adc_bad_input_rejected(rng):
    cb = rng.normal(size=(4, 16, 2)).astype(np.float32)
    with pytest.raises(InvalidArgument):
        pq.adc_tables(rng.normal(size=(2, 7)), cb, "dot")
    with pytest.raises(InvalidArgument):
        pq.adc_tables(np.full((1, 8), np.nan), cb, "dot")
    with pytest.raises(InvalidArgument):
        pq.adc_tables(rng.normal(size=(2, 8)), cb, "hamming")
    tables = pq.adc_tables(rng.normal(size=(2, 8)), cb, "l2")
    with pytest.raises(InvalidArgument):
        pq.scan_topk(tables, [(0, np.zeros((5, 3), np.uint8))], np.ones(5, np.uint8), 2)
    with pytest.raises(InvalidArgument):
        pq.scan_topk(tables, [(0, np.zeros((5, 4), np.int32))], np.ones(5, np.uint8), 2)


# ------------------------------------------------------------------ int8


@pytest.mark.parametrize("metric", ["dot", "l2"])
@pytest.mark.parametrize("nq", [1, 2, 5])
def test_int8_matches_numpy(metric, nq, rng):
    d = 13
    codes = rng.integers(-128, 128, size=(220, d)).astype(np.int8)
    offset = rng.normal(size=d).astype(np.float32)
    scale = (rng.random(d) * 0.1 + 0.01).astype(np.float32)
    q = rng.normal(size=(nq, d)).astype(np.float32)
    full = int8_matrix(q, codes, offset, scale, metric)
    allowed = (rng.random(220) > 0.3).astype(np.uint8)
    if metric == "l2":
        folded, const = q - offset, 0.0
    else:
        folded, const = q * scale, -(q.astype(np.float64) @ offset)[:, None]
    dist, rows = scalar.scan_topk(folded, _blocks(codes, 50), allowed, 6, metric, scale)
    _check_topk(np.where(np.isfinite(dist), dist + const, dist), rows, full, allowed, 6, tol=1e-3)
    sel = np.array([0, 219, 3])
    got = scalar.distances(folded, codes, sel, metric, scale) + const
    np.testing.assert_allclose(got, full[:, sel], rtol=1e-4, atol=1e-3)


def test_int8_bad_input_rejected(rng):
    codes = np.zeros((4, 3), np.int8)
    with pytest.raises(InvalidArgument):
        scalar.scan_topk(np.zeros((1, 3)), [(0, codes)], np.ones(4, np.uint8), 2, "l2")  # l2 needs the scale
    with pytest.raises(InvalidArgument):
        scalar.scan_topk(np.zeros((1, 3)), [(0, codes.astype(np.uint8))], np.ones(4, np.uint8), 2, "dot")
    with pytest.raises(InvalidArgument):
        scalar.scan_topk(np.full((1, 3), np.nan), [(0, codes)], np.ones(4, np.uint8), 2, "dot")


# ------------------------------------------------------------------ rescoring gather and parallel paths


@pytest.mark.parametrize("metric", ["dot", "cosine", "l2"])
def test_gathered_distances(metric, rng):
    v = rng.normal(size=(30, 8)).astype(np.float32)
    q = rng.normal(size=(3, 8)).astype(np.float32)
    idx = np.array([[0, 5, -1], [29, 29, 1], [-1, -1, -1]])
    out = gathered_distances(q, v, idx, metric)
    for qi in range(3):
        for j in range(3):
            if idx[qi, j] < 0:
                assert np.isinf(out[qi, j])
            else:
                ref = pairwise_distances(q[qi : qi + 1], v[idx[qi, j] : idx[qi, j] + 1], metric)[0, 0]
                assert out[qi, j] == pytest.approx(ref, rel=1e-4, abs=1e-4)
    with pytest.raises(InvalidArgument):
        gathered_distances(q, v, np.array([[30], [0], [0]]), metric)


@pytest.mark.parametrize("kind", ["hamming", "weighted", "adc"])
def test_parallel_paths_match_serial(kind, rng, monkeypatch):
    monkeypatch.setattr(_parallel, "PARALLEL_MIN_WORK", 0)
    monkeypatch.setenv("VECDB_THREADS", "3")
    n = 1500
    allowed = (rng.random(n) > 0.1).astype(np.uint8)
    w = np.array([[1, 0.5], [0.5, 0.25]], np.float32)
    x_bits = _random_codes(rng, n, 2)
    cb = rng.normal(size=(2, 256, 2)).astype(np.float32)
    x_pq = rng.integers(0, 256, size=(n, 2)).astype(np.uint8)
    for nq, block in [(1, 100), (7, 100), (12, 5000), (1, 5000)]:  # blocks, blocks, queries, one query's rows
        if kind == "hamming":
            q = _random_codes(rng, nq, 2)
            dist, rows = binary.scan_topk(q, _blocks(x_bits, block), allowed, 7)
            full = hamming_matrix(q, x_bits)
        elif kind == "weighted":
            q = _random_codes(rng, nq, 2)
            dist, rows = binary.weighted_scan_topk(q, _blocks(x_bits, block), allowed, 7, w)
            full = weighted_hamming_matrix(q, x_bits, w)
        else:
            q = rng.normal(size=(nq, 4)).astype(np.float32)
            dist, rows = pq.scan_topk(pq.adc_tables(q, cb, "l2"), _blocks(x_pq, block), allowed, 7)
            full = adc_matrix(q, cb, x_pq, "l2")
        _check_topk(dist, rows, full, allowed, 7, tol=1e-3)


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
def test_rescore_in_blocks_equals_rescore(metric, rng, tmp_path):
    """The engine's in-place rescoring (rows read from LMDB blocks by address) against rescore() over an array:
    same rows, same order, same distances, including exact ties (duplicate rows) and -1 padding."""
    import lmdb

    from vecdb.compression import rescore
    from vecdb.kernels.rescore import rescore_in_blocks
    from vecdb.storage.blocks import BlockArray

    x = rng.normal(size=(700, 12)).astype(np.float32)
    if metric == "cosine":
        x /= np.linalg.norm(x, axis=1, keepdims=True)
    x[300:320] = x[5]  # exact ties with row 5
    q = x[[5, 17, 650]] + np.float32(0.01) * rng.normal(size=(3, 12)).astype(np.float32)
    if metric == "cosine":
        q /= np.linalg.norm(q, axis=1, keepdims=True)
    q = np.ascontiguousarray(q, np.float32)
    cand = np.stack([rng.permutation(700)[:90] for _ in range(3)])
    first = np.r_[5, 300:320, 1, 2, 3, 4]
    cand[0] = np.r_[first, [r for r in rng.permutation(700) if r not in first][:65]]
    cand[2, 5:] = -1  # fewer candidates than k: padded with (+inf, -1)
    env = lmdb.open(str(tmp_path / "db"), map_size=1 << 26, max_dbs=2)
    db = env.open_db(b"block")
    col = BlockArray(uid=1, slot=0, dtype=np.dtype(np.float32), width=12, block_rows=64)
    with env.begin(write=True) as txn:
        col.write_rows(txn, db, 0, x)
    with env.begin(buffers=True) as txn:
        d, r = rescore_in_blocks(q, cand.astype(np.int64), col.addresses(txn, db, 700), 64, metric, 10)
    env.close()
    rd, rr = rescore(q, cand, x, metric, 10)
    np.testing.assert_array_equal(r, rr)
    np.testing.assert_allclose(d, rd, rtol=1e-6, atol=1e-6)
    tied = [v for v in r[0].tolist() if v == 5 or 300 <= v < 320]
    assert tied == [5] + list(range(300, 300 + len(tied) - 1)) and len(tied) >= 2  # ties go to the lowest rows
    assert (r[2, 5:] == -1).all() and np.isinf(d[2, 5:]).all() and (r[2, :5] >= 0).all()


# ------------------------------------------------------------------ threads give the one-thread answer


def test_threads_keep_the_lowest_rows_at_a_tied_cut(monkeypatch):
    """Per-thread heaps merged by (distance, row): at the k-th distance the lowest rows win whichever thread held
    them, as with one thread (Hamming distances are whole numbers: ties at the cut are the normal case)."""
    rng = np.random.default_rng(3)
    n, k = 600_000, 1000
    x = rng.integers(0, 2**63, size=(n, 1), dtype=np.uint64)  # distances 0..64: many rows tie at the k-th
    q = np.zeros((1, 1), np.uint64)
    blocks = _blocks(x, 65_536)
    allowed = np.ones(n, np.uint8)
    monkeypatch.setenv("VECDB_THREADS", "1")
    d1, r1 = binary.scan_topk(q, blocks, allowed, k)
    monkeypatch.setenv("VECDB_THREADS", "2")
    d2, r2 = binary.scan_topk(q, blocks, allowed, k)
    assert r2.tolist() == r1.tolist() and d2.tolist() == d1.tolist()
    full = hamming_matrix(q, x)[0]
    assert r1[0].tolist() == np.lexsort((np.arange(n), full))[:k].tolist()


def test_a_block_split_across_threads_is_scored_as_one(monkeypatch):
    """One query over fewer blocks than threads splits each block; the pieces start at multiples of 8, so every row
    is summed by the same helper as in one piece (pq._sum8 groups), and the answer is the one-thread answer."""
    assert all(s % 8 == 0 for n in (100, 16_384, 16_385, 45_003) for p in (2, 3, 8) for s in _parallel._starts(n, p))
    rng = np.random.default_rng(4)
    n = 45_003
    codes = rng.integers(0, 2**63, size=(n, 6), dtype=np.uint64)
    q = rng.standard_normal((1, 384)).astype(np.float32)
    blocks = _blocks(codes, 16_384)
    allowed = np.ones(n, np.uint8)
    monkeypatch.setenv("VECDB_THREADS", "1")
    d1, r1 = binary.asymmetric_scan_topk(q, blocks, allowed, 50)
    monkeypatch.setenv("VECDB_THREADS", "8")
    d8, r8 = binary.asymmetric_scan_topk(q, blocks, allowed, 50)
    assert r8.tolist() == r1.tolist() and d8.tolist() == d1.tolist()
