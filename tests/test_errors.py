"""Every bad input gets a clear error naming the problem, and nothing is written."""

import datetime as dt

import numpy as np
import pytest

import vecdb
from vecdb import Dense
from vecdb.errors import InvalidArgument


@pytest.fixture
def col(db):
    c = db.create_collection(
        "c",
        vectors={"v": Dense(4, "cosine"), "w": Dense(2, "l2")},
        payload={
            "lang": "keyword",
            "n": "integer",
            "x": "float",
            "ok": "boolean",
            "tags": "keyword_set",
            "at": "datetime",
        },
    )
    c.upsert([1], {"v": np.ones((1, 4)), "w": np.ones((1, 2))}, [{"lang": "en"}])
    return c


def _unchanged(c):
    info = c.info()
    assert info["points"] == 1 and info["rows"] == 1 and info["generation"] == 1


V = {"v": np.ones((2, 4)), "w": np.ones((2, 2))}

BAD_UPSERTS = [
    ("dimension 3, the field expects 4", dict(ids=[2, 3], vectors={"v": np.ones((2, 3)), "w": np.ones((2, 2))})),
    ("NaN or infinity", dict(ids=[2, 3], vectors={"v": np.array([[1, 2, 3, np.nan]] * 2), "w": np.ones((2, 2))})),
    ("NaN or infinity", dict(ids=[2, 3], vectors={"v": np.ones((2, 4)), "w": np.array([[np.inf, 0]] * 2)})),
    ("zero vector", dict(ids=[2, 3], vectors={"v": np.zeros((2, 4)), "w": np.ones((2, 2))})),
    (
        "row 1 has a value beyond",
        dict(ids=[2, 3], vectors={"v": np.array([[1, 2, 3, 4], [1, 2, 3, -1e20]]), "w": V["w"]}),
    ),  # noqa: E501
    ("unknown vector field", dict(ids=[2, 3], vectors={**V, "zz": np.ones((2, 4))})),
    ("missing vectors", dict(ids=[2, 3], vectors={"v": np.ones((2, 4))})),
    ("has 2 rows for 3 ids", dict(ids=[2, 3, 4], vectors=V)),
    ("duplicate id 2", dict(ids=[2, 2], vectors=V)),
    ("bad id -1", dict(ids=[-1, 3], vectors=V)),
    ("bad id 18446744073709551616", dict(ids=[2**64, 3], vectors=V)),
    ("not booleans", dict(ids=[True, 3], vectors=V)),
    ("string ids must be 1-256 bytes", dict(ids=["", 3], vectors=V)),
    ("use an unsigned integer or a string", dict(ids=[1.5, 3], vectors=V)),
    ("wrap a single id", dict(ids="ab", vectors=V)),
    ("keyword field", dict(ids=[2, 3], vectors=V, payloads=[{"lang": 5}, None])),
    ("integer field", dict(ids=[2, 3], vectors=V, payloads=[{"n": 1.5}, None])),
    ("integer field", dict(ids=[2, 3], vectors=V, payloads=[{"n": True}, None])),
    ("must be a finite", dict(ids=[2, 3], vectors=V, payloads=[{"x": float("nan")}, None])),
    ("boolean field", dict(ids=[2, 3], vectors=V, payloads=[{"ok": "yes"}, None])),
    ("give a list of strings", dict(ids=[2, 3], vectors=V, payloads=[{"tags": "a"}, None])),
    ("holds non-string", dict(ids=[2, 3], vectors=V, payloads=[{"tags": ["a", 1]}, None])),
    ("not JSON-serialisable", dict(ids=[2, 3], vectors=V, payloads=[{"free": object()}, None])),
    ("not JSON-serialisable", dict(ids=[2, 3], vectors=V, payloads=[{"free": float("inf")}, None])),
    (
        "2 payloads for 3 ids",
        dict(ids=[2, 3, 4], vectors={"v": np.ones((3, 4)), "w": np.ones((3, 2))}, payloads=[{}, {}]),
    ),
    ("payload must be a dict", dict(ids=[2, 3], vectors=V, payloads=[{}, "x"])),
    ("must hold numbers", dict(ids=[2, 3], vectors={"v": np.array([["a"] * 4] * 2), "w": np.ones((2, 2))})),
]


@pytest.mark.parametrize("message,kwargs", BAD_UPSERTS, ids=[m for m, _ in BAD_UPSERTS])
def test_bad_upsert_writes_nothing(col, message, kwargs):
    with pytest.raises(InvalidArgument, match=message.replace("(", r"\(")):
        col.upsert(**kwargs)
    _unchanged(col)


def test_second_point_of_batch_bad_writes_nothing(col):
    # The error is in the last point: the first must not have been written either.
    with pytest.raises(InvalidArgument, match="point 3"):
        col.upsert([2, 3], V, [{"lang": "fr"}, {"n": "x"}])
    _unchanged(col)
    assert col.get([2]) == []


def test_datetime_payload_stored_as_micros(col):
    col.upsert([2, 3], V, [{"at": dt.datetime(1970, 1, 1, 0, 0, 1)}, {"at": 5}])
    assert [p.payload["at"] for p in col.get([2, 3])] == [1_000_000, 5]


