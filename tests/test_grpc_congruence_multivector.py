"""Congruence of multi-vector fields: every scenario runs embedded, through the blocking client and through the
asyncio client; each step must give the same result (ids, MaxSim scores bit for bit, decoded token vectors,
explain plans, calibration) or the same exception class AND message."""

import numpy as np
import pytest
from grpc_fixtures import Log, canon, pair, remote, remote_async, server  # noqa: F401 - fixtures

import vecdb
import vecdb_client
from vecdb import Dense, MultiVector
from vecdb import filters as F
from vecdb.multivector import FDEParams
from vecdb.params import HNSWParams, SearchParams
from vecdb_client import ops

DIM = 8
RNG = np.random.default_rng(11)
N = 150
DOCS = [RNG.normal(size=(int(RNG.integers(1, 9)), DIM)).astype(np.float32) for _ in range(N)]
QUERIES = [RNG.normal(size=(int(RNG.integers(1, 6)), DIM)).astype(np.float32) for _ in range(4)]
PAYLOADS = [{"g": "abc"[i % 3], "n": i} if i % 7 else None for i in range(N)]
FDE = FDEParams(k_sim=3, reps=6, d_proj=8)
SMALL_INDEX = HNSWParams(m=8, ef_construction=40, index_threshold=50)


def _create(db, name="mv", exist_ok=False, **field):
    field.setdefault("fde", FDE)
    return db.create_collection(
        name,
        vectors={"tok": MultiVector(DIM, **field), "emb": Dense(4, "l2", index=None)},
        payload={"g": "keyword", "n": "integer"},
        exist_ok=exist_ok,
    )


def _mv_dict(**entries):
    return {"t": {"kind": "multi_vector", "dim": 4, **entries}}


def _emb(n, start=0):
    return np.arange(start * 4, (start + n) * 4, dtype=np.float32).reshape(n, 4)


def test_multivector_catalog(pair):
    def scenario(db, log):
        log("create", _create, db, compression="int8", index=SMALL_INDEX)
        log("exist_ok same", _create, db, compression="int8", index=SMALL_INDEX, exist_ok=True)
        log("exist_ok other", _create, db, compression="binary", exist_ok=True)
        log("get", db.get_collection, "mv")
        log("defaults", db.create_collection, "d", vectors={"t": MultiVector(16)})
        identity = {"k_sim": 0, "reps": 2, "d_proj": None, "projection": "identity"}
        dict_form = _mv_dict(normalize=False, compression="residual", fde=identity, index=None)
        log("dict form", db.create_collection, "x", vectors=dict_form)
        log("bad fde", db.create_collection, "y", vectors=_mv_dict(fde={"reps": 0}))
        log("bad compression", db.create_collection, "y", vectors=_mv_dict(compression="pq"))
        log("bad metric", db.create_collection, "y", vectors=_mv_dict(metric="l2"))
        log("info", lambda: db["x"].info())
        log("list", db.list_collections)

    pair.run(scenario)


@pytest.mark.parametrize("compression", [None, "int8"])
def test_multivector_points(pair, compression):
    def scenario(db, log):
        c = _create(db, compression=compression)
        log("upsert", c.upsert, list(range(100)), {"tok": DOCS[:100], "emb": _emb(100)}, PAYLOADS[:100])
        log("upsert 3-D array", c.upsert, [200, 201], {"tok": np.stack([DOCS[0][:1], DOCS[1][:1]]), "emb": _emb(2)})
        log("upsert tuple, string ids", c.upsert, ["a", "b"], {"tok": (DOCS[2], DOCS[3].tolist()), "emb": _emb(2)})
        log("count", c.count)
        log("get", c.get, [3, "a", 999, 200], with_vectors=True)
        log("get no payload", c.get, [5, 6], with_payload=False, with_vectors=True)
        log("scroll", c.scroll, limit=3, offset=97, with_vectors=True)
        log("replace", c.upsert, [3], {"tok": [DOCS[120]], "emb": _emb(1, 7)}, [{"g": "z"}])
        log("get replaced", c.get, [3], with_vectors=True)
        log("delete", c.delete, [4, 5, "b"])
        log("info", c.info)
        log("compact", c.compact)
        log("get after compact", c.get, [0, 3, 99, "a"], with_vectors=True)
        log("exact after compact", c.search, "tok", QUERIES[0], k=5, params=SearchParams(exact=True))

    pair.run(scenario)


