"""Codecs (vecdb.compression): specs, round trips, scoring consistency, determinism, persistence, errors."""

import json

import numpy as np
import pytest
from reference import pairwise_distances, topk_from_matrix

from vecdb.compression import (
    CompressionSpec,
    LearnedBinary,
    Matryoshka,
    ProductQuantization,
    ScalarInt8,
    SignBinary,
    codec_from_state,
    make_codec,
    parse_spec,
)
from vecdb.compression.base import Codec
from vecdb.errors import FailedPrecondition, InvalidArgument
from vecdb.kernels import binary

FAST_SPECS = [
    SignBinary(),
    SignBinary(center=True),
    SignBinary(bits=96, projection="random"),
    SignBinary(scoring="asymmetric"),
    SignBinary(bits=48, projection="random", center=True, scoring="asymmetric"),
    LearnedBinary(bits_per_dim=2, epochs=2, batch_size=128, validation=100),
    LearnedBinary(bits_per_dim=3, code_dim=40, hidden=16, epochs=1, batch_size=128, validation=100),
    ProductQuantization(m=8, nbits=6, iterations=8),
    ProductQuantization(m=4, nbits=5, opq=True, iterations=5, opq_iterations=3),
    ScalarInt8(),
    ScalarInt8(quantile=0.01),
    Matryoshka(dims=16),
    SignBinary(center=True, scoring="hamming+asymmetric"),
    SignBinary(center=True, scoring="asymmetric", lists=16, probe=4),  # list numbers in the signs' word
    SignBinary(bits=64, projection="random", scoring="asymmetric", lists=8),  # ... in a word of their own
]
IDS = [repr(s) for s in FAST_SPECS]


