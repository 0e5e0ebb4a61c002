"""Congruence: every scenario runs on an embedded database and through the gRPC server; each step must give the
same result (ids, scores bit for bit, payloads, vectors, explain) or the same exception class AND message."""

import datetime as dt
import inspect

import numpy as np
import pytest
from grpc_fixtures import any_db, pair, remote, remote_async, server  # noqa: F401 - fixtures
from test_errors import BAD_UPSERTS

import vecdb
from vecdb import Dense
from vecdb import filters as F
from vecdb.collection import Collection
from vecdb.errors import InvalidArgument, NotFound
from vecdb.params import SearchParams

RNG = np.random.default_rng(7)
X8 = RNG.normal(size=(40, 8)).astype(np.float32)
PAYLOAD = {"lang": "keyword", "n": "integer", "x": "float", "ok": "boolean", "tags": "keyword_set", "at": "datetime"}


def _payloads(n):
    langs = ["en", "fr", "de"]
    return [
        {"lang": langs[i % 3], "n": i, "x": i / 4, "ok": i % 2 == 0, "tags": ["a", "b"][: i % 3], "free": {"i": [i]}}
        if i % 5
        else None
        for i in range(n)
    ]


def test_catalog(pair):
    def scenario(db, log):
        log("create a", db.create_collection, "a", vectors={"v": Dense(4)}, payload={"lang": "keyword"})
        log("create b", db.create_collection, "b", vectors={"v": Dense(4, "l2"), "w": Dense(2, "dot")})
        log("create dup", db.create_collection, "a", vectors={"v": Dense(4)})
        log(
            "exist_ok same",
            db.create_collection,
            "a",
            vectors={"v": Dense(4)},
            payload={"lang": "keyword"},
            exist_ok=True,
        )
        log("exist_ok other", db.create_collection, "a", vectors={"v": Dense(5)}, exist_ok=True)
        log(
            "both forms",
            db.create_collection,
            "c",
            vectors={"v": Dense(2)},
            schema=vecdb.CollectionSchema(vectors={"v": Dense(2)}),
        )
        log("schema form", db.create_collection, "c", schema=vecdb.CollectionSchema(vectors={"v": Dense(2)}))
        log("list", db.list_collections)
        log("get", db.get_collection, "b")
        log("getitem", lambda: db["a"])
        log("get missing", db.get_collection, "nope")
        log("has", db.has_collection, "a")
        log("has not", db.has_collection, "zz")
        for bad in ["", "../x", "a/b", "-x", "x" * 65, None, 5]:
            log(f"bad name {bad!r}", db.create_collection, bad, vectors={"v": Dense(2)})
            log(f"get bad {bad!r}", db.get_collection, bad)
        log("no vectors", db.create_collection, "x", vectors={})
        log("bad payload type", db.create_collection, "x", vectors={"v": Dense(2)}, payload={"a": "text"})
        log("bad field name", db.create_collection, "x", vectors={"bad name": Dense(2)})
        log("bad field def", db.create_collection, "x", vectors={"v": 3})
        log("drop", db.drop_collection, "a")
        log("drop again", db.drop_collection, "a")
        log("drop missing_ok", db.drop_collection, "a", missing_ok=True)
        log("list after drop", db.list_collections)

    pair.run(scenario)


def test_dropped_handles_fail_like_embedded(pair):
    def scenario(db, log):
        old = db.create_collection("a", vectors={"v": Dense(2, "l2")})
        old.upsert([1], np.ones((1, 2)))
        db.drop_collection("a")
        log("count dropped", old.count)
        log("search dropped", old.search, "v", np.ones(2), k=1)
        new = db.create_collection("a", vectors={"v": Dense(2, "l2")})
        log("old handle after re-create", old.count)
        log("upsert through old handle", old.upsert, [2], np.ones((1, 2)))
        log("new handle", new.count)

    pair.run(scenario)


