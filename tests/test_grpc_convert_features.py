"""Round trips of the conversions added for multi-vector fields, calibration, model versions (drift) and the
designed Compression messages, and rejection of their malformed forms."""

import numpy as np
import pytest

import vecdb
from vecdb import Dense, MultiVector
from vecdb.errors import InvalidArgument
from vecdb.multivector import FDEParams, TokenCompression
from vecdb.params import HNSWParams, SearchParams
from vecdb.results import Hits, Point
from vecdb.schema import CollectionSchema
from vecdb_client import convert as C
from vecdb_client.ops import query_sets, token_sets
from vecdb_client.pb import collections_pb2, models_pb2, points_pb2, search_pb2, types_pb2

RNG = np.random.default_rng(3)


def _sets(*lengths, dim=4):
    return [RNG.normal(size=(n, dim)).astype(np.float32) for n in lengths]


# ------------------------------------------------------------------------------------------------ tensors
def test_float64_tensor_round_trip():
    w = np.array([0.1, 1 / 3, 2.0**-40], np.float64)
    back = C.from_pb_tensor(C.to_pb_tensor(w))
    assert back.dtype == np.float64 and back.tobytes() == w.tobytes()  # bit for bit: weights stay doubles


@pytest.mark.parametrize("lengths", [(3, 1, 5), (1,), (0, 2), (0,), ()])
def test_ragged_round_trip(lengths):
    items = _sets(*lengths)
    m = C.to_pb_ragged(items)
    assert list(m.lengths) == list(lengths) and m.values.dtype == types_pb2.FLOAT32
    back = C.from_pb_ragged(m)
    assert len(back) == len(items)
    for a, b in zip(items, back):
        assert b.shape == a.shape and b.dtype == np.float32 and not b.flags.writeable  # views of the message
        np.testing.assert_array_equal(a, b)


def test_ragged_converts_and_rejects():
    m = C.to_pb_ragged([[[1, 2]], np.array([[3, 4], [5, 6]], np.float64)])
    assert [a.tolist() for a in C.from_pb_ragged(m)] == [[[1, 2]], [[3, 4], [5, 6]]]
    with pytest.raises(InvalidArgument, match="one width"):
        C.to_pb_ragged(_sets(2, 2, dim=3) + _sets(1, dim=4))
    with pytest.raises(InvalidArgument, match="one width"):
        C.to_pb_ragged([np.ones(3)])
    bad = C.to_pb_ragged(_sets(2, 3))
    bad.lengths.append(1)
    with pytest.raises(InvalidArgument, match="lengths add up to 6 rows, values hold 5"):
        C.from_pb_ragged(bad)
    flat = types_pb2.RaggedTensor(lengths=[2])
    C.to_pb_tensor(np.ones(2, np.float32), flat.values)
    with pytest.raises(InvalidArgument, match="must be a \\[tokens, dim\\] matrix"):
        C.from_pb_ragged(flat)


def test_field_vectors_with_ragged_fields():
    m = points_pb2.UpsertRequest()
    sets = _sets(2, 5)
    C.to_pb_field_vectors({"d": np.ones((2, 3)), "t": sets}, m.vectors, multi=("t",))
    assert [fv.WhichOneof("data") for fv in m.vectors] == ["dense", "ragged"]
    back = C.from_pb_field_vectors(m.vectors)
    assert back["d"].shape == (2, 3) and isinstance(back["t"], list)
    for a, b in zip(sets, back["t"]):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(InvalidArgument, match="no vectors set"):
        C.from_pb_field_vectors([points_pb2.FieldVectors(field="x")])


# ------------------------------------------------------------------------------------------------ schemas
MULTI_FIELDS = [
    MultiVector(16),
    MultiVector(8, normalize=False, compression=TokenCompression("int8", train_tokens=500, seed=3)),
    MultiVector(8, compression="binary", fde=FDEParams(k_sim=3, reps=8, d_proj=8, final_dim=256, seed=9), index=None),
    MultiVector(8, compression=TokenCompression("residual", nbits=4, n_centroids=32, kmeans_iters=5)),
    MultiVector(8, fde=FDEParams(k_sim=0, reps=2, d_proj=None, projection="identity", fill_empty=False)),
    MultiVector(8, fde=FDEParams(projection="countsketch"), index=HNSWParams(m=8, ef_search=30, index_threshold=50)),
]


