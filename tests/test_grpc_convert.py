"""Round trips of every to_pb_* / from_pb_* pair in vecdb_client.convert, and rejection of malformed messages."""

import datetime as dt

import numpy as np
import pytest

from vecdb import Dense
from vecdb import filters as F
from vecdb.errors import InvalidArgument
from vecdb.params import HNSWParams, SearchParams
from vecdb.results import Hits, Point
from vecdb.schema import CollectionSchema
from vecdb_client import convert as C
from vecdb_client.pb import points_pb2, search_pb2, types_pb2


@pytest.mark.parametrize(
    "arr",
    [
        np.arange(12, dtype=np.float32).reshape(3, 4),
        np.array([1.5, -2.0, np.nan], np.float32),
        np.zeros((0, 7), np.float32),
        np.array([[1, 2**64 - 1]], np.uint64),
        np.array([0, 255], np.uint8),
        np.array([-128, 127], np.int8),
        np.float32(3.0).reshape(()),
    ],
)
def test_tensor_round_trip(arr):
    back = C.from_pb_tensor(C.to_pb_tensor(arr))
    assert back.dtype == arr.dtype and back.shape == arr.shape
    np.testing.assert_array_equal(back, arr)


def test_tensor_is_zero_copy_and_rejects_bad_messages():
    t = C.to_pb_tensor(np.ones((2, 3), np.float32))
    view = C.from_pb_tensor(t)
    assert not view.flags.writeable  # a view of the message bytes, not a copy
    with pytest.raises(InvalidArgument, match="needs 24 bytes"):
        C.from_pb_tensor(types_pb2.Tensor(dtype=types_pb2.FLOAT32, shape=[2, 3], data=b"\0" * 20))
    with pytest.raises(InvalidArgument, match="dtype 0 is not set"):
        C.from_pb_tensor(types_pb2.Tensor(shape=[1], data=b"\0" * 4))
    with pytest.raises(InvalidArgument, match="cannot be sent"):
        C.to_pb_tensor(np.array(["a"]))


def test_as_array_keeps_shape_and_matches_engine_messages():
    assert C.as_array([[1, 2], [3, 4]], "q").shape == (2, 2)
    assert C.as_array(np.arange(3, dtype=np.float64), "q").dtype == np.float32
    with pytest.raises(InvalidArgument, match="must hold numbers, got dtype <U1"):
        C.as_array(np.array(["a"]), "query")
    with pytest.raises(InvalidArgument, match="query must be a numeric array"):
        C.as_array([[1, 2], [3]], "query")


@pytest.mark.parametrize(
    "ids",
    [[1, 2, 2**64 - 1], ["a", "ü", "x" * 256], [1, "a", 0], []],
)
def test_ids_round_trip(ids):
    assert C.from_pb_ids(C.to_pb_ids(ids)) == ids


def test_ids_fast_path_and_malformed():
    arr = np.array([5, 7, 9], np.uint64)
    m = C.to_pb_ids(arr)
    assert len(m.uint64_le) == 24 and not m.ids
    out = C.from_pb_ids(m, as_array=True)
    assert out.dtype == np.dtype("<u8") and out.tolist() == [5, 7, 9]
    with pytest.raises(InvalidArgument, match="not a multiple of 8"):
        C.from_pb_ids(types_pb2.PointIds(uint64_le=b"\0" * 7))
    with pytest.raises(InvalidArgument, match="not both"):
        C.from_pb_ids(types_pb2.PointIds(uint64_le=b"\0" * 8, ids=[types_pb2.PointId(num=1)]))
    with pytest.raises(InvalidArgument, match="neither num nor str"):
        C.from_pb_ids(types_pb2.PointIds(ids=[types_pb2.PointId()]))
    for bad in (-1, True, 1.5, 2**64):
        with pytest.raises(InvalidArgument):
            C.to_pb_id(bad)


