"""MaxSim kernels (vecdb/kernels/maxsim.py) against their numpy twins, for every token encoding and edge case."""

import numpy as np
import pytest
from reference import decode_binary, decode_int8, decode_residual, maxsim_scores, maxsim_topk

from vecdb.errors import InvalidArgument
from vecdb.kernels import maxsim
from vecdb.multivector import TokenCompression
from vecdb.multivector.codecs import TokenCodec

KINDS = ["none", "int8", "binary", "residual-2", "residual-1", "residual-4"]


def _docs(rng, n, d, max_len=12):
    lengths = rng.integers(1, max_len + 1, size=n)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    x = rng.normal(size=(offsets[-1], d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True), offsets


def _codec(kind, d, sample):
    if kind.startswith("residual"):
        comp = TokenCompression("residual", nbits=int(kind.split("-")[1]), n_centroids=16, kmeans_iters=5)
    else:
        comp = TokenCompression(kind)
    return TokenCodec.fit(comp, d, sample)


def _decoded_reference(codec, data, aux):
    """What the kernel should score against, decoded independently of the library's decoder."""
    kind, d = codec.compression.kind, codec.dim
    if kind == "none":
        return data.astype(np.float64)
    if kind == "int8":
        return decode_int8(data, codec.arrays["scale"])
    if kind == "binary":
        return decode_binary(data, aux, d)
    return decode_residual(data, aux, codec.arrays["centroids"], codec.arrays["weights"], codec.compression.nbits, d)


def _blocks(offsets, data, aux, cuts):
    """Split encoded documents into blocks at the given document numbers."""
    bounds = [0, *cuts, len(offsets) - 1]
    blocks = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        t0, t1 = offsets[a], offsets[b]
        blocks.append(maxsim.Block(a, offsets[a : b + 1] - t0, data[t0:t1], None if aux is None else aux[t0:t1]))
    return blocks


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("d", [5, 16, 33])
@pytest.mark.parametrize("nq", [1, 4, 7])
def test_scores_and_topk_match_numpy(kind, d, nq, rng):
    x, offsets = _docs(rng, 120, d)
    codec = _codec(kind, d, x)
    data, aux = codec.encode(x)
    ref_tokens = _decoded_reference(codec, data, aux)
    np.testing.assert_allclose(codec.decode(data, aux), ref_tokens, rtol=1e-5, atol=1e-5)
    blocks = _blocks(offsets, data, aux, [37, 80])
    q = rng.normal(size=(nq, d)).astype(np.float32)
    ref = maxsim_scores(q, ref_tokens, offsets)
    docs = np.array([5, 119, 0, 5, 64, 37, 36], np.int64)  # across blocks, repeated, both block edges
    np.testing.assert_allclose(maxsim.score_docs(q, codec.codes, blocks, docs), ref[docs], rtol=1e-4, atol=1e-4)
    allowed = (rng.random(120) > 0.25).astype(np.uint8)
    dist, found = maxsim.scan_topk(q, codec.codes, blocks, allowed, 10)
    rdist, _ = maxsim_topk(q, ref_tokens, offsets, allowed, 10)
    np.testing.assert_allclose(dist, rdist, rtol=1e-4, atol=1e-4)
    assert allowed[found].all() and len(set(found.tolist())) == 10
    np.testing.assert_allclose(-ref[found], rdist, rtol=1e-4, atol=1e-4)  # ties may swap rows, never scores


def test_compression_error_is_bounded(rng):
    """The codecs approximate real dot products: int8 closely, residual reasonably, binary by sign."""
    d = 64
    x, offsets = _docs(rng, 400, d, max_len=8)
    q = rng.normal(size=(6, d)).astype(np.float32)
    exact = maxsim_scores(q, x, offsets)
    errs = {}
    for kind in ("int8", "binary", "residual-2"):
        codec = _codec(kind, d, x)
        data, aux = codec.encode(x)
        blocks = _blocks(offsets, data, aux, [])
        approx = maxsim.score_docs(q, codec.codes, blocks, np.arange(400))
        errs[kind] = np.corrcoef(approx, exact)[0, 1]
    assert errs["int8"] > 0.999, errs
    assert errs["residual-2"] > 0.8, errs
    assert errs["binary"] > 0.7, errs


def test_k_larger_than_allowed_pads_and_empty_docs_never_match(rng):
    d = 8
    x, offsets = _docs(rng, 10, d)
    offsets = np.insert(offsets, 3, offsets[3])  # document 3 is empty (hand-built block)
    blocks = [maxsim.Block(0, offsets, x)]
    codes = maxsim.Codes("float32", d)
    allowed = np.zeros(11, np.uint8)
    allowed[[1, 3, 4]] = 1
    q = rng.normal(size=(3, d)).astype(np.float32)
    dist, docs = maxsim.scan_topk(q, codes, blocks, allowed, 5)
    assert set(docs[:2].tolist()) == {1, 4} and (docs[2:] == -1).all() and np.isinf(dist[2:]).all()
    assert maxsim.score_docs(q, codes, blocks, [3])[0] == -np.inf


def test_empty_inputs(rng):
    codes = maxsim.Codes("float32", 4)
    q = rng.normal(size=(2, 4)).astype(np.float32)
    dist, docs = maxsim.scan_topk(q, codes, [], np.zeros(0, np.uint8), 3)
    assert (docs == -1).all() and np.isinf(dist).all()
    assert maxsim.score_docs(q, codes, [], np.zeros(0, np.int64)).shape == (0,)


def test_zero_vectors_and_ties_are_deterministic(rng):
    x = np.zeros((12, 6), np.float32)
    offsets = np.arange(0, 13, 2, dtype=np.int64)  # 6 documents of 2 zero tokens
    q = rng.normal(size=(3, 6)).astype(np.float32)
    dist, docs = maxsim.scan_topk(q, maxsim.Codes("float32", 6), [maxsim.Block(0, offsets, x)], np.ones(6, np.uint8), 4)
    assert (dist == 0).all() and docs.tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("kind", ["none", "binary"])
def test_parallel_paths_match_serial(kind, rng, monkeypatch):
    d = 24
    x, offsets = _docs(rng, 300, d, max_len=20)
    codec = _codec(kind, d, x)
    data, aux = codec.encode(x)
    blocks = _blocks(offsets, data, aux, [100, 101, 250])
    q = rng.normal(size=(5, d)).astype(np.float32)
    allowed = (rng.random(300) > 0.1).astype(np.uint8)
    docs = rng.integers(0, 300, 150)
    serial_scores = maxsim.score_docs(q, codec.codes, blocks, docs)
    serial_top = maxsim.scan_topk(q, codec.codes, blocks, allowed, 17)
    monkeypatch.setattr(maxsim, "_PARALLEL_MIN_WORK", 0)
    monkeypatch.setenv("VECDB_THREADS", "3")
    np.testing.assert_allclose(maxsim.score_docs(q, codec.codes, blocks, docs), serial_scores, rtol=1e-6)
    par_top = maxsim.scan_topk(q, codec.codes, blocks, allowed, 17)
    np.testing.assert_allclose(par_top[0], serial_top[0], rtol=1e-6)
    assert par_top[1].tolist() == serial_top[1].tolist()


def test_bad_input_rejected(rng):
    d = 4
    x, offsets = _docs(rng, 5, d)
    blocks = [maxsim.Block(0, offsets, x)]
    codes = maxsim.Codes("float32", d)
    ok = rng.normal(size=(2, d)).astype(np.float32)
    allowed = np.ones(5, np.uint8)
    cases = [
        lambda: maxsim.scan_topk(rng.normal(size=(2, d + 1)), codes, blocks, allowed, 3),  # wrong dim
        lambda: maxsim.scan_topk(np.zeros((0, d)), codes, blocks, allowed, 3),  # no query tokens
        lambda: maxsim.scan_topk(np.full((2, d), np.nan), codes, blocks, allowed, 3),  # NaN
        lambda: maxsim.scan_topk(ok[0], codes, blocks, allowed, 3),  # 1-D query
        lambda: maxsim.scan_topk(ok, codes, blocks, allowed, 0),  # k
        lambda: maxsim.scan_topk(ok, codes, blocks, np.ones(3, np.uint8), 3),  # short mask
        lambda: maxsim.scan_topk(ok, maxsim.Codes("float16", d), blocks, allowed, 3),  # unknown kind
        lambda: maxsim.scan_topk(ok, maxsim.Codes("int8", d), blocks, allowed, 3),  # missing scale
        lambda: maxsim.scan_topk(ok, codes, [maxsim.Block(0, offsets[::-1], x)], allowed, 3),  # bad offsets
        lambda: maxsim.scan_topk(ok, codes, [maxsim.Block(0, offsets, x[:-1])], allowed, 3),  # token count
        lambda: maxsim.scan_topk(ok, codes, [maxsim.Block(0, offsets, x.astype(np.float64))], allowed, 3),
        lambda: maxsim.score_docs(ok, codes, blocks, [5]),  # no such document
        lambda: maxsim.score_docs(ok, codes, blocks, [-1]),
        lambda: maxsim.score_docs(ok, codes, blocks, ["a"]),
        lambda: maxsim.score_docs(ok, codes, [], [0]),
    ]
    for i, case in enumerate(cases):
        with pytest.raises(InvalidArgument):
            case()
            pytest.fail(f"case {i} was accepted")