@pytest.mark.parametrize("field", MULTI_FIELDS, ids=range(len(MULTI_FIELDS)))
def test_multivector_schema_round_trip(field):
    s = CollectionSchema(vectors={"tok": field, "emb": Dense(4, "dot", index=None)}, payload={"g": "keyword"})
    m = C.to_pb_schema(s)
    assert m.vectors[0].field.WhichOneof("kind") == "multi_vector" and not m.vectors[0].field.HasField("compression")
    back = C.from_pb_schema(m)
    assert back == s and back.to_dict() == s.to_dict() and list(back.vectors) == ["tok", "emb"]


def test_multivector_messages_typed_and_defaults():
    m = types_pb2.VectorField()
    C.to_pb_vector_field(MULTI_FIELDS[4].to_dict(), m)
    mv = m.multi_vector
    assert mv.fde.no_d_proj and not mv.fde.HasField("d_proj") and mv.fde.projection == "identity"
    assert not mv.fde.HasField("final_dim") and mv.HasField("index") and mv.compression.kind == "none"
    # A third-party client that leaves everything but dim unset gets the engine's defaults.
    bare = types_pb2.VectorField()
    bare.multi_vector.dim = 32
    assert vecdb.schema.vector_field_from_dict(C.from_pb_vector_field(bare)) == MultiVector(32)
    partial = types_pb2.VectorField()
    partial.multi_vector.dim = 32
    partial.multi_vector.compression.kind = "int8"
    partial.multi_vector.fde.reps = 5
    f = vecdb.schema.vector_field_from_dict(C.from_pb_vector_field(partial))
    assert f.compression == TokenCompression("int8") and f.fde == FDEParams(reps=5)


def test_multivector_messages_rejected():
    m = types_pb2.VectorField()
    C.to_pb_vector_field(MultiVector(8).to_dict(), m)
    m.compression.kind = "pq"  # dense codecs do not apply to token vectors
    with pytest.raises(InvalidArgument, match="MultiVectorField.compression"):
        C.from_pb_vector_field(m)
    m = types_pb2.VectorField()
    C.to_pb_vector_field(MultiVector(8).to_dict(), m)
    m.multi_vector.fde.no_d_proj = True
    with pytest.raises(InvalidArgument, match="either d_proj or no_d_proj"):
        C.from_pb_vector_field(m)
    m.multi_vector.fde.ClearField("d_proj")  # None with the dense projection: the engine's own error
    with pytest.raises(InvalidArgument, match="d_proj must be an integer"):
        C.from_pb_schema(_schema_with(m))
    with pytest.raises(InvalidArgument, match="cannot be sent"):
        C.to_pb_vector_field(MultiVector(8, fde=FDEParams(seed=2**64)).to_dict(), types_pb2.VectorField())
    with pytest.raises(InvalidArgument, match="no wire form"):
        C.to_pb_token_compression({"kind": "int8", "bits": 3})
    with pytest.raises(InvalidArgument, match="no wire form"):
        C.to_pb_fde({"reps": 3, "mystery": 1})


def _schema_with(field: types_pb2.VectorField) -> types_pb2.CollectionSchema:
    s = types_pb2.CollectionSchema()
    s.vectors.add(name="t").field.CopyFrom(field)
    return s


@pytest.mark.parametrize(
    "d",
    [
        {"kind": "sign"},
        {"kind": "pq", "m": 16, "nbits": 8, "opq": True, "seed": 0},
        {"kind": "matryoshka", "dims": 128, "rescore": None},
    ],
)
def test_compression_spec_round_trip(d):
    m = C.to_pb_compression_spec(d)
    assert m.kind == d["kind"] and (m.params_json == b"") == (len(d) == 1)
    assert C.from_pb_compression_spec(m) == d
    f = {"kind": "dense", "dim": 4, "metric": "l2", "compression": d}  # at creation, in VectorField.compression
    vf = types_pb2.VectorField()
    C.to_pb_vector_field(f, vf)
    assert C.from_pb_vector_field(vf) == f


def test_compression_spec_rejects():
    with pytest.raises(InvalidArgument, match="needs a 'kind'"):
        C.to_pb_compression_spec({"m": 3})
    with pytest.raises(InvalidArgument, match="JSON object"):
        C.from_pb_compression_spec(types_pb2.CompressionSpec(kind="pq", params_json=b"[1]"))