def test_payload_round_trip_keeps_ints_and_floats():
    doc = {"n": 3, "x": 3.0, "big": 2**62 + 1, "s": "é", "l": [1, "a", None], "d": {"k": True}}
    back = C.from_pb_payload(C.to_pb_payload(doc))
    assert back == doc and type(back["n"]) is int and type(back["x"]) is float
    assert C.from_pb_payload(b"") is None and C.from_pb_payload(b"", dict) == {}
    with pytest.raises(InvalidArgument, match="not valid UTF-8 JSON"):
        C.from_pb_payload(b"{oops")
    with pytest.raises(InvalidArgument, match="JSON object"):
        C.from_pb_payload(b"[1]")


def test_schema_round_trip():
    s = CollectionSchema(
        vectors={"z": Dense(8, "l2"), "a": Dense(3, "dot"), "m": Dense(5)},
        payload={"lang": "keyword", "n": "integer", "tags": "keyword_set", "at": "datetime"},
    )
    back = C.from_pb_schema(C.to_pb_schema(s))
    assert back == s
    assert list(back.vectors) == ["z", "a", "m"] and list(back.payload) == list(s.payload)  # order kept


def test_schema_from_pb_is_validated_by_the_engine():
    m = C.to_pb_schema(CollectionSchema(vectors={"v": Dense(4)}))
    m.vectors[0].field.dense.metric = "hamming"
    with pytest.raises(InvalidArgument, match="unknown metric"):
        C.from_pb_schema(m)
    m = types_pb2.CollectionSchema()
    m.vectors.add(name="v")
    with pytest.raises(InvalidArgument, match="has no kind"):
        C.from_pb_schema(m)
    m = C.to_pb_schema(CollectionSchema(vectors={"v": Dense(4)}))
    m.vectors.add(name="v").field.dense.dim = 3
    with pytest.raises(InvalidArgument, match="declared twice"):
        C.from_pb_schema(m)


def test_vector_field_dict_forms_round_trip():
    # Field kinds and options the engine is gaining: their dict forms survive the wire unchanged.
    for d in [
        {"kind": "dense", "dim": 8, "metric": "cosine", "index": HNSWParams(m=8, ef_search=40).to_dict()},
        {"kind": "dense", "dim": 8, "metric": "cosine", "index": None},  # explicitly no index
        {"kind": "dense", "dim": 8, "metric": "cosine"},  # the engine's default index
        {"kind": "multi_vector", "dim": 128, "metric": "maxsim", "fde": {"reps": 10, "seed": 1}},
        {"kind": "binary", "bits": 256, "metric": "hamming"},
        {"kind": "dense", "dim": 4, "metric": "l2", "compression": {"kind": "pq", "m": 2, "nbits": 8}},
    ]:
        m = types_pb2.VectorField()
        C.to_pb_vector_field(d, m)
        assert C.from_pb_vector_field(m) == d
    with pytest.raises(InvalidArgument, match="no wire form"):
        C.to_pb_vector_field({"kind": "dense", "dim": 4, "metric": "l2", "mystery": 1}, types_pb2.VectorField())


@pytest.mark.parametrize("p", [HNSWParams(), HNSWParams(m=4, ef_construction=10, ef_search=7, seed=3)])
def test_hnsw_round_trip(p):
    assert C.from_pb_hnsw(C.to_pb_hnsw(p)) == p


@pytest.mark.parametrize("p", [SearchParams(), SearchParams(ef=50), SearchParams(exact=True)])
def test_search_params_round_trip(p):
    assert C.from_pb_search_params(C.to_pb_search_params(p)) == p


@pytest.mark.parametrize(
    "v",
    [None, "s", 0, -5, 2**63 - 1, -(2**63), 2**64 + 3, 1.5, float("inf"), True, False, [1, "a"], {"k": None}],
)
def test_value_round_trip_keeps_types(v):
    back = C.from_pb_value(C.to_pb_value(v))
    assert back == v and type(back) is type(v)


def test_datetime_value_round_trip():
    when = dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.UTC)
    assert C.from_pb_value(C.to_pb_value(when)) == when
    naive = dt.datetime(2024, 5, 6)  # naive datetimes mean UTC, as in vecdb.payload
    assert C.from_pb_value(C.to_pb_value(naive)) == naive.replace(tzinfo=dt.UTC)