def test_crud(pair):
    def scenario(db, log):
        c = db.create_collection("c", vectors={"v": Dense(8, "cosine")}, payload=PAYLOAD)
        ids = list(range(1000, 1040))
        log("upsert", c.upsert, ids, {"v": X8}, _payloads(40))
        log("count", c.count)
        log("get", c.get, [1003, 5, 1001, 1003], with_vectors=True)
        log("get no payload", c.get, [1001, 1002], with_payload=False)
        log("get empty", c.get, [])
        log("get array ids", c.get, np.array([1001, 1002], np.int64))
        log("delete", c.delete, [1003, 1003, 7])
        log("delete empty", c.delete, [])
        log("count after delete", c.count)
        log("get deleted", c.get, [1003])
        log("upsert strings", c.upsert, ["a", "b"], X8[:2], [{"lang": "en"}, {"at": dt.datetime(1970, 1, 1, 0, 0, 1)}])
        log("upsert mixed", c.upsert, [7, "z", np.uint64(2**64 - 1)], X8[2:5])
        log("get mixed", c.get, ["b", 7, "z", 2**64 - 1], with_vectors=True)
        log("upsert empty", c.upsert, [], np.zeros((0, 8)))
        log("replace", c.upsert, ["a"], -X8[:1], [{"n": np.int64(9), "x": np.float32(0.5)}])
        log("get replaced", c.get, ["a"], with_vectors=True)
        log("info", c.info)
        log("compact", c.compact)
        log("info after compact", c.info)
        log("get after compact", c.get, [1000, 1039, "a"], with_vectors=True)

    pair.run(scenario)


def test_vectors_forms(pair):
    def scenario(db, log):
        one = db.create_collection("one", vectors={"v": Dense(3, "l2")})
        log("bare array", one.upsert, [1, 2], np.arange(6).reshape(2, 3))
        log("list of lists", one.upsert, [3], [[1.0, 2.0, 3.0]])
        log("float64", one.upsert, np.array([4], np.uint64), np.ones((1, 3), np.float64))
        log("1-D for one id", one.upsert, [5], [1, 1, 1])
        log("int matrix", one.upsert, [6], np.array([[1, 2, 3]], np.int32))
        log("scroll", one.scroll, with_vectors=True)
        two = db.create_collection("two", vectors={"a": Dense(2, "dot"), "b": Dense(3, "l2")})
        log("bare array, two fields", two.upsert, [1], np.ones((1, 2)))
        log("dict", two.upsert, [1, 2], {"b": np.ones((2, 3)), "a": np.ones((2, 2))})
        log("search a", two.search, "a", [1, 0], k=2)
        log("search b", two.search, "b", [[1, 1, 1], [0, 0, 0]], k=1)
        log("None vectors", one.upsert, [9], None)
        log("str vectors", one.upsert, [9], "abc")
        log("ragged", one.upsert, [9, 10], [[1, 2, 3], [1]])
        log("3-D", one.upsert, [9], np.ones((1, 1, 3)))
        log("count", one.count)

    pair.run(scenario)


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
def test_search(pair, metric):
    q = RNG.normal(size=(5, 8)).astype(np.float32)

    def scenario(db, log):
        c = db.create_collection("s", vectors={"v": Dense(8, metric)}, payload=PAYLOAD)
        c.upsert(list(range(40)), X8, _payloads(40))
        c.delete([3, 4])
        log("single", c.search, "v", q[0], k=5)
        log("batch", c.search, "v", q, k=7)
        log("no payload", c.search, "v", q[:2], k=3, with_payload=False)
        log("list query", c.search, "v", q[0].tolist(), k=1)
        log("k = live", c.search, "v", q[0], k=38, with_payload=False)
        log("k > live", c.search, "v", q[0], k=39)
        log("numpy k", c.search, "v", q[0], k=np.int64(2))
        log("one-row matrix", c.search, "v", q[:1], k=2)
        log("ties", c.search, "v", np.ones(8), k=4)

    pair.run(scenario)


def test_scroll(pair):
    def scenario(db, log):
        c = db.create_collection("s", vectors={"v": Dense(2, "l2")}, payload={"n": "integer"})
        ids = [5, 1, "b", 2**63, "a", 0, "é"]
        c.upsert(ids, np.arange(14).reshape(7, 2), [{"n": i} for i in range(7)])
        offset = None
        for page in range(5):
            res = log(f"page {page}", c.scroll, limit=2, offset=offset, with_vectors=page == 1)
            if res is None or res.next_offset is None:
                break
            offset = res.next_offset
        log("from string offset", c.scroll, 100, "a", with_payload=False)
        log("offset not present", c.scroll, limit=10, offset=3)
        for bad in [0, -1, 100_001, 1.5, True, "10"]:
            log(f"limit {bad!r}", c.scroll, limit=bad)
        log("bad offset", c.scroll, offset=-4)
        log("bad offset type", c.scroll, offset=2.5)

    pair.run(scenario)