def clustered(rng, n=1500, d=32, metric="cosine"):
    # ~10 points per cluster: a query's 10 nearest neighbours are mostly its cluster, which codes should find.
    centers = rng.normal(size=(n // 10, d))
    x = centers[rng.integers(0, n // 10, n)] + 0.15 * rng.normal(size=(n, d))
    x = x.astype(np.float32)
    if metric == "cosine":
        x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    out = {}
    for m in ("cosine", "l2"):
        x = clustered(rng, metric=m)
        q = x[rng.choice(len(x), 12, replace=False)] + 0.05 * rng.normal(size=(12, x.shape[1])).astype(np.float32)
        if m == "cosine":
            q /= np.linalg.norm(q, axis=1, keepdims=True)
        out[m] = (x, q.astype(np.float32))
    return out


_FITTED: dict = {}


def fitted(spec, metric, data) -> Codec:
    key = (repr(spec), metric)
    if key not in _FITTED:
        codec = make_codec(spec)
        codec.fit(data[metric][0], metric=metric, seed=3, progress=False)
        _FITTED[key] = codec
    return _FITTED[key]


# ------------------------------------------------------------------ specs


@pytest.mark.parametrize("spec", FAST_SPECS, ids=IDS)
def test_spec_dict_round_trip(spec):
    d = spec.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert CompressionSpec.from_dict(d) == spec


@pytest.mark.parametrize(
    "make",
    [
        lambda: SignBinary(bits=0),
        lambda: SignBinary(projection="pca"),
        lambda: SignBinary(scoring="cosine"),
        lambda: SignBinary(center="yes"),
        lambda: LearnedBinary(bits_per_dim=5),
        lambda: LearnedBinary(lr=0),
        lambda: LearnedBinary(temperature=-1.0),
        lambda: ProductQuantization(m=0),
        lambda: ProductQuantization(nbits=9),
        lambda: ScalarInt8(quantile=0.7),
        lambda: Matryoshka(dims=0),
        lambda: Matryoshka(dims=True),
        lambda: CompressionSpec.from_dict({"kind": "zstd"}),
        lambda: CompressionSpec.from_dict({"kind": "pq", "m": 8, "codebook": 3}),
        lambda: CompressionSpec.from_dict({"m": 8}),
        lambda: SignBinary(lists=16),  # lists need asymmetric scoring
        lambda: SignBinary(scoring="asymmetric", probe=2),  # probe without lists
        lambda: SignBinary(scoring="asymmetric", lists=8, probe=9),
        lambda: SignBinary(scoring="asymmetric", lists=1),
        lambda: SignBinary(scoring="asymmetric", lists=True),
        lambda: SignBinary(scoring="asymmetric", lists=5000),  # past MAX_LISTS
    ],
)
def test_bad_specs_rejected(make):
    with pytest.raises(InvalidArgument):
        make()


def test_parse_spec():
    assert parse_spec("sign") == SignBinary()
    assert parse_spec("sign:768") == SignBinary(bits=768, projection="random")
    assert parse_spec("sign:center=true,scoring=asymmetric") == SignBinary(center=True, scoring="asymmetric")
    assert parse_spec("learned:2,epochs=3") == LearnedBinary(bits_per_dim=2, epochs=3)
    assert parse_spec("pq:48") == ProductQuantization(m=48)
    assert parse_spec("opq:16") == ProductQuantization(m=16, opq=True)
    assert parse_spec("matryoshka:128") == Matryoshka(dims=128)
    with pytest.raises(InvalidArgument):
        parse_spec("pq:m=8,bogus=1")
    with pytest.raises(InvalidArgument):
        parse_spec("gzip")


# ------------------------------------------------------------------ codecs


@pytest.mark.parametrize("metric", ["cosine", "l2"])
@pytest.mark.parametrize("spec", FAST_SPECS, ids=IDS)
def test_encode_shape_and_scan_consistency(spec, metric, data):
    """scan_topk must return exactly the top-k of the codec's own distances() (its twin here)."""
    x, q = data[metric]
    codec = fitted(spec, metric, data)
    codes = codec.encode(x)
    assert codes.shape == (len(x), codec.code_width) and codes.dtype == codec.code_dtype
    assert codec.bytes_per_vector == codes.itemsize * codes.shape[1]
    allowed = (np.random.default_rng(1).random(len(x)) > 0.2).astype(np.uint8)
    blocks = [(s, codes[s : s + 256]) for s in range(0, len(x), 256)]
    dist, rows = codec.scan_topk(q, blocks, allowed, 10)
    full = codec.distances(q, codes).astype(np.float64)
    every = full.copy()
    if not codec.nested_candidates:  # a Hamming prefilter: the top-k of distances() among its candidates
        from vecdb.compression.sign import PREFILTER

        _, pre = binary.scan_topk(codec.prepare(q).data["codes"], blocks, allowed, PREFILTER * 10)
        outside = np.ones_like(full, dtype=bool)
        np.put_along_axis(outside, np.maximum(pre, 0), False, axis=1)
        full[outside] = np.inf
    if getattr(spec, "lists", None):  # lists: the top-k of distances() among the rows of the query's nearest lists
        probed = np.zeros((len(q), spec.lists), bool)
        np.put_along_axis(probed, codec.probe_lists(q), True, axis=1)
        outside = ~probed[:, codec.lists_of(codes)]
        assert ((~outside) & (allowed != 0)).sum(1).min() >= 10  # no query falls back to every row here
        full[outside] = np.inf
    rdist, _ = topk_from_matrix(full, allowed, 10)
    np.testing.assert_allclose(dist, rdist, rtol=1e-4, atol=1e-3)
    for qi in range(len(q)):
        np.testing.assert_allclose(full[qi, rows[qi]], dist[qi], rtol=1e-4, atol=1e-3)
        assert allowed[rows[qi]].all()
    prepared = codec.prepare(q)
    np.testing.assert_array_equal(codec.scan_topk(prepared, blocks, allowed, 10)[1], rows)
    sel = np.array([5, 0, 7])
    np.testing.assert_allclose(codec.distances(prepared, codes, sel), every[:, sel], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("metric", ["cosine", "l2"])
@pytest.mark.parametrize("spec", FAST_SPECS, ids=IDS)
def test_codes_preserve_neighbours(spec, metric, data):
    """Search on codes finds true neighbours far above chance on clustered data (chance = k / n ~ 0.007)."""
    from vecdb.evaluation import recall_at_k

    x, q = data[metric]
    codec = fitted(spec, metric, data)
    codes = codec.encode(x)
    _, rows = codec.scan_topk(q, [(0, codes)], np.ones(len(x), np.uint8), 10)
    true = np.sort(pairwise_distances(q, x, metric), axis=1)
    found = np.sort(np.take_along_axis(pairwise_distances(q, x, metric), rows, 1), axis=1)
    assert recall_at_k(found, true, 10) > 0.25


@pytest.mark.parametrize("metric", ["cosine", "l2"])
@pytest.mark.parametrize("spec", FAST_SPECS, ids=IDS)
def test_decode_approximates(spec, metric, data):
    x, _ = data[metric]
    codec = fitted(spec, metric, data)
    recon = codec.decode(codec.encode(x))
    assert recon.shape == x.shape and recon.dtype == np.float32
    err = ((recon - x) ** 2).sum(1).mean()
    baseline = ((x - x.mean(0)) ** 2).sum(1).mean()  # the best constant guess
    assert err < baseline, f"reconstruction error {err:.3f} is no better than the mean ({baseline:.3f})"


@pytest.mark.parametrize("spec", FAST_SPECS, ids=IDS)
def test_state_round_trip(spec, data):
    codec = fitted(spec, "cosine", data)
    x, q = data["cosine"]
    meta, arrays = codec.state()
    meta = json.loads(json.dumps(meta))  # the engine stores the dict as JSON
    assert all(isinstance(v, np.ndarray) for v in arrays.values())
    back = codec_from_state(meta, {k: v.copy() for k, v in arrays.items()})
    assert type(back) is type(codec) and back.spec == spec and back.dim == codec.dim
    codes = codec.encode(x)
    np.testing.assert_array_equal(back.encode(x), codes)
    allowed = np.ones(len(x), np.uint8)
    np.testing.assert_array_equal(
        back.scan_topk(q, [(0, codes)], allowed, 5)[1], codec.scan_topk(q, [(0, codes)], allowed, 5)[1]
    )


@pytest.mark.parametrize("spec", [s for s in FAST_SPECS if s.kind != "matryoshka"], ids=lambda s: repr(s))
def test_deterministic_under_seed(spec, data):
    x, _ = data["cosine"]
    a, b = make_codec(spec), make_codec(spec)
    a.fit(x, metric="cosine", seed=11, progress=False)
    b.fit(x, metric="cosine", seed=11, progress=False)
    sa, sb = a.state()[1], b.state()[1]
    assert sa.keys() == sb.keys()
    for k in sa:
        np.testing.assert_array_equal(sa[k], sb[k], err_msg=k)
    np.testing.assert_array_equal(a.encode(x), b.encode(x))


def test_learned_training_keeps_best_validation_epoch(data):
    codec = fitted(FAST_SPECS[5], "cosine", data)
    log = codec.training_log
    recalls = [e["validation_recall"] for e in log["epochs"]]
    assert len(recalls) == 3  # the initialisation and 2 epochs
    assert log["best_validation_recall"] == max(recalls)
    assert log["epochs"][log["best_epoch"]]["validation_recall"] == max(recalls)


def test_learned_score_is_weighted_plane_inner_product(data):
    codec = fitted(FAST_SPECS[5], "cosine", data)
    x, q = data["cosine"]
    codes, qc = codec.encode(x[:50]), codec.encode(q)
    nw = binary.words_for(codec.code_dim)

    def b(c):
        planes = [binary.unpack_bits(c[:, i * nw : (i + 1) * nw], codec.code_dim) * 2.0 - 1 for i in range(2)]
        return planes[0] + 0.5 * planes[1]

    np.testing.assert_allclose(codec.similarity(codec.distances(q, codes)), b(qc) @ b(codes).T, rtol=1e-5)


def test_sign_asymmetric_ranks_by_reconstruction(data):
    """With a rotation (or none), asymmetric sign scoring ranks rows by the inner product with decode()."""
    x, q = data["cosine"]
    codec = fitted(FAST_SPECS[3], "cosine", data)
    codes = codec.encode(x)
    d = codec.distances(q, codes)
    recon = codec.decode(codes)
    ref = -(q @ recon.T)
    # equal up to a per-query constant
    np.testing.assert_allclose(d - d[:, :1], ref - ref[:, :1], rtol=1e-3, atol=1e-3)


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize("spec", FAST_SPECS, ids=IDS)
def test_untrained_codec_fails_clearly(spec):
    codec = make_codec(spec)
    x = np.ones((3, 32), np.float32)
    for call in (
        lambda: codec.encode(x),
        lambda: codec.prepare(x),
        lambda: codec.state(),
        lambda: codec.decode(np.zeros((1, 4), np.uint8)),
        lambda: codec.scan_topk(x, [], np.zeros(0, np.uint8), 3),
    ):
        with pytest.raises(FailedPrecondition, match="fit"):
            call()


@pytest.mark.parametrize("spec", FAST_SPECS, ids=IDS)
def test_bad_inputs_rejected(spec, data):
    codec = fitted(spec, "cosine", data)
    x, q = data["cosine"]
    with pytest.raises(InvalidArgument):
        codec.encode(x[:, :10])  # wrong dimension
    bad = q.copy()
    bad[0, 0] = np.nan
    with pytest.raises(InvalidArgument, match="NaN"):
        codec.prepare(bad)
    with pytest.raises(InvalidArgument):
        codec.decode(np.zeros((2, codec.code_width + 1), codec.code_dtype))
    with pytest.raises(InvalidArgument):
        codec.distances(q, np.zeros((2, codec.code_width), np.float64 if codec.code_dtype != np.float64 else np.int8))
    codes = codec.encode(x)
    with pytest.raises(InvalidArgument):
        codec.scan_topk(q, [(0, codes)], np.ones(len(x), np.uint8), 0)
    with pytest.raises(InvalidArgument):
        codec.distances(q, codes, np.array([len(x)]))
    with pytest.raises(InvalidArgument):
        make_codec(spec).fit(np.full((50, 32), np.inf), metric="cosine")
    with pytest.raises(InvalidArgument):
        make_codec(spec).fit(x, metric="hamming")


def test_specific_fit_errors(data):
    x, _ = data["cosine"]
    with pytest.raises(InvalidArgument, match="divisible"):
        make_codec(ProductQuantization(m=5)).fit(x, metric="cosine")
    with pytest.raises(InvalidArgument, match="projection"):
        make_codec(SignBinary(bits=64)).fit(x, metric="cosine")
    with pytest.raises(InvalidArgument):
        make_codec(Matryoshka(dims=33)).fit(x, metric="cosine")
    with pytest.raises(InvalidArgument):
        make_codec(ProductQuantization(m=4)).fit(x[:1], metric="cosine")
    with pytest.raises(InvalidArgument, match="at least 64"):
        make_codec(SignBinary(scoring="asymmetric", lists=64)).fit(x[:20], metric="cosine")


def test_sign_lists_layout_and_training(data):
    """SignBinary(lists=): each code carries its nearest centroid's number where the signs leave room (else in one
    more word), the signs themselves are the plain codec's, training needs as many vectors as lists, and the
    centroids are the seeded k-means of the training vectors (each a mean of its members, unit length for cosine)."""
    x, _ = data["cosine"]  # 32-d
    plain = make_codec(SignBinary(center=True, scoring="asymmetric"))
    plain.fit(x, metric="cosine", seed=3)
    codec = make_codec(SignBinary(center=True, scoring="asymmetric", lists=16))
    codec.fit(x, metric="cosine", seed=3)
    assert codec.code_width == 1 and codec.list_place == (0, 60, 15)  # 32 signs + 4 list bits: one word
    codes = codec.encode(x)
    lists = codec.lists_of(codes)
    ip = x.astype(np.float64) @ codec.centroids.T.astype(np.float64)
    np.testing.assert_array_equal(lists, np.argmax(ip, axis=1))
    assert codec.spec.probed == 2 and np.bincount(lists, minlength=16).min() > 0
    np.testing.assert_allclose(np.linalg.norm(codec.centroids, axis=1), 1.0, atol=1e-5)
    signs = codes.copy()
    signs[:, 0] &= np.uint64(2**60 - 1)
    np.testing.assert_array_equal(signs, plain.encode(x))  # the same signs, the list bits apart
    np.testing.assert_array_equal(codec.decode(codes), plain.decode(plain.encode(x)))
    wide = make_codec(SignBinary(bits=64, projection="random", scoring="asymmetric", lists=8))
    wide.fit(x, metric="l2", seed=3)
    assert wide.code_width == 2 and wide.list_place == (1, 0, 7)
    codes = wide.encode(x)
    assert (codes[:, 1] < 8).all()
    d2 = ((x[:, None, :].astype(np.float64) - wide.centroids[None]) ** 2).sum(-1)
    got = d2[np.arange(len(x)), wide.lists_of(codes)]
    np.testing.assert_allclose(got, d2.min(1), rtol=1e-6)  # the nearest centroid (up to rounding at exact ties)


def test_corrupt_list_state_and_mismatched_queries_rejected(data):
    x, q = data["cosine"]
    codec = make_codec(SignBinary(center=True, scoring="asymmetric", lists=16))
    codec.fit(x, metric="cosine", seed=3)
    meta, arrays = codec.state()
    bad = arrays["centroids"].copy()
    bad[0, 0] = np.nan  # a NaN centroid would be probed as list -1
    with pytest.raises(InvalidArgument, match="not finite"):
        codec_from_state(meta, {**arrays, "centroids": bad})
    with pytest.raises(InvalidArgument, match="do not match"):
        codec_from_state(meta, {**arrays, "centroids": arrays["centroids"][:8]})
    codes = codec.encode(x)
    wide = np.ones((1, 256), np.float32)  # needs 4 words of signs; the codes have 1
    with pytest.raises(InvalidArgument, match="words"):
        binary.ivf_asymmetric_scan_topk(wide, [(0, codes)], np.ones(len(x), np.uint8), 5, np.zeros((1, 2), np.int64),
                                        *codec.list_place)  # fmt: skip


def test_corrupt_state_rejected(data):
    codec = fitted(FAST_SPECS[7], "cosine", data)
    meta, arrays = codec.state()
    with pytest.raises(InvalidArgument):
        codec_from_state(meta, {"codebooks": arrays["codebooks"][:, :3]})
    bad = arrays["codebooks"].copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(InvalidArgument, match="NaN"):
        codec_from_state(meta, {**arrays, "codebooks": bad})
    with pytest.raises(InvalidArgument):
        codec_from_state({k: v for k, v in meta.items() if k != "dim"}, arrays)
    with pytest.raises(InvalidArgument):
        codec_from_state({**meta, "spec": {"kind": "nope"}}, arrays)