FILTERS = [
    F.eq("lang", "en"),
    F.ne("n", 3),
    F.isin("lang", ["en", "fr"]),
    F.not_in("n", [1, 2]),
    F.range_("x", gte=0.5, lt=2),
    F.range_("at", gt=dt.datetime(2020, 1, 1, tzinfo=dt.UTC)),
    F.contains_any("tags", ["a"]),
    F.contains_all("tags", ["a", "b"]),
    F.exists("lang"),
    F.eq("lang", "en") & F.range_("n", gte=2020) & ~F.contains_any("tags", ["draft"]),
    F.or_(F.eq("ok", True), F.and_(F.eq("n", 1), F.not_(F.exists("x")))),
    F.And(()),  # invalid (empty), but its structure must reach the server's validation intact
    F.eq("lang", None),
]


@pytest.mark.parametrize("f", FILTERS, ids=range(len(FILTERS)))
def test_filter_round_trip(f):
    assert C.from_pb_filter(C.to_pb_filter(f)) == f


def test_filter_rejections():
    with pytest.raises(InvalidArgument, match="expected a filter"):
        C.to_pb_filter({"eq": {"field": "a", "value": 1}})
    with pytest.raises(InvalidArgument, match="filter field must be a string"):
        C.to_pb_filter(F.Eq(3, "x"))
    with pytest.raises(InvalidArgument, match="no operator set"):
        C.from_pb_filter(types_pb2.Filter())
    deep = F.exists("a")
    for _ in range(F.MAX_DEPTH + 2):
        deep = F.Not(deep)
    with pytest.raises(InvalidArgument, match="nested deeper"):
        C.to_pb_filter(deep)


def test_points_round_trip():
    pts = [
        Point(1, {"a": 1}, {"v": np.array([1, 2], np.float32), "w": np.array([3], np.float32)}),
        Point("x", {}, {"v": np.array([3, 4], np.float32), "w": np.array([5], np.float32)}),
    ]
    back = C.from_pb_points(C.to_pb_points(pts, True, True))
    assert [p.id for p in back] == [1, "x"] and [p.payload for p in back] == [{"a": 1}, {}]
    for a, b in zip(pts, back):
        assert a.vectors.keys() == b.vectors.keys()
        for k in a.vectors:
            np.testing.assert_array_equal(a.vectors[k], b.vectors[k])
    bare = C.from_pb_points(C.to_pb_points([Point(5)], False, False))
    assert bare == [Point(5, None, None)]
    assert C.from_pb_points(C.to_pb_points([], True, True)) == []


def test_hits_round_trip():
    h = Hits([3, "b"], np.array([0.5, 0.25], np.float32), [{"k": 1}, {}], {"path": "exact_scan", "n": 7})
    single = C.from_pb_hits(C.to_pb_hits(h, True), True)
    assert isinstance(single, Hits) and single.ids == h.ids and single.payloads == h.payloads
    assert single.explain == h.explain and single.scores.dtype == np.float32 and single.scores.flags.writeable
    np.testing.assert_array_equal(single.scores, h.scores)
    batch = C.from_pb_hits(C.to_pb_hits([h, Hits([], np.zeros(0, np.float32), None, {})], False), False)
    assert isinstance(batch, list) and len(batch) == 2 and batch[0].payloads is None and batch[1].ids == []


def test_hits_malformed():
    m = search_pb2.SearchResponse(single=True)
    with pytest.raises(InvalidArgument, match="holds 0 results"):
        C.from_pb_hits(m, False)
    r = m.results.add()
    C.to_pb_ids([1, 2], r.ids)
    C.to_pb_tensor(np.zeros(3, np.float32), r.scores)
    with pytest.raises(InvalidArgument, match="scores of shape"):
        C.from_pb_hits(m, False)


def test_field_vectors_round_trip():
    m = points_pb2.UpsertRequest()
    C.to_pb_field_vectors({"a": np.ones((2, 3)), "b": [[1.0], [2.0]]}, m.vectors)
    back = C.from_pb_field_vectors(m.vectors)
    assert list(back) == ["a", "b"] and back["a"].shape == (2, 3) and back["b"].dtype == np.float32
    m = points_pb2.UpsertRequest()
    C.to_pb_field_vectors(np.ones((2, 3)), m.vectors)
    assert isinstance(C.from_pb_field_vectors(m.vectors), np.ndarray)