def test_aliases(pair):
    def scenario(db, log):
        db.create_collection("v1", vectors={"v": Dense(2, "l2")}).upsert([1], [[0, 0]])
        db.create_collection("v2", vectors={"v": Dense(2, "l2")}).upsert([2], [[0, 0]])
        log("set", db.set_alias, "prod", "v1")
        log("search via alias", lambda: db["prod"].search("v", [0, 0], k=1))
        log("handle name", lambda: db["prod"].name)
        log("re-point", db.set_alias, "prod", "v2")
        log("search via re-pointed alias", lambda: db["prod"].search("v", [0, 0], k=1))
        log("list", db.list_aliases)
        log("alias shadows collection", db.set_alias, "v1", "v2")
        log("alias to missing", db.set_alias, "x", "nope")
        log("collection named like alias", db.create_collection, "prod", vectors={"v": Dense(2)})
        log("has alias", db.has_collection, "prod")
        log("drop removes alias", db.drop_collection, "v2")
        log("list after drop", db.list_aliases)
        log("get dangling", db.get_collection, "prod")
        log("delete", db.delete_alias, "prod")
        db.set_alias("p2", "v1")
        log("delete existing", db.delete_alias, "p2")
        log("bad alias name", db.set_alias, "a/b", "v1")

    pair.run(scenario)


@pytest.mark.parametrize("message,kwargs", BAD_UPSERTS, ids=[m for m, _ in BAD_UPSERTS])
def test_bad_upserts(pair, message, kwargs):
    def scenario(db, log):
        c = db.create_collection(
            "c",
            vectors={"v": Dense(4, "cosine"), "w": Dense(2, "l2")},
            payload={"lang": "keyword", "n": "integer", "x": "float", "ok": "boolean", "tags": "keyword_set"},
        )
        c.upsert([1], {"v": np.ones((1, 4)), "w": np.ones((1, 2))}, [{"lang": "en"}])
        log("bad upsert", c.upsert, **kwargs)
        log("nothing written", c.info)

    (entry, _) = pair.run(scenario)
    assert entry[1] == "raise" and entry[2] == "InvalidArgument"  # the scenario really failed on both


BAD_READS = [
    ("unknown field", lambda c: c.search("zz", np.ones(4), k=1)),
    ("non-string field", lambda c: c.search(3, np.ones(4), k=1)),
    ("wrong dimension", lambda c: c.search("v", np.ones(5), k=1)),
    ("NaN query", lambda c: c.search("v", [np.nan, 1, 1, 1], k=1)),
    ("inf query", lambda c: c.search("v", [[np.inf, 1, 1, 1]], k=1)),
    ("zero query (cosine)", lambda c: c.search("v", np.zeros(4), k=1)),
    ("k=0", lambda c: c.search("v", np.ones(4), k=0)),
    ("k<0", lambda c: c.search("v", np.ones(4), k=-3)),
    ("k float", lambda c: c.search("v", np.ones(4), k=2.5)),
    ("k huge", lambda c: c.search("v", np.ones(4), k=2**70)),
    ("k > points", lambda c: c.search("v", np.ones(4), k=2)),
    ("3-D query", lambda c: c.search("v", np.ones((2, 2, 4)), k=1)),
    ("empty query matrix", lambda c: c.search("v", np.zeros((0, 4)), k=1)),
    ("string query", lambda c: c.search("v", "abcd", k=1)),
    ("ragged queries", lambda c: c.search("v", [[1, 2, 3, 4], [1]], k=1)),
    ("too many queries", lambda c: c.search("v", np.ones((10_001, 4)), k=1)),
    ("get scalar", lambda c: c.get(1)),
    ("delete string", lambda c: c.delete("abc")),
    ("get bad id", lambda c: c.get([-1])),
    ("get float id", lambda c: c.get([1.0])),
]


@pytest.mark.parametrize("call", [c for _, c in BAD_READS], ids=[n for n, _ in BAD_READS])
def test_bad_reads(pair, call):
    def scenario(db, log):
        c = db.create_collection("c", vectors={"v": Dense(4, "cosine")})
        c.upsert([1], np.ones((1, 4)))
        log("bad read", call, c)

    (entry,) = pair.run(scenario)
    assert entry[1] == "raise"