REPORT_ROWS = [
    {  # the shape of vecdb.compression ReportRow.to_dict(): the exact baseline first, then each codec
        "codec": "float32 (exact)",
        "spec": None,
        "bytes_per_vector": 1536.0,
        "compression": 1.0,
        "recall": 1.0,
        "recall_rescored": None,
        "oversampling": None,
        "target_reached": None,
        "qps": 2512.25,
        "qps_rescored": None,
        "fit_seconds": 0.0,
        "k": 10,
    },
    {
        "codec": "pq(m=48)",
        "spec": {"kind": "pq", "m": 48, "nbits": 8, "opq": False},
        "bytes_per_vector": 48.0,
        "compression": 32.0,
        "recall": 0.61,
        "recall_rescored": 0.953,
        "oversampling": 8.0,
        "target_reached": True,
        "qps": 9000.5,
        "qps_rescored": 4100.0,
        "fit_seconds": 3.25,
        "k": 10,
    },
]


@pytest.mark.parametrize("row", REPORT_ROWS, ids=["baseline", "pq"])
def test_compression_report_row_round_trip(row):
    back = C.from_pb_report_row(C.to_pb_report_row(row))
    assert back == row and list(back) == list(row)
    resp = models_pb2.CompressionReportResponse(rows=[C.to_pb_report_row(r) for r in REPORT_ROWS])
    assert [C.from_pb_report_row(r) for r in resp.rows] == REPORT_ROWS
    with pytest.raises(InvalidArgument, match="no wire form"):
        C.to_pb_report_row({**row, "memory_mb": 3})


# ------------------------------------------------------------------------------------------------ search
@pytest.mark.parametrize(
    "p",
    [
        SearchParams(candidates=150),
        SearchParams(recall_target=0.9, reduce_tau=0.85),
        SearchParams(ef=40, exact=True, candidates=7, recall_target=1, reduce_tau=1e-3),
    ],
)
def test_multivector_search_params_round_trip(p):
    back = C.from_pb_search_params(C.to_pb_search_params(p))
    assert back == p and back.recall_target == p.recall_target  # doubles: 0.9 stays exactly 0.9


def test_points_with_token_sets_round_trip():
    sets = _sets(3, 1, dim=5)
    pts = [
        Point(1, {"a": 1}, {"t": sets[0], "d": np.ones(2, np.float32)}),
        Point("x", {}, {"t": sets[1], "d": 2 * np.ones(2, np.float32)}),
    ]
    m = C.to_pb_points(pts, True, True)
    assert {fv.field: fv.WhichOneof("data") for fv in m.vectors} == {"t": "ragged", "d": "dense"}
    back = C.from_pb_points(m)
    for a, b in zip(pts, back):
        assert a.id == b.id and a.vectors.keys() == b.vectors.keys()
        np.testing.assert_array_equal(a.vectors["t"], b.vectors["t"])
        np.testing.assert_array_equal(a.vectors["d"], b.vectors["d"])
    del m.vectors[0].ragged.lengths[-1]
    m.vectors[0].ragged.lengths[0] = 4
    with pytest.raises(InvalidArgument, match="1 token sets for 2 points"):
        C.from_pb_points(m)


def test_multivector_hits_keep_nested_explain():
    explain = {"path": "fde+maxsim", "candidates": 120, "fde": {"path": "graph", "ef": 120}, "query_tokens": 7}
    h = Hits([4, "a"], np.array([3.5, 2.25], np.float32), None, explain)
    back = C.from_pb_hits(C.to_pb_hits([h], False), False)[0]
    assert back.explain == explain and back.ids == h.ids


def test_token_and_query_sets_for_the_wire():
    field = MultiVector(4)
    sets = _sets(2, 3)
    assert [a.shape for a in token_sets("t", field, sets, 2)] == [(2, 4), (3, 4)]
    assert [a.shape for a in token_sets("t", field, np.ones((2, 3, 4)), 2)] == [(3, 4), (3, 4)]
    assert [a.dtype for a in token_sets("t", field, [[[1, 2, 3, 4]]], 1)] == [np.float32]
    # Input a RaggedTensor cannot carry fails with the engine's own message, raised by the engine's validation.
    with pytest.raises(InvalidArgument, match="takes a list of"):
        token_sets("t", field, np.ones((2, 4)), 2)
    with pytest.raises(InvalidArgument, match=r"document 1 has shape \(4,\)"):
        token_sets("t", field, [sets[0], np.ones(4)], 2)
    with pytest.raises(InvalidArgument, match=r"document 1 has shape \(2, 5\)"):
        token_sets("t", field, [sets[0], np.ones((2, 5))], 2)
    with pytest.raises(InvalidArgument, match="must hold numbers"):
        token_sets("t", field, [np.array([["a"] * 4])], 1)
    mats, single = query_sets("t", field, sets[0])
    assert single and len(mats) == 1
    mats, single = query_sets("t", field, (sets[0], sets[1]))
    assert not single and [m.shape for m in mats] == [(2, 4), (3, 4)]
    assert query_sets("t", field, np.ones((1, 2, 4))) == ([], False)  # not a query form: the engine says so
    with pytest.raises(InvalidArgument, match="NaN"):  # an earlier bad query is reported first, as embedded
        query_sets("t", field, [np.full((1, 4), np.nan), np.ones(4)])