@pytest.mark.parametrize(
    "message,call",
    [
        ("unknown vector field 'zz'", lambda c: c.search("zz", np.ones(4), k=1)),
        ("dimension 5", lambda c: c.search("v", np.ones(5), k=1)),
        ("NaN", lambda c: c.search("v", [np.nan, 1, 1, 1], k=1)),
        ("k must be in", lambda c: c.search("v", np.ones(4), k=0)),
        ("k must be in", lambda c: c.search("v", np.ones(4), k=-3)),
        ("k must be an integer", lambda c: c.search("v", np.ones(4), k=2.5)),
        ("exceeds the 1 points", lambda c: c.search("v", np.ones(4), k=2)),
        ("must be 2-D", lambda c: c.search("v", np.ones((2, 2, 4)), k=1)),
        ("limit must be", lambda c: c.scroll(limit=0)),
        ("wrap a single id", lambda c: c.get(1)),
        ("wrap a single id", lambda c: c.delete("abc")),
    ],
)
def test_bad_reads(col, message, call):
    with pytest.raises(InvalidArgument, match=message):
        call(col)


def test_bad_schemas(db):
    with pytest.raises(vecdb.AlreadyExists):
        db.create_collection("dup", vectors={"v": Dense(2)}) and db.create_collection("dup", vectors={"v": Dense(2)})
    for name in ["", "../x", "a/b", "-x", "x" * 65, None]:
        with pytest.raises(InvalidArgument, match="collection name"):
            db.create_collection(name, vectors={"v": Dense(2)})
    with pytest.raises(InvalidArgument, match="at least one vector field"):
        db.create_collection("x", vectors={})
    with pytest.raises(InvalidArgument, match="Dense dim"):
        Dense(0)
    with pytest.raises(InvalidArgument, match="unknown metric"):
        Dense(3, "hamming")
    with pytest.raises(InvalidArgument, match="unknown type"):
        db.create_collection("x", vectors={"v": Dense(2)}, payload={"a": "text"})
    with pytest.raises(InvalidArgument, match="vector field name"):
        db.create_collection("x", vectors={"bad name": Dense(2)})
    with pytest.raises(vecdb.NotFound, match="no collection or alias named 'nope'"):
        db.get_collection("nope")
    assert db.list_collections() == ["dup"]


def test_read_only_rejects_writes(tmp_path):
    with vecdb.open(tmp_path / "db") as db:
        db.create_collection("c", vectors={"v": Dense(2)})
    with vecdb.open(tmp_path / "db", read_only=True) as ro:
        with pytest.raises(vecdb.ReadOnly):
            ro["c"].upsert([1], np.ones((1, 2)))
        with pytest.raises(vecdb.ReadOnly):
            ro.create_collection("d", vectors={"v": Dense(2)})
    with pytest.raises(vecdb.NotFound):
        vecdb.open(tmp_path / "nothing-here", read_only=True)


def test_foreign_or_damaged_files(tmp_path):
    import lmdb

    f = tmp_path / "afile"
    f.write_text("hello")
    with pytest.raises(vecdb.CorruptDatabase, match="is a file"):
        vecdb.open(f)
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "data.mdb").write_bytes(b"\x00garbage" * 1000)
    with pytest.raises(vecdb.CorruptDatabase):
        vecdb.open(junk)
    other = tmp_path / "other"
    env = lmdb.open(str(other))
    with env.begin(write=True) as txn:
        txn.put(b"somebody-else", b"1")
    env.close()
    with pytest.raises(vecdb.CorruptDatabase, match="not vecdb"):
        vecdb.open(other)


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
def test_single_query_fast_path_matches_the_full_check(metric):
    """One float32 query takes a shortcut (one einsum gives the norms and a first value check); it must accept and
    reject exactly what the general path does, and a 1-D query must be bit-identical to the same query as a
    (1, dim) matrix, so search(q) and search(q[None])[0] rank near-ties the same way."""
    from vecdb.vectors import MAX_ABS, prepare_queries

    f = Dense(4, metric)
    for bad in ([np.nan, 1, 1, 1], [1, np.inf, 1, 1], [-np.inf, 0, 0, 0]):
        for q in (np.array(bad, np.float32), np.array([bad], np.float32), np.array(bad)):
            with pytest.raises(InvalidArgument, match="NaN or infinity"):
                prepare_queries(f, q)
    for huge in ([3e20, 0, -4e20, 0], [0, 0, 0, -2 * MAX_ABS]):  # squares would overflow float32 distances
        for q in (np.array(huge, np.float32), np.array([huge], np.float32), np.array(huge)):
            with pytest.raises(InvalidArgument, match="beyond"):
                prepare_queries(f, q)
    zero = np.zeros(4, np.float32)
    if metric == "cosine":
        with pytest.raises(InvalidArgument, match="zero vector"):
            prepare_queries(f, zero)
    else:
        assert np.array_equal(prepare_queries(f, zero)[0], zero[None])
    rng = np.random.default_rng(0)
    for q in [np.array([0.5, -1, 2, 0.25], np.float32), np.array([MAX_ABS, 0, 0, -MAX_ABS], np.float32)] + [
        rng.standard_normal(4).astype(np.float32) for _ in range(50)
    ]:
        got, single = prepare_queries(f, q)
        as_matrix, single2 = prepare_queries(f, q[None])
        general, _ = prepare_queries(f, q.astype(np.float64))  # the general path
        assert single and not single2 and got.shape == (1, 4) and got.dtype == np.float32 and got.flags.c_contiguous
        assert np.array_equal(got, as_matrix)  # bit-identical
        np.testing.assert_allclose(got, general, rtol=1e-6)