def test_engine_features_forwarded(pair):
    """filter= / params= reach the engine when it supports them (then both transports must agree); until then the
    remote call fails with a clear error instead of silently ignoring them."""
    search_args = inspect.signature(Collection.search).parameters

    def setup(db):
        c = db.create_collection("f", vectors={"v": Dense(8, "l2")}, payload=PAYLOAD)
        c.upsert(list(range(40)), X8, _payloads(40))
        return c

    if "filter" not in search_args:
        for db in (pair.remote, pair.remote_async):
            db.drop_collection("f", missing_ok=True)
            c = setup(db)
            with pytest.raises(vecdb.VecDBError, match="filter: this server's engine does not support it yet"):
                c.search("v", X8[0], k=3, filter=F.eq("lang", "en"))
        return

    flt = F.eq("lang", "en") & F.range_("n", gte=3) & ~F.contains_any("tags", ["b"])

    def scenario(db, log):
        c = setup(db)
        log("filtered", c.search, "v", X8[:3], k=5, filter=flt)
        log("isin | exists", c.search, "v", X8[0], k=4, filter=F.isin("lang", ["fr", "de"]) | ~F.exists("lang"))
        log("keyword_set", c.search, "v", X8[1], k=3, filter=F.contains_all("tags", ["a", "b"]) & F.eq("ok", False))
        log("not_in / ne", c.search, "v", X8[2], k=3, filter=F.not_in("n", [1, 2, 3]) & F.ne("lang", "en"))
        log("float range", c.search, "v", X8[3], k=2, filter=F.range_("x", gt=1.5, lte=7))
        log("nothing matches", c.search, "v", X8[0], k=2, filter=F.eq("lang", "zz"))
        log("filter on undeclared field", c.search, "v", X8[0], k=1, filter=F.eq("free", 1))
        log("filter wrong type", c.search, "v", X8[0], k=1, filter=F.eq("n", "x"))
        log("datetime range", c.search, "v", X8[0], k=1, filter=F.range_("at", gte=dt.datetime(2020, 1, 1)))
        log("empty and", c.search, "v", X8[0], k=1, filter=F.And(()))
        if "params" in search_args:
            log("exact params", c.search, "v", X8[0], k=3, params=SearchParams(exact=True))

    pair.run(scenario)


def test_any_db_fixture(any_db):
    """The same test body on either transport (the conventions' parametrised `db` fixture)."""
    c = any_db.create_collection("t", vectors={"v": Dense(3, "l2")}, payload={"k": "keyword"})
    assert c.upsert([1, 2, 3], np.eye(3), [{"k": "a"}, {"k": "b"}, None]) == 3
    hits = c.search("v", [1, 0, 0], k=2)
    assert hits.ids[0] == 1 and hits.scores[0] == 0 and hits.payloads[0] == {"k": "a"}
    assert [p.id for p in c.scroll(limit=10).points] == [1, 2, 3]
    with pytest.raises(InvalidArgument, match="dimension 2"):
        c.search("v", [1, 0], k=1)
    with pytest.raises(NotFound):
        any_db.get_collection("missing")
    assert isinstance(NotFound("x"), KeyError)  # the classes keep their Python bases on both sides


def test_async_client_mirrors_blocking_client():
    """Same public methods and signatures; the asyncio ones are coroutines."""
    import vecdb_client as vc

    for sync_cls, async_cls in (
        (vc.RemoteDatabase, vc.AsyncRemoteDatabase),
        (vc.RemoteCollection, vc.AsyncRemoteCollection),
    ):
        public = {n for n in dir(sync_cls) if not n.startswith("_") and callable(getattr(sync_cls, n))}
        public -= {"close", "collection_class"}
        assert public <= set(dir(async_cls)), public - set(dir(async_cls))
        for name in public:
            a, b = getattr(sync_cls, name), getattr(async_cls, name)
            assert inspect.iscoroutinefunction(b), name
            assert list(inspect.signature(a).parameters) == list(inspect.signature(b).parameters), name
            for p in inspect.signature(a).parameters.values():
                q = inspect.signature(b).parameters[p.name]
                assert (p.kind, p.default) == (q.kind, q.default), (name, p.name)