@pytest.mark.parametrize("index", [None, SMALL_INDEX], ids=["scan", "graph"])
def test_multivector_search_and_calibrate(pair, index):
    def scenario(db, log):
        c = _create(db, index=index)
        c.upsert(list(range(N)), {"tok": DOCS, "emb": _emb(N)}, PAYLOADS)
        c.delete([7, 8])
        log("exact", c.search, "tok", QUERIES[0], k=5, params=SearchParams(exact=True))
        log("fde", c.search, "tok", QUERIES[1], k=5)
        log("list of queries", c.search, "tok", QUERIES, k=3, params=SearchParams(candidates=40))
        log("list of one", c.search, "tok", [QUERIES[2]], k=2)
        log("tuple", c.search, "tok", (QUERIES[2], QUERIES[3]), k=2, with_payload=False)
        log("list of lists: 1-D queries", c.search, "tok", QUERIES[3].tolist(), k=2)
        flt = F.eq("g", "b") & F.range_("n", lt=120)
        log("filter exact", c.search, "tok", QUERIES[0], k=4, filter=flt, params=SearchParams(exact=True))
        log("filter fde", c.search, "tok", QUERIES[0], k=4, filter=flt, params=SearchParams(candidates=30))
        log("filter none match", c.search, "tok", QUERIES[0], k=4, filter=F.eq("g", "zz"))
        log("ef", c.search, "tok", QUERIES[1], k=3, params=SearchParams(ef=20, candidates=25))
        log("reduce_tau", c.search, "tok", QUERIES[2], k=3, params=SearchParams(reduce_tau=0.5, candidates=60))
        log("recall_target before calibrate", c.search, "tok", QUERIES[0], k=3, params=SearchParams(recall_target=0.9))
        log("calibrate", c.calibrate, "tok", n_pseudo=12, pseudo_tokens=4, seed=3)
        log("uses calibration", c.search, "tok", QUERIES[1], k=5)
        log("recall_target", c.search, "tok", QUERIES[1], k=12, params=SearchParams(recall_target=0.99))
        log("calibrate measure only", c.calibrate, "tok", k=3, recall_target=None, n_pseudo=8, seed=1)
        log("default cleared", c.search, "tok", QUERIES[1], k=5)
        log("calibrate numpy target", c.calibrate, "tok", k=4, recall_target=np.float32(0.5), n_pseudo=6)
        log("k = live", c.search, "tok", QUERIES[0], k=N - 2, with_payload=False, params=SearchParams(exact=True))
        log("dense field beside", c.search, "emb", [1, 2, 3, 4], k=2)

    entries = {e[0]: e for e in pair.run(scenario)}
    raised = sorted(label for label, e in entries.items() if e[1] == "raise")
    assert raised == ["list of lists: 1-D queries", "recall_target before calibrate"]
    fde_plan = entries["fde"][2][5]  # canon(Hits) = ("Hits", ids, dtype, scores, payloads, explain)
    assert fde_plan["path"] == ("str", "fde+maxsim")
    assert fde_plan["fde"]["path"] == ("str", "exact_scan" if index is None else "hnsw")
    assert entries["exact"][2][5]["path"] == ("str", "exact_maxsim")