# ------------------------------------------------------------------------------------------------ calibration
@pytest.mark.parametrize("default", [37, None])
def test_calibration_round_trip(default):
    d = {
        "k": 10,
        "queries": 64,
        "default_candidates": default,
        "candidates_for": {0.8: 20, 0.9: 37, 0.95: 51, 0.99: 80},
    }
    m = C.to_pb_calibration(d)
    assert m.HasField("default_candidates") == (default is not None)
    back = C.from_pb_calibration(m)
    assert back == d and list(back["candidates_for"]) == [0.8, 0.9, 0.95, 0.99]
    assert isinstance(collections_pb2.CalibrateRequest(measure_only=True).measure_only, bool)


# ------------------------------------------------------------------------------------------------ model versions
def test_model_versions_round_trip():
    fit = {
        "n_pairs": 300,
        "fit_seconds": 0.125,
        "holdout_cosine": 0.99,
        "holdout_cosine_no_map": None,
        "chosen": {"alpha": 0.1},
        "candidates": [{"kind": "ridge", "skipped": "too few pairs"}],
        "refit": True,
    }
    d = {
        "index_version": "m-1",
        "maps": {
            "m-2": {"kind": "procrustes", "d_src": 8, "d_dst": 8, "fit": fit},
            "a/b@3": {"kind": "ridge", "d_src": 16, "d_dst": 8, "fit": {}},
        },
    }
    back = C.from_pb_model_versions(C.to_pb_model_versions(d))
    assert back == d and list(back["maps"]) == ["m-2", "a/b@3"]
    empty = {"index_version": None, "maps": {}}
    assert C.from_pb_model_versions(C.to_pb_model_versions(empty)) == empty
    with pytest.raises(InvalidArgument, match="no wire form"):
        C.to_pb_model_versions({"index_version": None, "maps": {"v": {**d["maps"]["m-2"], "extra": 1}}})
    twice = C.to_pb_model_versions(d)
    twice.maps.add(version="m-2", kind="ridge")
    with pytest.raises(InvalidArgument, match="listed twice"):
        C.from_pb_model_versions(twice)


def test_pair_rows_stream_reassembly():
    src, dst, w = RNG.normal(size=(7, 3)), RNG.normal(size=(7, 2)), RNG.random(7)
    b = C.PairRowsBuilder("pairs")
    for s in (slice(0, 3), slice(3, 4), slice(4, 7)):
        b.add(C.to_pb_pair_rows(src[s], dst[s], w[s], models_pb2.PairRows()))
    assert b.given
    np.testing.assert_array_equal(b.array("src"), src.astype(np.float32))
    np.testing.assert_array_equal(b.array("dst"), dst.astype(np.float32))
    assert b.array("weights").dtype == np.float64 and b.array("weights").tobytes() == w.tobytes()
    one = C.PairRowsBuilder("pairs")
    one.add(C.to_pb_pair_rows(np.ones(3), None, None, models_pb2.PairRows()))
    assert one.array("src").shape == (3,) and one.array("dst") is None  # a single part keeps its shape
    bad = C.PairRowsBuilder("pairs")
    bad.add(C.to_pb_pair_rows(np.ones((2, 3)), None, None, models_pb2.PairRows()))
    bad.add(C.to_pb_pair_rows(np.ones((2, 4)), None, None, models_pb2.PairRows()))
    with pytest.raises(InvalidArgument, match="do not fit together"):
        bad.array("src")
    assert not C.PairRowsBuilder("val").given


def test_search_request_carries_model_version_presence():
    req = search_pb2.SearchRequest(model_version="")
    assert req.HasField("model_version")  # "" reaches the engine, which rejects it as embedded
    assert not search_pb2.SearchRequest().HasField("model_version")