GOOD = DOCS[:2]
BAD_MULTI_UPSERTS = [
    ("empty token set", [np.zeros((0, DIM)), GOOD[1]]),
    ("wrong dim, every document", [d[:, :5] for d in GOOD]),
    ("wrong dim, one document", [GOOD[0], np.ones((2, DIM + 1))]),
    ("NaN", [GOOD[0], np.full((2, DIM), np.nan)]),
    ("inf", [np.full((1, DIM), np.inf), GOOD[1]]),
    ("zero token", [GOOD[0], np.zeros((1, DIM))]),
    ("1-D document", [GOOD[0], np.ones(DIM)]),
    ("ragged rows", [GOOD[0], [[1.0] * DIM, [1.0]]]),
    ("strings", [GOOD[0], np.array([["x"] * DIM])]),
    ("2-D array", np.ones((2, DIM))),
    ("too few sets", GOOD[:1]),
    ("not a list", 5),
    ("None", None),
]


@pytest.mark.parametrize("tokens", [t for _, t in BAD_MULTI_UPSERTS], ids=[n for n, _ in BAD_MULTI_UPSERTS])
def test_multivector_bad_upserts(pair, tokens):
    def scenario(db, log):
        c = _create(db)
        c.upsert([1], {"tok": [GOOD[0]], "emb": _emb(1)})
        log("bad upsert", c.upsert, [2, 3], {"tok": tokens, "emb": _emb(2)})
        log("nothing written", c.info)

    (entry, _) = pair.run(scenario)
    assert entry[1] == "raise" and entry[2] == "InvalidArgument"


BAD_MULTI_CALLS = [
    ("empty query list", lambda c: c.search("tok", [], k=1)),
    ("1-D query", lambda c: c.search("tok", np.ones(DIM), k=1)),
    ("3-D query", lambda c: c.search("tok", np.ones((1, 2, DIM)), k=1)),
    ("query wrong dim", lambda c: c.search("tok", np.ones((2, DIM + 2)), k=1)),
    ("query NaN", lambda c: c.search("tok", [[np.nan] * DIM], k=1)),
    ("query no tokens", lambda c: c.search("tok", np.zeros((0, DIM)), k=1)),
    ("query zero token", lambda c: c.search("tok", np.zeros((1, DIM)), k=1)),
    ("one bad query in a list", lambda c: c.search("tok", [QUERIES[0], np.ones(3)], k=1)),
    ("queries of two widths", lambda c: c.search("tok", [QUERIES[0], np.ones((1, DIM + 1))], k=1)),
    ("string query", lambda c: c.search("tok", "abc", k=1)),
    ("k too large", lambda c: c.search("tok", QUERIES[0], k=3)),
    ("k float", lambda c: c.search("tok", QUERIES[0], k=1.5)),
    ("params dict", lambda c: c.search("tok", QUERIES[0], k=1, params={"exact": True})),
    ("model_version on multi-vector", lambda c: c.search("tok", QUERIES[0], k=1, model_version="v1")),
    ("candidates on dense", lambda c: c.search("emb", np.ones(4), k=1, params=SearchParams(candidates=5))),
    ("filter undeclared", lambda c: c.search("tok", QUERIES[0], k=1, filter=F.eq("zz", 1))),
    ("calibrate dense", lambda c: c.calibrate("emb")),
    ("calibrate unknown field", lambda c: c.calibrate("nope")),
    ("calibrate non-string field", lambda c: c.calibrate(3)),
    ("calibrate k=0", lambda c: c.calibrate("tok", k=0)),
    ("calibrate k bool", lambda c: c.calibrate("tok", k=True)),
    ("calibrate recall_target 1.5", lambda c: c.calibrate("tok", recall_target=1.5)),
    ("calibrate pseudo_tokens=0", lambda c: c.calibrate("tok", pseudo_tokens=0)),
    ("calibrate one document", lambda c: (c.delete([2]), c.calibrate("tok"))),
    ("model versions of multi-vector", lambda c: c.set_model_version("tok", "v1")),
]


@pytest.mark.parametrize("call", [c for _, c in BAD_MULTI_CALLS], ids=[n for n, _ in BAD_MULTI_CALLS])
def test_multivector_bad_calls(pair, call):
    def scenario(db, log):
        c = _create(db)
        c.upsert([1, 2, 3], {"tok": DOCS[:3], "emb": _emb(3)}, [{"g": "a"}, None, None])
        c.delete([3])
        log("bad call", call, c)

    (entry,) = pair.run(scenario)
    assert entry[1] == "raise"


@pytest.mark.parametrize("kwargs", [{"seed": -1}, {"seed": 2.5}, {"recall_target": "high"}, {"k": 2.5}, {"k": 0}])
def test_calibrate_argument_errors(db, kwargs):
    """Bad calibrate() arguments are InvalidArgument (were raw ValueError / TypeError: INTERNAL over gRPC)."""
    c = _create(db)
    c.upsert([1, 2, 3], {"tok": DOCS[:3], "emb": _emb(3)})
    with pytest.raises(vecdb.InvalidArgument):
        c.calibrate("tok", **kwargs)


def test_calibrate_accepts_numpy_integers(db):
    c = _create(db)
    c.upsert([1, 2, 3], {"tok": DOCS[:3], "emb": _emb(3)})
    assert c.calibrate("tok", k=np.int64(2), seed=np.int32(1))["k"] == 2


def test_large_multivector_upsert_is_split_and_stays_atomic(pair, monkeypatch):
    """Above the server's message limit a ragged upsert goes out as parts sized point by point (documents of very
    different lengths) and is still committed as one transaction."""
    docs = [RNG.normal(size=(int(n), DIM)).astype(np.float32) for n in RNG.integers(1, 200, size=800)]
    parts = []
    make = ops.CollectionOps._upsert_requests

    def counting(self, *args):
        out = make(self, *args)
        parts.append([p.ByteSize() for p in out])
        return out

    monkeypatch.setattr(ops.CollectionOps, "_upsert_requests", counting)
    for db in (pair.remote, pair.remote_async._target):
        monkeypatch.setattr(db, "max_message_bytes", 256 << 10)

    def scenario(db, log):
        c = _create(db)
        log("upsert", c.upsert, list(range(800)), {"tok": docs, "emb": _emb(800)}, [{"n": i} for i in range(800)])
        log("info", c.info)
        log("get", c.get, [0, 399, 799], with_vectors=True)
        log("exact", c.search, "tok", QUERIES[1], k=5, params=SearchParams(exact=True))
        bad = docs[:799] + [np.full((3, DIM), np.nan)]  # the last part fails: nothing of the earlier parts stays
        log("failing large upsert", c.upsert, list(range(1000, 1800)), {"tok": bad, "emb": _emb(800)})
        log("count after failure", c.count)

    pair.run(scenario)
    assert len(parts) == 4 and all(len(p) >= 3 for p in parts)  # 2 clients x 2 large upserts, each split
    assert max(max(p) for p in parts) < 256 << 10


def test_bulk_upsert_of_token_sets(remote, tmp_path):
    """The remote-only streaming bulk load slices token-set lists per batch; the result equals an embedded load."""
    remote.drop_collection("mv", missing_ok=True)
    with vecdb.open(tmp_path / "db") as emb:
        ce, cr = _create(emb), _create(remote)
        ce.upsert(list(range(N)), {"tok": DOCS, "emb": _emb(N)}, PAYLOADS)
        assert cr.bulk_upsert(list(range(N)), {"tok": DOCS, "emb": _emb(N)}, PAYLOADS, batch_size=40) == N
        for ids in ([0, 1, 77], [N - 1]):
            assert canon(cr.get(ids, with_vectors=True)) == canon(ce.get(ids, with_vectors=True))
        q = QUERIES[2]
        exact = SearchParams(exact=True)
        assert canon(cr.search("tok", q, k=6, params=exact)) == canon(ce.search("tok", q, k=6, params=exact))
    remote.drop_collection("mv")


def test_server_reports_multivector_features(remote):
    feats = remote.server_info()["features"]
    assert {"multi_vector", "calibrate", "model_versions", "filter", "params", "model_version"} <= set(feats)
    assert isinstance(remote, vecdb_client.RemoteDatabase)
